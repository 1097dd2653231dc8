import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/server/config.js";

const SECRET = "s".repeat(32);

describe("parseConfig", () => {
  it("refuses to start without JWT_SECRET, naming the variable", () => {
    expect(() => parseConfig({})).toThrow(ConfigError);
    expect(() => parseConfig({})).toThrow(/JWT_SECRET/);
    expect(() => parseConfig({ JWT_SECRET: "" })).toThrow(/JWT_SECRET/);
  });

  it("refuses a JWT_SECRET under 32 bytes, without printing it", () => {
    const attempt = () => parseConfig({ JWT_SECRET: "short-secret-value" });
    expect(attempt).toThrow(/at least 32 bytes/);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain("short-secret-value");
    }
  });

  it("refuses alg none, an unknown algorithm and a lifetime over 24 h", () => {
    expect(() => parseConfig({ JWT_SECRET: SECRET, JWT_ALGORITHM: "none" })).toThrow(
      /JWT_ALGORITHM/,
    );
    expect(() => parseConfig({ JWT_SECRET: SECRET, JWT_ALGORITHM: "RS256" })).toThrow(
      /JWT_ALGORITHM/,
    );
    expect(() => parseConfig({ JWT_SECRET: SECRET, JWT_EXPIRES_IN_SECONDS: "86401" })).toThrow(
      /JWT_EXPIRES_IN_SECONDS/,
    );
  });

  it("uses the documented defaults for local use", () => {
    const config = parseConfig({ JWT_SECRET: SECRET });
    expect(config).toMatchObject({
      port: 3000,
      databaseUrl: "postgresql://postgres@127.0.0.1:5432/jwt_auth",
      redisUrl: "redis://127.0.0.1:6379",
      redisCommandTimeoutMs: 200,
      tokens: { algorithm: "HS256", expiresInSeconds: 900 },
      cache: { keyPrefix: "auth:", ttlSeconds: 3600 },
      rateLimit: true,
      registration: true,
      allowAidHeader: false,
      migrateOnStart: true,
      trustProxy: false,
    });
  });

  it("reads on/off switches and numbers", () => {
    const config = parseConfig({
      JWT_SECRET: SECRET,
      RATE_LIMIT: "off",
      REGISTRATION: "false",
      PORT: "8080",
      TRUST_PROXY: "1",
    });
    expect(config).toMatchObject({
      rateLimit: false,
      registration: false,
      port: 8080,
      trustProxy: 1,
    });
    expect(() => parseConfig({ JWT_SECRET: SECRET, RATE_LIMIT: "maybe" })).toThrow(/RATE_LIMIT/);
  });

  describe("key rotation variables", () => {
    const K1 = "a".repeat(32);
    const K2 = "b".repeat(40);

    it("reads JWT_KEY_ID and JWT_PREVIOUS_KEYS as kid:secret pairs", () => {
      const config = parseConfig({
        JWT_SECRET: SECRET,
        JWT_KEY_ID: "2026-03",
        JWT_PREVIOUS_KEYS: `2026-02:${K1}, 2026-01:${K2}`,
      });
      expect(config.tokens).toMatchObject({
        secret: SECRET,
        keyId: "2026-03",
        previousKeys: [
          { keyId: "2026-02", secret: K1 },
          { keyId: "2026-01", secret: K2 },
        ],
      });
    });

    it("reads an empty kid as the key for tokens issued without one", () => {
      const config = parseConfig({
        JWT_SECRET: SECRET,
        JWT_KEY_ID: "k2",
        JWT_PREVIOUS_KEYS: `:${K1}`,
      });
      expect(config.tokens.previousKeys).toEqual([{ secret: K1 }]);
    });

    it("has no previous keys and no kid by default", () => {
      const config = parseConfig({ JWT_SECRET: SECRET });
      expect(config.tokens.keyId).toBeUndefined();
      expect(config.tokens.previousKeys).toEqual([]);
    });

    const refused: [string, Record<string, string>, RegExp][] = [
      [
        "a short previous secret",
        { JWT_KEY_ID: "k2", JWT_PREVIOUS_KEYS: "k1:short" },
        /key k1 must be at least 32 bytes/,
      ],
      [
        "an entry without a colon",
        { JWT_KEY_ID: "k2", JWT_PREVIOUS_KEYS: K1 },
        /entry 1 must be kid:secret/,
      ],
      [
        "a malformed kid",
        { JWT_KEY_ID: "k2", JWT_PREVIOUS_KEYS: `../k1:${K1}` },
        /entry 1 must be kid:secret/,
      ],
      ["a malformed JWT_KEY_ID", { JWT_KEY_ID: "k 2" }, /JWT_KEY_ID/],
      [
        "a kid used twice",
        { JWT_KEY_ID: "k1", JWT_PREVIOUS_KEYS: `k1:${K1}` },
        /duplicate key id k1/,
      ],
      [
        "two keys without kid",
        { JWT_PREVIOUS_KEYS: `:${K1}` },
        /only one key may be without a key id/,
      ],
    ];
    for (const [condition, env, message] of refused) {
      it(`refuses ${condition}, without printing any secret`, () => {
        const attempt = () => parseConfig({ JWT_SECRET: SECRET, ...env });
        expect(attempt).toThrow(ConfigError);
        expect(attempt).toThrow(message);
        try {
          attempt();
        } catch (error) {
          for (const secret of [SECRET, K1, "short"]) {
            expect((error as Error).message).not.toContain(secret);
          }
        }
      });
    }
  });
});
