import { createCircuitBreaker, type BreakerState } from "./circuit-breaker.js";
import { ServiceUnavailableError, StoreNotReadyError } from "./errors.js";
import {
  isDeleted,
  type AuthStore,
  type CachedUser,
  type Logger,
  type UserCache,
  type UserState,
} from "./ports.js";

export interface CacheStatus {
  /** "open": the cache is not trusted and every lookup reads the store. */
  breaker: BreakerState;
  hits: number;
  misses: number;
  /** Lookups served from the store because the cache failed or was not trusted. */
  fallbacks: number;
  /** Store reads made by lookups (concurrent misses for one user share one). */
  storeReads: number;
  fills: number;
  /** Fills refused because the cache held a newer revision or was emptied meanwhile. */
  fillsSkipped: number;
  /** Entries the cache held older than a token presented for them (then reloaded). */
  staleEntries: number;
  /** Recorded changes written to the cache by the repair loop (replays included). */
  repairs: number;
  /** Full replays of recent changes, after a lost connection or a new data set behind the cache. */
  replays: number;
  /** Replays skipped because another instance had completed one on the same data set. */
  replaysSkipped: number;
  /** Revocations answered 503 because the cache could not be updated. */
  writeThroughFailures: number;
}

export interface UserLookup {
  /** The user as the per-request check must see it; null when no such user exists. */
  get(id: string): Promise<CachedUser | null>;
  /**
   * Reads the store, ignoring a cached entry that is provably stale (a token
   * newer than it), and puts the current state in the cache.
   */
  reload(id: string): Promise<CachedUser | null>;
  /**
   * Write-through after a committed change. Resolves only once the cache holds
   * it; otherwise throws ServiceUnavailableError, leaving the repair recorded
   * in the store for the repair loop.
   */
  writeThrough(user: CachedUser, revision: number): Promise<void>;
  /**
   * One pass of the repair loop: applies pending repairs (all recent ones
   * after a lost connection or a failover), then trusts the cache. Resolves
   * true when the cache is trusted afterwards.
   */
  repair(): Promise<boolean>;
  status(): CacheStatus;
  /** Stops listening to the cache's connection events. */
  close(): void;
}

const REPAIR_BATCH = 500;
const MAX_REPAIR_BATCHES = 20;

export interface UserLookupOptions {
  store: AuthStore;
  cache: UserCache;
  logger: Logger;
  breakerFailureThreshold: number;
  /**
   * How long recorded changes are kept for replays: no cached entry and no
   * access token may outlive it (the longer of the token lifetime plus clock
   * tolerance and the cache entry lifetime).
   */
  repairRetentionSeconds: number;
  /** How often old repairs and expired sessions are pruned. */
  pruneIntervalMs: number;
  now: () => number;
}

/**
 * Cache-aside reads with write-through changes. The cache first; the store
 * on a miss, on a cache error, or while the breaker is open; concurrent
 * misses for one user share one store read. The store is the truth: the
 * cache is trusted only while the breaker is closed, and it closes only after
 * a repair pass. Any lost connection, and any change of the data set behind
 * the cache (failover, restart), opens the breaker at once and makes the next
 * pass replay every change still within the retention window, so a replica
 * promoted without the latest writes cannot revive a revoked token.
 */
export function createUserLookup(options: UserLookupOptions): UserLookup {
  const { store, cache, logger } = options;
  const counters = {
    hits: 0,
    misses: 0,
    fallbacks: 0,
    storeReads: 0,
    fills: 0,
    fillsSkipped: 0,
    staleEntries: 0,
    repairs: 0,
    replays: 0,
    replaysSkipped: 0,
    writeThroughFailures: 0,
  };
  const breaker = createCircuitBreaker({
    failureThreshold: options.breakerFailureThreshold,
    onChange: (state) => {
      if (state === "open") logger.warn({ breaker: state }, "cache not trusted; reading the store");
      else logger.info({ breaker: state }, "cache trusted");
    },
  });
  const inFlight = new Map<string, Promise<UserState | null>>();
  let repairing: Promise<boolean> | undefined;
  // Every lost connection starts a new epoch; a pass that saw the epoch change
  // under it may not close the breaker, since it may have written to a server
  // that is no longer the one answering.
  let epoch = 0;
  // Where an unfinished replay resumes (null: from the start); undefined when
  // no replay is due. Due at start: what happened before this process ran is
  // unknown too.
  let replayFrom: string | null | undefined = null;
  let knownIdentity: string | null | undefined;
  let lastPrune = 0;

  const stopListening = cache.onConnectionLost(() => {
    epoch++;
    replayFrom = null;
    breaker.trip();
  });

  async function loadFromStore(id: string, fence: string | null): Promise<UserState | null> {
    counters.storeReads++;
    let user: UserState | null;
    try {
      user = await store.findUserById(id);
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

  function sharedLoad(id: string, fence: string | null): Promise<UserState | null> {
    const pending = inFlight.get(id);
    if (pending) return pending;
    const load = loadFromStore(id, fence).finally(() => inFlight.delete(id));
    inFlight.set(id, load);
    return load;
  }

  async function readThrough(id: string, useEntry: boolean): Promise<CachedUser | null> {
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
      logger.warn({ err: error }, "user cache read failed; reading the store");
      return sharedLoad(id, null);
    }
    if (read.user && useEntry) {
      counters.hits++;
      return read.user;
    }
    if (read.user && isDeleted(read.user)) return read.user;
    counters.misses++;
    return sharedLoad(id, read.fence);
  }

  async function writeAll(users: CachedUser[], markApplied: boolean): Promise<boolean> {
    for (const user of users) {
      try {
        await cache.write(user);
      } catch (error) {
        breaker.trip();
        logger.warn({ err: error }, "cache repair failed");
        return false;
      }
      counters.repairs++;
      if (markApplied) {
        await store
          .markCacheRepairApplied(
            user.id,
            isDeleted(user) ? Number.MAX_SAFE_INTEGER : user.revision,
          )
          .catch(() => {});
      }
    }
    return true;
  }

  type Outcome =
    | { kind: "done" }
    | { kind: "more"; cursor: string }
    | { kind: "cache-failed" }
    | { kind: "store-failed" };

  // Pending repairs only, or (replay) every retained one, from `after` on.
  async function applyRepairs(replay: boolean, after: string | null): Promise<Outcome> {
    let cursor = after;
    for (let batch = 0; batch < MAX_REPAIR_BATCHES; batch++) {
      let page: CachedUser[];
      try {
        page = await store.listCacheRepairs({
          includeApplied: replay,
          after: cursor,
          limit: REPAIR_BATCH,
        });
      } catch (error) {
        if (error instanceof StoreNotReadyError)
          logger.error({ err: error }, "the auth store is not ready");
        else logger.warn({ err: error }, "cannot read cache repairs");
        return { kind: "store-failed" };
      }
      if (!(await writeAll(page, true))) return { kind: "cache-failed" };
      if (page.length < REPAIR_BATCH) return { kind: "done" };
      cursor = page[page.length - 1]!.id;
    }
    // More than one pass should take; the next pass goes on from here.
    return { kind: "more", cursor: cursor! };
  }

  // Some instance completed a replay on this very data set: what it wrote is
  // there, and what changed since was written through to it or is pending.
  async function replayedElsewhere(identity: string): Promise<boolean> {
    if (!cache.lastReplayedOn) return false;
    try {
      return (await cache.lastReplayedOn()) === identity;
    } catch {
      return false;
    }
  }

  async function prune(): Promise<void> {
    const now = options.now();
    if (now - lastPrune < options.pruneIntervalMs) return;
    lastPrune = now;
    const retention = new Date(now - options.repairRetentionSeconds * 1000);
    await Promise.all([
      store.pruneCacheRepairs(retention),
      store.pruneSessions(new Date(now - 24 * 3600 * 1000)),
    ]).catch((error: unknown) => logger.warn({ err: error }, "pruning failed"));
  }

  async function repairPass(): Promise<boolean> {
    const startEpoch = epoch;
    let identity: string | null;
    try {
      identity = await cache.identity();
    } catch {
      breaker.trip();
      return false;
    }
    if (knownIdentity !== undefined && identity !== knownIdentity) {
      logger.warn({}, "another data set answers behind the cache (failover or restart)");
      replayFrom = null;
      breaker.trip();
    }
    knownIdentity = identity;
    if (replayFrom === null && identity !== null && (await replayedElsewhere(identity))) {
      counters.replaysSkipped++;
      replayFrom = undefined;
    }
    if (replayFrom !== undefined) {
      const replay = await applyRepairs(true, replayFrom);
      if (epoch !== startEpoch || replay.kind === "cache-failed") return false;
      // Without the store we cannot tell whether the cache is stale: it stays untrusted.
      if (replay.kind === "store-failed") return false;
      if (replay.kind === "more") {
        replayFrom = replay.cursor;
        return false;
      }
      replayFrom = undefined;
      counters.replays++;
      if (identity !== null) {
        await cache.markReplayed?.(identity).catch((error: unknown) => {
          logger.warn({ err: error }, "could not record the replay");
        });
      }
    }
    // Changes recorded during the replay, or that failed to write through.
    const pending = await applyRepairs(false, null);
    if (pending.kind === "store-failed") return breaker.allowsCache();
    if (pending.kind === "cache-failed" || epoch !== startEpoch) return false;
    breaker.close();
    await prune();
    return true;
  }

  return {
    get: (id) => readThrough(id, true),

    async reload(id) {
      counters.staleEntries++;
      return readThrough(id, false);
    },

    async writeThrough(user, revision) {
      // Open: the cache is failing or not yet checked; answer at once, and
      // let the repair loop apply the change once it is back.
      if (!breaker.allowsCache()) {
        counters.writeThroughFailures++;
        throw new ServiceUnavailableError(new Error("cache not trusted (breaker open)"));
      }
      try {
        await cache.write(user);
        breaker.recordSuccess();
      } catch (error) {
        // The cache may still hold the old state: distrust it until the repair lands.
        breaker.trip();
        counters.writeThroughFailures++;
        throw new ServiceUnavailableError(error);
      }
      // Best effort: a repair left pending is applied again later, which is harmless.
      await store.markCacheRepairApplied(user.id, revision).catch((error: unknown) => {
        logger.warn({ err: error }, "could not mark a cache repair applied");
      });
    },

    repair() {
      repairing ??= repairPass().finally(() => (repairing = undefined));
      return repairing;
    },

    status: () => ({ breaker: breaker.state, ...counters }),

    close: stopListening,
  };
}
