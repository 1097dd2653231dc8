import type { RequestHandler, Router } from "express";
import { createArgon2PasswordHasher } from "./adapters/argon2-password-hasher.js";
import { memoryAttemptLimiters, redisAttemptLimiters } from "./adapters/attempt-limiters.js";
import { createPrismaAuthStore } from "./adapters/prisma-auth-store.js";
import { createRedisUserCache } from "./adapters/redis-user-cache.js";
import { resolveAuthOptions, type CreateAuthOptions } from "./auth-options.js";
import { createAuthService, type AuthService, type Limiters } from "./core/auth-service.js";
import {
  consoleLogger,
  type AttemptLimiterFactory,
  type AuthStore,
  type UserCache,
} from "./core/ports.js";
import { createRefreshTokenCodec } from "./core/refresh-token.js";
import { createTokenService, type TokenService } from "./core/token-service.js";
import { createKeyRing } from "./core/key-ring.js";
import { createUserLookup, type CacheStatus } from "./core/user-lookup.js";
import { cacheVerifiedTokens } from "./core/verified-token-cache.js";
import { createAuthRouter } from "./http/auth-router.js";
import { createRequireAuth } from "./http/require-auth.js";

export type {
  CreateAuthOptions,
  RateLimitOptions,
  CacheOptions,
  SessionOptions,
} from "./auth-options.js";

export interface Auth {
  /**
   * Serves /register, /login, /refresh, /logout, /me, /sessions, /password,
   * /healthz and /readyz.
   */
  router: Router;
  /** Rejects requests without a valid, unrevoked token; sets `req.user` and `req.auth`. */
  requireAuth: RequestHandler;
  /** The same operations without HTTP, for custom routes and operators. */
  service: AuthService;
  tokens: TokenService;
  /** Breaker state and cache counters, for metrics and health pages. */
  cacheStatus(): CacheStatus;
  /**
   * Runs one repair pass now (the loop also runs on its own). Resolves true
   * once the cache is trusted; until then every lookup reads the store.
   */
  checkCache(): Promise<boolean>;
  /** Stops the repair loop and event listeners. Call it on shutdown; it does not close your clients. */
  close(): void;
}

/**
 * Builds the auth router, middleware and service from injected clients or
 * ports. Reads no environment and creates no connections.
 */
export function createAuth(options: CreateAuthOptions): Auth {
  const resolved = resolveAuthOptions(options);
  const logger = options.logger ?? consoleLogger;
  const now = options.tokens.now ?? Date.now;

  const store: AuthStore =
    options.store ?? createPrismaAuthStore(options.prisma!, { schema: resolved.databaseSchema });
  const cache: UserCache =
    options.userCache ??
    createRedisUserCache(options.redis!, {
      keyPrefix: resolved.cache.keyPrefix,
      ttlSeconds: resolved.cache.ttlSeconds,
      replicaAcks: resolved.cache.replicaAcks,
      replicaAckTimeoutMs: resolved.cache.replicaAckTimeoutMs,
    });
  const limiterFactory: AttemptLimiterFactory =
    options.attemptLimiters ??
    (options.redis
      ? redisAttemptLimiters(options.redis, resolved.cache.keyPrefix)
      : memoryAttemptLimiters());

  const baseTokens = createTokenService(options.tokens);
  const tokens =
    resolved.verifiedTokenCache === false
      ? baseTokens
      : cacheVerifiedTokens(baseTokens, { ...resolved.verifiedTokenCache, now });
  const refreshTokens = createRefreshTokenCodec(createKeyRing(options.tokens).allSecrets);

  const lookup = createUserLookup({
    store,
    cache,
    logger,
    breakerFailureThreshold: resolved.cache.breakerFailureThreshold,
    // No cached entry and no access token may outlive what a replay covers.
    repairRetentionSeconds: Math.max(
      tokens.expiresInSeconds + tokens.clockToleranceSeconds,
      resolved.cache.ttlSeconds,
    ),
    pruneIntervalMs: resolved.pruneIntervalMs,
    now,
  });
  const limiters: Limiters | null =
    resolved.rateLimit === false
      ? null
      : {
          loginAccount: limiterFactory("login-account", resolved.rateLimit.loginPerAccount),
          loginAccountClient: limiterFactory(
            "login-account-client",
            resolved.rateLimit.loginPerAccountAndClient,
          ),
          loginClient: limiterFactory("login-client", resolved.rateLimit.loginPerClient),
          registerClient: limiterFactory("register-client", resolved.rateLimit.registerPerClient),
          refreshClient: limiterFactory("refresh-client", resolved.rateLimit.refreshPerClient),
        };
  const service = createAuthService({
    store,
    ping: { store: () => store.ping(), cache: cache.inProcess ? null : () => cache.ping() },
    lookup,
    tokens,
    refreshTokens,
    hasher: options.passwordHasher ?? createArgon2PasswordHasher(options.passwordHashing),
    limiters,
    sessions: resolved.sessions,
    logger,
    now,
    onRegister: options.onRegister,
  });
  const requireAuth = createRequireAuth(service, {
    realm: resolved.realm,
    allowAidHeader: resolved.allowAidHeader,
  });
  const router = createAuthRouter(service, requireAuth, {
    realm: resolved.realm,
    registrationEnabled: resolved.registration,
    bodyLimit: resolved.bodyLimit,
    logger,
  });

  // The breaker starts open; the first pass (now) and each later one close it
  // once the cache is reachable and every recent change is in it.
  const runRepair = () => {
    lookup
      .repair()
      .catch((error: unknown) => logger.error({ err: error }, "cache repair pass failed"));
  };
  runRepair();
  const timer = setInterval(runRepair, resolved.cache.repairIntervalMs);
  timer.unref();
  // A (re)connected cache gets a pass at once rather than at the next tick.
  const stopReady = cache.onConnectionReady?.(runRepair);

  return {
    router,
    requireAuth,
    service,
    tokens,
    cacheStatus: lookup.status,
    checkCache: lookup.repair,
    close() {
      clearInterval(timer);
      stopReady?.();
      lookup.close();
    },
  };
}
