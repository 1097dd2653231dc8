import { redisCacheKeys } from "../../src/adapters/redis-user-cache.js";
import { decodeCachedUser, encodeCachedUser } from "../../src/core/cache-entry.js";
import type { AuthStore, CachedUser, UserCache } from "../../src/core/ports.js";
import type { Cluster, Redis } from "ioredis";
import type { AuthPorts } from "./test-app.js";

/**
 * Drop-in port implementations for the consistency tests. The real adapters
 * stay underneath; these only hold, count, or replace one mechanism with the
 * naive one, so a test can show that it fails without that mechanism.
 */

/**
 * The seed article's cache: plain GET and SET, no version check, no fence,
 * and no reaction to lost connections or failovers.
 */
export function naiveCache(redis: Redis | Cluster, keyPrefix: string, ttlSeconds = 600): UserCache {
  const key = (id: string) => redisCacheKeys(keyPrefix, id).entry;
  const set = async (user: CachedUser) => {
    await redis.set(key(user.id), encodeCachedUser(user), "EX", ttlSeconds);
  };
  return {
    async read(id) {
      return { user: decodeCachedUser(await redis.get(key(id)), id), fence: "" };
    },
    async fill(user) {
      await set(user);
      return true;
    },
    write: set,
    shardOf: () => "naive",
    identities: async () => new Map([["naive", "naive"]]),
    onConnectionLost: () => () => {},
    ping: async () => {
      await redis.ping();
    },
  };
}

/** A store that never reports repairs: write-through with nothing to fall back on. */
export function withoutRepairs(store: AuthStore): AuthStore {
  return { ...store, listCacheRepairs: async () => [] };
}

export type Design = "real" | "naive";
type Wrap = (ports: AuthPorts, context: { redis: Redis | Cluster; keyPrefix: string }) => AuthPorts;

/** `naive` swaps in the seed's cache and drops repairs; `real` leaves the ports alone. */
export function designPorts(design: Design, then: Wrap = (ports) => ports): Wrap {
  return (ports, context) =>
    then(
      design === "real"
        ? ports
        : {
            ...ports,
            cache: naiveCache(context.redis, context.keyPrefix),
            store: withoutRepairs(ports.store),
          },
      context,
    );
}

/**
 * Holds the next Postgres read of a user after it has returned and before the
 * caller sees it, i.e. between a cache fill's read and its write.
 */
export function holdNextStoreRead() {
  let armed = false;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let signalReached!: () => void;
  const reached = new Promise<void>((resolve) => (signalReached = resolve));
  return {
    reached,
    release: () => release(),
    arm: () => {
      armed = true;
    },
    wrap(store: AuthStore): AuthStore {
      return {
        ...store,
        async findUserById(id) {
          const user = await store.findUserById(id);
          if (armed) {
            armed = false;
            signalReached();
            await gate;
          }
          return user;
        },
      };
    },
  };
}

/** While holding, every Postgres read by id waits until released, so concurrent misses pile up. */
export function holdStoreReads() {
  let gate: Promise<void> | undefined;
  let release = () => {};
  return {
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    release() {
      gate = undefined;
      release();
    },
    wrap(store: AuthStore): AuthStore {
      return {
        ...store,
        async findUserById(id) {
          await gate;
          return store.findUserById(id);
        },
      };
    },
  };
}

/** Counts the calls that reach Redis through the cache port. */
export function countCacheCalls(cache: UserCache) {
  const calls = { read: 0, fill: 0, write: 0 };
  return {
    calls,
    cache: {
      ...cache,
      read: (id: string) => (calls.read++, cache.read(id)),
      fill: (user, fence) => (calls.fill++, cache.fill(user, fence)),
      write: (user) => (calls.write++, cache.write(user)),
    } satisfies UserCache,
  };
}

/**
 * The design of version 0.1, for showing what the failover handling adds:
 * revisions, fences and repairs as now, but a repair is forgotten once
 * applied (no replay), and neither a lost connection nor another data set
 * behind the cache makes an instance distrust it.
 */
export function version01Design(ports: AuthPorts): AuthPorts {
  return {
    store: {
      ...ports.store,
      listCacheRepairs: (options) =>
        ports.store.listCacheRepairs({ ...options, includeApplied: false }),
    },
    cache: {
      ...ports.cache,
      identities: async () =>
        new Map(
          [...(await ports.cache.identities())].map(([shard, identity]) => [
            shard,
            identity === undefined ? undefined : "unchanging",
          ]),
        ),
      onConnectionLost: () => () => {},
    },
  };
}
