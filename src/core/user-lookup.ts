import { createCircuitBreaker, type BreakerState } from "./circuit-breaker.js";
import { ServiceUnavailableError } from "./errors.js";
import type { Logger, UserCache, UserRecord, UserStore } from "./ports.js";

export interface CacheStatus {
  /** "open": Redis is not trusted and every lookup reads Postgres. */
  breaker: BreakerState;
  hits: number;
  misses: number;
  /** Lookups served from Postgres because Redis failed or the breaker was open. */
  fallbacks: number;
  /** Postgres reads made by lookups (concurrent misses for one user share one). */
  storeReads: number;
  fills: number;
  /** Fills refused because Redis held a newer version or was emptied meanwhile. */
  fillsSkipped: number;
  /** Pending repairs written to Redis by the repair loop. */
  repairs: number;
  /** Logouts answered 503 because Redis could not be updated. */
  writeThroughFailures: number;
}

export interface UserLookup {
  /** The user as the version check must see it; null when no such user exists. */
  get(id: string): Promise<UserRecord | null>;
  /**
   * Write-through after a version change. Resolves only once Redis holds the
   * new version; otherwise throws ServiceUnavailableError, leaving the repair
   * recorded in Postgres for the repair loop.
   */
  writeThrough(user: UserRecord): Promise<void>;
  /**
   * One pass of the repair loop: apply pending repairs to Redis, and close the
   * breaker if that succeeded. Resolves true when Redis is trusted afterwards.
   */
  repair(): Promise<boolean>;
  status(): CacheStatus;
}

const REPAIR_BATCH = 500;
const MAX_REPAIR_BATCHES = 20;

/**
 * Cache-aside reads with write-through logouts. Redis first; Postgres on a
 * miss, on a Redis error, or while the breaker is open; concurrent misses for
 * one user share one Postgres read. Postgres is the truth: Redis is trusted
 * only while the breaker is closed, and it closes only after pending repairs
 * are applied, so Redis coming back with old entries cannot revive a token.
 */
export function createUserLookup(deps: {
  store: UserStore;
  cache: UserCache;
  logger: Logger;
  breakerFailureThreshold?: number;
}): UserLookup {
  const { store, cache, logger } = deps;
  const counters = {
    hits: 0,
    misses: 0,
    fallbacks: 0,
    storeReads: 0,
    fills: 0,
    fillsSkipped: 0,
    repairs: 0,
    writeThroughFailures: 0,
  };
  const breaker = createCircuitBreaker({
    failureThreshold: deps.breakerFailureThreshold ?? 3,
    onChange: (state) => {
      if (state === "open") logger.warn({ breaker: state }, "redis not trusted; reading Postgres");
      else logger.info({ breaker: state }, "redis trusted again");
    },
  });
  const inFlight = new Map<string, Promise<UserRecord | null>>();
  let repairing: Promise<boolean> | undefined;

  async function loadFromStore(id: string, fence: string | null): Promise<UserRecord | null> {
    counters.storeReads++;
    let user: UserRecord | null;
    try {
      user = await store.findById(id);
    } catch (error) {
      throw new ServiceUnavailableError(error);
    }
    if (user && fence !== null && breaker.allowsCache()) {
      try {
        if (await cache.fill(user, fence)) counters.fills++;
        else counters.fillsSkipped++;
      } catch (error) {
        breaker.recordFailure();
        logger.warn({ err: error }, "user cache fill failed");
      }
    }
    return user;
  }

  function sharedLoad(id: string, fence: string | null): Promise<UserRecord | null> {
    const pending = inFlight.get(id);
    if (pending) return pending;
    const load = loadFromStore(id, fence).finally(() => inFlight.delete(id));
    inFlight.set(id, load);
    return load;
  }

  async function repairPass(): Promise<boolean> {
    if (!breaker.allowsCache()) {
      try {
        await cache.ping();
      } catch {
        return false;
      }
    }
    // Bounded per pass; what is left is picked up by the next pass.
    for (let batch = 0; batch < MAX_REPAIR_BATCHES; batch++) {
      let pending: UserRecord[];
      try {
        pending = await store.pendingCacheRepairs(REPAIR_BATCH);
      } catch (error) {
        // Without Postgres we cannot tell whether Redis is stale; leave the breaker as it is.
        logger.warn({ err: error }, "cannot read pending cache repairs");
        return breaker.allowsCache();
      }
      for (const user of pending) {
        try {
          await cache.write(user);
        } catch (error) {
          breaker.trip();
          logger.warn({ err: error }, "cache repair failed");
          return false;
        }
        counters.repairs++;
        await store.clearCacheRepair(user.id, user.jwtVersion).catch(() => {});
      }
      if (pending.length < REPAIR_BATCH) {
        breaker.close();
        return true;
      }
    }
    return breaker.allowsCache();
  }

  return {
    async get(id) {
      if (!breaker.allowsCache()) {
        counters.fallbacks++;
        return sharedLoad(id, null);
      }
      let read;
      try {
        read = await cache.read(id);
        breaker.recordSuccess();
      } catch (error) {
        breaker.recordFailure();
        counters.fallbacks++;
        logger.warn({ err: error }, "user cache read failed; reading Postgres");
        return sharedLoad(id, null);
      }
      if (read.user) {
        counters.hits++;
        return read.user;
      }
      counters.misses++;
      return sharedLoad(id, read.fence);
    },

    async writeThrough(user) {
      if (!breaker.allowsCache()) {
        counters.writeThroughFailures++;
        throw new ServiceUnavailableError(new Error("redis not trusted (breaker open)"));
      }
      try {
        await cache.write(user);
        breaker.recordSuccess();
      } catch (error) {
        // Redis may still hold the old version: distrust it until the repair lands.
        breaker.trip();
        counters.writeThroughFailures++;
        throw new ServiceUnavailableError(error);
      }
      // Best effort: a row left behind is re-applied later, which is harmless.
      await store.clearCacheRepair(user.id, user.jwtVersion).catch((error: unknown) => {
        logger.warn({ err: error }, "could not clear a cache repair");
      });
    },

    repair() {
      repairing ??= repairPass().finally(() => (repairing = undefined));
      return repairing;
    },

    status: () => ({ breaker: breaker.state, ...counters }),
  };
}
