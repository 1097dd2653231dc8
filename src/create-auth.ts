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
import { silentLogger, type Logger } from "./core/ports.js";
import { createTokenService, type TokenService, type TokenSettings } from "./core/token-service.js";
import { cacheVerifiedTokens } from "./core/verified-token-cache.js";
import { createUserLookup, type CacheEvents } from "./core/user-lookup.js";
import { createAuthRouter } from "./http/auth-router.js";
import { createRequireAuth } from "./http/require-auth.js";

export interface RateLimitOptions {
  /** Login attempts per account and client address (default 10 per 15 minutes). */
  loginPerAccount?: AttemptLimit;
  /** Login attempts per client address (default 100 per 15 minutes). */
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
  /** Counters for cache hits, misses and fallbacks to Postgres. */
  cacheEvents?: Partial<CacheEvents>;
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
}

const MINUTE = 60;

/** Builds the auth router and middleware from injected clients. Reads no environment. */
export function createAuth(options: CreateAuthOptions): Auth {
  if (!options.prisma || !options.redis) {
    throw new TypeError("createAuth needs a prisma client and a redis client");
  }
  const logger = options.logger ?? silentLogger;
  const keyPrefix = options.cache?.keyPrefix ?? "auth:";
  const ttlSeconds = options.cache?.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TypeError("cache.ttlSeconds must be a positive integer");
  }
  const realm = options.realm ?? "auth";

  const tokens =
    options.verifiedTokenCache === false
      ? createTokenService(options.tokens)
      : cacheVerifiedTokens(createTokenService(options.tokens), {
          ...options.verifiedTokenCache,
          now: options.tokens.now,
        });
  const store = createPrismaUserStore(options.prisma);
  const cache = createRedisUserCache(options.redis, { keyPrefix, ttlSeconds });
  const lookup = createUserLookup({ store, cache, logger, events: options.cacheEvents });
  const limiters = createLimiters(options.redis, `${keyPrefix}rl:`, options.rateLimit);
  const service = createAuthService({
    store,
    cache,
    lookup,
    tokens,
    hasher: createArgon2PasswordHasher(options.passwordHashing),
    limiters,
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
  return { router, requireAuth, service, tokens };
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
      options?.loginPerAccount ?? { points: 10, durationSeconds: 15 * MINUTE },
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
