import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import { TooManyRequestsError } from "../core/errors.js";
import type { AttemptLimiter, AttemptLimiterFactory } from "../core/ports.js";

/**
 * Counters in Redis, so every instance shares them; while Redis is
 * unreachable each process falls back to its own in-memory counter. Each
 * counter is one key (no hash tag), so on a Cluster they spread over shards.
 */
export function redisAttemptLimiters(
  redis: Redis | Cluster,
  keyPrefix: string,
): AttemptLimiterFactory {
  return (name, limit) => {
    const prefix = `${keyPrefix}rl:${name}`;
    return wrap(
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: prefix,
        points: limit.points,
        duration: limit.durationSeconds,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({
          keyPrefix: prefix,
          points: limit.points,
          duration: limit.durationSeconds,
        }),
      }),
    );
  };
}

/** Counters in this process only: for a single instance (the embedded mode). */
export function memoryAttemptLimiters(): AttemptLimiterFactory {
  return (name, limit) =>
    wrap(
      new RateLimiterMemory({
        keyPrefix: name,
        points: limit.points,
        duration: limit.durationSeconds,
      }),
    );
}

// Keys are hashed: an email or address never appears in Redis, and a key's
// length does not depend on what the client sent.
function wrap(limiter: RateLimiterAbstract): AttemptLimiter {
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
