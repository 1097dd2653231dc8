import { describe, expect, it } from "vitest";
import { decodeCachedUser, encodeCachedUser, userCacheKey } from "../../src/core/cache-policy.js";

const USER = { id: "u1", email: "a@example.com", name: null, jwtVersion: 2 };

describe("encodeCachedUser", () => {
  it("keeps exactly id, email, name and jwtVersion", () => {
    const withExtras = { ...USER, passwordHash: "$argon2id$…", token: "t" };
    expect(JSON.parse(encodeCachedUser(withExtras))).toEqual(USER);
  });
});

describe("decodeCachedUser", () => {
  it("round-trips an entry", () => {
    expect(decodeCachedUser(encodeCachedUser(USER), "u1")).toEqual(USER);
  });

  const corrupt: [string, string | null][] = [
    ["absent", null],
    ["not JSON", "{nope"],
    ["a JSON string", '"u1"'],
    ["another user's entry", JSON.stringify({ ...USER, id: "u2" })],
    ["a string version", JSON.stringify({ ...USER, jwtVersion: "2" })],
    ["a negative version", JSON.stringify({ ...USER, jwtVersion: -1 })],
    ["a fractional version", JSON.stringify({ ...USER, jwtVersion: 1.5 })],
    ["no version", JSON.stringify({ id: "u1", email: "a@example.com", name: null })],
    ["a numeric name", JSON.stringify({ ...USER, name: 5 })],
    ["no email", JSON.stringify({ id: "u1", name: null, jwtVersion: 1 })],
  ];
  for (const [condition, raw] of corrupt) {
    it(`treats ${condition} as a miss`, () => {
      expect(decodeCachedUser(raw, "u1")).toBeNull();
    });
  }
});

describe("userCacheKey", () => {
  it("prefixes the key", () => {
    expect(userCacheKey("auth:", "u1")).toBe("auth:user:u1");
  });
});
