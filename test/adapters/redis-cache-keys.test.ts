import { describe, expect, it } from "vitest";
import {
  CACHE_BUCKETS,
  clusterKeySlot,
  redisCacheKeys,
  validateKeyPrefix,
} from "../../src/adapters/redis-user-cache.js";

describe("redisCacheKeys", () => {
  it("puts a user's entry and its bucket's generation under one hash tag", () => {
    const { entry, generation } = redisCacheKeys("auth:", "0b6f0a56-7b55-4c53-9d5c-0c8a3e8f1d2e");
    const tag = /\{([^}]+)\}/.exec(entry)?.[1];
    expect(tag).toMatch(/^u\d+$/);
    expect(generation).toBe(`auth:{${tag}}:generation`);
    expect(entry).toBe(`auth:{${tag}}:user:0b6f0a56-7b55-4c53-9d5c-0c8a3e8f1d2e`);
  });

  it("is stable, and spreads users over many buckets", () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `user-${i}`);
    const buckets = new Set(ids.map((id) => /\{(u\d+)\}/.exec(redisCacheKeys("p:", id).entry)![1]));
    expect(redisCacheKeys("p:", "x").entry).toBe(redisCacheKeys("p:", "x").entry);
    // 5000 ids into 1024 buckets: nearly all buckets used.
    expect(buckets.size).toBeGreaterThan(CACHE_BUCKETS * 0.9);
  });

  it("refuses a prefix with its own hash tag", () => {
    expect(() => validateKeyPrefix("{auth}:")).toThrow(/\{ or \}/);
    expect(() => validateKeyPrefix("auth:")).not.toThrow();
  });
});

describe("clusterKeySlot", () => {
  it("is Redis Cluster's CRC16 of the hash tag, or of the whole key without one", () => {
    // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
    expect(clusterKeySlot("123456789")).toBe(0x31c3 % 16384);
    expect(clusterKeySlot("foo")).toBe(12182);
    expect(clusterKeySlot("bar")).toBe(5061);
    expect(clusterKeySlot("{user1000}.following")).toBe(clusterKeySlot("user1000"));
    expect(clusterKeySlot("foo{}{bar}")).toBe(clusterKeySlot("foo{}{bar}")); // empty tag: whole key
    expect(clusterKeySlot("foo{}{bar}")).not.toBe(clusterKeySlot("bar"));
    expect(clusterKeySlot("foo{{bar}}zap")).toBe(clusterKeySlot("{bar"));
  });

  it("puts a user's entry and generation in one slot, whatever the prefix", () => {
    const a = redisCacheKeys("auth:", "some-user");
    const b = redisCacheKeys("other:", "some-user");
    expect(clusterKeySlot(a.entry)).toBe(clusterKeySlot(a.generation));
    expect(clusterKeySlot(a.entry)).toBe(clusterKeySlot(b.entry));
  });
});
