// npm run bench:profile [-- --variant cached --seconds 15 --log-level info --env KEY=VALUE]
// One variant's server under load with V8's CPU profiler (what `node
// --cpu-prof` uses) running over the measured window only; prints where the CPU went (self time by function, inclusive time by package) and keeps the
// .cpuprofile in bench/results/profiles for Chrome DevTools or speedscope.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { summariseProfile } from "./lib/cpuprofile.js";
import { prepareFixtures } from "./lib/fixtures.js";
import { LoadGenerator, measure, startServerUnderTest, useRuntime } from "./lib/harness.js";
import { killChildrenOnExit } from "./lib/proc.js";
import { formatTable, round } from "./lib/stats.js";

const PATHS = {
  ceiling: "/bench/open",
  stateless: "/bench/stateless",
  cached: "/me",
  "db-per-request": "/me",
} as const;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    variant: { type: "string", default: "cached" },
    seconds: { type: "string", default: "15" },
    "log-level": { type: "string" },
    runtime: { type: "string", default: "compiled" },
    top: { type: "string", default: "30" },
    env: { type: "string", multiple: true },
  },
});
const variant = values.variant as keyof typeof PATHS;
if (!(variant in PATHS))
  throw new Error(`--variant must be one of ${Object.keys(PATHS).join(", ")}`);
const seconds = Math.min(120, Number(values.seconds) || 15);

killChildrenOnExit();
useRuntime(values.runtime === "tsx" ? "tsx" : "compiled");
const dir = resolve("bench/results/profiles");
mkdirSync(dir, { recursive: true });
const name = `${variant}-${new Date().toISOString().replace(/[:.]/g, "-")}`;
const fixtures = await prepareFixtures({
  databaseName: "jwt_auth_bench_profile",
  keyPrefix: "bench-profile:",
  userCount: 10_000,
  logoutUserCount: 1,
});
const load = await LoadGenerator.start();
try {
  const server = await startServerUnderTest(
    variant,
    fixtures.serverEnv({
      ...(variant === "db-per-request" ? { BENCH_CACHE: "off" } : {}),
      ...(values["log-level"] ? { LOG_LEVEL: values["log-level"] } : {}),
      ...Object.fromEntries((values.env ?? []).map((pair) => pair.split(/=(.*)/s).slice(0, 2))),
      BENCH_PROFILE_DIR: dir,
    }),
  );
  load.define("tokens", fixtures.tokens);
  const path = PATHS[variant];
  // Fill the cache (and warm the JIT) before the measured part.
  await measure(server, load, {
    path,
    method: "GET",
    connections: 50,
    amount: 10_000,
    tokens: "tokens",
  });
  await fetch(`${server.baseUrl}/bench/profile/start`, { method: "POST" });
  const run = await measure(server, load, {
    path,
    method: "GET",
    connections: 50,
    durationSeconds: seconds,
    tokens: "tokens",
  });
  const stopped = await fetch(`${server.baseUrl}/bench/profile/stop?name=${name}`, {
    method: "POST",
  });
  const { file } = (await stopped.json()) as { file: string };
  await server.stop();
  console.log(
    `${variant}: ${round(run.rps)} req/s, p99 ${run.latencyMs.p99} ms, ${round(run.cpuUsPerRequest)} µs/req ` +
      `(profiling on; slower than a bench run)`,
  );
  const summary = summariseProfile(file, Number(values.top));
  console.log(`\nprofile: ${file} (${summary.totalMs} ms sampled)\n`);
  console.log(
    formatTable([
      ["package / origin", "owned %", "≈ µs/req", "inclusive %"],
      ...summary.packages
        .slice(0, 25)
        .map((p) => [
          p.name,
          p.ownedPercent,
          round((p.ownedPercent * run.cpuUsPerRequest) / 100),
          p.inclusivePercent,
        ]),
    ]),
  );
  console.log();
  console.log(
    formatTable([
      ["function", "self %", "where"],
      ...summary.functions.map((f) => [f.name, f.selfPercent, f.where]),
    ]),
  );
} finally {
  await load.stop();
  await fixtures.close();
}
