import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { createArgon2PasswordHasher } from "../../src/adapters/argon2-password-hasher.js";
import { redisCacheKeys } from "../../src/adapters/redis-user-cache.js";
import { createKeyRing } from "../../src/core/key-ring.js";
import { createRefreshTokenCodec } from "../../src/core/refresh-token.js";
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
  /**
   * A new live session for each user of the logout pool, and its refresh
   * token as a `POST /refresh` body: each can be spent once.
   */
  mintRefreshBodies(): Promise<string[]>;
  /**
   * `count` more users, each with one live session and `revokedSessions`
   * sessions revoked since its last version change (so their cache entries
   * carry that many); one token each, naming the live session.
   */
  seedSessionUsers(options: {
    kind: string;
    count: number;
    revokedSessions: number;
  }): Promise<{ users: SeededUser[]; tokens: string[] }>;
  /**
   * A database for another checkout's server (`npm run bench:ab -- --build`):
   * created, migrated with that checkout's migrations into the schema its
   * version uses, and seeded with the same users, so `tokens` work on it too.
   * Returns the environment that server needs on top of `serverEnv()`.
   */
  seedCheckoutDatabase(options: {
    repoDir: string;
    databaseName: string;
  }): Promise<Record<string, string>>;
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
  /** Default: REDIS_URL, or the local default. */
  redisUrl?: string;
}): Promise<BenchFixtures> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const secret = randomBytes(48).toString("base64url");
  const databaseUrl = databaseUrlFor(options.databaseName);
  const keyPrefix = options.keyPrefix;
  const baseEnv = {
    JWT_SECRET: secret,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    JWT_EXPIRES_IN_SECONDS: String(TOKEN_LIFETIME_SECONDS),
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    CACHE_KEY_PREFIX: keyPrefix,
    DB_MIGRATE_ON_START: "off",
    // Login throughput is the point of one variant: no throttling (as the README advises).
    RATE_LIMIT: "off",
    // Metrics on, as in production, on a free port of each server's own.
    METRICS_PORT: "0",
    PORT: "0",
  };
  const config = parseConfig(baseEnv);

  await dropDatabase(options.databaseName);
  await migrateDatabase({ databaseUrl, schema: config.databaseSchema, createDatabase: true });
  const schema = pg.escapeIdentifier(config.databaseSchema);
  const usersTable = `${schema}.users`;

  const password = "bench password, not a secret";
  const passwordHash = await createArgon2PasswordHasher(config.passwordHashing).hash(password);
  const users = makeUsers("user", options.userCount);
  const logoutUsers = makeUsers("logout", options.logoutUserCount);
  await withClient(databaseUrl, async (db) => {
    for (const pool of [users, logoutUsers]) await insertUsers(db, usersTable, pool, passwordHash);
    await db.query(`ANALYZE ${usersTable}`);
  });
  const extraDatabases: string[] = [];

  const tokenService = createTokenService({
    secret,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresInSeconds: TOKEN_LIFETIME_SECONDS,
  });
  const tokens = users.map((user) => tokenService.issue({ id: user.id, jwtVersion: 0 }).token);
  // As the server makes them from the same secret.
  const refreshTokenCodec = createRefreshTokenCodec(createKeyRing({ secret }).allSecrets);

  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  await deleteKeys(redis, `${keyPrefix}*`);

  return {
    databaseUrl,
    redisUrl,
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
    async mintRefreshBodies() {
      const sessionIds = logoutUsers.map(() => randomUUID());
      const refreshTokens = sessionIds.map((id) => refreshTokenCodec.issue(id));
      await withClient(databaseUrl, async (db) => {
        await db.query(
          `INSERT INTO ${schema}.sessions (id, user_id, refresh_token_hash, expires_at, access_expires_at)
           SELECT s, u, h, now() + interval '30 days', now() + interval '1 hour'
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(s, u, h)`,
          [
            sessionIds,
            logoutUsers.map((u) => u.id),
            refreshTokens.map((token) => refreshTokenCodec.hash(token)),
          ],
        );
        await db.query(`ANALYZE ${schema}.sessions`);
      });
      return refreshTokens.map((refreshToken) => JSON.stringify({ refreshToken }));
    },
    async seedSessionUsers({ kind, count, revokedSessions }) {
      const seeded = makeUsers(kind, count);
      const live = seeded.map(() => randomUUID());
      await withClient(databaseUrl, async (db) => {
        await insertUsers(db, usersTable, seeded, passwordHash);
        const ids = seeded.map((u) => u.id);
        // One live session each, then `revokedSessions` ended ones, as
        // "sign out this session" leaves them: the user's revision raised and
        // each ended session stamped with it, its access tokens unexpired.
        await db.query(
          `INSERT INTO ${schema}.sessions (id, user_id, refresh_token_hash, expires_at, access_expires_at)
           SELECT s, u, md5(gen_random_uuid()::text), now() + interval '30 days',
                  now() + interval '1 hour'
           FROM unnest($1::uuid[], $2::uuid[]) AS t(s, u)`,
          [live, ids],
        );
        if (revokedSessions > 0) {
          await db.query(`UPDATE ${usersTable} SET revision = 1 WHERE id = ANY($1::uuid[])`, [ids]);
          await db.query(
            `INSERT INTO ${schema}.sessions (id, user_id, refresh_token_hash, expires_at,
               access_expires_at, revoked_at, revoke_reason, revoked_revision)
             SELECT gen_random_uuid(), u, md5(gen_random_uuid()::text),
                    now() + interval '30 days', now() + interval '1 hour',
                    now() - n * interval '1 second', 'signed_out', 1
             FROM unnest($1::uuid[]) AS u, generate_series(1, $2::int) AS n`,
            [ids, revokedSessions],
          );
        }
        await db.query(`ANALYZE ${usersTable}`);
        await db.query(`ANALYZE ${schema}.sessions`);
      });
      const tokens = seeded.map(
        (user, i) => tokenService.issue({ id: user.id, jwtVersion: 0, sessionId: live[i] }).token,
      );
      return { users: seeded, tokens };
    },
    async seedCheckoutDatabase({ repoDir, databaseName }) {
      // 0.1's layout (no AuthStore yet) has its tables in `public`; later ones in `auth`.
      const layout = existsSync(join(repoDir, "src/adapters/prisma-auth-store.ts"))
        ? "auth"
        : "public";
      const url = databaseUrlFor(databaseName);
      await dropDatabase(databaseName);
      extraDatabases.push(databaseName);
      await migrateDatabase({
        databaseUrl: url,
        schema: layout,
        createDatabase: true,
        migrationsDir: join(repoDir, "prisma/migrations"),
      });
      const table = `${pg.escapeIdentifier(layout)}.users`;
      await withClient(url, async (db) => {
        await insertUsers(db, table, users, passwordHash);
        await db.query(`ANALYZE ${table}`);
      });
      return { DATABASE_URL: url, ...(layout === "auth" ? { DATABASE_SCHEMA: layout } : {}) };
    },
    async close({ keepDatabase = false } = {}) {
      await deleteKeys(redis, `${keyPrefix}*`).catch(() => 0);
      redis.disconnect();
      if (!keepDatabase) await dropDatabase(options.databaseName);
      for (const name of extraDatabases) await dropDatabase(name).catch(() => {});
    },
  };
}

async function withClient<T>(url: string, use: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    return await use(db);
  } finally {
    await db.end();
  }
}

async function insertUsers(
  db: pg.Client,
  table: string,
  pool: SeededUser[],
  passwordHash: string,
): Promise<void> {
  for (let start = 0; start < pool.length; start += 5000) {
    const batch = pool.slice(start, start + 5000);
    await db.query(
      `INSERT INTO ${table} (id, email, password_hash, name, updated_at)
       SELECT id, email, $3, 'Bench ' || email, now()
       FROM unnest($1::uuid[], $2::text[]) AS u(id, email)`,
      [batch.map((u) => u.id), batch.map((u) => u.email), passwordHash],
    );
  }
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
