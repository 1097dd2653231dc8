import { decodeCachedUser, encodeCachedUser, userCacheKey } from "../../src/core/cache-policy.js";
import type { UserCache, UserStore } from "../../src/core/ports.js";
import type { AuthPorts } from "../../src/create-auth.js";
import type { Redis } from "ioredis";

/**
 * Drop-in port implementations for the consistency tests. The real adapters
 * stay underneath; these only hold, count, or replace one mechanism with the
 * naive one, so a test can show that it fails without that mechanism.
 */

/** The seed article's cache: plain GET and SET, no version check, no fence. */
export function naiveCache(redis: Redis, keyPrefix: string, ttlSeconds = 600): UserCache {
  const key = (id: string) => userCacheKey(keyPrefix, id);
  const set = async (user: Parameters<UserCache["write"]>[0]) => {
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
    ping: async () => {
      await redis.ping();
    },
  };
}

/** A store that never reports pending repairs: write-through with nothing to fall back on. */
export function withoutRepairs(store: UserStore): UserStore {
  return { ...store, pendingCacheRepairs: async () => [] };
}

export type Design = "real" | "naive";
type Wrap = (ports: AuthPorts, context: { redis: Redis; keyPrefix: string }) => AuthPorts;

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
    wrap(store: UserStore): UserStore {
      return {
        ...store,
        async findById(id) {
          const user = await store.findById(id);
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
    wrap(store: UserStore): UserStore {
      return {
        ...store,
        async findById(id) {
          await gate;
          return store.findById(id);
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
      read: (id) => (calls.read++, cache.read(id)),
      fill: (user, fence) => (calls.fill++, cache.fill(user, fence)),
      write: (user) => (calls.write++, cache.write(user)),
      ping: () => cache.ping(),
    } satisfies UserCache,
  };
}
