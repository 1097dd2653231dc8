import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../src/server/config.js";

const SECRET = "s".repeat(32);

describe("parseConfig", () => {
  it("in production refuses to start without JWT_SECRET, naming the variable", () => {
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "postgresql://db/x",
      REDIS_URL: "redis://r",
    };
    expect(() => parseConfig(production)).toThrow(ConfigError);
    expect(() => parseConfig(production)).toThrow(/JWT_SECRET/);
    expect(() => parseConfig({ ...production, JWT_SECRET: "" })).toThrow(/JWT_SECRET/);
  });

  it("outside production leaves the secret to the data directory when none is set", () => {
    expect(parseConfig({}).jwtSecret).toBeUndefined();
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
      dataDir: ".data",
      database: { kind: "probe-local", url: "postgresql://postgres@127.0.0.1:5432/jwt_auth" },
      cacheStore: { kind: "probe-local", url: "redis://127.0.0.1:6379" },
      databaseSchema: "auth",
      databaseConnectTimeoutMs: 5000,
      databaseStatementTimeoutMs: 5000,
      redisCommandTimeoutMs: 200,
      tokens: { algorithm: "HS256", expiresInSeconds: 900, clockToleranceSeconds: 5 },
      sessions: { refreshTokenTtlSeconds: 30 * 24 * 3600, refreshReuseGraceSeconds: 10 },
      cache: {
        keyPrefix: "auth:",
        ttlSeconds: 3600,
        breakerFailureThreshold: 3,
        repairIntervalMs: 1000,
        replicaAcks: 0,
        replicaAckTimeoutMs: 250,
      },
      metrics: { host: "127.0.0.1", port: 9464 },
      rateLimit: true,
      registration: true,
      allowAidHeader: false,
      migrateOnStart: true,
      trustProxy: false,
    });
  });

  describe("which Postgres and which cache", () => {
    it("uses what is configured, whatever EMBEDDED says", () => {
      const config = parseConfig({
        DATABASE_URL: "postgresql://db.internal/auth",
        REDIS_URL: "redis://cache.internal:6379",
        EMBEDDED: "on",
      });
      expect(config.database).toEqual({
        kind: "url",
        url: "postgresql://db.internal/auth",
        explicit: true,
      });
      expect(config.cacheStore).toEqual({
        kind: "redis",
        connection: { url: "redis://cache.internal:6379" },
        explicit: true,
      });
    });

    it("EMBEDDED=on runs what is not configured in this process", () => {
      expect(parseConfig({ EMBEDDED: "on" })).toMatchObject({
        database: { kind: "embedded" },
        cacheStore: { kind: "memory" },
      });
      expect(parseConfig({ EMBEDDED: "on", DATABASE_URL: "postgresql://db/x" })).toMatchObject({
        database: { kind: "url" },
        cacheStore: { kind: "memory" },
      });
    });

    it("EMBEDDED=off uses the default local addresses outside production", () => {
      expect(parseConfig({ EMBEDDED: "off" })).toMatchObject({
        database: {
          kind: "url",
          url: "postgresql://postgres@127.0.0.1:5432/jwt_auth",
          explicit: false,
        },
        cacheStore: {
          kind: "redis",
          connection: { url: "redis://127.0.0.1:6379" },
          explicit: false,
        },
      });
    });

    it("in production never falls back: it refuses, naming what is missing", () => {
      const attempt = () => parseConfig({ NODE_ENV: "production", JWT_SECRET: SECRET });
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(
        /DATABASE_URL.*REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES.*EMBEDDED=on/,
      );
      expect(() =>
        parseConfig({
          NODE_ENV: "production",
          JWT_SECRET: SECRET,
          DATABASE_URL: "postgresql://db/x",
        }),
      ).toThrow(/nothing configured for: REDIS_URL/);
    });

    it("in production names every missing variable in one refusal, the secret too", () => {
      const attempt = () => parseConfig({ NODE_ENV: "production" });
      expect(attempt).toThrow(/DATABASE_URL.*REDIS_URL.*JWT_SECRET/);
      expect(() => parseConfig({ NODE_ENV: "production", EMBEDDED: "on" })).toThrow(
        /nothing configured for: JWT_SECRET .*\. Set it\.$/,
      );
    });

    it("in production runs embedded only when asked", () => {
      expect(
        parseConfig({ NODE_ENV: "production", JWT_SECRET: SECRET, EMBEDDED: "on" }),
      ).toMatchObject({
        production: true,
        database: { kind: "embedded" },
        cacheStore: { kind: "memory" },
      });
    });
  });

  describe("Redis topologies", () => {
    it("reads Sentinel: the sentinels, the primary's name, credentials; waits for 1 replica by default", () => {
      const config = parseConfig({
        REDIS_SENTINELS: "10.0.0.1:26379, 10.0.0.2:26379,[::1]:26380",
        REDIS_SENTINEL_NAME: "auth-primary",
        REDIS_PASSWORD: "pw",
        REDIS_SENTINEL_PASSWORD: "spw",
      });
      expect(config.cacheStore).toEqual({
        kind: "redis",
        explicit: true,
        connection: {
          sentinels: [
            { host: "10.0.0.1", port: 26379 },
            { host: "10.0.0.2", port: 26379 },
            { host: "::1", port: 26380 },
          ],
          name: "auth-primary",
          password: "pw",
          sentinelPassword: "spw",
        },
      });
      expect(config.cache.replicaAcks).toBe(1);
      expect(
        parseConfig({ REDIS_SENTINELS: "h:1", REDIS_SENTINEL_NAME: "m", REDIS_WAIT_REPLICAS: "0" })
          .cache.replicaAcks,
      ).toBe(0);
    });

    it("reads Cluster nodes", () => {
      const config = parseConfig({ REDIS_CLUSTER_NODES: "a:7000,b:7001", REDIS_TLS: "on" });
      expect(config.cacheStore).toMatchObject({
        connection: {
          clusterNodes: [
            { host: "a", port: 7000 },
            { host: "b", port: 7001 },
          ],
          tls: true,
        },
      });
      expect(config.cache.replicaAcks).toBe(0);
    });

    const refused: [string, Record<string, string>, RegExp][] = [
      ["two topologies", { REDIS_URL: "redis://a", REDIS_CLUSTER_NODES: "b:1" }, /only one of/],
      ["sentinels without a name", { REDIS_SENTINELS: "a:1" }, /REDIS_SENTINEL_NAME/],
      ["malformed addresses", { REDIS_CLUSTER_NODES: "a:1,b" }, /host:port/],
      ["a port out of range", { REDIS_CLUSTER_NODES: "a:70000" }, /host:port/],
      ["a key prefix with a hash tag", { CACHE_KEY_PREFIX: "{auth}:" }, /CACHE_KEY_PREFIX/],
    ];
    for (const [condition, env, message] of refused) {
      it(`refuses ${condition}`, () => {
        expect(() => parseConfig(env)).toThrow(message);
      });
    }
  });

  it("turns metrics off, or moves them", () => {
    expect(parseConfig({ METRICS: "off" }).metrics).toBeNull();
    expect(parseConfig({ METRICS_HOST: "0.0.0.0", METRICS_PORT: "9100" }).metrics).toEqual({
      host: "0.0.0.0",
      port: 9100,
    });
  });

  it("bounds the clock tolerance", () => {
    expect(parseConfig({ JWT_CLOCK_TOLERANCE_SECONDS: "30" }).tokens.clockToleranceSeconds).toBe(
      30,
    );
    expect(() => parseConfig({ JWT_CLOCK_TOLERANCE_SECONDS: "301" })).toThrow(
      /JWT_CLOCK_TOLERANCE_SECONDS/,
    );
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
      expect(config.jwtSecret).toBe(SECRET);
      expect(config.tokens).toMatchObject({
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
