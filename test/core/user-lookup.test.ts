import { describe, expect, it } from "vitest";
import { ServiceUnavailableError } from "../../src/core/errors.js";
import {
  silentLogger,
  type UserCache,
  type UserRecord,
  type UserStore,
} from "../../src/core/ports.js";
import { createUserLookup } from "../../src/core/user-lookup.js";

// Pure-logic tests of the read-through policy with in-memory stand-ins; the
// behaviour against real Redis and Postgres is covered by the integration tests.
const USER: UserRecord = { id: "u1", email: "a@example.com", name: null, jwtVersion: 1 };

function fakes(options: { cacheFails?: boolean; storeFails?: boolean } = {}) {
  const entries = new Map<string, UserRecord>();
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const calls = { findById: 0, put: 0, remove: 0 };
  const store = {
    async findById(id: string) {
      calls.findById++;
      await gate;
      if (options.storeFails) throw new Error("connection refused");
      return id === USER.id ? USER : null;
    },
  } as unknown as UserStore;
  const cache: UserCache = {
    async get(id) {
      if (options.cacheFails) throw new Error("timeout");
      return entries.get(id) ?? null;
    },
    async put(user) {
      calls.put++;
      if (options.cacheFails) throw new Error("timeout");
      entries.set(user.id, user);
    },
    async remove(id) {
      calls.remove++;
      if (options.cacheFails) throw new Error("timeout");
      entries.delete(id);
    },
    async ping() {},
  };
  return { store, cache, entries, calls, release };
}

describe("get", () => {
  it("shares one store read among concurrent misses for the same user", async () => {
    const f = fakes();
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    const all = Promise.all(Array.from({ length: 50 }, () => lookup.get("u1")));
    f.release();
    expect(await all).toEqual(Array(50).fill(USER));
    expect(f.calls.findById).toBe(1);
    expect(f.entries.get("u1")).toEqual(USER);
  });

  it("falls back to the store when the cache throws, and does not try to fill it", async () => {
    const f = fakes({ cacheFails: true });
    const fallbacks: number[] = [];
    const lookup = createUserLookup({
      store: f.store,
      cache: f.cache,
      logger: silentLogger,
      events: { fallback: () => fallbacks.push(1) },
    });
    f.release();
    expect(await lookup.get("u1")).toEqual(USER);
    expect(fallbacks).toHaveLength(1);
    expect(f.calls.put).toBe(0);
  });

  it("turns a store failure into ServiceUnavailableError", async () => {
    const f = fakes({ storeFails: true });
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    f.release();
    await expect(lookup.get("u1")).rejects.toBeInstanceOf(ServiceUnavailableError);
  });
});

describe("writeThrough", () => {
  it("throws ServiceUnavailableError when neither the write nor the delete reaches the cache", async () => {
    const f = fakes({ cacheFails: true });
    const lookup = createUserLookup({ store: f.store, cache: f.cache, logger: silentLogger });
    await expect(lookup.writeThrough(USER)).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(f.calls.remove).toBe(1);
  });
});
