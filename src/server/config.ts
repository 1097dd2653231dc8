import { z } from "zod";
import {
  MAX_TOKEN_LIFETIME_SECONDS,
  MIN_SECRET_BYTES,
  SUPPORTED_ALGORITHMS,
} from "../core/token-service.js";

const onOff = (fallback: "on" | "off") =>
  z
    .enum(["on", "off", "true", "false", "1", "0"])
    .default(fallback)
    .transform((value) => value === "on" || value === "true" || value === "1");

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const EnvSchema = z.object({
  PORT: int(3000, 0, 65535),
  DATABASE_URL: z.url().default("postgresql://postgres@127.0.0.1:5432/jwt_auth"),
  REDIS_URL: z.url().default("redis://127.0.0.1:6379"),
  JWT_SECRET: z
    .string({ message: "JWT_SECRET is required (generate one with: openssl rand -base64 48)" })
    .refine((secret) => Buffer.byteLength(secret, "utf8") >= MIN_SECRET_BYTES, {
      message: `JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`,
    }),
  JWT_ALGORITHM: z.enum(SUPPORTED_ALGORITHMS).default("HS256"),
  JWT_ISSUER: z.string().min(1).default("versioned-jwt-auth"),
  JWT_AUDIENCE: z.string().min(1).default("versioned-jwt-auth"),
  JWT_EXPIRES_IN_SECONDS: int(900, 1, MAX_TOKEN_LIFETIME_SECONDS),
  CACHE_TTL_SECONDS: int(3600, 1, 7 * 24 * 3600),
  CACHE_KEY_PREFIX: z.string().default("auth:"),
  CACHE_BREAKER_FAILURES: int(3, 1, 1000),
  CACHE_REPAIR_INTERVAL_MS: int(1000, 10, 600_000),
  METRICS: onOff("on"),
  REDIS_COMMAND_TIMEOUT_MS: int(200, 10, 10_000),
  RATE_LIMIT: onOff("on"),
  REGISTRATION: onOff("on"),
  ALLOW_AID_HEADER: onOff("off"),
  DB_MIGRATE_ON_START: onOff("on"),
  TRUST_PROXY: z.string().default("false"),
  ARGON2_MEMORY_KIB: int(19456, 1024, 4 * 1024 * 1024),
  ARGON2_ITERATIONS: int(2, 1, 100),
  ARGON2_PARALLELISM: int(1, 1, 16),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 120_000),
});

export type ServerConfig = ReturnType<typeof parseConfig>;

export class ConfigError extends Error {}

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
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_URL,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    tokens: {
      secret: e.JWT_SECRET,
      algorithm: e.JWT_ALGORITHM,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      expiresInSeconds: e.JWT_EXPIRES_IN_SECONDS,
    },
    cache: {
      keyPrefix: e.CACHE_KEY_PREFIX,
      ttlSeconds: e.CACHE_TTL_SECONDS,
      breakerFailureThreshold: e.CACHE_BREAKER_FAILURES,
      repairIntervalMs: e.CACHE_REPAIR_INTERVAL_MS,
    },
    metrics: e.METRICS,
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

// Express's `trust proxy`: true/false, a hop count, or a list of addresses/subnets.
function parseTrustProxy(value: string): boolean | number | string {
  if (value === "true") return true;
  if (value === "false") return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}
