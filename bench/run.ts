// npm run bench [-- --smoke [--topologies] | --help]
// Interleaved rounds of every variant against servers pinned to core 0, with
// autocannon pinned to core 1; medians, ratios and the targets. The
// cached path also runs on a private Redis Sentinel and Cluster that the run
// starts and stops itself, with the Redis commands each request costs.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { prepareFixtures, type BenchFixtures } from "./lib/fixtures.js";
import {
  LoadGenerator,
  measure,
  startServerUnderTest,
  useRuntime,
  type Measured,
  type ServerStats,
  type ServerUnderTest,
} from "./lib/harness.js";
import {
  parseBenchOptions,
  topologyOf,
  type BenchOptions,
  type VariantName,
} from "./lib/options.js";
import { killChildrenOnExit, machineDescription } from "./lib/proc.js";
import { formatSoak, runSoak, type SoakResult } from "./lib/soak.js";
import { formatMarkdown, formatTable, median, round } from "./lib/stats.js";
import {
  commandCalls,
  startTopology,
  subtractCalls,
  type BenchTopology,
  type TopologyName,
} from "./lib/topologies.js";
import { startPrivateRedis, type PrivateRedis } from "../test/helpers/redis-server.js";

const DESCRIPTIONS: Record<VariantName, string> = {
  ceiling: "same app and middleware stack, route without auth",
  stateless: "our verifier only: signature + claims, no revocation",
  cached: "real requireAuth, every user in Redis",
  "cached-sentinel": "cached on a private Sentinel (1 primary, 1 replica, 3 sentinels)",
  "cached-cluster": "cached on a private Cluster (3 primaries)",
  cold: "real requireAuth right after deleting the cached users, each request a new user",
  "db-per-request": "same app and verifier, cache off: Postgres on every request",
  login: "POST /login: Postgres by email + argon2id verify + sign",
  refresh: "POST /refresh: Postgres session read + rotation + user lookup + sign",
  logout: "POST /logout: verify + lookup + Postgres UPDATE + Redis write-through",
};

const ROUND_ORDER: VariantName[] = [
  "ceiling",
  "stateless",
  "cold",
  "cached",
  "cached-sentinel",
  "cached-cluster",
  "db-per-request",
  "login",
  "refresh",
  "logout",
];

/** What the server sent to Redis during one run, per authenticated lookup. */
interface RedisCommands {
  /** Lookups the server served in the window (hits + misses + fallbacks). */
  lookups: number;
  /** Commands the server's ioredis client sent, by name. */
  client: Record<string, number>;
  /** All of them but the repair loop's once-a-second INFO, per lookup. */
  perRequest: number;
  /** MGET and GET per lookup: the round trips a request waits for. */
  readsPerRequest: number;
  /** `INFO commandstats` delta on the topology's data nodes (private topologies only). */
  server?: Record<string, number>;
  serverReadsPerRequest?: number;
}

interface Run extends Measured {
  round: number;
  server?: Partial<ServerStats>;
  redis?: RedisCommands;
  stampede?: {
    requests: number;
    users: number;
    readsById: number;
    maxReadsPerUser: number;
    fills: number;
    fallback: number;
  };
}

interface VariantResult {
  description: string;
  method: string;
  path: string;
  runs: Run[];
  median: {
    rps: number;
    p50Ms: number;
    p99Ms: number;
    cpuUsPerRequest: number;
    serverCoreOtherPercent: number;
  };
  peakRssMb: number;
  ratioToCeiling: number | null;
  ratioToDbPerRequest: number | null;
  p99RatioToCeiling: number | null;
  /** Per-round ratios to standalone cached (for the topology variants). */
  ratioToCached: number | null;
  p99RatioToCached: number | null;
  cpuRatioToCached: number | null;
  /** Medians over rounds; null when the variant does not look users up. */
  redisCommandsPerRequest: number | null;
  redisReadsPerRequest: number | null;
  serverReadsPerRequest: number | null;
}

interface Target {
  name: string;
  value: number | null;
  limit: string;
  pass: boolean | null;
}

const options = parseBenchOptions(process.argv.slice(2));
killChildrenOnExit();
const startedAt = new Date();
const machineAtStart = machineDescription();
const warnings: string[] = [];
const log = (line = "") => console.log(line);
const elapsed = () => `[${round((Date.now() - startedAt.getTime()) / 1000, 1)} s]`;

log(
  `versioned-jwt-auth bench (${options.mode}): ${options.rounds} round(s) × ${options.variants.join(", ")}`,
);
log(`machine: ${JSON.stringify(machineAtStart)}`);
if (options.runtime === "compiled") log("compiling src and bench into dist/bench …");
useRuntime(options.runtime);

// Private topologies start while the database is seeded; they are stopped at the end.
const topologyNames = [
  ...new Set(options.variants.map(topologyOf).filter((name) => name !== null)),
];
const topologiesStarting = topologyNames.map((name) => startTopology(name));
const privateRedisStarting = options.privateRedis ? startPrivateRedis() : null;
let privateRedis: PrivateRedis | null = null;
const topologies = new Map<TopologyName, BenchTopology>();
const stopTopologies = async () => {
  const settled = await Promise.allSettled(topologiesStarting);
  await Promise.allSettled(
    settled.map((result) => (result.status === "fulfilled" ? result.value.stop() : undefined)),
  );
  await privateRedisStarting?.then((redis) => redis.stop()).catch(() => {});
};
let fixtures: BenchFixtures;
try {
  privateRedis = await privateRedisStarting;
  if (privateRedis)
    log(`${elapsed()} standalone Redis: a private redis-server on :${privateRedis.port}`);
  fixtures = await prepareFixtures({
    ...(privateRedis ? { redisUrl: privateRedis.url } : {}),
    databaseName: options.databaseName,
    keyPrefix: options.keyPrefix,
    userCount: options.users,
    logoutUserCount: options.logoutUsers,
  });
  for (const topology of await Promise.all(topologiesStarting)) {
    topologies.set(topology.name, topology);
    log(`${elapsed()} ${topology.describe}`);
  }
} catch (error) {
  await stopTopologies();
  throw error;
}
log(
  `${elapsed()} seeded ${options.users} users (+${options.logoutUsers} for logout) in ${options.databaseName}; ` +
    `argon2id m=${fixtures.passwordHashing.memoryCost} KiB t=${fixtures.passwordHashing.timeCost} ` +
    `p=${fixtures.passwordHashing.parallelism}`,
);

const servers = new Map<VariantName, ServerUnderTest>();
let load: LoadGenerator | undefined;
let soak: SoakResult | null = null;
const results = new Map<VariantName, Run[]>(options.variants.map((name) => [name, []]));

try {
  load = await LoadGenerator.start();
  const serverEnv = (name: VariantName) =>
    fixtures.serverEnv({
      ...(name === "db-per-request" ? { BENCH_CACHE: "off" } : {}),
      ...topologyEnv(name),
      ...(options.logLevel ? { LOG_LEVEL: options.logLevel } : {}),
    });
  // One process per variant, so each has its own CPU and memory figures. The
  // smoke run shares one process among the variants that need the same
  // server, which halves its time; the code paths are the same.
  const processKey = (name: VariantName) =>
    options.mode === "smoke" && topologyOf(name) === null
      ? name === "db-per-request"
        ? "no-cache"
        : "cached"
      : name;
  const started = new Map<string, Promise<ServerUnderTest>>();
  for (const name of options.variants) {
    const key = processKey(name);
    if (!started.has(key)) {
      started.set(key, startServerUnderTest(key, serverEnv(name), { nodeArgs: options.nodeArgs }));
    }
  }
  await Promise.allSettled(started.values());
  for (const name of options.variants) servers.set(name, await started.get(processKey(name))!);
  defineLists(load, fixtures, options);
  log(`${elapsed()} ${started.size} servers up`);

  // Every user in Redis (each topology's too) before anything is measured, whatever the order.
  const fillers = [
    servers.get("cached") ?? servers.get("cold"),
    ...options.variants.filter((name) => topologyOf(name) !== null).map((n) => servers.get(n)),
  ];
  for (const filler of fillers) {
    if (!filler) continue;
    await load.run({
      url: `${filler.baseUrl}/me`,
      method: "GET",
      connections: options.connections,
      amount: options.users,
      tokens: "cold",
    });
  }
  // Cold refills the cache, so cached follows it in every round.
  const order = [...options.variants].sort(
    (a, b) => ROUND_ORDER.indexOf(a) - ROUND_ORDER.indexOf(b),
  );
  if (options.warmupSeconds > 0) {
    log(`${elapsed()} warm-up: ${options.warmupSeconds} s per server`);
    for (const name of order) await runVariant(name, 0, true);
  }
  for (let r = 1; r <= options.rounds; r++) {
    log(`${elapsed()} round ${r}/${options.rounds}`);
    for (const name of order) {
      const run = await runVariant(name, r, false);
      results.get(name)!.push(run);
      log(
        `  ${name.padEnd(15)} ${round(run.rps)} req/s  p50 ${run.latencyMs.p50} ms  ` +
          `p99 ${run.latencyMs.p99} ms  ${round(run.cpuUsPerRequest)} µs/req  ` +
          `core 0 other ${run.serverCoreOtherPercent}%` +
          (run.redis ? `  Redis ${round(run.redis.perRequest, 3)} cmd/req` : "") +
          (run.non2xx || run.errors ? `  (${run.non2xx} non-2xx, ${run.errors} errors)` : ""),
      );
    }
  }

  for (const server of new Set(servers.values())) await server.stop();
  servers.clear();

  if (options.soak.durationSeconds > 0) {
    soak = await runSoak(fixtures, load, {
      ...options.soak,
      connections: Math.min(20, options.connections),
      nodeArgs: options.nodeArgs,
    });
  }
} finally {
  await Promise.allSettled([...new Set(servers.values())].map((server) => server.stop()));
  await load?.stop();
  await fixtures.close({ keepDatabase: options.keepDatabase });
  await stopTopologies();
}

const variants = summarise(results);
const targets = checkTargets(variants, soak);
const report = {
  version: 1,
  mode: options.mode,
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  durationSeconds: round((Date.now() - startedAt.getTime()) / 1000),
  // Load averages at both ends say how busy the machine was with other work.
  machine: { ...machineAtStart, loadAverageAtEnd: machineDescription().loadAverage },
  settings: {
    rounds: options.rounds,
    durationSeconds: options.durationSeconds,
    warmupSeconds: options.warmupSeconds,
    connections: options.connections,
    users: options.users,
    logoutUsers: options.logoutUsers,
    stampedeUsers: options.stampedeUsers,
    logLevel: options.logLevel ?? "info (production default)",
    runtime: options.runtime,
    nodeArgs: options.nodeArgs,
    standaloneRedis: privateRedis
      ? `private redis-server on :${privateRedis.port}`
      : `${fixtures.redisUrl} (shared)`,
    topologies: Object.fromEntries([...topologies].map(([name, t]) => [name, t.describe])),
    argon2id: fixtures.passwordHashing,
    versions: packageVersions(),
  },
  variants: Object.fromEntries(variants),
  soak,
  targets,
  warnings,
};

const rows = tableRows(variants);
const redisRows = redisTableRows(variants);
log();
log(formatTable(rows));
log();
log(formatTable(redisRows));
if (soak) {
  log();
  log(formatSoak(soak));
}
log();
for (const target of targets) {
  const verdict = target.pass === null ? "n/a " : target.pass ? "PASS" : "FAIL";
  log(`${verdict}  ${target.name}: ${target.value ?? "not measured"} (${target.limit})`);
}
for (const warning of warnings) log(`warning: ${warning}`);

mkdirSync(dirname(options.out), { recursive: true });
writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(
  options.out.replace(/\.json$/, "") + ".md",
  `${formatMarkdown(rows)}\n\n${formatMarkdown(redisRows)}\n`,
);
log(`\nwrote ${options.out} in ${report.durationSeconds} s`);

// ---------------------------------------------------------------------------

function topologyEnv(name: VariantName): Record<string, string> {
  const topology = topologyOf(name);
  return topology === null ? {} : topologies.get(topology)!.env;
}

function defineLists(load: LoadGenerator, fixtures: BenchFixtures, options: BenchOptions): void {
  load.define("tokens", fixtures.tokens);
  // Cold: every user once, in an order unrelated to the seeding order.
  load.define("cold", shuffle([...fixtures.tokens]));
  load.define(
    "logins",
    fixtures.users.map((user) =>
      JSON.stringify({ email: user.email, password: fixtures.password }),
    ),
  );
  // Stampede: one user per `connections` consecutive requests, so every
  // request in flight at once asks for the same uncached user.
  for (let roundNo = 0; roundNo <= options.rounds; roundNo++) {
    const chosen = stampedeUsers(roundNo);
    load.define(
      `stampede-${roundNo}`,
      chosen.flatMap((i) => Array<string>(options.connections).fill(fixtures.tokens[i]!)),
    );
  }
}

function stampedeUsers(roundNo: number): number[] {
  const count = Math.min(options.stampedeUsers, options.users);
  const start = (roundNo * count) % Math.max(1, options.users - count + 1);
  return Array.from({ length: count }, (_, i) => start + i);
}

async function runVariant(name: VariantName, roundNo: number, warmup: boolean): Promise<Run> {
  const server = servers.get(name)!;
  const timed = {
    connections: options.connections,
    durationSeconds: warmup ? options.warmupSeconds : options.durationSeconds,
  };
  // One POST per user of the pool, with the list named (tokens or bodies).
  const oncePerPoolUser = (path: string, list: { tokens: string } | { bodies: string }) =>
    measure(server, load!, {
      connections: options.connections,
      amount: options.logoutUsers,
      path,
      method: "POST",
      ...list,
    });
  let run: Run;
  switch (name) {
    case "ceiling":
    case "stateless": {
      const path = name === "ceiling" ? "/bench/open" : "/bench/stateless";
      run = {
        round: roundNo,
        ...(await measure(server, load!, { ...timed, path, method: "GET", tokens: "tokens" })),
      };
      break;
    }
    case "cached":
    case "cached-sentinel":
    case "cached-cluster":
    case "db-per-request": {
      const topology = topologyOf(name);
      // Commands counted at the server too, where nobody else uses it.
      const dataPorts =
        name === "db-per-request"
          ? []
          : topology
            ? await topologies.get(topology)!.dataPorts()
            : privateRedis
              ? [privateRedis.port]
              : [];
      const counted = dataPorts.length > 0;
      await server.resetStats();
      const callsBefore = counted ? await commandCalls(dataPorts) : null;
      const measured = await measure(server, load!, {
        ...timed,
        path: "/me",
        method: "GET",
        tokens: "tokens",
      });
      // Requests still in flight when the load stopped finish first, so the
      // commands and the lookups they count are the same requests.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const callsAfter = counted ? await commandCalls(dataPorts) : null;
      const stats = await server.stats();
      run = {
        round: roundNo,
        ...measured,
        server: pickCounts(stats),
        ...redisCommands(stats, callsBefore && subtractCalls(callsAfter!, callsBefore)),
      };
      if (!warmup && name !== "db-per-request" && stats.miss > 0) {
        warnings.push(`roundNo ${roundNo}: cached run had ${stats.miss} cache misses`);
      }
      if (!warmup && name === "db-per-request" && stats.readsById < measured.ok) {
        warnings.push(
          `roundNo ${roundNo}: db-per-request served ${measured.ok} with ${stats.readsById} reads`,
        );
      }
      break;
    }
    case "cold": {
      if (warmup) {
        run = {
          round: roundNo,
          ...(await measure(server, load!, {
            ...timed,
            path: "/me",
            method: "GET",
            tokens: "tokens",
          })),
        };
        break;
      }
      await fixtures.flushUserCache();
      await server.resetStats();
      const measured = await measure(server, load!, {
        connections: options.connections,
        amount: options.users,
        path: "/me",
        method: "GET",
        tokens: "cold",
      });
      const coldStats = await server.stats();
      const coldRedis = redisCommands(coldStats, null);
      // Then the stampede probe on the same instance: a few users, each asked
      // for by every connection at once, right after their keys are deleted.
      const chosen = stampedeUsers(roundNo);
      await fixtures.flushUserCache(chosen.map((i) => fixtures.users[i]!.id));
      await server.resetStats();
      const stampedeRun = await load!.run({
        url: `${server.baseUrl}/me`,
        method: "GET",
        connections: options.connections,
        amount: chosen.length * options.connections,
        tokens: `stampede-${roundNo}`,
      });
      const stampedeStats = await server.stats();
      run = {
        round: roundNo,
        ...measured,
        server: pickCounts(coldStats),
        ...coldRedis,
        stampede: {
          requests: stampedeRun.requests,
          users: chosen.length,
          readsById: stampedeStats.readsById,
          maxReadsPerUser: stampedeStats.maxReadsPerUser,
          fills: stampedeStats.fills,
          fallback: stampedeStats.fallback,
        },
      };
      if (stampedeRun.non2xx > 0)
        warnings.push(`roundNo ${roundNo}: stampede had ${stampedeRun.non2xx} non-2xx`);
      break;
    }
    case "login":
      run = {
        round: roundNo,
        ...(await measure(server, load!, {
          ...timed,
          path: "/login",
          method: "POST",
          bodies: "logins",
        })),
      };
      break;
    // Each pool user once per run: a refresh token is spent, a logout revokes.
    case "refresh":
      // A fresh session per pool user.
      load!.define("refresh", await fixtures.mintRefreshBodies());
      run = { round: roundNo, ...(await oncePerPoolUser("/refresh", { bodies: "refresh" })) };
      break;
    case "logout":
      // A token at each pool user's current version.
      load!.define("logout", await fixtures.mintLogoutTokens());
      run = { round: roundNo, ...(await oncePerPoolUser("/logout", { tokens: "logout" })) };
      break;
  }
  if (!warmup && (run.non2xx > 0 || run.errors > 0)) {
    warnings.push(
      `roundNo ${roundNo}: ${name} had ${run.non2xx} non-2xx (${JSON.stringify(run.statusCodes)}) and ${run.errors} errors`,
    );
  }
  return run;
}

function redisCommands(
  stats: ServerStats,
  serverCalls: Record<string, number> | null,
): { redis?: RedisCommands } {
  const lookups = stats.hit + stats.miss + stats.fallback;
  if (!stats.redisCommands || lookups === 0) return {};
  const client = stats.redisCommands;
  const sum = (calls: Record<string, number>, names?: string[]) =>
    Object.entries(calls)
      .filter(([name]) => (names ? names.includes(name) : name !== "info"))
      .reduce((total, [, n]) => total + n, 0);
  const reads = ["mget", "get"];
  return {
    redis: {
      lookups,
      client,
      perRequest: round(sum(client) / lookups, 4),
      readsPerRequest: round(sum(client, reads) / lookups, 4),
      ...(serverCalls
        ? {
            server: serverCalls,
            serverReadsPerRequest: round(sum(serverCalls, reads) / lookups, 4),
          }
        : {}),
    },
  };
}

function pickCounts(stats: ServerStats): Partial<ServerStats> {
  const names = [
    "hit",
    "miss",
    "fallback",
    "fills",
    "fillsSkipped",
    "readsById",
    "readsByEmail",
    "usersRead",
    "maxReadsPerUser",
  ] as const;
  return Object.fromEntries(names.map((name) => [name, stats[name]]));
}

function summarise(results: Map<VariantName, Run[]>): Map<VariantName, VariantResult> {
  const perRoundRatio = (runs: Run[], baseline: Run[] | undefined, pick: (run: Run) => number) => {
    if (!baseline || baseline.length === 0) return null;
    const ratios = runs.map((run) => {
      const base = baseline.find((b) => b.round === run.round);
      return base ? pick(run) / pick(base) : NaN;
    });
    const value = median(ratios);
    return Number.isFinite(value) ? round(value, 2) : null;
  };
  const summary = new Map<VariantName, VariantResult>();
  for (const [name, runs] of results) {
    const method = name === "login" || name === "refresh" || name === "logout" ? "POST" : "GET";
    const path = {
      ceiling: "/bench/open",
      stateless: "/bench/stateless",
      cached: "/me",
      "cached-sentinel": "/me",
      "cached-cluster": "/me",
      cold: "/me",
      "db-per-request": "/me",
      login: "/login",
      refresh: "/refresh",
      logout: "/logout",
    }[name];
    summary.set(name, {
      description: DESCRIPTIONS[name],
      method,
      path,
      runs,
      median: {
        rps: round(median(runs.map((r) => r.rps))),
        p50Ms: round(median(runs.map((r) => r.latencyMs.p50)), 1),
        p99Ms: round(median(runs.map((r) => r.latencyMs.p99)), 1),
        cpuUsPerRequest: round(median(runs.map((r) => r.cpuUsPerRequest))),
        serverCoreOtherPercent: round(median(runs.map((r) => r.serverCoreOtherPercent)), 1),
      },
      peakRssMb: round(Math.max(...runs.map((r) => r.peakRssMb)), 1),
      ratioToCeiling: perRoundRatio(runs, results.get("ceiling"), (r) => r.rps),
      ratioToDbPerRequest: perRoundRatio(runs, results.get("db-per-request"), (r) => r.rps),
      p99RatioToCeiling: perRoundRatio(runs, results.get("ceiling"), (r) => r.latencyMs.p99),
      ratioToCached: perRoundRatio(runs, results.get("cached"), (r) => r.rps),
      p99RatioToCached: perRoundRatio(runs, results.get("cached"), (r) => r.latencyMs.p99),
      cpuRatioToCached: perRoundRatio(runs, results.get("cached"), (r) => r.cpuUsPerRequest),
      redisCommandsPerRequest: medianOf(runs, (r) => r.redis?.perRequest),
      redisReadsPerRequest: medianOf(runs, (r) => r.redis?.readsPerRequest),
      serverReadsPerRequest: medianOf(runs, (r) => r.redis?.serverReadsPerRequest),
    });
  }
  return summary;
}

function medianOf(runs: Run[], pick: (run: Run) => number | undefined): number | null {
  const values = runs.map(pick).filter((value) => value !== undefined);
  return values.length > 0 ? round(median(values), 4) : null;
}

function checkTargets(
  variants: Map<VariantName, VariantResult>,
  soak: SoakResult | null,
): Target[] {
  const cached = variants.get("cached");
  const cold = variants.get("cold");
  const atLeast = (value: number | null | undefined, limit: number) =>
    value === null || value === undefined ? null : value >= limit;
  const below = (value: number | null | undefined, limit: number) =>
    value === null || value === undefined ? null : value <= limit;
  const coldMax = cold
    ? Math.max(
        ...cold.runs.map((run) =>
          Math.max(run.server?.maxReadsPerUser ?? 0, run.stampede?.maxReadsPerUser ?? 0),
        ),
      )
    : null;
  // The cached path's promise on every topology: one Redis command per request.
  const cachedRuns = [...variants]
    .filter(([name]) => name === "cached" || topologyOf(name) !== null)
    .flatMap(([, v]) => v.runs.map((run) => run.redis?.perRequest))
    .filter((value) => value !== undefined);
  const roundTrips = cachedRuns.length > 0 ? round(Math.max(...cachedRuns), 3) : null;
  return [
    {
      name: "cached req/s ÷ ceiling req/s",
      value: cached?.ratioToCeiling ?? null,
      limit: "≥ 0.85",
      pass: atLeast(cached?.ratioToCeiling, 0.85),
    },
    {
      name: "cached p99 ÷ ceiling p99",
      value: cached?.p99RatioToCeiling ?? null,
      limit: "≤ 1.5",
      pass: below(cached?.p99RatioToCeiling, 1.5),
    },
    {
      name: "cached req/s ÷ db-per-request req/s",
      value: cached?.ratioToDbPerRequest ?? null,
      limit: "≥ 2.5",
      pass: atLeast(cached?.ratioToDbPerRequest, 2.5),
    },
    {
      name: "cold: most Postgres reads of one user on one instance (fill + stampede)",
      value: coldMax,
      limit: "≤ 1",
      pass: below(coldMax, 1),
    },
    {
      name: "cached (every topology run): most Redis commands per authenticated request",
      value: roundTrips,
      limit: "≤ 1",
      pass: below(roundTrips, 1),
    },
    {
      name: "soak RSS growth %",
      value: soak ? soak.rssGrowthPercent : null,
      limit: "< 10",
      pass: soak ? soak.rssGrowthPercent < 10 : null,
    },
  ];
}

function tableRows(variants: Map<VariantName, VariantResult>): (string | number)[][] {
  const rows: (string | number)[][] = [
    [
      "variant",
      "req/s",
      "× ceiling",
      "× db-per-request",
      "× cached",
      "p50 ms",
      "p99 ms",
      "CPU µs/req",
      "peak RSS MB",
      "core 0 other %",
      "Redis cmd/req",
    ],
  ];
  for (const [name, v] of variants) {
    rows.push([
      name,
      v.median.rps,
      v.ratioToCeiling?.toFixed(2) ?? "–",
      v.ratioToDbPerRequest?.toFixed(2) ?? "–",
      v.ratioToCached?.toFixed(2) ?? "–",
      v.median.p50Ms,
      v.median.p99Ms,
      v.median.cpuUsPerRequest,
      v.peakRssMb,
      v.median.serverCoreOtherPercent,
      v.redisCommandsPerRequest?.toFixed(3) ?? "–",
    ]);
  }
  return rows;
}

/** Redis round trips of the cached path per topology, counted at both ends. */
function redisTableRows(variants: Map<VariantName, VariantResult>): (string | number)[][] {
  const rows: (string | number)[][] = [
    [
      "cached on",
      "req/s",
      "× cached",
      "p99 × cached",
      "CPU × cached",
      "cmd/req (client)",
      "MGET+GET/req (client)",
      "MGET+GET/req (server)",
    ],
  ];
  for (const [name, v] of variants) {
    if (name !== "cached" && topologyOf(name) === null) continue;
    rows.push([
      name === "cached"
        ? `standalone${privateRedis ? "" : ", shared"} (cached)`
        : `${topologyOf(name)} (${name})`,
      v.median.rps,
      v.ratioToCached?.toFixed(2) ?? "–",
      v.p99RatioToCached?.toFixed(2) ?? "–",
      v.cpuRatioToCached?.toFixed(2) ?? "–",
      v.redisCommandsPerRequest?.toFixed(3) ?? "–",
      v.redisReadsPerRequest?.toFixed(3) ?? "–",
      v.serverReadsPerRequest?.toFixed(3) ?? "shared server, not counted",
    ]);
  }
  return rows;
}

function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version };
  for (const name of [
    "express",
    "jsonwebtoken",
    "ioredis",
    "@prisma/client",
    "pino",
    "@node-rs/argon2",
    "autocannon",
  ]) {
    try {
      const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
      versions[name] = (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
    } catch {
      versions[name] = "unknown";
    }
  }
  return versions;
}

// Deterministic (seeded) so runs are comparable.
function shuffle<T>(items: T[]): T[] {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
