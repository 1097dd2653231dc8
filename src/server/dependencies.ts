import { createHash } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { Cluster, Redis } from "ioredis";
import { memoryAttemptLimiters } from "../adapters/attempt-limiters.js";
import { createPrismaAuthStore } from "../adapters/prisma-auth-store.js";
import { createMemoryUserCache } from "../adapters/memory-user-cache.js";
import { createRedisClient, type RedisConnection } from "../adapters/redis-client.js";
import { StoreNotReadyError } from "../core/errors.js";
import type { AttemptLimiterFactory, Logger, UserCache } from "../core/ports.js";
import { migrateDatabase } from "../db/migrate.js";
import { PrismaClient } from "../generated/prisma/client.js";
import type { ServerConfig } from "./config.js";
import { lockDataDir, type DataDirLock } from "./data-dir.js";
import { acceptsConnections } from "./probe.js";
import { EMBEDDED_POOL_SIZE } from "./embedded-pool.js";
import { describeError, StartupError } from "./startup-error.js";

/** Which Postgres and which cache, decided before anything is opened. */
export interface DependencyPlan {
  database: string | "embedded";
  cache: RedisConnection | "memory";
  /** What the first log line says. */
  description: { postgres: string; cache: string; dataDir: string | null };
}

/**
 * Applies the documented rule (README, "Which Postgres and which cache"):
 * what is configured is used; with EMBEDDED=on what is not configured runs
 * in this process; with EMBEDDED=auto (the default outside production) the
 * default local ports are tried, and what does not answer runs in this process.
 */
export async function planDependencies(config: ServerConfig): Promise<DependencyPlan> {
  const database = await chooseDatabase(config);
  const cache = await chooseCache(config);
  const dataDir = database === "embedded" ? resolve(config.dataDir) : null;
  return {
    database,
    cache,
    description: {
      postgres: database === "embedded" ? `embedded (PGlite) in ${dataDir}` : describeUrl(database),
      cache: cache === "memory" ? "in-process (this instance only)" : describeRedis(cache),
      dataDir,
    },
  };
}

/**
 * Everything the server talks to, chosen in this one place: real Postgres or
 * the embedded one, Redis (standalone, Sentinel, Cluster) or the in-process
 * cache. The rest of the server never asks which.
 */
export interface ServerDependencies {
  prisma: PrismaClient;
  /** Set when the cache is Redis. */
  redis: Redis | Cluster | null;
  /** Set when the cache is in this process. */
  userCache: UserCache | null;
  attemptLimiters: AttemptLimiterFactory | null;
  /** What this opening migrated (null when it did not run the migrations). */
  migrated: { databaseCreated: boolean; applied: string[] } | null;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply the migrations (the `migrate` command and DB_MIGRATE_ON_START). */
  migrate: boolean;
  /** What the process is for: a server holds its place; a one-off command must not pass a running server's lock. */
  role: "server" | "command";
}

export async function openDependencies(
  config: ServerConfig,
  plan: DependencyPlan,
  logger: Pick<Logger, "info" | "warn">,
  options: OpenOptions,
): Promise<ServerDependencies> {
  const cleanups: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  const { database, cache: cacheChoice } = plan;
  const postgres = plan.description.postgres;
  try {
    let lock: DataDirLock | null = null;
    let databaseUrl: string;
    if (database === "embedded") {
      // A one-off command creates nothing: it acts on a server's data or refuses.
      if (options.role === "command" && !options.migrate) requireEmbeddedDatabase(config.dataDir);
      lock = await lockDataDir(config.dataDir, options.role);
      cleanups.push(() => lock!.release());
      // Loaded only here: a library user or a real-Postgres server never loads it.
      const { startEmbeddedPostgres } = await import("./embedded-postgres.js");
      const embedded = await startEmbeddedPostgres({ dataDir: lock.postgresDir });
      cleanups.push(() => embedded.stop());
      databaseUrl = embedded.url;
    } else {
      databaseUrl = database;
    }

    let migrated: ServerDependencies["migrated"] = null;
    if (options.migrate) {
      try {
        const result = await migrateDatabase({
          databaseUrl,
          schema: config.databaseSchema,
          createDatabase: database !== "embedded",
          connectionTimeoutMs: config.databaseConnectTimeoutMs,
        });
        migrated = result;
        if (result.databaseCreated) logger.info({}, "database created");
        if (result.applied.length > 0) {
          logger.info({ migrations: result.applied }, "migrations applied");
        }
      } catch (error) {
        const message = describeError(error);
        // A connection that opens but never answers ends in a bare "timeout expired".
        const hint = /timeout/i.test(message)
          ? ` (no answer within DATABASE_CONNECT_TIMEOUT_MS=${config.databaseConnectTimeoutMs})`
          : "";
        throw new StartupError(`cannot prepare the database ${postgres}: ${message}${hint}`, {
          cause: error,
        });
      }
    }

    const prisma = new PrismaClient({
      adapter: new PrismaPg({
        connectionString: databaseUrl,
        max: database === "embedded" ? EMBEDDED_POOL_SIZE : config.databasePoolSize,
        connectionTimeoutMillis: config.databaseConnectTimeoutMs,
        // The server cancels a statement past this; the client gives up a little later.
        statement_timeout: config.databaseStatementTimeoutMs,
        query_timeout: config.databaseStatementTimeoutMs + 1000,
      }),
    });
    cleanups.push(() => prisma.$disconnect());
    try {
      await prisma.$queryRawUnsafe("SELECT 1");
    } catch (error) {
      throw new StartupError(`cannot reach Postgres (${postgres}): ${describeError(error)}`, {
        cause: error,
      });
    }

    // A command on a database without (current) auth tables says so once,
    // rather than retrying its cache check until it gives up.
    if (options.role === "command" && !options.migrate) {
      await createPrismaAuthStore(prisma, { schema: config.databaseSchema })
        .listCacheRepairs({ includeApplied: false, after: null, limit: 1 })
        .catch((error: unknown) => {
          throw error instanceof StoreNotReadyError ? new StartupError(error.message) : error;
        });
    }

    // In-process caches cannot be shared: an instance with one must be the
    // only one on its data, and instances with Redis must not run beside it.
    if (database !== "embedded") {
      const guard = await guardDatabase(
        databaseUrl,
        config,
        cacheChoice === "memory",
        options.role,
      );
      cleanups.push(guard);
    }

    let redis: Redis | Cluster | null = null;
    let userCache: UserCache | null = null;
    let attemptLimiters: AttemptLimiterFactory | null = null;
    if (cacheChoice === "memory") {
      userCache = createMemoryUserCache({ ttlSeconds: config.cache.ttlSeconds });
      attemptLimiters = memoryAttemptLimiters();
    } else {
      redis = createRedisClient(cacheChoice, config.redisCommandTimeoutMs);
      const client = redis;
      cleanups.push(async () => {
        await client.quit().catch(() => {});
        client.disconnect();
      });
    }
    return { prisma, redis, userCache, attemptLimiters, migrated, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function requireEmbeddedDatabase(dataDir: string): void {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, "postgres", "PG_VERSION"))) {
    throw new StartupError(
      `no embedded database in ${dir}: run this where the server keeps its data (set DATA_DIR to its data directory), or start the server once`,
    );
  }
}

async function chooseDatabase(config: ServerConfig): Promise<string | "embedded"> {
  const choice = config.database;
  if (choice.kind === "url") return choice.url;
  if (choice.kind === "embedded") return "embedded";
  return (await answers(5432)) ? choice.url : "embedded";
}

async function chooseCache(config: ServerConfig): Promise<RedisConnection | "memory"> {
  const choice = config.cacheStore;
  if (choice.kind === "redis") return choice.connection;
  if (choice.kind === "memory") return "memory";
  return (await answers(6379)) ? { url: choice.url } : "memory";
}

// Anything accepting connections on the default local port counts as the
// local service: if it then does not answer properly, start-up says so
// rather than quietly switching to the embedded one.
const answers = (port: number) => acceptsConnections("127.0.0.1", port, 500);

/**
 * Holds an advisory lock for the life of the process: exclusive for an
 * instance with an in-process cache, shared for one with Redis. Either kind
 * of instance is refused while the other kind runs on the same auth schema.
 */
async function guardDatabase(
  databaseUrl: string,
  config: ServerConfig,
  exclusive: boolean,
  role: OpenOptions["role"],
): Promise<() => Promise<void>> {
  const key = createHash("sha256")
    .update(`versioned-jwt-auth:${config.databaseSchema}`)
    .digest()
    .readBigInt64BE(0);
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: config.databaseConnectTimeoutMs,
  });
  client.on("error", () => {});
  await client.connect();
  const fn = exclusive ? "pg_try_advisory_lock" : "pg_try_advisory_lock_shared";
  const result = await client.query<{ locked: boolean }>(`SELECT ${fn}($1) AS locked`, [
    key.toString(),
  ]);
  if (!result.rows[0]?.locked) {
    await client.end().catch(() => {});
    throw new StartupError(
      exclusive
        ? "another instance uses this database: an in-process cache cannot be shared between instances. Configure REDIS_URL (or REDIS_SENTINELS / REDIS_CLUSTER_NODES) on every instance."
        : role === "command"
          ? "a server with an in-process cache runs on this database; its cache would not see this change. Stop it first, or use its HTTP API."
          : "an instance with an in-process cache runs on this database; stop it or give it REDIS_URL first.",
    );
  }
  return async () => {
    await client.end().catch(() => {});
  };
}

/** Host, port and database of a URL, never its credentials. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

function describeRedis(connection: RedisConnection): string {
  if ("url" in connection) return `Redis ${describeUrl(connection.url)}`;
  const list = (nodes: { host: string; port: number }[]) =>
    nodes.map((n) => `${n.host}:${n.port}`).join(",");
  if ("sentinels" in connection) {
    return `Redis Sentinel "${connection.name}" via ${list(connection.sentinels)}`;
  }
  return `Redis Cluster via ${list(connection.clusterNodes)}`;
}

/**
 * Waits (a bounded time) until the cache is reachable and a repair pass has
 * made it trusted. Until then lookups read Postgres and revocations answer
 * 503, so a server starts serving anyway; a one-off command waits for it.
 */
export async function untilCacheTrusted(
  redis: Redis | Cluster | null,
  checkCache: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  if (redis) await untilRedisReady(redis, timeoutMs);
  for (;;) {
    if (await checkCache().catch(() => false)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits (a bounded time) for the client's connection; false if it did not come. */
export async function untilRedisReady(redis: Redis | Cluster, timeoutMs: number): Promise<boolean> {
  if (redis.status === "ready") return true;
  return once(redis, "ready", { signal: AbortSignal.timeout(timeoutMs) }).then(
    () => true,
    () => false,
  );
}
