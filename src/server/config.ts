import { z } from "zod";
import { SCHEMA_NAME_PATTERN } from "../adapters/prisma-auth-store.js";
import type { RedisAddress, RedisConnection } from "../adapters/redis-client.js";
import { AUTH_DEFAULTS, type CreateAuthOptions } from "../auth-options.js";
import {
  MAX_CLOCK_TOLERANCE_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
} from "../core/access-token-claims.js";
import { KEY_ID_PATTERN, MIN_SECRET_BYTES, type VerificationKey } from "../core/key-ring.js";
import { SUPPORTED_ALGORITHMS } from "../core/token-service.js";

const onOff = (fallback: "on" | "off") =>
  z
    .enum(["on", "off", "true", "false", "1", "0"])
    .default(fallback)
    .transform((value) => value === "on" || value === "true" || value === "1");

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** Where the standalone server looks when nothing is configured (outside production). */
export const LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/jwt_auth";
export const LOCAL_REDIS_URL = "redis://127.0.0.1:6379";

const EnvSchema = z
  .object({
    NODE_ENV: z.string().optional(),
    HOST: z.string().min(1).optional(),
    PORT: int(3000, 0, 65535),
    EMBEDDED: z.enum(["auto", "on", "off"]).default("auto"),
    DATA_DIR: z.string().min(1).default(".data"),
    DATABASE_URL: z.url().optional(),
    DATABASE_SCHEMA: z
      .string()
      .regex(SCHEMA_NAME_PATTERN, {
        message: "DATABASE_SCHEMA must be lower-case letters, digits and _",
      })
      .default(AUTH_DEFAULTS.databaseSchema),
    DATABASE_POOL_SIZE: int(10, 1, 1000),
    DATABASE_CONNECT_TIMEOUT_MS: int(5000, 100, 120_000),
    DATABASE_STATEMENT_TIMEOUT_MS: int(5000, 100, 600_000),
    REDIS_URL: z.url().optional(),
    REDIS_SENTINELS: z.string().optional(),
    REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    REDIS_SENTINEL_PASSWORD: z.string().optional(),
    REDIS_CLUSTER_NODES: z.string().optional(),
    REDIS_USERNAME: z.string().optional(),
    REDIS_PASSWORD: z.string().optional(),
    REDIS_TLS: onOff("off"),
    REDIS_COMMAND_TIMEOUT_MS: int(200, 10, 10_000),
    REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(100).optional(),
    REDIS_WAIT_TIMEOUT_MS: int(AUTH_DEFAULTS.cache.replicaAckTimeoutMs, 1, 60_000),
    JWT_SECRET: z
      .string()
      .refine((secret) => Buffer.byteLength(secret, "utf8") >= MIN_SECRET_BYTES, {
        message: `JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`,
      })
      .optional(),
    JWT_KEY_ID: z
      .string()
      .regex(KEY_ID_PATTERN, { message: "JWT_KEY_ID must be 1-64 characters of A-Z a-z 0-9 . _ -" })
      .optional(),
    JWT_PREVIOUS_KEYS: z.string().optional().transform(parsePreviousKeys),
    JWT_ALGORITHM: z.enum(SUPPORTED_ALGORITHMS).default("HS256"),
    JWT_ISSUER: z.string().min(1).default("versioned-jwt-auth"),
    JWT_AUDIENCE: z.string().min(1).default("versioned-jwt-auth"),
    JWT_EXPIRES_IN_SECONDS: int(900, 1, MAX_TOKEN_LIFETIME_SECONDS),
    JWT_CLOCK_TOLERANCE_SECONDS: int(5, 0, MAX_CLOCK_TOLERANCE_SECONDS),
    REFRESH_TOKEN_TTL_SECONDS: int(
      AUTH_DEFAULTS.sessions.refreshTokenTtlSeconds,
      60,
      400 * 24 * 3600,
    ),
    REFRESH_REUSE_GRACE_SECONDS: int(AUTH_DEFAULTS.sessions.refreshReuseGraceSeconds, 0, 300),
    CACHE_TTL_SECONDS: int(AUTH_DEFAULTS.cache.ttlSeconds, 1, 7 * 24 * 3600),
    CACHE_KEY_PREFIX: z
      .string()
      .regex(/^[^{}]*$/, { message: "CACHE_KEY_PREFIX may not contain { or }" })
      .default(AUTH_DEFAULTS.cache.keyPrefix),
    CACHE_BREAKER_FAILURES: int(AUTH_DEFAULTS.cache.breakerFailureThreshold, 1, 1000),
    CACHE_REPAIR_INTERVAL_MS: int(AUTH_DEFAULTS.cache.repairIntervalMs, 10, 600_000),
    METRICS: onOff("on"),
    METRICS_HOST: z.string().min(1).default("127.0.0.1"),
    METRICS_PORT: int(9464, 0, 65535),
    RATE_LIMIT: onOff("on"),
    REGISTRATION: onOff("on"),
    ALLOW_AID_HEADER: onOff("off"),
    DB_MIGRATE_ON_START: onOff("on"),
    TRUST_PROXY: z.string().default("false"),
    ARGON2_MEMORY_KIB: int(19456, 1024, 4 * 1024 * 1024),
    ARGON2_ITERATIONS: int(2, 1, 100),
    ARGON2_PARALLELISM: int(1, 1, 16),
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
      .default("info"),
    SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 120_000),
  })
  .superRefine((env, ctx) => {
    const ids = [env.JWT_KEY_ID, ...env.JWT_PREVIOUS_KEYS.map((key) => key.keyId)];
    const named = ids.filter((id) => id !== undefined);
    for (const id of new Set(named.filter((id, index) => named.indexOf(id) !== index))) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_PREVIOUS_KEYS"],
        message: `duplicate key id ${id}`,
      });
    }
    if (ids.length - named.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_PREVIOUS_KEYS"],
        message: "only one key may be without a key id (set JWT_KEY_ID)",
      });
    }
    const topologies = [env.REDIS_URL, env.REDIS_SENTINELS, env.REDIS_CLUSTER_NODES].filter(
      (value) => value !== undefined,
    );
    if (topologies.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["REDIS_URL"],
        message: "set only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES",
      });
    }
    if (env.REDIS_SENTINELS !== undefined && env.REDIS_SENTINEL_NAME === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["REDIS_SENTINEL_NAME"],
        message: "REDIS_SENTINEL_NAME (the primary's name) is required with REDIS_SENTINELS",
      });
    }
    for (const name of ["REDIS_SENTINELS", "REDIS_CLUSTER_NODES"] as const) {
      const value = env[name];
      if (value !== undefined && parseAddresses(value) === null) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `${name} must be host:port,host:port`,
        });
      }
    }
  });

/** Every variable the configuration reads (a test holds the README and --help to it). */
export const CONFIG_VARIABLE_NAMES: readonly string[] = Object.keys(EnvSchema.shape);

export type ServerConfig = ReturnType<typeof parseConfig>;

/** How each dependency is to be found: configured, default local address, embedded, or by probing. */
export type DatabaseChoice =
  | { kind: "url"; url: string; explicit: boolean }
  | { kind: "embedded" }
  | { kind: "probe-local"; url: string };
export type CacheChoice =
  | { kind: "redis"; connection: RedisConnection; explicit: boolean }
  | { kind: "memory" }
  | { kind: "probe-local"; url: string };

export class ConfigError extends Error {}

/**
 * What the configuration says about the auth core, in `createAuth`'s terms:
 * one mapping for the server, the operator commands and the bench.
 */
export function authSettings(
  config: ServerConfig,
  secret: string,
  logger: NonNullable<CreateAuthOptions["logger"]>,
) {
  return {
    tokens: { ...config.tokens, secret },
    cache: config.cache,
    sessions: config.sessions,
    passwordHashing: config.passwordHashing,
    rateLimit: config.rateLimit ? {} : false,
    registration: config.registration,
    allowAidHeader: config.allowAidHeader,
    logger,
  } satisfies Partial<CreateAuthOptions>;
}

/** Parses the environment once at start-up; the rest of the server sees only the result. */
export function parseConfig(env: NodeJS.ProcessEnv) {
  // Empty values mean "unset", as in most .env tooling.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const result = EnvSchema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `  ${issue.path.join(".")}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
  }
  const e = result.data;
  const production = e.NODE_ENV === "production";
  // Production never falls back to embedded parts unless asked to explicitly.
  const embedded = e.EMBEDDED === "auto" && production ? "off" : e.EMBEDDED;
  const redisConnection = redisConnectionOf(e);
  const missing: string[] = [];
  const database: DatabaseChoice = e.DATABASE_URL
    ? { kind: "url", url: e.DATABASE_URL, explicit: true }
    : embedded === "on"
      ? { kind: "embedded" }
      : embedded === "off"
        ? production
          ? (missing.push("DATABASE_URL (a PostgreSQL connection string)"), { kind: "embedded" })
          : { kind: "url", url: LOCAL_DATABASE_URL, explicit: false }
        : { kind: "probe-local", url: LOCAL_DATABASE_URL };
  const cache: CacheChoice = redisConnection
    ? { kind: "redis", connection: redisConnection, explicit: true }
    : embedded === "on"
      ? { kind: "memory" }
      : embedded === "off"
        ? production
          ? (missing.push("REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES"), { kind: "memory" })
          : { kind: "redis", connection: { url: LOCAL_REDIS_URL }, explicit: false }
        : { kind: "probe-local", url: LOCAL_REDIS_URL };
  // One refusal names everything production lacks, so it takes one round to fix.
  if (production && e.JWT_SECRET === undefined) {
    missing.push("JWT_SECRET (JWT_SECRET is required; generate one with: openssl rand -base64 48)");
  }
  if (missing.length > 0) {
    const embeddable = missing.some((name) => !name.startsWith("JWT_SECRET"));
    throw new ConfigError(
      `NODE_ENV=production and nothing configured for: ${missing.join("; ")}.` +
        (embeddable
          ? ` Set them, or EMBEDDED=on to run Postgres and the cache inside this one process (not for production).`
          : ` Set it.`),
    );
  }
  const sentinel = redisConnection !== null && "sentinels" in redisConnection;
  return {
    production,
    host: e.HOST,
    port: e.PORT,
    dataDir: e.DATA_DIR,
    database,
    databaseSchema: e.DATABASE_SCHEMA,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    cacheStore: cache,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    /** Undefined when none is set and no secret file may be made (production). */
    jwtSecret: e.JWT_SECRET,
    tokens: {
      keyId: e.JWT_KEY_ID,
      previousKeys: e.JWT_PREVIOUS_KEYS,
      algorithm: e.JWT_ALGORITHM,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      expiresInSeconds: e.JWT_EXPIRES_IN_SECONDS,
      clockToleranceSeconds: e.JWT_CLOCK_TOLERANCE_SECONDS,
    },
    sessions: {
      refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
    },
    cache: {
      keyPrefix: e.CACHE_KEY_PREFIX,
      ttlSeconds: e.CACHE_TTL_SECONDS,
      breakerFailureThreshold: e.CACHE_BREAKER_FAILURES,
      repairIntervalMs: e.CACHE_REPAIR_INTERVAL_MS,
      replicaAcks: e.REDIS_WAIT_REPLICAS ?? (sentinel ? 1 : 0),
      replicaAckTimeoutMs: e.REDIS_WAIT_TIMEOUT_MS,
    },
    metrics: e.METRICS ? { host: e.METRICS_HOST, port: e.METRICS_PORT } : null,
    rateLimit: e.RATE_LIMIT,
    registration: e.REGISTRATION,
    allowAidHeader: e.ALLOW_AID_HEADER,
    migrateOnStart: e.DB_MIGRATE_ON_START,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    passwordHashing: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_ITERATIONS,
      parallelism: e.ARGON2_PARALLELISM,
    },
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}

function redisConnectionOf(e: z.infer<typeof EnvSchema>): RedisConnection | null {
  const credentials = {
    ...(e.REDIS_USERNAME ? { username: e.REDIS_USERNAME } : {}),
    ...(e.REDIS_PASSWORD ? { password: e.REDIS_PASSWORD } : {}),
    ...(e.REDIS_TLS ? { tls: true } : {}),
  };
  if (e.REDIS_URL) return { url: e.REDIS_URL };
  if (e.REDIS_SENTINELS && e.REDIS_SENTINEL_NAME) {
    return {
      sentinels: parseAddresses(e.REDIS_SENTINELS) ?? [],
      name: e.REDIS_SENTINEL_NAME,
      ...credentials,
      ...(e.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: e.REDIS_SENTINEL_PASSWORD } : {}),
    };
  }
  if (e.REDIS_CLUSTER_NODES) {
    return { clusterNodes: parseAddresses(e.REDIS_CLUSTER_NODES) ?? [], ...credentials };
  }
  return null;
}

/** `host:port,host:port` (IPv6 hosts in brackets); null when malformed. */
export function parseAddresses(value: string): RedisAddress[] | null {
  const addresses: RedisAddress[] = [];
  for (const entry of value.split(",").map((part) => part.trim())) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) return null;
    addresses.push({ host: match[1]!.replace(/^\[|\]$/g, ""), port });
  }
  return addresses.length > 0 ? addresses : null;
}

// Express's `trust proxy`: true/false, a hop count, or a list of addresses/subnets.
function parseTrustProxy(value: string): boolean | number | string {
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/**
 * `JWT_PREVIOUS_KEYS`: comma-separated `kid:secret` pairs, verification only.
 * An empty kid (`:secret`) names the key for tokens issued without a kid.
 * Messages name the entry, never its secret.
 */
function parsePreviousKeys(value: string | undefined, ctx: z.RefinementCtx): VerificationKey[] {
  if (value === undefined || value.trim() === "") return [];
  const keys: VerificationKey[] = [];
  for (const [index, entry] of value.split(",").entries()) {
    const colon = entry.indexOf(":");
    const keyId = entry.slice(0, Math.max(colon, 0)).trim();
    const secret = entry.slice(colon + 1).trim();
    const name = keyId === "" ? `entry ${index + 1}` : `key ${keyId}`;
    if (colon === -1 || (keyId !== "" && !KEY_ID_PATTERN.test(keyId))) {
      ctx.addIssue({
        code: "custom",
        message: `entry ${index + 1} must be kid:secret, the kid 1-64 characters of A-Z a-z 0-9 . _ -`,
      });
      continue;
    }
    if (Buffer.byteLength(secret, "utf8") < MIN_SECRET_BYTES) {
      ctx.addIssue({
        code: "custom",
        message: `the secret of ${name} must be at least ${MIN_SECRET_BYTES} bytes`,
      });
      continue;
    }
    keys.push(keyId === "" ? { secret } : { keyId, secret });
  }
  return keys;
}
