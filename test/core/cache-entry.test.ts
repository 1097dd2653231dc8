import { describe, expect, it } from "vitest";
import { decodeCachedUser, encodeCachedUser } from "../../src/core/cache-entry.js";
import type { UserState } from "../../src/core/ports.js";

const USER: UserState = {
  id: "u1",
  email: "a@example.com",
  name: null,
  jwtVersion: 2,
  revision: 7,
  disabled: false,
  versionReason: "signed_out",
  revokedSessions: [{ id: "s1", reason: "signed_out_elsewhere", until: 1_900_000_000 }],
  revokedSessionsOverflow: false,
};

describe("encodeCachedUser", () => {
  it("keeps exactly the state the per-request check needs: no hash, no token", () => {
    const withExtras = { ...USER, passwordHash: "$argon2id$…", token: "t" };
    expect(Object.keys(JSON.parse(encodeCachedUser(withExtras)) as object).sort()).toEqual([
      "disabled",
      "email",
      "id",
      "jwtVersion",
      "name",
      "overflow",
      "revision",
      "revokedSessions",
      "versionReason",
    ]);
  });

  it("writes a deletion as a bare marker", () => {
    expect(JSON.parse(encodeCachedUser({ id: "u1", deleted: true }))).toEqual({
      id: "u1",
      deleted: true,
    });
  });
});

describe("decodeCachedUser", () => {
  it("round-trips an entry and a deletion", () => {
    expect(decodeCachedUser(encodeCachedUser(USER), "u1")).toEqual(USER);
    expect(decodeCachedUser(encodeCachedUser({ id: "u1", deleted: true }), "u1")).toEqual({
      id: "u1",
      deleted: true,
    });
  });

  const raw = (patch: Record<string, unknown>) =>
    JSON.stringify({ ...JSON.parse(encodeCachedUser(USER)), ...patch });
  const corrupt: [string, string | null][] = [
    ["absent", null],
    ["not JSON", "{nope"],
    ["a JSON string", '"u1"'],
    ["another user's entry", raw({ id: "u2" })],
    ["another user's deletion", JSON.stringify({ id: "u2", deleted: true })],
    ["a string version", raw({ jwtVersion: "2" })],
    ["a negative version", raw({ jwtVersion: -1 })],
    ["a fractional version", raw({ jwtVersion: 1.5 })],
    ["no revision", raw({ revision: undefined })],
    ["a string revision", raw({ revision: "7" })],
    [
      "an entry of the 0.1 format",
      JSON.stringify({ id: "u1", email: "e", name: null, jwtVersion: 1 }),
    ],
    ["a numeric name", raw({ name: 5 })],
    ["no email", raw({ email: undefined })],
    ["a string for disabled", raw({ disabled: "false" })],
    ["an unknown version reason", raw({ versionReason: "because" })],
    ["revoked sessions that are not a list", raw({ revokedSessions: {} })],
    ["a revoked session of the wrong shape", raw({ revokedSessions: [["s1", "signed_out"]] })],
    ["a revoked session with an unknown reason", raw({ revokedSessions: [["s1", "x", 1]] })],
    [
      "a revoked session with a fractional bound",
      raw({ revokedSessions: [["s1", "signed_out", 1.5]] }),
    ],
    ["no overflow flag", raw({ overflow: undefined })],
  ];
  for (const [condition, value] of corrupt) {
    it(`treats ${condition} as a miss`, () => {
      expect(decodeCachedUser(value, "u1")).toBeNull();
    });
  }
});
