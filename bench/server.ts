// The server under test: the standalone app exactly as src/server builds it
// (config parsing, pino logger, request log, the library's router, 404 and
// error handler), plus a few bench-only routes mounted in front of the router.
// Started by bench/run.ts with the environment it needs; reports its port
// over IPC and exits on SIGTERM (so `--cpu-prof` can write its profile).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import express, { type RequestHandler } from "express";
import { Redis, type Cluster } from "ioredis";
import { redisAttemptLimiters } from "../src/adapters/attempt-limiters.js";
import { createPrismaAuthStore } from "../src/adapters/prisma-auth-store.js";
import { authRedisOptions } from "../src/adapters/redis-client.js";
import { AuthError } from "../src/core/errors.js";
import type { AuthStore, UserCache } from "../src/core/ports.js";
import { createAuth, type CreateAuthOptions } from "../src/create-auth.js";
import { extractBearerToken } from "../src/http/bearer-token.js";
import { sendAuthError } from "../src/http/error-response.js";
import { createApp } from "../src/server/app.js";
import { authSettings, parseConfig } from "../src/server/config.js";
import { openDependencies, planDependencies } from "../src/server/dependencies.js";
import { createLogger } from "../src/server/logger.js";
import { startMetricsServer } from "../src/server/metrics.js";
import { countRedisCommands } from "./lib/redis-commands.js";

const config = parseConfig(process.env);
const cacheMode = process.env.BENCH_CACHE === "off" ? "off" : "redis";
const logger = createLogger(config.logLevel);
if (config.jwtSecret === undefined) throw new Error("the bench server needs JWT_SECRET");
if (config.cacheStore.kind !== "redis") throw new Error("the bench server needs a Redis");

// Postgres and Redis opened as the standalone server opens them (pool size,
// timeouts, the Sentinel or Cluster client), without migrations.
const deps = await openDependencies(config, await planDependencies(config), logger, {
  migrate: false,
  role: "server",
});
// Experiment knob for `npm run bench:ab`; unset, the client is production's.
const autoPipelining = process.env.BENCH_REDIS_AUTOPIPELINING;
let redis: Redis | Cluster = deps.redis!;
if (autoPipelining !== undefined) {
  const connection = config.cacheStore.connection;
  if (!("url" in connection)) throw new Error("BENCH_REDIS_AUTOPIPELINING needs REDIS_URL");
  redis = new Redis(connection.url, {
    ...authRedisOptions(config.redisCommandTimeoutMs),
    enableAutoPipelining: autoPipelining === "on",
  });
}
redis.on("error", () => {});
// Every command the service sends, by name (all nodes of a Cluster), so the
// bench can report Redis commands per request. Off for A/B runs against
// builds that do not count, so both sides pay the same.
const redisCommands =
  process.env.BENCH_COUNT_REDIS_COMMANDS === "off" ? null : countRedisCommands(redis);
// All servers start at once on one core: a first connection may time out
// (and emit "error") before a later one gets through.
await within(30_000, "Redis to be ready", async () => {
  while (redis.status !== "ready") {
    await once(redis, "ready", { signal: AbortSignal.timeout(1000) }).catch(() => {});
  }
});

// Counts every Postgres read of a user, by id per user and by email, so the
// bench can check that a cold cache costs at most one read per user on this
// instance. It wraps the store port the service reads through.
const counts = { readsById: 0, readsByEmail: 0 };
const readsPerUser = new Map<string, number>();
const store: AuthStore = countingStore(
  createPrismaAuthStore(deps.prisma, { schema: config.databaseSchema }),
);

function countingStore(base: AuthStore): AuthStore {
  return {
    ...base,
    findUserById(id) {
      counts.readsById++;
      readsPerUser.set(id, (readsPerUser.get(id) ?? 0) + 1);
      return base.findUserById(id);
    },
    findUserByEmail(email) {
      counts.readsByEmail++;
      return base.findUserByEmail(email);
    },
  };
}

/**
 * The design users would otherwise pick: the same verifier, lookup, service,
 * middleware and router as with Redis, but a user cache that always misses,
 * so every authenticated request reads Postgres.
 */
const alwaysMiss: UserCache = {
  read: async () => ({ user: null, fence: "always-miss" }),
  fill: async () => false,
  write: async () => {},
  shardOf: () => "always-miss",
  identities: async () => new Map([["always-miss", "always-miss"]]),
  onConnectionLost: () => () => {},
  ping: async () => {},
};

const authOptions: CreateAuthOptions = {
  store,
  ...(cacheMode === "off"
    ? {
        userCache: alwaysMiss,
        // Throttling counters where the Redis variant keeps them (off in the bench anyway).
        attemptLimiters: redisAttemptLimiters(redis, config.cache.keyPrefix),
      }
    : { redis }),
  ...authSettings(config, config.jwtSecret, logger),
  // Experiment knob for `npm run bench:ab`; unset, production's default.
  ...(process.env.BENCH_VERIFIED_TOKEN_CACHE === "off"
    ? { verifiedTokenCache: false as const }
    : {}),
};
const auth = createAuth(authOptions);
// Metrics as the standalone server serves them (their own port; prom-client's
// default collectors run in this process either way).
const metrics = config.metrics ? await startMetricsServer(config.metrics) : null;
metrics?.attach(auth);
// The breaker starts open until the first repair pass: measure the steady state.
await within(30_000, "the cache to be trusted", async () => {
  while (!(await auth.checkCache())) await new Promise((resolve) => setTimeout(resolve, 200));
});

async function within(ms: number, what: string, wait: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    await Promise.race([wait(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// The body /me would send, for routes that skip the lookup.
const SAMPLE_USER = {
  id: "00000000-0000-4000-8000-000000000000",
  email: "user000000@bench.example",
  name: "Bench User 000000",
};

/** Signature and claims only, no revocation: what stateless JWT middleware does. */
const statelessAuth: RequestHandler = (req, res, next) => {
  try {
    req.auth = auth.tokens.verify(extractBearerToken(req, false));
  } catch (error) {
    if (error instanceof AuthError) {
      sendAuthError(res, error, { realm: "auth", challenge: true });
      return;
    }
    next(error);
    return;
  }
  next();
};

// The histogram records the whole interval between its timer's ticks, so the
// delay is what exceeds the resolution.
const ELD_RESOLUTION_MS = 10;
const eventLoopDelay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eventLoopDelay.enable();

const bench = express.Router();
bench.get("/bench/open", (_req, res) => {
  res.status(200).json({ user: SAMPLE_USER });
});
bench.get("/bench/stateless", statelessAuth, (req, res) => {
  res.status(200).json({ user: { ...SAMPLE_USER, id: req.auth!.sub } });
});
bench.get("/bench/stats", (req, res) => {
  // The soak's start and end points: memory after a full collection, so a
  // leak is not confused with where the heap happens to be in its GC cycle.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (req.query.gc === "1" && gc) gc();
  let maxReadsPerUser = 0;
  for (const reads of readsPerUser.values()) maxReadsPerUser = Math.max(maxReadsPerUser, reads);
  const memory = process.memoryUsage();
  const ms = (ns: number) => Number(Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS).toFixed(3));
  res.status(200).json({
    cache: cacheMode,
    ...counts,
    ...cacheCounts(),
    redisCommands: redisCommands?.counts() ?? null,
    usersRead: readsPerUser.size,
    maxReadsPerUser,
    memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    eventLoopDelayMs: {
      mean: ms(eventLoopDelay.mean),
      p50: ms(eventLoopDelay.percentile(50)),
      p99: ms(eventLoopDelay.percentile(99)),
      max: ms(eventLoopDelay.max),
    },
  });
  // The soak samples delay per interval, not since start.
  if (req.query.reset === "eld") eventLoopDelay.reset();
});
// Counters since the last reset: the lookup's own counters are cumulative.
let cacheBaseline = auth.cacheStatus();
function cacheCounts() {
  const now = auth.cacheStatus();
  return {
    hit: now.hits - cacheBaseline.hits,
    miss: now.misses - cacheBaseline.misses,
    fallback: now.fallbacks - cacheBaseline.fallbacks,
    // Why a user might be read twice: a fill that did not land (refused or failed).
    fills: now.fills - cacheBaseline.fills,
    fillsSkipped: now.fillsSkipped - cacheBaseline.fillsSkipped,
    breaker: now.breaker,
  };
}
bench.post("/bench/reset", (_req, res) => {
  counts.readsById = counts.readsByEmail = 0;
  redisCommands?.reset();
  cacheBaseline = auth.cacheStatus();
  readsPerUser.clear();
  eventLoopDelay.reset();
  res.status(204).end();
});
// V8's CPU profiler (the one behind --cpu-prof), around exactly the window
// the bench measures rather than from start-up to exit.
const profileDir = process.env.BENCH_PROFILE_DIR;
if (profileDir) {
  const session = new Session();
  session.connect();
  bench.post("/bench/profile/start", async (_req, res) => {
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
    res.status(204).end();
  });
  bench.post("/bench/profile/stop", async (req, res) => {
    const { profile } = await session.post("Profiler.stop");
    const file = join(profileDir, `${String(req.query.name ?? "profile")}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    res.status(200).json({ file });
  });
}
bench.use(auth.router);

const app = createApp({ auth: { ...auth, router: bench }, logger, trustProxy: config.trustProxy });
const server = app.listen(config.port, "127.0.0.1");
await once(server, "listening");
const { port } = server.address() as AddressInfo;
process.send?.({ type: "ready", port, pid: process.pid });

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  auth.close();
  void Promise.allSettled([
    redis === deps.redis ? Promise.resolve() : redis.quit(),
    deps.close(),
    metrics?.close(),
  ]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});
// The orchestrator died: do not linger.
process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
