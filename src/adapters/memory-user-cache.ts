import type { CachedUser, UserCache } from "../core/ports.js";

export interface MemoryUserCacheOptions {
  /** Entry lifetime in seconds. */
  ttlSeconds: number;
  /** Most entries kept; past it the oldest is dropped (default 100000). */
  maxEntries?: number;
  now?: () => number;
}

/**
 * The user cache in this process's memory, with Redis's rules: a revision
 * never lowered, a deletion never replaced, fills fenced by a generation.
 * For ONE process only: another instance could not see its entries, so a
 * sign-out there would not reach this one. The standalone server uses it
 * when no Redis is configured and guards against a second instance.
 */
export function createMemoryUserCache(options: MemoryUserCacheOptions): UserCache {
  const ttlMs = options.ttlSeconds * 1000;
  const maxEntries = options.maxEntries ?? 100_000;
  const now = options.now ?? Date.now;
  const entries = new Map<string, { user: CachedUser; expiresAt: number }>();
  // Dropping an entry is a flush of that entry: a fill that read the store
  // before it must not land, so every drop starts a new generation.
  let generation = 0;

  function current(id: string): CachedUser | null {
    const entry = entries.get(id);
    if (!entry) return null;
    if (entry.expiresAt <= now()) {
      entries.delete(id);
      generation++;
      return null;
    }
    return entry.user;
  }

  function setUnlessNewer(user: CachedUser): boolean {
    const existing = current(user.id);
    if (existing) {
      if ("deleted" in existing) return false;
      if (!("deleted" in user) && existing.revision > user.revision) return false;
    }
    entries.delete(user.id);
    entries.set(user.id, { user, expiresAt: now() + ttlMs });
    if (entries.size > maxEntries) {
      entries.delete(entries.keys().next().value!);
      generation++;
    }
    return true;
  }

  return {
    inProcess: true,
    async read(id) {
      return { user: current(id), fence: String(generation) };
    },
    async fill(user, fence) {
      if (fence !== String(generation)) return false;
      return setUnlessNewer(user);
    },
    async write(user) {
      setUnlessNewer(user);
    },
    shardOf: () => "memory",
    async identities() {
      return new Map([["memory", "memory"]]);
    },
    onConnectionLost() {
      return () => {};
    },
    async ping() {},
  };
}
