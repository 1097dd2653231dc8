import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { TooManyRequestsError } from "../core/errors.js";
import type { AttemptLimiter } from "../core/ports.js";

export interface AttemptLimit {
  /** Attempts allowed per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
}

/**
 * Counts attempts in Redis so every instance shares them; while Redis is
 * unreachable each process falls back to its own in-memory counter. Keys are
 * hashed: an email or address never appears in Redis, and a key's length does
 * not depend on what the client sent.
 */
export function createRedisAttemptLimiter(
  redis: Redis,
  keyPrefix: string,
  limit: AttemptLimit,
): AttemptLimiter {
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points: limit.points,
    duration: limit.durationSeconds,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({
      keyPrefix,
      points: limit.points,
      duration: limit.durationSeconds,
    }),
  });
  const hashed = (key: string) => createHash("sha256").update(key).digest("base64url");
  return {
    async consume(key) {
      try {
        await limiter.consume(hashed(key));
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          throw new TooManyRequestsError(rejection.msBeforeNext / 1000);
        }
        throw rejection;
      }
    },
    async refund(key) {
      await limiter.reward(hashed(key), 1);
    },
    async reset(key) {
      await limiter.delete(hashed(key));
    },
  };
}
