// The library: everything an Express app needs to mount the auth routes and
// protect its own. The standalone server (`versioned-jwt-auth/server`), the
// migrator (`versioned-jwt-auth/migrate`) and the conformance suites
// (`versioned-jwt-auth/testing`) are separate entries, so importing this one
// loads none of their dependencies.
export { createAuth } from "./create-auth.js";
export type { Auth } from "./create-auth.js";
export { AUTH_DEFAULTS } from "./auth-options.js";
export type {
  CreateAuthOptions,
  RateLimitOptions,
  CacheOptions,
  SessionOptions,
} from "./auth-options.js";
export {
  authClusterOptions,
  authRedisOptions,
  createRedisClient,
  type RedisAddress,
  type RedisConnection,
} from "./adapters/redis-client.js";
export {
  createPrismaAuthStore,
  DEFAULT_DATABASE_SCHEMA,
  type PrismaAuthStoreOptions,
  type PrismaSqlClient,
} from "./adapters/prisma-auth-store.js";
export {
  createRedisUserCache,
  redisCacheKeys,
  type RedisUserCacheOptions,
} from "./adapters/redis-user-cache.js";
export {
  createMemoryUserCache,
  type MemoryUserCacheOptions,
} from "./adapters/memory-user-cache.js";
export { memoryAttemptLimiters, redisAttemptLimiters } from "./adapters/attempt-limiters.js";
export {
  createArgon2PasswordHasher,
  DEFAULT_ARGON2_OPTIONS,
  type Argon2Options,
} from "./adapters/argon2-password-hasher.js";
export type {
  AuthService,
  Authenticated,
  ClientInfo,
  Readiness,
  SessionInfo,
  SignOutScope,
  TokenPair,
  LoginResult,
} from "./core/auth-service.js";
export type { AccessTokenClaims } from "./core/access-token-claims.js";
export type { TokenSettings, TokenService, TokenAlgorithm } from "./core/token-service.js";
export type { VerificationKey } from "./core/key-ring.js";
export type {
  AttemptLimit,
  AttemptLimiter,
  AttemptLimiterFactory,
  AuthStore,
  CachedUser,
  CacheRead,
  ChangeResult,
  DeletedUser,
  Logger,
  NewSession,
  PasswordHasher,
  PublicUser,
  RevokedSession,
  SessionEndReason,
  SessionRecord,
  UserCache,
  UserChange,
  UserCredentials,
  UserState,
  VersionReason,
} from "./core/ports.js";
export { consoleLogger, MAX_CACHED_REVOKED_SESSIONS, silentLogger } from "./core/ports.js";
export type { CacheStatus } from "./core/user-lookup.js";
export type { BreakerState } from "./core/circuit-breaker.js";
export {
  AuthError,
  EmailTakenError,
  ERROR_CATALOGUE,
  TOKEN_REVOKED_MESSAGES,
  type ErrorCode,
} from "./core/errors.js";
import "./http/request-user.js";
