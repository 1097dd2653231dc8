import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { PrismaPg } from "@prisma/adapter-pg";
import { Redis, type Cluster } from "ioredis";
import type { Express } from "express";
import { redisAttemptLimiters } from "../../src/adapters/attempt-limiters.js";
import { createPrismaAuthStore } from "../../src/adapters/prisma-auth-store.js";
import { authRedisOptions } from "../../src/adapters/redis-client.js";
import { createRedisUserCache } from "../../src/adapters/redis-user-cache.js";
import type { CreateAuthOptions } from "../../src/auth-options.js";
import type { AuthStore, UserCache } from "../../src/core/ports.js";
import { createAuth, type Auth } from "../../src/create-auth.js";
import { databaseUrlNamed, migrateDatabase } from "../../src/db/migrate.js";
import { dropDatabaseIfExists } from "./database.js";
import { PrismaClient } from "../../src/generated/prisma/client.js";
import { createApp } from "../../src/server/app.js";
import { createLogger } from "../../src/server/logger.js";
import { waitFor } from "./wait-for.js";
import { startPrivateRedis, type PrivateRedis } from "./redis-server.js";
import { afterAll, beforeAll } from "vitest";

export const BASE_DATABASE_URL =
  process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const SHARED_REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

// Cheap argon2 parameters: the tests exercise the flows, not the cost.
export const FAST_HASHING = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export function databaseUrlFor(name: string): string {
  return databaseUrlNamed(BASE_DATABASE_URL, name);
}

/** A database name no other test file uses. */
export function testDatabaseName(tag = "test"): string {
  return `jwt_auth_${tag}_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

export function dropDatabase(name: string): Promise<void> {
  return dropDatabaseIfExists(databaseUrlFor(name));
}

/** A fresh, migrated database of its own; `drop` removes it. */
export async function createTestDatabase() {
  const name = testDatabaseName();
  const url = databaseUrlFor(name);
  await migrateDatabase({ databaseUrl: url, createDatabase: true });
  return { name, url, drop: () => dropDatabase(name) };
}

/**
 * For fault tests: a private redis-server this file may pause, kill and
 * restart, and a database of its own, both torn down after the file.
 */
export function usePrivateRedisAndDatabase() {
  const env = {} as {
    redis: PrivateRedis;
    database: Awaited<ReturnType<typeof createTestDatabase>>;
  };
  beforeAll(async () => {
    env.redis = await startPrivateRedis();
    env.database = await createTestDatabase();
  });
  afterAll(async () => {
    await env.redis.stop();
    await env.database.drop();
  });
  return env;
}

export function createPrisma(databaseUrl: string): PrismaClient {
  // Model queries go to the auth schema, where the migrations put the tables.
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: databaseUrl }, { schema: "auth" }),
  });
}

export async function connectRedis(url: string, commandTimeoutMs = 500): Promise<Redis> {
  return readyRedis(new Redis(url, authRedisOptions(commandTimeoutMs)), `redis at ${url}`);
}

/** Swallows the client's error events (tests look at statuses) and waits until it is ready. */
export async function readyRedis<R extends Redis | Cluster>(redis: R, what = "redis"): Promise<R> {
  redis.on("error", () => {});
  try {
    await waitFor(() => redis.status === "ready", { what });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/**
 * What a rejected request must leave as it was: every auth table row and
 * every cache key of the app. A cache bucket's generation marker is left
 * out: reading any user id (an unknown one included) may start its bucket's
 * generation, which is cache bookkeeping (at most one per bucket), not state.
 */
export async function stateSnapshot(t: Pick<TestApp, "prisma" | "redis" | "keyPrefix">) {
  const [users, sessions, repairs, allKeys] = await Promise.all([
    t.prisma.user.findMany({ orderBy: { id: "asc" } }),
    t.prisma.session.findMany({ orderBy: { id: "asc" } }),
    t.prisma.cacheRepair.findMany({ orderBy: { userId: "asc" } }),
    t.redis.keys(`${t.keyPrefix}*`),
  ]);
  const keys = allKeys.filter((key) => !key.endsWith(":generation")).sort();
  const values = keys.length ? await t.redis.mget(...keys) : [];
  return { users, sessions, repairs, keys, values };
}

/**
 * Deletes the keys matching `pattern`: on a Cluster, on every primary, one
 * key per command (keys of different slots cannot share one).
 */
async function deleteKeys(redis: Redis | Cluster, pattern: string): Promise<void> {
  if (!("isCluster" in redis && redis.isCluster)) {
    const keys = await (redis as Redis).keys(pattern);
    if (keys.length > 0) await redis.del(...keys);
    return;
  }
  await Promise.all(
    (redis as Cluster).nodes("master").map(async (node) => {
      const keys = await node.keys(pattern);
      await Promise.all(keys.map((key) => node.del(key)));
    }),
  );
}

/** Captures what the service logs, so tests can check nothing secret is in it. */
export function captureLogs() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger("debug", stream) };
}

/** The two storage ports a test may wrap: fault injection, counting, or a naive design. */
export interface AuthPorts {
  store: AuthStore;
  cache: UserCache;
}

export interface TestApp {
  app: Express;
  auth: Auth;
  prisma: PrismaClient;
  /** A standalone or Sentinel client, or a Cluster (see `redis` in the options). */
  redis: Redis | Cluster;
  keyPrefix: string;
  secret: string;
  databaseUrl: string;
  logs: string[];
  close(): Promise<void>;
}

export interface TestAppOptions {
  redisUrl?: string;
  /**
   * Builds this instance's own ioredis client instead of connecting to
   * `redisUrl` (which is then ignored), e.g. in Sentinel mode:
   * `() => new Redis({ sentinels, name, ...authRedisOptions(200) })`, or a
   * Cluster: `() => createRedisClient({ clusterNodes }, 200)`.
   */
  redis?: () => Redis | Cluster;
  /** Reuse an existing database (e.g. a second instance); otherwise a fresh one is made and dropped. */
  databaseUrl?: string;
  secret?: string;
  keyPrefix?: string;
  /** Express `trust proxy`, e.g. true to let tests pick client addresses with X-Forwarded-For. */
  trustProxy?: boolean | number | string;
  overrides?: Partial<CreateAuthOptions>;
  /** Wrap the real adapters: fault injection, counting, or a naive design to compare against. */
  wrapPorts?: (
    ports: AuthPorts,
    context: { redis: Redis | Cluster; keyPrefix: string },
  ) => AuthPorts;
  /** Wait until the breaker has closed (default true; false when a dependency is down on purpose). */
  awaitTrustedCache?: boolean;
  /** Redis per-command timeout (default 500 ms). */
  commandTimeoutMs?: number;
}

/**
 * A full app on real Postgres and Redis: its own database (unless one is
 * given) and its own Redis key prefix; `close` tears everything down.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl ? null : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const prisma = createPrisma(databaseUrl);
  const redis = options.redis
    ? await readyRedis(options.redis(), "the instance's redis client")
    : await connectRedis(options.redisUrl ?? SHARED_REDIS_URL, options.commandTimeoutMs);
  const keyPrefix = options.keyPrefix ?? `test:${randomUUID()}:`;
  const secret = options.secret ?? randomBytes(32).toString("base64url");
  const { lines, logger } = captureLogs();
  const cacheOptions = { keyPrefix, ttlSeconds: 600, ...options.overrides?.cache };
  const ports: AuthPorts = {
    store: createPrismaAuthStore(prisma),
    cache: createRedisUserCache(redis, {
      keyPrefix,
      ttlSeconds: cacheOptions.ttlSeconds,
      replicaAcks: cacheOptions.replicaAcks,
      replicaAckTimeoutMs: cacheOptions.replicaAckTimeoutMs,
    }),
  };
  const wrapped = options.wrapPorts ? options.wrapPorts(ports, { redis, keyPrefix }) : ports;
  const auth = createAuth({
    tokens: { secret, issuer: "test-issuer", audience: "test-audience" },
    passwordHashing: FAST_HASHING,
    rateLimit: false,
    logger,
    attemptLimiters: redisAttemptLimiters(redis, keyPrefix),
    ...options.overrides,
    store: wrapped.store,
    userCache: wrapped.cache,
    cache: cacheOptions,
  });
  // The breaker starts open; tests start from a trusted cache.
  if (options.awaitTrustedCache !== false) {
    await waitFor(() => auth.checkCache(), { what: "the cache to be trusted" });
  }
  const app = createApp({ auth, logger, trustProxy: options.trustProxy ?? false });
  return {
    app,
    auth,
    prisma,
    redis,
    keyPrefix,
    secret,
    databaseUrl,
    logs: lines,
    async close() {
      auth.close();
      await deleteKeys(redis, `${keyPrefix}*`).catch(() => {});
      redis.disconnect();
      await prisma.$disconnect();
      await database?.drop();
    },
  };
}
