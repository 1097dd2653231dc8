import { z } from "zod";
import {
  KEY_ID_PATTERN,
  MAX_TOKEN_LIFETIME_SECONDS,
  MIN_SECRET_BYTES,
  SUPPORTED_ALGORITHMS,
  type VerificationKey,
} from "../core/token-service.js";

const onOff = (fallback: "on" | "off") =>
  z
    .enum(["on", "off", "true", "false", "1", "0"])
    .default(fallback)
    .transform((value) => value === "on" || value === "true" || value === "1");

const int = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const EnvSchema = z
  .object({
    PORT: int(3000, 0, 65535),
    DATABASE_URL: z.url().default("postgresql://postgres@127.0.0.1:5432/jwt_auth"),
    REDIS_URL: z.url().default("redis://127.0.0.1:6379"),
    JWT_SECRET: z
      .string({ message: "JWT_SECRET is required (generate one with: openssl rand -base64 48)" })
      .refine((secret) => Buffer.byteLength(secret, "utf8") >= MIN_SECRET_BYTES, {
        message: `JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes`,
      }),
    JWT_KEY_ID: z
      .string()
      .regex(KEY_ID_PATTERN, { message: "JWT_KEY_ID must be 1-64 characters of A-Z a-z 0-9 . _ -" })
      .optional(),
    JWT_PREVIOUS_KEYS: z.string().optional().transform(parsePreviousKeys),
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
      keyId: e.JWT_KEY_ID,
      previousKeys: e.JWT_PREVIOUS_KEYS,
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
