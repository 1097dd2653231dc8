import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";

export interface RedisAddress {
  host: string;
  port: number;
}

/** Where Redis is: one server (a URL), a Sentinel-managed primary, or a Cluster. */
export type RedisConnection =
  | { url: string }
  | {
      sentinels: RedisAddress[];
      /** The primary's name as the sentinels know it (`sentinel monitor <name> …`). */
      name: string;
      username?: string;
      password?: string;
      /** When the sentinels themselves require a password. */
      sentinelPassword?: string;
      tls?: boolean;
    }
  | { clusterNodes: RedisAddress[]; username?: string; password?: string; tls?: boolean };

/**
 * ioredis options fit for an auth path: a hung or dead Redis fails a command
 * fast (so the request falls back to Postgres) instead of queueing it for
 * seconds, and the client keeps reconnecting in the background, quickly, so
 * it finds a newly promoted primary soon after a failover. Commands issued
 * in the same tick share one socket write (auto-pipelining); each keeps its
 * own timeout.
 */
export function authRedisOptions(commandTimeoutMs = 200): RedisOptions {
  return {
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (attempt) => Math.min(attempt * 50, 1000),
    enableAutoPipelining: true,
  };
}

/**
 * The same for a Cluster. ioredis does not apply `commandTimeout` to
 * auto-pipelined Cluster commands; the user cache then bounds each command
 * itself, so auto-pipelining stays on.
 */
export function authClusterOptions(commandTimeoutMs = 200): ClusterOptions {
  return {
    redisOptions: {
      commandTimeout: commandTimeoutMs,
      connectTimeout: 2000,
      maxRetriesPerRequest: 0,
    },
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    clusterRetryStrategy: (attempt) => Math.min(attempt * 50, 1000),
    // A moved slot is retried at once; a failing one fails the request, which
    // falls back to Postgres, rather than waiting through redirections.
    retryDelayOnFailover: 50,
    retryDelayOnClusterDown: 50,
    retryDelayOnTryAgain: 50,
    maxRedirections: 3,
    slotsRefreshTimeout: 2000,
  };
}

/** A client for any of the three topologies, with `authRedisOptions` settings. */
export function createRedisClient(url: string, commandTimeoutMs?: number): Redis;
export function createRedisClient(
  connection: string | RedisConnection,
  commandTimeoutMs?: number,
): Redis | Cluster;
export function createRedisClient(
  connection: string | RedisConnection,
  commandTimeoutMs?: number,
): Redis | Cluster {
  const target = typeof connection === "string" ? { url: connection } : connection;
  if ("url" in target) return new Redis(target.url, authRedisOptions(commandTimeoutMs));
  const tls = target.tls ? { tls: {} } : {};
  const credentials = {
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
  };
  if ("sentinels" in target) {
    return new Redis({
      ...authRedisOptions(commandTimeoutMs),
      ...credentials,
      ...tls,
      sentinels: target.sentinels,
      name: target.name,
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(target.tls ? { enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 50, 1000),
      // Reconnect as soon as the sentinels announce a new primary, even if
      // the old one still answers (a manual failover, or a partition healing).
      failoverDetector: true,
    });
  }
  const options = authClusterOptions(commandTimeoutMs);
  return new Cluster(target.clusterNodes, {
    ...options,
    redisOptions: { ...options.redisOptions, ...credentials, ...tls },
  });
}
