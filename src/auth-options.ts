import type { Cluster, Redis } from "ioredis";
import type { Argon2Options } from "./adapters/argon2-password-hasher.js";
import type { PrismaSqlClient } from "./adapters/prisma-auth-store.js";
import type {
  AttemptLimit,
  AttemptLimiterFactory,
  AuthStore,
  Logger,
  PasswordHasher,
  PublicUser,
  UserCache,
} from "./core/ports.js";
import type { TokenSettings } from "./core/token-service.js";

/**
 * Failed login attempts are counted per account and client address, per
 * account across all addresses, and per client address; a successful login
 * gives its attempt back. Counters live in Redis (in memory while it is down).
 */
export interface RateLimitOptions {
  /** Failed logins per account and client address (default 10 per 15 minutes). */
  loginPerAccountAndClient?: AttemptLimit;
  /**
   * Failed logins per account from all addresses together (default 50 per 15
   * minutes). Higher than the per-address limit: whoever can spend it can
   * lock the account's owner out for the rest of the window.
   */
  loginPerAccount?: AttemptLimit;
  /** Failed logins per client address, over all accounts (default 100 per 15 minutes). */
  loginPerClient?: AttemptLimit;
  /** Registrations per client address (default 20 per hour). */
  registerPerClient?: AttemptLimit;
  /** Failed refreshes per client address (default 100 per 15 minutes). */
  refreshPerClient?: AttemptLimit;
}

export interface CacheOptions {
  /** Prefix of every Redis key (default "auth:"); no `{` or `}`. */
  keyPrefix?: string;
  /** Lifetime of a cached user in seconds (default 3600). */
  ttlSeconds?: number;
  /** Consecutive cache failures that open the breaker (default 3). */
  breakerFailureThreshold?: number;
  /**
   * How often the repair loop runs (default 1000 ms): it applies changes that
   * did not reach the cache, replays recent ones after a lost connection or a
   * failover, and closes the breaker.
   */
  repairIntervalMs?: number;
  /**
   * Replicas that must acknowledge a revocation (Redis `WAIT`) before it
   * answers success. Default: 1 when `redis` is a Sentinel client, else 0.
   * See the README, "Redis in production".
   */
  replicaAcks?: number;
  /** How long a revocation waits for those acknowledgements (default 250 ms). */
  replicaAckTimeoutMs?: number;
}

export interface SessionOptions {
  /** Absolute lifetime of a session and its refresh tokens (default 30 days). */
  refreshTokenTtlSeconds?: number;
  /**
   * A repeat of a spent refresh token within this many seconds of its
   * rotation is a race of one client (two tabs) and gets the same new pair;
   * later, it is theft and ends the session (default 10; 0: always theft).
   */
  refreshReuseGraceSeconds?: number;
}

export interface CreateAuthOptions {
  /**
   * Your Prisma client (any schema: the auth tables are in their own Postgres
   * schema and reached with raw SQL). Give either this or `store`.
   */
  prisma?: PrismaSqlClient;
  /** Postgres schema of the auth tables when `prisma` is given (default "auth"). */
  databaseSchema?: string;
  /** Your own store instead (run `versioned-jwt-auth/testing`'s conformance suite on it). */
  store?: AuthStore;
  /**
   * An ioredis `Redis` (standalone or Sentinel) or `Cluster`; see
   * `authRedisOptions()` for settings fit for auth. Give either this or `userCache`.
   */
  redis?: Redis | Cluster;
  /** Your own cache port instead (e.g. `createMemoryUserCache` for ONE process). */
  userCache?: UserCache;
  /** Where throttling counts (default: Redis when `redis` is given, else process memory). */
  attemptLimiters?: AttemptLimiterFactory;
  /** Signing secret, issuer, audience, lifetime. */
  tokens: TokenSettings;
  cache?: CacheOptions;
  sessions?: SessionOptions;
  passwordHashing?: Argon2Options;
  /** Your own hasher instead of argon2id (it must read the hashes already stored). */
  passwordHasher?: PasswordHasher;
  /** Throttling of login, refresh and registration; `false` turns it off. On by default. */
  rateLimit?: RateLimitOptions | false;
  /** Serve POST /register (default true). */
  registration?: boolean;
  /**
   * Runs after an account is created, before `POST /register` answers: link
   * it to your own data here. If it throws, the account is deleted again and
   * the error answers the request (an `AuthError` as itself, anything else 500).
   */
  onRegister?: (user: PublicUser) => Promise<void> | void;
  /** Also accept the token in an `aid` header (default false). */
  allowAidHeader?: boolean;
  /** Realm named in `WWW-Authenticate` challenges (default "auth"). */
  realm?: string;
  /** Largest JSON body the router accepts (default "10kb"). */
  bodyLimit?: string;
  /**
   * pino or anything with the same info/warn/error methods. Default: warnings
   * and errors as one line each on stderr (`silentLogger` silences them).
   */
  logger?: Logger;
  /**
   * Remember tokens that verified, so a repeated token skips the signature
   * check (default on, 10000 tokens); `false` turns it off. Revocation is
   * checked on every request either way.
   */
  verifiedTokenCache?: { maxEntries?: number } | false;
}

const MINUTE = 60;

/** Every default in one place. */
export const AUTH_DEFAULTS = {
  databaseSchema: "auth",
  cache: {
    keyPrefix: "auth:",
    ttlSeconds: 3600,
    breakerFailureThreshold: 3,
    repairIntervalMs: 1000,
    /** 1 for a Sentinel client (replicas exist by design), else 0. */
    replicaAcks: undefined as number | undefined,
    replicaAckTimeoutMs: 250,
  },
  sessions: {
    refreshTokenTtlSeconds: 30 * 24 * 3600,
    refreshReuseGraceSeconds: 10,
  },
  rateLimit: {
    loginPerAccountAndClient: { points: 10, durationSeconds: 15 * MINUTE },
    loginPerAccount: { points: 50, durationSeconds: 15 * MINUTE },
    loginPerClient: { points: 100, durationSeconds: 15 * MINUTE },
    registerPerClient: { points: 20, durationSeconds: 60 * MINUTE },
    refreshPerClient: { points: 100, durationSeconds: 15 * MINUTE },
  },
  registration: true,
  allowAidHeader: false,
  realm: "auth",
  bodyLimit: "10kb",
  verifiedTokenCache: { maxEntries: 10_000 },
  /** How often old repairs and expired sessions are pruned. */
  pruneIntervalMs: 60_000,
} as const;

export type ResolvedAuthOptions = ReturnType<typeof resolveAuthOptions>;

/** Checks the options once, when `createAuth` is called, and fills in defaults. */
export function resolveAuthOptions(options: CreateAuthOptions) {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("createAuth needs an options object");
  }
  if (Boolean(options.prisma) === Boolean(options.store)) {
    throw new TypeError(
      "createAuth needs exactly one of `prisma` (your Prisma client) and `store`",
    );
  }
  if (Boolean(options.redis) === Boolean(options.userCache)) {
    throw new TypeError(
      "createAuth needs exactly one of `redis` (an ioredis client) and `userCache`",
    );
  }
  if (!options.tokens)
    throw new TypeError("createAuth needs `tokens` ({ secret, issuer, audience })");
  const d = AUTH_DEFAULTS;
  const isSentinel = Boolean(
    options.redis &&
    !("isCluster" in options.redis && options.redis.isCluster) &&
    (options.redis as Redis).options.sentinels?.length,
  );
  const cache = {
    keyPrefix: options.cache?.keyPrefix ?? d.cache.keyPrefix,
    ttlSeconds: integer(
      "cache.ttlSeconds",
      options.cache?.ttlSeconds ?? d.cache.ttlSeconds,
      1,
      30 * 24 * 3600,
    ),
    breakerFailureThreshold: integer(
      "cache.breakerFailureThreshold",
      options.cache?.breakerFailureThreshold ?? d.cache.breakerFailureThreshold,
      1,
      1000,
    ),
    repairIntervalMs: integer(
      "cache.repairIntervalMs",
      options.cache?.repairIntervalMs ?? d.cache.repairIntervalMs,
      10,
      600_000,
    ),
    replicaAcks: integer(
      "cache.replicaAcks",
      options.cache?.replicaAcks ?? (isSentinel ? 1 : 0),
      0,
      100,
    ),
    replicaAckTimeoutMs: integer(
      "cache.replicaAckTimeoutMs",
      options.cache?.replicaAckTimeoutMs ?? d.cache.replicaAckTimeoutMs,
      1,
      60_000,
    ),
  };
  const sessions = {
    refreshTokenTtlSeconds: integer(
      "sessions.refreshTokenTtlSeconds",
      options.sessions?.refreshTokenTtlSeconds ?? d.sessions.refreshTokenTtlSeconds,
      60,
      400 * 24 * 3600,
    ),
    refreshReuseGraceSeconds: integer(
      "sessions.refreshReuseGraceSeconds",
      options.sessions?.refreshReuseGraceSeconds ?? d.sessions.refreshReuseGraceSeconds,
      0,
      300,
    ),
  };
  const rateLimit: Required<RateLimitOptions> | false =
    options.rateLimit === false ? false : { ...d.rateLimit, ...options.rateLimit };
  if (rateLimit) {
    for (const [name, limit] of Object.entries(rateLimit)) {
      integer(`rateLimit.${name}.points`, limit.points, 1, 1_000_000);
      integer(`rateLimit.${name}.durationSeconds`, limit.durationSeconds, 1, 7 * 24 * 3600);
    }
  }
  const verifiedTokenCache: { maxEntries: number } | false =
    options.verifiedTokenCache === false
      ? false
      : {
          maxEntries: integer(
            "verifiedTokenCache.maxEntries",
            options.verifiedTokenCache?.maxEntries ?? d.verifiedTokenCache.maxEntries,
            1,
            10_000_000,
          ),
        };
  return {
    databaseSchema: options.databaseSchema ?? d.databaseSchema,
    cache,
    sessions,
    rateLimit,
    verifiedTokenCache,
    registration: options.registration ?? d.registration,
    allowAidHeader: options.allowAidHeader ?? d.allowAidHeader,
    realm: options.realm ?? d.realm,
    bodyLimit: options.bodyLimit ?? d.bodyLimit,
    pruneIntervalMs: d.pruneIntervalMs,
  };
}

function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}
