import { Redis, type RedisOptions } from "ioredis";

/**
 * ioredis options fit for an auth path: a hung or dead Redis fails a command
 * fast (so the request falls back to Postgres) instead of queueing it for
 * seconds, and the client keeps reconnecting in the background. Commands
 * issued in the same tick share one socket write (auto-pipelining), which
 * under concurrent requests cuts the CPU cost of a cache read; each command
 * keeps its own timeout.
 */
export function authRedisOptions(commandTimeoutMs = 200): RedisOptions {
  return {
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    enableAutoPipelining: true,
  };
}

export function createRedisClient(url: string, commandTimeoutMs?: number): Redis {
  return new Redis(url, authRedisOptions(commandTimeoutMs));
}
