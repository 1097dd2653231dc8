import { describe, expect, it } from "vitest";
import { ServiceUnavailableError } from "../../src/core/errors.js";
import {
  silentLogger,
  type UserCache,
  type UserRecord,
  type UserStore,
} from "../../src/core/ports.js";
import { createUserLookup } from "../../src/core/user-lookup.js";

// The policy with in-memory stand-ins for its ports; the same behaviour against
// real Redis and Postgres is what the integration tests prove.
const USER: UserRecord = { id: "u1", email: "a@example.com", name: null, jwtVersion: 1 };

function fakes() {
  const entries = new Map<string, UserRecord>();
  const repairs = new Map<string, UserRecord>();
  const rows = new Map<string, UserRecord>([[USER.id, USER]]);
  const calls = { findById: 0, read: 0, fill: 0, write: 0 };
  const faults = { cache: false, store: false };
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const store = {
    async findById(id: string) {
      calls.findById++;
      const row = rows.get(id) ?? null;
      await gate;
      if (faults.store) throw new Error("connection refused");
      return row;
    },
    async pendingCacheRepairs() {
      if (faults.store) throw new Error("connection refused");
      return [...repairs.values()];
    },
    async clearCacheRepair(id: string) {
      repairs.delete(id);
    },
  } as unknown as UserStore;
  const failIfDown = () => {
    if (faults.cache) throw new Error("timeout");
  };
  const cache: UserCache = {
    async read(id) {
      calls.read++;
      failIfDown();
      return { user: entries.get(id) ?? null, fence: "g1" };
    },
    async fill(user) {
      calls.fill++;
      failIfDown();
      entries.set(user.id, user);
      return true;
    },
    async write(user) {
      calls.write++;
      failIfDown();
      entries.set(user.id, user);
    },
    async ping() {
      failIfDown();
    },
  };
  return {
    store,
    cache,
    entries,
    repairs,
    rows,
    calls,
    faults,
    hold() {
      gate = new Promise((resolve) => (release = resolve));
    },
    release: () => release(),
  };
}

async function trusted(f: ReturnType<typeof fakes>, breakerFailureThreshold = 3) {
  const lookup = createUserLookup({
    store: f.store,
    cache: f.cache,
    logger: silentLogger,
    breakerFailureThreshold,
  });
  expect(lookup.status().breaker).toBe("open");
  expect(await lookup.repair()).toBe(true);
  return lookup;
}

describe("the breaker", () => {
  it("starts open: nothing is read from the cache before the first repair pass", async () => {
    const f = fakes();
    f.entries.set(USER.id, { ...USER, jwtVersion: 0 }); // stale
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    expect(await lookup.get(USER.id)).toEqual(USER);
    expect(f.calls.read).toBe(0);
  });

  it("applies pending repairs before it closes", async () => {
    const f = fakes();
    f.entries.set(USER.id, { ...USER, jwtVersion: 0 });
    f.repairs.set(USER.id, USER);
    const lookup = await trusted(f);
    expect(f.entries.get(USER.id)).toEqual(USER);
    expect(f.repairs.size).toBe(0);
    expect(lookup.status()).toMatchObject({ breaker: "closed", repairs: 1 });
  });

  it("stays open while the cache or the store cannot be checked", async () => {
    const f = fakes();
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    f.faults.cache = true;
    expect(await lookup.repair()).toBe(false);
    f.faults.cache = false;
    f.faults.store = true;
    expect(await lookup.repair()).toBe(false);
    expect(lookup.status().breaker).toBe("open");
  });

  it("opens after the threshold of consecutive failures, then skips the cache entirely", async () => {
    const f = fakes();
    const lookup = await trusted(f, 3);
    f.faults.cache = true;
    for (let i = 0; i < 3; i++) expect(await lookup.get(USER.id)).toEqual(USER);
    expect(lookup.status().breaker).toBe("open");
    const reads = f.calls.read;
    for (let i = 0; i < 10; i++) await lookup.get(USER.id);
    expect(f.calls.read).toBe(reads);
    expect(lookup.status().fallbacks).toBe(13);
  });
});

describe("get", () => {
  it("shares one store read among concurrent misses for the same user", async () => {
    const f = fakes();
    const lookup = await trusted(f);
    f.hold();
    const all = Promise.all(Array.from({ length: 50 }, () => lookup.get("u1")));
    await Promise.resolve();
    f.release();
    expect(await all).toEqual(Array(50).fill(USER));
    expect(f.calls.findById).toBe(1);
    expect(f.entries.get("u1")).toEqual(USER);
  });

  it("turns a store failure into ServiceUnavailableError", async () => {
    const f = fakes();
    const lookup = await trusted(f);
    f.faults.store = true;
    await expect(lookup.get("u1")).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});

describe("writeThrough", () => {
  it("trips the breaker and throws ServiceUnavailableError when the write fails", async () => {
    const f = fakes();
    const lookup = await trusted(f);
    f.faults.cache = true;
    await expect(lookup.writeThrough(USER)).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(lookup.status()).toMatchObject({ breaker: "open", writeThroughFailures: 1 });
  });

  it("refuses without trying while the breaker is open", async () => {
    const f = fakes();
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    await expect(lookup.writeThrough(USER)).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(f.calls.write).toBe(0);
  });

  it("clears the repair once the cache holds the version", async () => {
    const f = fakes();
    const lookup = await trusted(f);
    f.repairs.set(USER.id, USER);
    await lookup.writeThrough(USER);
    expect(f.repairs.size).toBe(0);
  });
});
