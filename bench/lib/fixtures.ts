import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import pg from "pg";
import { createArgon2PasswordHasher } from "../../src/adapters/argon2-password-hasher.js";
import { redisCacheKeys } from "../../src/adapters/redis-user-cache.js";
import { createTokenService, type TokenService } from "../../src/core/token-service.js";
import { databaseUrlNamed, migrateDatabase } from "../../src/db/migrate.js";
import { dropDatabaseIfExists } from "../../test/helpers/database.js";
import { parseConfig } from "../../src/server/config.js";

export interface SeededUser {
  id: string;
  email: string;
}

export interface BenchFixtures {
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
  password: string;
  /** The production defaults, as the server parses them from the same environment. */
  passwordHashing: { memoryCost: number; timeCost: number; parallelism: number };
  /** Authenticated-request users, with one valid token each (same index). */
  users: SeededUser[];
  tokens: string[];
  /** A separate pool for logout runs, so logouts never revoke `tokens`. */
  logoutUsers: SeededUser[];
  tokenService: TokenService;
  redis: Redis;
  /** Environment for a server under test; nothing is inherited but PATH and HOME. */
  serverEnv(extra?: Record<string, string>): Record<string, string>;
  /** Deletes the cached users (all, or these ids); returns how many keys went. */
  flushUserCache(ids?: string[]): Promise<number>;
  /** Fresh tokens for the logout pool, at each user's current version. */
  mintLogoutTokens(): Promise<string[]>;
  close(options?: { keepDatabase?: boolean }): Promise<void>;
}

const BASE_DATABASE_URL =
  process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ISSUER = "versioned-jwt-auth-bench";
const AUDIENCE = "versioned-jwt-auth-bench";
// Long enough for a full run plus a soak; the lifetime does not change the hot path.
const TOKEN_LIFETIME_SECONDS = 3600;

function databaseUrlFor(name: string): string {
  return databaseUrlNamed(BASE_DATABASE_URL, name);
}

function dropDatabase(name: string): Promise<void> {
  return dropDatabaseIfExists(databaseUrlFor(name));
}

/**
 * A fresh database (created and migrated with the exported migrator), users
 * inserted in bulk with one precomputed argon2id hash, tokens minted, and a
 * Redis key prefix of its own.
 */
export async function prepareFixtures(options: {
  databaseName: string;
  keyPrefix: string;
  userCount: number;
  logoutUserCount: number;
}): Promise<BenchFixtures> {
  const secret = randomBytes(48).toString("base64url");
  const databaseUrl = databaseUrlFor(options.databaseName);
  const keyPrefix = options.keyPrefix;
  const baseEnv = {
    JWT_SECRET: secret,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_EXPIRES_IN_SECONDS: String(TOKEN_LIFETIME_SECONDS),
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    CACHE_KEY_PREFIX: keyPrefix,
    DB_MIGRATE_ON_START: "off",
    // Login throughput is the point of one variant: no throttling (as the README advises).
    RATE_LIMIT: "off",
    // The bench server serves no metrics; nothing else may claim a port.
    METRICS: "off",
    PORT: "0",
  };
  const config = parseConfig(baseEnv);

  await dropDatabase(options.databaseName);
  await migrateDatabase({ databaseUrl, schema: config.databaseSchema, createDatabase: true });
  const usersTable = `${pg.escapeIdentifier(config.databaseSchema)}.users`;

  const password = "bench password, not a secret";
  const passwordHash = await createArgon2PasswordHasher(config.passwordHashing).hash(password);
  const users = makeUsers("user", options.userCount);
  const logoutUsers = makeUsers("logout", options.logoutUserCount);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    for (const pool of [users, logoutUsers]) {
      for (let start = 0; start < pool.length; start += 5000) {
        const batch = pool.slice(start, start + 5000);
        await db.query(
          `INSERT INTO ${usersTable} (id, email, password_hash, name, updated_at)
           SELECT id, email, $3, 'Bench ' || email, now()
           FROM unnest($1::uuid[], $2::text[]) AS u(id, email)`,
          [batch.map((u) => u.id), batch.map((u) => u.email), passwordHash],
        );
      }
    }
    await db.query(`ANALYZE ${usersTable}`);
  } finally {
    await db.end();
  }

  const tokenService = createTokenService({
    secret,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresInSeconds: TOKEN_LIFETIME_SECONDS,
  });
  const tokens = users.map((user) => tokenService.issue({ id: user.id, jwtVersion: 0 }).token);

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await deleteKeys(redis, `${keyPrefix}*`);

  return {
    databaseUrl,
    redisUrl: REDIS_URL,
    keyPrefix,
    password,
    passwordHashing: config.passwordHashing,
    users,
    tokens,
    logoutUsers,
    tokenService,
    redis,
    serverEnv(extra = {}) {
      return {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        ...baseEnv,
        ...extra,
      };
    },
    async flushUserCache(ids) {
      // Entries only: each bucket's generation key stays, as it would in production.
      if (!ids) return deleteKeys(redis, `${keyPrefix}{u*}:user:*`);
      if (ids.length === 0) return 0;
      return redis.unlink(...ids.map((id) => redisCacheKeys(keyPrefix, id).entry));
    },
    async mintLogoutTokens() {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string; jwt_version: number }>(
          `SELECT id, jwt_version FROM ${usersTable} WHERE id = ANY($1::uuid[])`,
          [logoutUsers.map((u) => u.id)],
        );
        const version = new Map(rows.map((row) => [row.id, row.jwt_version]));
        return logoutUsers.map(
          (user) =>
            tokenService.issue({ id: user.id, jwtVersion: version.get(user.id) ?? 0 }).token,
        );
      } finally {
        await client.end();
      }
    },
    async close({ keepDatabase = false } = {}) {
      await deleteKeys(redis, `${keyPrefix}*`).catch(() => 0);
      redis.disconnect();
      if (!keepDatabase) await dropDatabase(options.databaseName);
    },
  };
}

function makeUsers(kind: string, count: number): SeededUser[] {
  return Array.from({ length: count }, (_, i) => ({
    id: randomUUID(),
    email: `${kind}${String(i).padStart(6, "0")}@bench.example`,
  }));
}

async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [nextCursor, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = nextCursor;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}
