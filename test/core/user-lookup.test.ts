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
  const faults = { cache: false, shards: new Set<string>() };
  let identity = "server-1";
  // Users on a second shard, for the tests of shards apart; everyone else is on "s1".
  const onSecondShard = new Set<string>();
  const shardOf = (id: string) => (onSecondShard.has(id) ? "s2" : "s1");
  const lostListeners = new Set<(shard: string | null) => void>();
  let gate: Promise<void> | undefined;
  let release = () => {};
  // Entries a "failover" may put back: a copy of the cache as it was.
  const failIfDown = (id?: string) => {
    if (faults.cache || (id !== undefined && faults.shards.has(shardOf(id)))) {
      throw new Error("timeout");
    }
  };
  const cache: UserCache & { entries: Map<string, CachedUser> } = {
    entries: new Map(),
    async read(id) {
      calls.read++;
      failIfDown(id);
      const user = cache.entries.get(id) ?? null;
      return { user, fence: (await inner.read(id)).fence };
    },
    async fill(user, fence) {
      calls.fill++;
      failIfDown(user.id);
      const done = await inner.fill(user, fence);
      if (done) cache.entries.set(user.id, (await inner.read(user.id)).user!);
      return done;
    },
    async write(user) {
      calls.write++;
      failIfDown(user.id);
      await inner.write(user);
      cache.entries.set(user.id, (await inner.read(user.id)).user!);
    },
    shardOf,
    async identities() {
      failIfDown();
      const all = new Map<string, string | null | undefined>([["s1", identity]]);
      if (onSecondShard.size > 0) all.set("s2", "server-s2");
      for (const down of faults.shards) all.set(down, undefined);
      return all;
    },
    onConnectionLost(listener) {
      lostListeners.add(listener);
      return () => lostListeners.delete(listener);
    },
    ...(mark
      ? {
          lastReplayedOn: async (shard: string) => (shard === "s1" ? mark.on : null),
          markReplayed: async (shard: string, on: string) => {
            if (shard === "s1") mark.on = on;
          },
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
    loseConnection: (shard: string | null = "s1") =>
      lostListeners.forEach((listener) => listener(shard)),
    onSecondShard,
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

describe("shards of the cache", () => {
  async function twoShards() {
    const t = setup();
    const [a, b] = [await userIn(t.store), await userIn(t.store)];
    t.onSecondShard.add(b.id);
    await trusted(t);
    await t.lookup.get(a.id);
    await t.lookup.get(b.id);
    expect(t.lookup.status()).toMatchObject({ shards: 2, untrustedShards: 0 });
    return { t, a, b };
  }

  it("a lost connection to one shard sends only its users to the store; the other's stay on the cache and can be revoked", async () => {
    const { t, a, b } = await twoShards();
    t.loseConnection("s1");
    expect(t.lookup.status()).toMatchObject({ breaker: "open", untrustedShards: 1 });
    const reads = t.calls.findUserById;
    const hits = t.lookup.status().hits;
    await t.lookup.get(a.id);
    await t.lookup.get(b.id);
    expect(t.calls.findUserById).toBe(reads + 1); // a's, from the store
    expect(t.lookup.status().hits).toBe(hits + 1); // b's, from the cache
    const changedB = await t.store.changeUser(b.id, { type: "revoke-all", reason: "signed_out" });
    await t.lookup.writeThrough(changedB!.state, changedB!.state.revision);
    const changedA = await t.store.changeUser(a.id, { type: "revoke-all", reason: "signed_out" });
    await expect(
      t.lookup.writeThrough(changedA!.state, changedA!.state.revision),
    ).rejects.toBeInstanceOf(ServiceUnavailableError);
    // The next pass replays shard s1 alone (a's change with it), then trusts it.
    await trusted(t);
    expect(t.cache.entries.get(a.id)).toMatchObject({ jwtVersion: 1 });
    expect(t.lookup.status()).toMatchObject({ replays: 3, untrustedShards: 0 });
  });

  it("a shard that cannot be asked stays untrusted while the others are trusted", async () => {
    const { t, a, b } = await twoShards();
    t.faults.shards.add("s2");
    t.loseConnection("s2");
    expect(await t.lookup.repair()).toBe(false);
    expect(t.lookup.status()).toMatchObject({ untrustedShards: 1 });
    const hits = t.lookup.status().hits;
    await t.lookup.get(a.id);
    expect(t.lookup.status().hits).toBe(hits + 1);
    const reads = t.calls.findUserById;
    await t.lookup.get(b.id);
    expect(t.calls.findUserById).toBe(reads + 1);
    t.faults.shards.clear();
    expect(await t.lookup.repair()).toBe(true);
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
    t.cache.identities = async () => new Map<string, string | null | undefined>([["s1", null]]);
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
