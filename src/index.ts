export { createAuth } from "./create-auth.js";
export type { Auth, CreateAuthOptions, RateLimitOptions } from "./create-auth.js";
export { authRedisOptions, createRedisClient } from "./adapters/redis-client.js";
export type { PrismaUserClient } from "./adapters/prisma-user-store.js";
export type { AttemptLimit } from "./adapters/redis-attempt-limiter.js";
export type { Argon2Options } from "./adapters/argon2-password-hasher.js";
export type { AuthService, LoginResult, Authenticated, Readiness } from "./core/auth-service.js";
export type {
  AccessTokenClaims,
  TokenSettings,
  TokenService,
  TokenAlgorithm,
  VerificationKey,
} from "./core/token-service.js";
export type { PublicUser, Logger } from "./core/ports.js";
export type { CacheStatus } from "./core/user-lookup.js";
export type { BreakerState } from "./core/circuit-breaker.js";
export { AuthError, ERROR_CATALOGUE, type ErrorCode } from "./core/errors.js";
export { migrateDatabase, type MigrationResult } from "./db/migrate.js";
import "./http/request-user.js";
