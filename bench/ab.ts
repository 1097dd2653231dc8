// npm run bench:ab -- --path /me --config base: --config pipelined:BENCH_REDIS_AUTOPIPELINING=on
// Before/after for one change: servers that differ only in environment (and
// optionally the route, as NAME@/path:ENV=…), interleaved on the bench's
// pinned cores, A B B A … (the order flips every round, so a drift over the
// session does not favour either side).
//
// Two builds: `--build base=/path/to/other/checkout` runs config `base` with
// that checkout's bench server (compiled with its own tsc, on a database
// migrated with its own migrations, seeded with the same users and tokens).
// Tokens: `--tokens NAME=session` sends tokens naming a live session of users
// with no revoked sessions, `--tokens NAME=revoked` the same for users whose
// cache entries carry `--revoked-sessions` (default 5) revoked sessions
// (`revoked20`: 20 of them, the most an entry holds);
// the default `plain` tokens name no session (the main bench's tokens).
//
// `--private-redis`: a redis-server the run starts, instead of REDIS_URL.
//
//   npm run bench:ab -- --build base=/work/scratch/bench-base \
//     --config base: --config now: --config sid:  --config revoked: \
//     --tokens sid=session --tokens revoked=revoked --pair revoked:sid
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { prepareFixtures } from "./lib/fixtures.js";
import {
  compileBench,
  LoadGenerator,
  measure,
  startServerUnderTest,
  useRuntime,
  type Measured,
} from "./lib/harness.js";
import { killChildrenOnExit, machineDescription } from "./lib/proc.js";
import { formatTable, median, round } from "./lib/stats.js";
import { startPrivateRedis } from "../test/helpers/redis-server.js";

// plain | session | revoked (`--revoked-sessions` of them) | revokedN (N of them, 1–20)
const TOKEN_LIST = /^(plain|session|revoked)(\d{1,2})?$/;

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    path: { type: "string", default: "/me" },
    config: { type: "string", multiple: true },
    build: { type: "string", multiple: true },
    tokens: { type: "string", multiple: true },
    pair: { type: "string", multiple: true },
    "revoked-sessions": { type: "string", default: "5" },
    rounds: { type: "string", default: "6" },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
    users: { type: "string", default: "10000" },
    runtime: { type: "string", default: "compiled" },
    "private-redis": { type: "boolean", default: false },
    out: { type: "string", default: "bench/results/ab-latest.json" },
  },
});
// NAME=VALUE pairs of a repeatable option, as a map.
const pairs = (list: string[] | undefined, option: string) =>
  new Map(
    (list ?? []).map((spec) => {
      const eq = spec.indexOf("=");
      if (eq < 1) throw new Error(`--${option} wants NAME=VALUE, got ${spec}`);
      return [spec.slice(0, eq), spec.slice(eq + 1)] as const;
    }),
  );
const builds = pairs(values.build, "build");
const tokenChoice = pairs(values.tokens, "tokens");
// --config NAME[@PATH]:KEY=VALUE;KEY=VALUE
const configs = (values.config ?? ["base:"]).map((spec) => {
  const colon = spec.indexOf(":");
  const [name = "", path = values.path] = (colon === -1 ? spec : spec.slice(0, colon)).split("@");
  const env = Object.fromEntries(
    (colon === -1 ? "" : spec.slice(colon + 1))
      .split(";")
      .filter(Boolean)
      .map((pair) => {
        const eq = pair.indexOf("=");
        if (eq < 1) throw new Error(`bad KEY=VALUE in --config ${spec}`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
  );
  const tokens = tokenChoice.get(name) ?? "plain";
  const match = TOKEN_LIST.exec(tokens);
  if (!match || (match[2] !== undefined && match[1] !== "revoked")) {
    throw new Error(`--tokens ${name}: plain, session, revoked or revokedN`);
  }
  const build = builds.get(name);
  return { name, path, env, tokens, repoDir: build === undefined ? null : resolve(build) };
});
for (const name of [...builds.keys(), ...tokenChoice.keys()]) {
  if (!configs.some((c) => c.name === name)) throw new Error(`no --config named ${name}`);
}
if (new Set(configs.map((c) => c.name)).size !== configs.length) {
  throw new Error("config names must differ");
}
// --pair A:B, repeatable: A against B, besides every config against the first.
const comparisons = (values.pair ?? []).map((spec) => {
  const [a = "", b = ""] = spec.split(":");
  for (const name of [a, b]) {
    if (!configs.some((c) => c.name === name)) throw new Error(`--pair ${spec}: no config ${name}`);
  }
  return [a, b] as const;
});
const rounds = Math.min(20, Number(values.rounds));
const durationSeconds = Math.min(30, Number(values.duration));
const connections = Math.min(1000, Math.max(1, Number(values.connections) || 50));
const users = Math.min(100_000, Math.max(connections, Number(values.users) || 10_000));
const revokedSessions = Math.min(20, Math.max(1, Number(values["revoked-sessions"]) || 5));

killChildrenOnExit();
const startedAt = Date.now();
const machineAtStart = machineDescription();
console.log(
  `A/B: ${configs
    .map((c) => `${c.name} (${c.path}, ${c.tokens} tokens${c.repoDir ? `, ${c.repoDir}` : ""})`)
    .join(" vs ")}`,
);
console.log(JSON.stringify(machineAtStart));
const runtime = values.runtime === "tsx" ? "tsx" : "compiled";
useRuntime(runtime);
for (const dir of new Set(configs.flatMap((c) => (c.repoDir ? [c.repoDir] : [])))) {
  if (runtime === "compiled") {
    console.log(`compiling ${dir} into its dist/bench …`);
    compileBench(dir);
  }
}
// A redis-server of this run's own: no other clients beside the servers under test.
const privateRedis = values["private-redis"] ? await startPrivateRedis() : null;
const fixtures = await prepareFixtures({
  databaseName: "jwt_auth_bench_ab",
  keyPrefix: "bench-ab:",
  userCount: users,
  logoutUserCount: 1,
  ...(privateRedis ? { redisUrl: privateRedis.url } : {}),
});
const load = await LoadGenerator.start();
const servers: Awaited<ReturnType<typeof startServerUnderTest>>[] = [];
try {
  const lists = new Set(configs.map((c) => c.tokens));
  load.define("plain", fixtures.tokens);
  if (lists.has("session")) {
    const seeded = await fixtures.seedSessionUsers({
      kind: "session",
      count: users,
      revokedSessions: 0,
    });
    load.define("session", seeded.tokens);
  }
  for (const list of lists) {
    if (!list.startsWith("revoked")) continue;
    const count = list === "revoked" ? revokedSessions : Number(list.slice("revoked".length));
    if (count < 1 || count > 20) throw new Error(`${list}: from 1 to 20 revoked sessions`);
    const seeded = await fixtures.seedSessionUsers({
      kind: list,
      count: users,
      revokedSessions: count,
    });
    load.define(list, seeded.tokens);
  }
  for (const [i, config] of configs.entries()) {
    const extraEnv = config.repoDir
      ? await fixtures.seedCheckoutDatabase({
          repoDir: config.repoDir,
          databaseName: `jwt_auth_bench_ab_${i}`,
        })
      : {};
    servers.push(
      await startServerUnderTest(
        config.name,
        fixtures.serverEnv({
          // Each its own keys; no command counting, which older builds lack.
          CACHE_KEY_PREFIX: `${fixtures.keyPrefix}${config.name}:`,
          BENCH_COUNT_REDIS_COMMANDS: "off",
          ...extraEnv,
          ...config.env,
        }),
        config.repoDir ? { repoDir: config.repoDir } : {},
      ),
    );
  }

  // Warm-up, which also fills each server's cache with every user of its list.
  for (const [i, server] of servers.entries()) {
    await measure(server, load, {
      path: configs[i]!.path,
      method: "GET",
      connections,
      amount: users,
      tokens: configs[i]!.tokens,
    });
  }
  const runs = configs.map(() => [] as (Measured & { miss: number; fallback: number })[]);
  const warnings: string[] = [];
  for (let r = 1; r <= rounds; r++) {
    const line: string[] = [];
    const order = [...servers.keys()];
    if (r % 2 === 0) order.reverse();
    for (const i of order) {
      const server = servers[i]!;
      const config = configs[i]!;
      await server.resetStats();
      const run = await measure(server, load, {
        path: config.path,
        method: "GET",
        connections,
        durationSeconds,
        tokens: config.tokens,
      });
      const stats = await server.stats();
      // Misses: not in Redis; fallbacks: Redis failed (e.g. a timeout) or was not trusted.
      const { miss, fallback } = config.path === "/me" ? stats : { miss: 0, fallback: 0 };
      if (miss + fallback > 0) {
        warnings.push(`round ${r}: ${config.name} had ${miss} misses, ${fallback} fallbacks`);
      }
      if (run.non2xx > 0 || run.errors > 0) {
        warnings.push(`round ${r}: ${config.name} had ${run.non2xx} non-2xx, ${run.errors} errors`);
      }
      runs[i]!.push({ ...run, miss, fallback });
      line[i] = `${config.name} ${round(run.rps)} req/s ${round(run.cpuUsPerRequest)} µs`;
    }
    console.log(`round ${r}: ${line.join(" | ")}`);
  }

  const base = runs[0]!;
  const spread = (list: number[], digits = 0) =>
    `${round(Math.min(...list), digits)}–${round(Math.max(...list), digits)}`;
  const summary = runs.map((list, i) => ({
    name: configs[i]!.name,
    path: configs[i]!.path,
    tokens: configs[i]!.tokens,
    repoDir: configs[i]!.repoDir,
    env: configs[i]!.env,
    rps: round(median(list.map((run) => run.rps))),
    rpsRange: spread(list.map((run) => run.rps)),
    rpsRatioToFirst: round(median(list.map((run, r) => run.rps / base[r]!.rps)), 3),
    rpsRatioToFirstRange: spread(
      list.map((run, r) => run.rps / base[r]!.rps),
      2,
    ),
    cpuUsPerRequest: round(median(list.map((run) => run.cpuUsPerRequest))),
    cpuUsPerRequestRange: spread(list.map((run) => run.cpuUsPerRequest)),
    cpuDeltaToFirst: round(
      median(list.map((run, r) => run.cpuUsPerRequest - base[r]!.cpuUsPerRequest)),
    ),
    cpuDeltaToFirstRange: spread(
      list.map((run, r) => run.cpuUsPerRequest - base[r]!.cpuUsPerRequest),
    ),
    p50Ms: median(list.map((run) => run.latencyMs.p50)),
    p99Ms: median(list.map((run) => run.latencyMs.p99)),
    serverCoreOtherPercent: round(median(list.map((run) => run.serverCoreOtherPercent)), 1),
    runs: list,
  }));
  // The order flips every round, so a run's position in its round (which
  // shows: the second of two back-to-back runs can cost more) cancels out in
  // the mean of each pair of rounds. Those means are the estimates; ± is
  // their standard error.
  const indexOf = (name: string) => configs.findIndex((c) => c.name === name);
  const pairsToReport = [
    ...configs.slice(1).map((c) => [c.name, configs[0]!.name] as const),
    ...comparisons,
  ];
  const pairs = pairsToReport.map(([a, b]) => {
    const ra = runs[indexOf(a)]!;
    const rb = runs[indexOf(b)]!;
    const delta = ra.map((run, r) => run.cpuUsPerRequest - rb[r]!.cpuUsPerRequest);
    const ratio = ra.map((run, r) => run.rps / rb[r]!.rps);
    const byPairs = (values: number[], combine: (x: number, y: number) => number) => {
      const out: number[] = [];
      for (let r = 0; r + 1 < values.length; r += 2) out.push(combine(values[r]!, values[r + 1]!));
      return out;
    };
    const deltaPairs = byPairs(delta, (x, y) => (x + y) / 2);
    const ratioPairs = byPairs(ratio, (x, y) => Math.sqrt(x * y));
    return {
      a,
      b,
      cpuDeltaUsPerRequest: meanWithError(deltaPairs, 1),
      rpsRatio: meanWithError(ratioPairs, 3),
      cpuDeltaPairMeans: deltaPairs.map((v) => round(v, 1)),
      rpsRatioPairMeans: ratioPairs.map((v) => round(v, 3)),
    };
  });
  console.log();
  console.log(
    formatTable([
      [
        "config",
        "req/s",
        "req/s range",
        "× first",
        "× first range",
        "CPU µs/req",
        "µs range",
        "Δ µs/req",
        "Δ range",
        "p50 ms",
        "p99 ms",
        "core 0 other %",
      ],
      ...summary.map((s) => [
        s.name,
        s.rps,
        s.rpsRange,
        s.rpsRatioToFirst,
        s.rpsRatioToFirstRange,
        s.cpuUsPerRequest,
        s.cpuUsPerRequestRange,
        s.cpuDeltaToFirst,
        s.cpuDeltaToFirstRange,
        s.p50Ms,
        s.p99Ms,
        s.serverCoreOtherPercent,
      ]),
    ]),
  );
  console.log();
  console.log(
    formatTable([
      ["A − B (ABBA round pairs)", "Δ CPU µs/req", "pairs", "req/s A ÷ B", "pairs"],
      ...pairs.map((p) => [
        `${p.a} − ${p.b}`,
        `${p.cpuDeltaUsPerRequest.mean} ± ${p.cpuDeltaUsPerRequest.standardError}`,
        p.cpuDeltaPairMeans.join(" "),
        `${p.rpsRatio.mean} ± ${p.rpsRatio.standardError}`,
        p.rpsRatioPairMeans.join(" "),
      ]),
    ]),
  );
  for (const warning of warnings) console.log(`warning: ${warning}`);
  const report = {
    startedAt: new Date(startedAt).toISOString(),
    durationSeconds: round((Date.now() - startedAt) / 1000),
    machine: { ...machineAtStart, loadAverageAtEnd: machineDescription().loadAverage },
    settings: {
      rounds,
      durationSeconds,
      connections,
      users,
      revokedSessions,
      runtime,
      redis: privateRedis ? `private redis-server on :${privateRedis.port}` : fixtures.redisUrl,
      order: "interleaved, reversed every other round",
    },
    configs: summary,
    pairs,
    warnings,
  };
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${values.out} in ${report.durationSeconds} s`);
} finally {
  await Promise.allSettled(servers.map((server) => server.stop()));
  await load.stop();
  await fixtures.close();
  await privateRedis?.stop();
}

function meanWithError(values: number[], digits: number) {
  const n = values.length;
  const mean = n > 0 ? values.reduce((sum, v) => sum + v, 0) / n : NaN;
  const variance = n > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1) : NaN;
  return { mean: round(mean, digits), standardError: round(Math.sqrt(variance / n), digits), n };
}
