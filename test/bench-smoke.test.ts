import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// The benchmark itself is too slow and noisy for the test suite; its smoke
// mode runs every variant for about a second so the bench cannot rot.
describe("npm run bench -- --smoke", () => {
  it("measures every variant end to end and writes a results JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"));
    const out = join(dir, "smoke.json");
    try {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out],
        { cwd: process.cwd(), stdio: ["ignore", "pipe", "pipe"], detached: true },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk));
      const timer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 55_000);
      const [code] = await once(child, "exit");
      clearTimeout(timer);
      expect(code, output).toBe(0);

      const report = JSON.parse(readFileSync(out, "utf8"));
      expect(report.mode).toBe("smoke");
      expect(Object.keys(report.variants).sort()).toEqual(
        [
          "cached",
          "ceiling",
          "cold",
          "db-per-request",
          "login",
          "logout",
          "refresh",
          "stateless",
        ].sort(),
      );
      for (const [name, variant] of Object.entries<{
        median: { rps: number; p99Ms: number; cpuUsPerRequest: number };
        peakRssMb: number;
        runs: { ok: number; non2xx: number; errors: number }[];
      }>(report.variants)) {
        expect(variant.median.rps, name).toBeGreaterThan(0);
        expect(variant.median.p99Ms, name).toBeGreaterThan(0);
        expect(variant.median.cpuUsPerRequest, name).toBeGreaterThan(0);
        expect(variant.peakRssMb, name).toBeGreaterThan(10);
        for (const run of variant.runs) {
          expect(run.ok, name).toBeGreaterThan(0);
          expect(run.non2xx, name).toBe(0);
          expect(run.errors, name).toBe(0);
        }
      }
      // The cache really was off for db-per-request and on for cached.
      const dbRun = report.variants["db-per-request"].runs[0];
      expect(dbRun.server.readsById).toBeGreaterThanOrEqual(dbRun.ok);
      expect(report.variants.cached.runs[0].server.readsById).toBe(0);
      // Cold: one Postgres read per user, also when every connection asks at once.
      const coldRun = report.variants.cold.runs[0];
      expect(coldRun.server.usersRead).toBe(report.settings.users);
      expect(coldRun.stampede.users).toBeGreaterThan(0);
      // One Redis command (the MGET) per authenticated request on the cached path.
      expect(report.variants.cached.runs[0].redis.readsPerRequest).toBeCloseTo(1, 2);
      expect(report.soak.samples.length).toBeGreaterThan(0);
      expect(report.targets.map((t: { name: string }) => t.name)).toHaveLength(6);
      expect(report.settings.argon2id).toMatchObject({ memoryCost: 19456, timeCost: 2 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
