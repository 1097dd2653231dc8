import { randomBytes, randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { PrismaPg } from "@prisma/adapter-pg";
import { Redis } from "ioredis";
import pg from "pg";
import type { Express } from "express";
import { authRedisOptions } from "../../src/adapters/redis-client.js";
import { createAuth, type Auth, type CreateAuthOptions } from "../../src/create-auth.js";
import { migrateDatabase } from "../../src/db/migrate.js";
import { PrismaClient } from "../../src/generated/prisma/client.js";
import { createApp } from "../../src/server/app.js";
import { createLogger } from "../../src/server/logger.js";
import { waitFor } from "./wait-for.js";

export const BASE_DATABASE_URL =
  process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
export const SHARED_REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

// Cheap argon2 parameters: the tests exercise the flows, not the cost.
export const FAST_HASHING = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export function databaseUrlFor(name: string): string {
  const url = new URL(BASE_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A fresh, migrated database of its own; `drop` removes it. */
export async function createTestDatabase() {
  const name = `jwt_auth_test_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const url = databaseUrlFor(name);
  await migrateDatabase({ databaseUrl: url, createDatabase: true });
  return {
    name,
    url,
    async drop() {
      const admin = new pg.Client({ connectionString: databaseUrlFor("postgres") });
      await admin.connect();
      try {
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

export function createPrisma(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
}

export async function connectRedis(url: string, commandTimeoutMs = 500): Promise<Redis> {
  const redis = new Redis(url, authRedisOptions(commandTimeoutMs));
  redis.on("error", () => {});
  await waitFor(() => redis.status === "ready", { what: `redis at ${url}` });
  return redis;
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

export interface TestApp {
  app: Express;
  auth: Auth;
  prisma: PrismaClient;
  redis: Redis;
  keyPrefix: string;
  secret: string;
  databaseUrl: string;
  logs: string[];
  /** Per-user counters of Postgres reads and cache events. */
  counters: { hit: number; miss: number; fallback: number };
  close(): Promise<void>;
}

export interface TestAppOptions {
  redisUrl?: string;
  /** Reuse an existing database (e.g. a second instance); otherwise a fresh one is made and dropped. */
  databaseUrl?: string;
  secret?: string;
  keyPrefix?: string;
  /** Express `trust proxy`, e.g. true to let tests pick client addresses with X-Forwarded-For. */
  trustProxy?: boolean | number | string;
  overrides?: Partial<CreateAuthOptions>;
}

/**
 * A full app on real Postgres and Redis: its own database (unless one is
 * given) and its own Redis key prefix; `close` tears everything down.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.databaseUrl ? null : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const prisma = createPrisma(databaseUrl);
  const redis = await connectRedis(options.redisUrl ?? SHARED_REDIS_URL);
  const keyPrefix = options.keyPrefix ?? `test:${randomUUID()}:`;
  const secret = options.secret ?? randomBytes(32).toString("base64url");
  const { lines, logger } = captureLogs();
  const counters = { hit: 0, miss: 0, fallback: 0 };
  const auth = createAuth({
    prisma,
    redis,
    tokens: { secret, issuer: "test-issuer", audience: "test-audience" },
    cache: { keyPrefix, ttlSeconds: 600 },
    passwordHashing: FAST_HASHING,
    rateLimit: false,
    logger,
    cacheEvents: {
      hit: () => counters.hit++,
      miss: () => counters.miss++,
      fallback: () => counters.fallback++,
    },
    ...options.overrides,
  });
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
    counters,
    async close() {
      const keys = await redis.keys(`${keyPrefix}*`).catch(() => []);
      if (keys.length > 0) await redis.del(...keys).catch(() => {});
      redis.disconnect();
      await prisma.$disconnect();
      await database?.drop();
    },
  };
}
