import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UserCache, UserState } from "../core/ports.js";

export interface UserCacheSuiteOptions {
  name: string;
  create(): Promise<UserCache> | UserCache;
  /** Empties the cache as a flush or a restart would; the fence tests need it. */
  flush?(): Promise<void> | void;
  destroy?(): Promise<void> | void;
}

const state = (id: string, revision: number, patch: Partial<UserState> = {}): UserState => ({
  id,
  email: `${id}@example.com`,
  name: null,
  jwtVersion: revision,
  revision,
  disabled: false,
  versionReason: null,
  revokedSessions: [],
  revokedSessionsOverflow: false,
  ...patch,
});

/**
 * The contract every `UserCache` must keep: a revision is never lowered, a
 * deletion is never replaced, and a fill never lands in a cache emptied
 * after the read that fenced it.
 */
export function testUserCache(options: UserCacheSuiteOptions): void {
  describe(`UserCache conformance: ${options.name}`, () => {
    let cache: UserCache;
    beforeAll(async () => {
      cache = await options.create();
    });
    afterAll(async () => {
      await options.destroy?.();
    });

    it("reads a miss as null with a fence, then a fill", async () => {
      const id = randomUUID();
      const miss = await cache.read(id);
      expect(miss.user).toBeNull();
      expect(typeof miss.fence).toBe("string");
      expect(await cache.fill(state(id, 3), miss.fence)).toBe(true);
      expect((await cache.read(id)).user).toEqual(state(id, 3));
    });

    it("keeps every field of a state, revoked sessions included", async () => {
      const id = randomUUID();
      const full = state(id, 4, {
        name: "Ada",
        disabled: true,
        versionReason: "password_changed",
        revokedSessions: [
          { id: randomUUID(), reason: "refresh_token_reused", until: 2_000_000_000 },
        ],
        revokedSessionsOverflow: true,
      });
      await cache.write(full);
      expect((await cache.read(id)).user).toEqual(full);
    });

    it("never lowers a revision, by a fill or by a write", async () => {
      const id = randomUUID();
      const { fence } = await cache.read(id);
      await cache.write(state(id, 5));
      expect(await cache.fill(state(id, 4), fence)).toBe(false);
      await cache.write(state(id, 3));
      expect((await cache.read(id)).user).toMatchObject({ revision: 5 });
      await cache.write(state(id, 6));
      expect((await cache.read(id)).user).toMatchObject({ revision: 6 });
    });

    it("never replaces a deletion", async () => {
      const id = randomUUID();
      await cache.write(state(id, 1));
      await cache.write({ id, deleted: true });
      await cache.write(state(id, 99));
      const { user, fence } = await cache.read(id);
      expect(user).toEqual({ id, deleted: true });
      expect(await cache.fill(state(id, 100), fence)).toBe(false);
    });

    it("keeps users apart", async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      await cache.write(state(a, 1));
      expect((await cache.read(b)).user).toBeNull();
    });

    it("names each shard's data set the same way twice, and puts a user in one shard", async () => {
      const first = await cache.identities();
      expect(first.size).toBeGreaterThan(0);
      expect(await cache.identities()).toEqual(first);
      const id = randomUUID();
      expect(first.has(cache.shardOf(id))).toBe(true);
      expect(first.get(cache.shardOf(id))).not.toBeUndefined(); // it answers
      expect(cache.shardOf(id)).toBe(cache.shardOf(id));
    });

    it("lets a connection-loss listener be removed", () => {
      const stop = cache.onConnectionLost(() => {});
      expect(typeof stop).toBe("function");
      stop();
    });

    it("pings", async () => {
      await expect(cache.ping()).resolves.toBeUndefined();
    });

    if (options.flush) {
      const flush = options.flush;
      it("drops a fill whose read came before a flush", async () => {
        const id = randomUUID();
        const { fence } = await cache.read(id);
        await flush();
        expect(await cache.fill(state(id, 1), fence)).toBe(false);
        expect((await cache.read(id)).user).toBeNull();
        const fresh = await cache.read(id);
        expect(await cache.fill(state(id, 1), fresh.fence)).toBe(true);
      });
    }
  });
}
