import { ServiceUnavailableError } from "./errors.js";
import type { Logger, UserCache, UserRecord, UserStore } from "./ports.js";

export interface CacheEvents {
  hit(): void;
  miss(): void;
  fallback(): void;
}

export interface UserLookup {
  /** The user as the version check must see it; null when no such user exists. */
  get(id: string): Promise<UserRecord | null>;
  /** Write-through after a version change. Throws when the cache may still hold an older version. */
  writeThrough(user: UserRecord): Promise<void>;
}

/**
 * Cache-aside reads: Redis first, Postgres on a miss or when Redis fails,
 * then fill Redis. Concurrent misses for one user share one Postgres read.
 */
export function createUserLookup(deps: {
  store: UserStore;
  cache: UserCache;
  logger: Logger;
  events?: Partial<CacheEvents>;
}): UserLookup {
  const { store, cache, logger } = deps;
  const events = deps.events ?? {};
  const inFlight = new Map<string, Promise<UserRecord | null>>();

  async function loadAndFill(id: string, fill: boolean): Promise<UserRecord | null> {
    let user: UserRecord | null;
    try {
      user = await store.findById(id);
    } catch (error) {
      throw new ServiceUnavailableError(error);
    }
    if (user && fill) {
      try {
        await cache.put(user);
      } catch (error) {
        logger.warn({ err: error }, "user cache fill failed");
      }
    }
    return user;
  }

  return {
    async get(id) {
      let cacheAvailable = true;
      try {
        const cached = await cache.get(id);
        if (cached) {
          events.hit?.();
          return cached;
        }
        events.miss?.();
      } catch (error) {
        cacheAvailable = false;
        events.fallback?.();
        logger.warn({ err: error }, "user cache read failed; falling back to the database");
      }
      const pending = inFlight.get(id);
      if (pending) return pending;
      const load = loadAndFill(id, cacheAvailable).finally(() => inFlight.delete(id));
      inFlight.set(id, load);
      return load;
    },

    async writeThrough(user) {
      try {
        await cache.put(user);
        return;
      } catch (error) {
        logger.warn({ err: error }, "user cache write-through failed; removing the entry");
      }
      // An absent entry is safe (the next read goes to Postgres); a stale one is not.
      try {
        await cache.remove(user.id);
      } catch (error) {
        throw new ServiceUnavailableError(error);
      }
    },
  };
}
