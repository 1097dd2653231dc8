import type { Redis } from "ioredis";
import type { RequestHandler, Router } from "express";
import {
  createArgon2PasswordHasher,
  type Argon2Options,
} from "./adapters/argon2-password-hasher.js";
import { createPrismaUserStore, type PrismaUserClient } from "./adapters/prisma-user-store.js";
import { createRedisAttemptLimiter, type AttemptLimit } from "./adapters/redis-attempt-limiter.js";
import { createRedisUserCache } from "./adapters/redis-user-cache.js";
import { createAuthService, type AuthService, type Limiters } from "./core/auth-service.js";
import {
  silentLogger,
  type Logger,
  type PasswordHasher,
  type UserCache,
  type UserStore,
} from "./core/ports.js";
import { createTokenService, type TokenService, type TokenSettings } from "./core/token-service.js";
import { createUserLookup, type CacheStatus } from "./core/user-lookup.js";
import { cacheVerifiedTokens } from "./core/verified-token-cache.js";
import { createAuthRouter } from "./http/auth-router.js";
import { createRequireAuth } from "./http/require-auth.js";

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
}

export interface CreateAuthOptions {
  /** A Prisma client generated from a schema containing this package's `User` model. */
  prisma: PrismaUserClient;
  /** An ioredis client; see `authRedisOptions()` for settings fit for auth. */
  redis: Redis;
  /** Signing secret, issuer, audience, lifetime. */
  tokens: TokenSettings;
  cache?: {
    /** Prefix for every Redis key this package writes (default "auth:"). */
    keyPrefix?: string;
    /** Lifetime of a cached user in seconds (default 3600). */
    ttlSeconds?: number;
    /** Consecutive Redis failures that open the breaker (default 3). */
    breakerFailureThreshold?: number;
    /**
     * How often the repair loop runs (default 1000 ms): it applies logouts that
     * did not reach Redis, and closes the breaker once Redis is back.
     */
    repairIntervalMs?: number;
  };
  passwordHashing?: Argon2Options;
  /** Throttling of login and registration; `false` turns it off. On by default. */
  rateLimit?: RateLimitOptions | false;
  /** Serve POST /register (default true). */
  registration?: boolean;
  /** Also accept the token in an `aid` header (default false). */
  allowAidHeader?: boolean;
  /** Realm named in `WWW-Authenticate` challenges (default "auth"). */
  realm?: string;
  /** Largest JSON body the router accepts (default "10kb"). */
  bodyLimit?: string;
  /** pino or anything with the same info/warn/error methods; silent by default. */
  logger?: Logger;
  /**
   * Remember tokens that verified, so a repeated token skips the signature
   * check (default on, 10000 tokens); `false` turns it off. Revocation is
   * checked on every request either way.
   */
  verifiedTokenCache?: { maxEntries?: number } | false;
}

export interface Auth {
  /** Serves /register, /login, /logout, /me, /healthz and /readyz. */
  router: Router;
  /** Rejects requests without a valid, unrevoked token; sets `req.user` and `req.auth`. */
  requireAuth: RequestHandler;
  /** The same operations without HTTP, for custom routes. */
  service: AuthService;
  tokens: TokenService;
  /** Breaker state and cache counters, for metrics and health pages. */
  cacheStatus(): CacheStatus;
  /**
   * Runs one repair pass now (the loop also runs on its own). Resolves true
   * once Redis is trusted; until then every lookup reads Postgres.
   */
  checkCache(): Promise<boolean>;
  /** Stops the repair loop. Call it when shutting down; it does not close your clients. */
  close(): void;
}

/** The storage ports `createAuth` builds from Prisma and ioredis; tests may wrap them. */
export interface AuthPorts {
  store: UserStore;
  cache: UserCache;
  hasher: PasswordHasher;
  limiters: Limiters | null;
}

const MINUTE = 60;

/** Builds the auth router and middleware from injected clients. Reads no environment. */
export function createAuth(options: CreateAuthOptions): Auth {
  if (!options.prisma || !options.redis) {
    throw new TypeError("createAuth needs a prisma client and a redis client");
  }
  const auth = assembleAuth(createAuthPorts(options), options);
  // A (re)connected Redis gets a repair pass at once rather than at the next tick.
  const onReady = () => void auth.checkCache().catch(() => {});
  options.redis.on("ready", onReady);
  return {
    ...auth,
    close() {
      options.redis.off("ready", onReady);
      auth.close();
    },
  };
}

/** The adapters `createAuth` uses. Not part of the public API: tests wrap them. */
export function createAuthPorts(options: CreateAuthOptions): AuthPorts {
  const keyPrefix = options.cache?.keyPrefix ?? "auth:";
  const ttlSeconds = options.cache?.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TypeError("cache.ttlSeconds must be a positive integer");
  }
  return {
    store: createPrismaUserStore(options.prisma),
    cache: createRedisUserCache(options.redis, { keyPrefix, ttlSeconds }),
    hasher: createArgon2PasswordHasher(options.passwordHashing),
    limiters: createLimiters(options.redis, `${keyPrefix}rl:`, options.rateLimit),
  };
}

/** Wires the core to its ports. Not part of the public API: tests use it to wrap ports. */
export function assembleAuth(
  ports: AuthPorts,
  options: Omit<CreateAuthOptions, "prisma" | "redis">,
): Auth {
  const logger = options.logger ?? silentLogger;
  const realm = options.realm ?? "auth";
  const repairIntervalMs = options.cache?.repairIntervalMs ?? 1000;
  if (!Number.isInteger(repairIntervalMs) || repairIntervalMs < 10) {
    throw new TypeError("cache.repairIntervalMs must be an integer of at least 10");
  }
  const tokens =
    options.verifiedTokenCache === false
      ? createTokenService(options.tokens)
      : cacheVerifiedTokens(createTokenService(options.tokens), {
          ...options.verifiedTokenCache,
          now: options.tokens.now,
        });
  const lookup = createUserLookup({
    store: ports.store,
    cache: ports.cache,
    logger,
    breakerFailureThreshold: options.cache?.breakerFailureThreshold,
  });
  const service = createAuthService({
    store: ports.store,
    cache: ports.cache,
    lookup,
    tokens,
    hasher: ports.hasher,
    limiters: ports.limiters,
    logger,
  });
  const requireAuth = createRequireAuth(service, {
    realm,
    allowAidHeader: options.allowAidHeader ?? false,
  });
  const router = createAuthRouter(service, requireAuth, {
    realm,
    registrationEnabled: options.registration ?? true,
    bodyLimit: options.bodyLimit ?? "10kb",
    logger,
  });

  // The breaker starts open; the first pass (now) and each later one close it
  // once Redis is reachable and every pending repair is applied.
  const runRepair = () => {
    lookup
      .repair()
      .catch((error: unknown) => logger.error({ err: error }, "cache repair pass failed"));
  };
  runRepair();
  const timer = setInterval(runRepair, repairIntervalMs);
  timer.unref();

  return {
    router,
    requireAuth,
    service,
    tokens,
    cacheStatus: lookup.status,
    checkCache: lookup.repair,
    close: () => clearInterval(timer),
  };
}

function createLimiters(
  redis: Redis,
  prefix: string,
  options: RateLimitOptions | false | undefined,
): Limiters | null {
  if (options === false) return null;
  return {
    loginAccount: createRedisAttemptLimiter(
      redis,
      `${prefix}login-account`,
      options?.loginPerAccount ?? { points: 50, durationSeconds: 15 * MINUTE },
    ),
    loginAccountClient: createRedisAttemptLimiter(
      redis,
      `${prefix}login-account-client`,
      options?.loginPerAccountAndClient ?? { points: 10, durationSeconds: 15 * MINUTE },
    ),
    loginClient: createRedisAttemptLimiter(
      redis,
      `${prefix}login-client`,
      options?.loginPerClient ?? { points: 100, durationSeconds: 15 * MINUTE },
    ),
    registerClient: createRedisAttemptLimiter(
      redis,
      `${prefix}register-client`,
      options?.registerPerClient ?? { points: 20, durationSeconds: 60 * MINUTE },
    ),
  };
}
