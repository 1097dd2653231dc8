/**
 * "A machine with nothing but Node": the server started with no
 * configuration in a network namespace of its own, where nothing answers on
 * 5432 or 6379, chooses the embedded Postgres and the in-process cache, serves
 * the whole flow, and keeps its data across a restart. `unshare --net`
 * (with a user namespace, so it works without root where the kernel allows
 * it) gives the namespace; its loopback is brought up inside.
 */
import { describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

function namespacesWork(): boolean {
  const probe = spawnSync(
    "unshare",
    ["--map-root-user", "--net", "sh", "-c", "ip link set lo up"],
    {
      stdio: "ignore",
    },
  );
  return probe.status === 0;
}

const available = namespacesWork();
if (!available && process.env.CI) {
  throw new Error("CI must be able to create a network namespace (unshare --net) for this test");
}

describe.skipIf(!available)("in a network namespace with nothing listening", () => {
  it(
    "the server runs embedded Postgres and an in-process cache: register → login → me → logout → me (revoked) → restart → login again",
    { timeout: 180_000 },
    async ({ annotate }) => {
      const dir = await mkdtemp(join(tmpdir(), "auth-netns-"));
      try {
        const dataDir = join(dir, ".data");
        const output = execFileSync(
          "unshare",
          [
            "--map-root-user",
            "--net",
            "sh",
            "-c",
            `ip link set lo up && exec "${process.execPath}" --import tsx test/fixtures/embedded-flow.ts "${dataDir}" "${join(process.cwd(), "src/server/main.ts")}"`,
          ],
          { encoding: "utf8", timeout: 170_000 },
        );
        const steps = JSON.parse(output.trim().split("\n").at(-1)!) as Record<string, unknown>;
        await annotate(
          `start-up: first ${String(steps.firstStartMs)} ms, after a restart ${String(steps.laterStartMs)} ms`,
        );
        expect(steps.error).toBeUndefined();
        expect(steps.firstLogLine).toMatchObject({
          postgres: `embedded (PGlite) in ${dataDir}`,
          cache: "in-process (this instance only)",
          dataDir,
        });
        expect(steps).toMatchObject({
          // No Redis to be up or down: the cache is in the process.
          readyz: { status: "ok", checks: { postgres: "up", redis: "unused" } },
          register: 201,
          me: 200,
          logout: 204,
          meAfterLogout: [401, "token_revoked"],
          firstExit: 0,
          loginAfterRestart: 200,
          meAfterRestart: 200,
          oldTokenAfterRestart: 401,
          secondExit: 0,
        });
        expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
        expect((await stat(join(dataDir, "jwt-secret"))).mode & 0o777).toBe(0o600);
        // The secret lives there: the directory keeps itself out of the user's repository.
        expect(await readFile(join(dataDir, ".gitignore"), "utf8")).toMatch(/^\*$/m);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
