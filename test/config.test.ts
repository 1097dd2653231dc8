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
});
