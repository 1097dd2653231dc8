import { describe, expect, it } from "vitest";
import { createMemoryAuthStore } from "../../src/adapters/memory-auth-store.js";
import { createMemoryUserCache } from "../../src/adapters/memory-user-cache.js";
import { ServiceUnavailableError } from "../../src/core/errors.js";
import {
  silentLogger,
  type CachedUser,
  type UserCache,
  type UserState,
} from "../../src/core/ports.js";
import { createUserLookup } from "../../src/core/user-lookup.js";

// The policy against the reference store and an in-memory cache wrapped with
// faults and counters; the same behaviour against real Redis and Postgres is
// what the integration tests prove.
function setup(shared?: {
  store: ReturnType<typeof createMemoryAuthStore>;
  mark: { on: string | null };
}) {
  const store = shared?.store ?? createMemoryAuthStore();
  const mark = shared?.mark;
  const inner = createMemoryUserCache({ ttlSeconds: 600 });
  const calls = { read: 0, fill: 0, write: 0, findUserById: 0 };
  const faults = { cache: false };
  let identity = "server-1";
  const lostListeners = new Set<() => void>();
  let gate: Promise<void> | undefined;
  let release = () => {};
  // Entries a "failover" may put back: a copy of the cache as it was.
  const failIfDown = () => {
    if (faults.cache) throw new Error("timeout");
  };
  const cache: UserCache & { entries: Map<string, CachedUser> } = {
    entries: new Map(),
    async read(id) {
      calls.read++;
      failIfDown();
      const user = cache.entries.get(id) ?? null;
      return { user, fence: (await inner.read(id)).fence };
    },
    async fill(user, fence) {
      calls.fill++;
      failIfDown();
      const done = await inner.fill(user, fence);
      if (done) cache.entries.set(user.id, (await inner.read(user.id)).user!);
      return done;
    },
    async write(user) {
      calls.write++;
      failIfDown();
      await inner.write(user);
      cache.entries.set(user.id, (await inner.read(user.id)).user!);
    },
    async identity() {
      failIfDown();
      return identity;
    },
    onConnectionLost(listener) {
      lostListeners.add(listener);
      return () => lostListeners.delete(listener);
    },
    ...(mark
      ? {
          lastReplayedOn: async () => mark.on,
          markReplayed: async (on: string) => void (mark.on = on),
        }
      : {}),
    async ping() {
      failIfDown();
    },
  };
  const countingStore = {
    ...store,
    async findUserById(id: string) {
      calls.findUserById++;
      await gate;
      return store.findUserById(id);
    },
  };
  const lookup = createUserLookup({
    store: countingStore,
    cache,
    logger: silentLogger,
    breakerFailureThreshold: 3,
    repairRetentionSeconds: 900,
    pruneIntervalMs: 60_000,
    now: Date.now,
  });
  return {
    store,
    cache,
    lookup,
    calls,
    faults,
    loseConnection: () => lostListeners.forEach((listener) => listener()),
    setIdentity: (next: string) => (identity = next),
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => {
      gate = undefined;
      release();
    },
  };
}

async function userIn(store: ReturnType<typeof createMemoryAuthStore>): Promise<UserState> {
  return store.createUser({ email: `${Math.random()}@example.com`, passwordHash: "h", name: null });
}

async function trusted(t: ReturnType<typeof setup>) {
  expect(t.lookup.status().breaker).toBe("open");
  expect(await t.lookup.repair()).toBe(true);
}

describe("the breaker", () => {
  it("starts open: nothing is read from the cache before the first repair pass", async () => {
    const t = setup();
    const user = await userIn(t.store);
    t.cache.entries.set(user.id, { ...user, jwtVersion: 99 }); // a stale entry
    expect(await t.lookup.get(user.id)).toEqual(user);
    expect(t.calls.read).toBe(0);
  });

  it("replays every retained change before it first closes", async () => {
    const t = setup();
    const user = await userIn(t.store);
    const changed = await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    await t.store.markCacheRepairApplied(user.id, changed!.state.revision); // already applied once
    await trusted(t);
    expect(t.cache.entries.get(user.id)).toMatchObject({ jwtVersion: 1 });
    expect(t.lookup.status()).toMatchObject({ breaker: "closed", replays: 1 });
  });

  it("stays open while the cache or the store cannot be checked", async () => {
    const t = setup();
    t.faults.cache = true;
    expect(await t.lookup.repair()).toBe(false);
    t.faults.cache = false;
    t.store.failing = true;
    expect(await t.lookup.repair()).toBe(false);
    expect(t.lookup.status().breaker).toBe("open");
  });

  it("opens after the threshold of consecutive failures, then skips the cache entirely", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    t.faults.cache = true;
    for (let i = 0; i < 3; i++) expect(await t.lookup.get(user.id)).toEqual(user);
    expect(t.lookup.status().breaker).toBe("open");
    const reads = t.calls.read;
    for (let i = 0; i < 10; i++) await t.lookup.get(user.id);
    expect(t.calls.read).toBe(reads);
    expect(t.lookup.status().fallbacks).toBe(13);
  });
});

describe("a lost connection", () => {
  it("opens the breaker at once, and the next pass replays applied changes too", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    const changed = await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    await t.lookup.writeThrough(changed!.state, changed!.state.revision);
    // A failover that lost the write: the new server holds the old entry.
    t.cache.entries.set(user.id, user);
    t.loseConnection();
    expect(t.lookup.status().breaker).toBe("open");
    expect(await t.lookup.get(user.id)).toMatchObject({ jwtVersion: 1 }); // from the store
    await trusted(t);
    expect(t.cache.entries.get(user.id)).toMatchObject({ jwtVersion: 1 });
    expect(t.lookup.status().replays).toBe(2);
  });

  it("during a pass keeps the breaker open: that pass may have written to the old server", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    const write = t.cache.write;
    t.cache.write = async (u) => {
      t.loseConnection();
      await write(u);
    };
    expect(await t.lookup.repair()).toBe(false);
    t.cache.write = write;
    expect(t.lookup.status().breaker).toBe("open");
    await trusted(t);
  });
});

describe("a replay completed by another instance", () => {
  it("on the same data set is not repeated; on another one it is", async () => {
    const shared = { store: createMemoryAuthStore(), mark: { on: null as string | null } };
    const first = setup(shared);
    const second = setup(shared);
    await trusted(first);
    expect(first.lookup.status()).toMatchObject({ replays: 1, replaysSkipped: 0 });
    expect(shared.mark.on).toBe("server-1");
    await trusted(second);
    expect(second.lookup.status()).toMatchObject({ replays: 0, replaysSkipped: 1 });
    // After a failover the mark names the old data set: everyone replays.
    second.setIdentity("server-2");
    second.loseConnection();
    await trusted(second);
    expect(second.lookup.status()).toMatchObject({ replays: 1, replaysSkipped: 1 });
    expect(shared.mark.on).toBe("server-2");
  });

  it("is not trusted when the cache cannot name its data set", async () => {
    const shared = { store: createMemoryAuthStore(), mark: { on: null as string | null } };
    const t = setup(shared);
    t.cache.identity = async () => null;
    shared.mark.on = null;
    await trusted(t);
    t.loseConnection();
    await trusted(t);
    expect(t.lookup.status()).toMatchObject({ replays: 2, replaysSkipped: 0 });
  });
});

describe("another data set behind the cache", () => {
  it("(a failover without a lost connection) opens the breaker and replays", async () => {
    const t = setup();
    const user = await userIn(t.store);
    const changed = await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    await trusted(t);
    expect(t.lookup.status().replays).toBe(1);
    t.cache.entries.set(user.id, user); // the promoted replica's stale entry
    t.setIdentity("server-2");
    expect(await t.lookup.repair()).toBe(true);
    expect(t.lookup.status().replays).toBe(2);
    expect(t.cache.entries.get(user.id)).toMatchObject({ revision: changed!.state.revision });
  });
});

describe("get", () => {
  it("shares one store read among concurrent misses for the same user", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    t.hold();
    const all = Promise.all(Array.from({ length: 50 }, () => t.lookup.get(user.id)));
    await Promise.resolve();
    t.release();
    expect(await all).toEqual(Array(50).fill(user));
    expect(t.calls.findUserById).toBe(1);
    expect(t.cache.entries.get(user.id)).toEqual(user);
  });

  it("turns a store failure into ServiceUnavailableError", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    t.store.failing = true;
    await expect(t.lookup.get(user.id)).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});

describe("reload", () => {
  it("ignores a cached entry and replaces it with the store's state", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    await t.lookup.get(user.id);
    const changed = await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    expect(await t.lookup.get(user.id)).toMatchObject({ jwtVersion: 0 }); // stale on purpose
    expect(await t.lookup.reload(user.id)).toMatchObject({ jwtVersion: 1 });
    expect(t.cache.entries.get(user.id)).toMatchObject({ revision: changed!.state.revision });
    expect(t.lookup.status().staleEntries).toBe(1);
  });
});

describe("writeThrough", () => {
  it("trips the breaker and throws ServiceUnavailableError when the write fails", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    t.faults.cache = true;
    await expect(t.lookup.writeThrough(user, user.revision)).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
    expect(t.lookup.status()).toMatchObject({ breaker: "open", writeThroughFailures: 1 });
  });

  it("refuses without trying while the breaker is open", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await expect(t.lookup.writeThrough(user, user.revision)).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
    expect(t.calls.write).toBe(0);
  });

  it("marks the repair applied once the cache holds the revision", async () => {
    const t = setup();
    const user = await userIn(t.store);
    await trusted(t);
    const changed = await t.store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
    expect(
      await t.store.listCacheRepairs({ includeApplied: false, after: null, limit: 10 }),
    ).toHaveLength(1);
    await t.lookup.writeThrough(changed!.state, changed!.state.revision);
    expect(
      await t.store.listCacheRepairs({ includeApplied: false, after: null, limit: 10 }),
    ).toEqual([]);
    // Kept for replays.
    expect(
      await t.store.listCacheRepairs({ includeApplied: true, after: null, limit: 10 }),
    ).toHaveLength(1);
  });
});
