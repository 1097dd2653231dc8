import { createCircuitBreaker, type BreakerState, type CircuitBreaker } from "./circuit-breaker.js";
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
  /** "open": some shard of the cache is not trusted, and its users read the store. */
  breaker: BreakerState;
  /** Shards known, and how many of them are not trusted now. */
  shards: number;
  untrustedShards: number;
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
  /** Full replays of a shard's recent changes, after a lost connection or a new data set behind it. */
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
   * One pass of the repair loop: applies pending repairs (all recent ones,
   * for a shard that lost a connection or failed over), then trusts every
   * shard it could check. Resolves true when the whole cache is trusted.
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

/** What this instance knows of one shard of the cache. */
interface Shard {
  name: string;
  breaker: CircuitBreaker;
  /**
   * Raised by every lost connection to the shard. A pass that saw it change
   * under it may not trust the shard: it may have written to a server that
   * is no longer the one answering.
   */
  epoch: number;
  /**
   * Where an unfinished replay resumes (null: from the start); undefined when
   * no replay is due. Due for a new shard: what happened to it before this
   * process knew it is unknown.
   */
  replayFrom: string | null | undefined;
  /** The data set last seen behind it; undefined until the first pass. */
  identity: string | null | undefined;
}

/**
 * Cache-aside reads with write-through changes. The cache first; the store
 * on a miss, on a cache error, or while the user's shard is not trusted;
 * concurrent misses for one user share one store read. The store is the
 * truth. Each shard of the cache (a Cluster primary, or the one server) has
 * its own breaker, which starts open and closes only after a repair pass. A
 * lost connection to a shard, and another data set behind it (a failover, a
 * restart), open its breaker at once and make the next pass replay every
 * change still within the retention window for its users, so a replica
 * promoted without the latest writes cannot revive a revoked token — and a
 * shard's trouble costs only its own users a trip to the store.
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
  const shards = new Map<string, Shard>();
  const inFlight = new Map<string, Promise<UserState | null>>();
  let repairing: Promise<boolean> | undefined;
  let lastPrune = 0;

  function shardNamed(name: string): Shard {
    let shard = shards.get(name);
    if (!shard) {
      shard = {
        name,
        breaker: createCircuitBreaker({
          failureThreshold: options.breakerFailureThreshold,
          onChange: (state) => {
            if (state === "open") {
              logger.warn({ shard: name }, "cache shard not trusted; its users read the store");
            } else logger.info({ shard: name }, "cache shard trusted");
          },
        }),
        epoch: 0,
        replayFrom: null,
        identity: undefined,
      };
      shards.set(name, shard);
    }
    return shard;
  }
  const shardOfUser = (id: string) => shardNamed(cache.shardOf(id));

  function connectionLost(shard: Shard) {
    shard.epoch++;
    shard.replayFrom = null;
    shard.breaker.trip();
  }
  const stopListening = cache.onConnectionLost((name) => {
    if (name === null) for (const shard of shards.values()) connectionLost(shard);
    else connectionLost(shardNamed(name));
  });

  async function loadFromStore(id: string, fence: string | null): Promise<UserState | null> {
    counters.storeReads++;
    let user: UserState | null;
    try {
      user = await store.findUserById(id);
    } catch (error) {
      throw new ServiceUnavailableError(error);
    }
    // Checked again: the shard may have lost its trust while the store answered.
    const shard = shardOfUser(id);
    if (user && fence !== null && shard.breaker.allowsCache()) {
      try {
        if (await cache.fill(user, fence)) counters.fills++;
        else counters.fillsSkipped++;
      } catch (error) {
        shard.breaker.recordFailure();
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
    const shard = shardOfUser(id);
    if (!shard.breaker.allowsCache()) {
      counters.fallbacks++;
      return sharedLoad(id, null);
    }
    let read;
    try {
      read = await cache.read(id);
      shard.breaker.recordSuccess();
    } catch (error) {
      shard.breaker.recordFailure();
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

  /** Writes one recorded change; false (and the shard untrusted) when the cache failed. */
  async function repairOne(user: CachedUser, shard: Shard): Promise<boolean> {
    try {
      await cache.write(user);
    } catch (error) {
      shard.breaker.trip();
      logger.warn({ err: error, shard: shard.name }, "cache repair failed");
      return false;
    }
    counters.repairs++;
    await store
      .markCacheRepairApplied(user.id, isDeleted(user) ? Number.MAX_SAFE_INTEGER : user.revision)
      .catch(() => {});
    return true;
  }

  async function page(includeApplied: boolean, after: string | null): Promise<CachedUser[] | null> {
    try {
      return await store.listCacheRepairs({ includeApplied, after, limit: REPAIR_BATCH });
    } catch (error) {
      if (error instanceof StoreNotReadyError) {
        logger.error({ err: error }, "the auth store is not ready");
      } else logger.warn({ err: error }, "cannot read cache repairs");
      return null;
    }
  }

  /**
   * Writes every retained change of the users on the given shards, from
   * where each left off. False when the store could not be read.
   */
  async function replay(
    replaying: Set<Shard>,
    failed: Set<Shard>,
    epochs: Map<Shard, number>,
  ): Promise<boolean> {
    // A shard that lost a connection meanwhile starts over (the listener set
    // it back to null): what this pass wrote may be on the old server.
    const settle = (shard: Shard, next: string | null | undefined) => {
      if (!failed.has(shard) && shard.epoch === epochs.get(shard)) shard.replayFrom = next;
    };
    let cursor: string | null = null;
    for (const shard of replaying) {
      if (shard.replayFrom === null) {
        cursor = null;
        break;
      }
      if (cursor === null || shard.replayFrom! < cursor) cursor = shard.replayFrom!;
    }
    for (let batch = 0; batch < MAX_REPAIR_BATCHES; batch++) {
      const users = await page(true, cursor);
      if (users === null) return false;
      for (const user of users) {
        const shard = shards.get(cache.shardOf(user.id));
        if (!shard || !replaying.has(shard) || failed.has(shard)) continue;
        if (shard.replayFrom != null && user.id <= shard.replayFrom) continue;
        if (!(await repairOne(user, shard))) failed.add(shard);
      }
      if (users.length < REPAIR_BATCH) {
        for (const shard of replaying) settle(shard, undefined);
        return true;
      }
      cursor = users[users.length - 1]!.id;
    }
    // More than one pass should take; the next pass goes on from here.
    for (const shard of replaying) settle(shard, cursor);
    return true;
  }

  /** Pending changes of the users on trusted or about-to-be-trusted shards. */
  async function applyPending(ready: Set<Shard>, failed: Set<Shard>): Promise<boolean> {
    let cursor: string | null = null;
    for (let batch = 0; batch < MAX_REPAIR_BATCHES; batch++) {
      const users = await page(false, cursor);
      if (users === null) return false;
      for (const user of users) {
        const shard = shards.get(cache.shardOf(user.id));
        // A shard that is down or still replaying keeps its pending changes for later.
        if (!shard || !ready.has(shard) || failed.has(shard)) continue;
        if (!(await repairOne(user, shard))) failed.add(shard);
      }
      if (users.length < REPAIR_BATCH) return true;
      cursor = users[users.length - 1]!.id;
    }
    return true;
  }

  // Some instance completed a replay on this very data set: what it wrote is
  // there, and what changed since was written through to it or is pending.
  async function replayedElsewhere(shard: Shard): Promise<boolean> {
    if (!cache.lastReplayedOn || shard.identity == null) return false;
    try {
      return (await cache.lastReplayedOn(shard.name)) === shard.identity;
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

  const allTrusted = () =>
    shards.size > 0 && [...shards.values()].every((shard) => shard.breaker.allowsCache());

  async function repairPass(): Promise<boolean> {
    let identities: Map<string, string | null | undefined>;
    try {
      identities = await cache.identities();
    } catch {
      for (const shard of shards.values()) shard.breaker.trip();
      return false;
    }
    // No shard any more (a primary now a replica): its users are another shard's.
    for (const name of shards.keys()) if (!identities.has(name)) shards.delete(name);
    const reachable = new Set<Shard>();
    const epochs = new Map<Shard, number>();
    for (const [name, identity] of identities) {
      const shard = shardNamed(name);
      if (identity === undefined) {
        // A shard that cannot be asked stays untrusted until it can.
        shard.breaker.trip();
        continue;
      }
      if (shard.identity !== undefined && identity !== shard.identity) {
        logger.warn(
          { shard: name },
          "another data set answers behind a cache shard (failover or restart)",
        );
        shard.replayFrom = null;
        shard.breaker.trip();
      }
      shard.identity = identity;
      reachable.add(shard);
      epochs.set(shard, shard.epoch);
    }

    const replaying = new Set<Shard>();
    for (const shard of reachable) {
      if (shard.replayFrom === null && (await replayedElsewhere(shard))) {
        counters.replaysSkipped++;
        shard.replayFrom = undefined;
      }
      if (shard.replayFrom !== undefined) replaying.add(shard);
    }
    const failed = new Set<Shard>();
    if (replaying.size > 0) {
      // Without the store nothing can be known fresh: nothing becomes trusted.
      if (!(await replay(replaying, failed, epochs))) return false;
      for (const shard of replaying) {
        if (shard.replayFrom !== undefined || failed.has(shard)) continue;
        counters.replays++;
        if (shard.identity != null) {
          await cache.markReplayed?.(shard.name, shard.identity).catch((error: unknown) => {
            logger.warn({ err: error }, "could not record the replay");
          });
        }
      }
    }
    // Changes recorded during the replay, or that failed to write through.
    const ready = new Set([...reachable].filter((shard) => shard.replayFrom === undefined));
    if (!(await applyPending(ready, failed))) return allTrusted();
    for (const shard of ready) {
      if (!failed.has(shard) && shard.epoch === epochs.get(shard)) shard.breaker.close();
    }
    await prune();
    return allTrusted();
  }

  return {
    get: (id) => readThrough(id, true),

    async reload(id) {
      counters.staleEntries++;
      return readThrough(id, false);
    },

    async writeThrough(user, revision) {
      const shard = shardOfUser(user.id);
      // Untrusted: the shard is failing or not yet checked; answer at once,
      // and let the repair loop apply the change once it is back.
      if (!shard.breaker.allowsCache()) {
        counters.writeThroughFailures++;
        throw new ServiceUnavailableError(new Error("cache shard not trusted (breaker open)"));
      }
      try {
        await cache.write(user);
        shard.breaker.recordSuccess();
      } catch (error) {
        // The shard may still hold the old state: distrust it until the repair lands.
        shard.breaker.trip();
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

    status() {
      const untrustedShards = [...shards.values()].filter((s) => !s.breaker.allowsCache()).length;
      return {
        breaker: allTrusted() ? "closed" : "open",
        shards: shards.size,
        untrustedShards,
        ...counters,
      };
    },

    close: stopListening,
  };
}
