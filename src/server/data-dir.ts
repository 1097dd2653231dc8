import { chmod, mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { StartupError } from "./startup-error.js";

const GITIGNORE =
  "# Made by versioned-jwt-auth: the embedded database and the signing secret. Never commit them.\n*\n";

export interface DataDirLock {
  /** Absolute path of the data directory. */
  dir: string;
  /** Where the embedded Postgres keeps its files. */
  postgresDir: string;
  release(): Promise<void>;
}

/**
 * Takes the data directory for this process alone: the embedded database is
 * not made for two processes, and an in-process cache cannot be shared. The
 * directory is private (0700). A lock left by a process that died (SIGKILL)
 * is taken over; one held by a live process is refused.
 */
export async function lockDataDir(dir: string, role: "server" | "command"): Promise<DataDirLock> {
  const absolute = resolve(dir);
  await mkdir(absolute, { recursive: true, mode: 0o700 });
  await chmod(absolute, 0o700);
  // It holds the signing secret: keep it out of the project's repository.
  await writeFile(join(absolute, ".gitignore"), GITIGNORE, { flag: "wx", mode: 0o600 }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    },
  );
  const lockPath = join(absolute, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return {
        dir: absolute,
        postgresDir: join(absolute, "postgres"),
        async release() {
          const owner = await readFile(lockPath, "utf8").catch(() => "");
          if (owner.trim() === String(process.pid)) await rm(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number((await readFile(lockPath, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new StartupError(
          role === "server"
            ? `the data directory ${absolute} is in use by process ${pid}: run one instance per data directory (set DATA_DIR), or use PostgreSQL and Redis to run several`
            : `the data directory ${absolute} is in use by a running server (process ${pid}): stop it first, or use its HTTP API`,
        );
      }
      // Left by a process that is gone.
      await rm(lockPath, { force: true });
    }
  }
  throw new StartupError(`cannot lock the data directory ${absolute}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
