import { describe, expect, it } from "vitest";
import {
  CACHE_BUCKETS,
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
