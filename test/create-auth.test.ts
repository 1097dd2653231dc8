/**
 * createAuth as a library user meets it: options checked once, with a clear
 * TypeError; and a database without the auth tables is said loudly, not
 * answered with a silent 503.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import request from "supertest";
import express from "express";
import { randomUUID } from "node:crypto";
import { createAuth, type CreateAuthOptions } from "../src/index.js";
import { createMemoryAuthStore } from "../src/adapters/memory-auth-store.js";
import { createMemoryUserCache } from "../src/adapters/memory-user-cache.js";
import { createDatabaseIfMissing } from "../src/db/migrate.js";
import { dropDatabaseIfExists } from "./helpers/database.js";
import {
  captureLogs,
  connectRedis,
  createPrisma,
  databaseUrlFor,
  SHARED_REDIS_URL,
  testDatabaseName,
} from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

const tokens = { secret: "s".repeat(32), issuer: "i", audience: "a" };
const ports = () => ({
  store: createMemoryAuthStore(),
  userCache: createMemoryUserCache({ ttlSeconds: 60 }),
});

describe("createAuth options", () => {
  const refused: [string, () => CreateAuthOptions, RegExp][] = [
    [
      "no store and no prisma",
      () => ({ userCache: ports().userCache, tokens }),
      /exactly one of `prisma`/,
    ],
    [
      "both a store and prisma",
      () => ({ ...ports(), prisma: {} as never, tokens }),
      /exactly one of `prisma`/,
    ],
    ["no cache and no redis", () => ({ store: ports().store, tokens }), /exactly one of `redis`/],
    ["no tokens", () => ({ ...ports() }) as unknown as CreateAuthOptions, /needs `tokens`/],
    [
      "a short secret",
      () => ({ ...ports(), tokens: { ...tokens, secret: "short" } }),
      /at least 32 bytes/,
    ],
    [
      "a cache TTL of 0",
      () => ({ ...ports(), tokens, cache: { ttlSeconds: 0 } }),
      /cache.ttlSeconds/,
    ],
    [
      "a fractional grace",
      () => ({ ...ports(), tokens, sessions: { refreshReuseGraceSeconds: 1.5 } }),
      /sessions.refreshReuseGraceSeconds/,
    ],
    [
      "a grace above 300 s",
      () => ({ ...ports(), tokens, sessions: { refreshReuseGraceSeconds: 301 } }),
      /sessions.refreshReuseGraceSeconds/,
    ],
    [
      "a limit of 0 points",
      () => ({
        ...ports(),
        tokens,
        rateLimit: { loginPerClient: { points: 0, durationSeconds: 60 } },
      }),
      /rateLimit.loginPerClient.points/,
    ],
    [
      "a clock tolerance of 10 minutes",
      () => ({ ...ports(), tokens: { ...tokens, clockToleranceSeconds: 600 } }),
      /clock tolerance/,
    ],
  ];
  for (const [condition, options, message] of refused) {
    it(`throws a TypeError for ${condition}`, () => {
      expect(() => createAuth(options())).toThrow(TypeError);
      expect(() => createAuth(options())).toThrow(message);
    });
  }

  it("works on the in-memory ports alone (one process)", async () => {
    const auth = createAuth({
      ...ports(),
      tokens,
      passwordHashing: { memoryCost: 1024, timeCost: 1 },
    });
    try {
      expect(await auth.checkCache()).toBe(true);
      const app = express().use(auth.router);
      const email = `${randomUUID()}@example.com`;
      expect(
        (await request(app).post("/register").send({ email, password: "long enough" })).status,
      ).toBe(201);
      const login = await request(app).post("/login").send({ email, password: "long enough" });
      expect(login.status).toBe(200);
      expect(
        (await request(app).get("/me").set("Authorization", `Bearer ${login.body.accessToken}`))
          .status,
      ).toBe(200);
    } finally {
      auth.close();
    }
  });
});

describe("a database without the auth tables", () => {
  const name = testDatabaseName("no_tables");
  let prisma: ReturnType<typeof createPrisma>;
  beforeAll(async () => {
    await createDatabaseIfMissing(databaseUrlFor(name));
    prisma = createPrisma(databaseUrlFor(name));
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await dropDatabaseIfExists(databaseUrlFor(name));
  });

  it("is logged as an error that says what to do, and requests needing Postgres answer 503", async () => {
    const { lines, logger } = captureLogs();
    const redis = await connectRedis(SHARED_REDIS_URL);
    const auth = createAuth({
      prisma,
      redis,
      tokens,
      logger,
      cache: { keyPrefix: `nt:${randomUUID()}:` },
    });
    try {
      await waitFor(() => lines.some((line) => line.includes("the auth store is not ready")), {
        what: "the error line",
      });
      const line = JSON.parse(lines.find((l) => l.includes("the auth store is not ready"))!);
      expect(line.level).toBe(50); // error
      expect(line.err.message).toMatch(
        /the auth tables in Postgres schema "auth" are missing or older than this version \(relation "auth\.\w+" does not exist\): apply the migrations with migrateDatabase\(\)/,
      );
      const app = express().use(auth.router);
      const res = await request(app).post("/login").send({ email: "a@example.com", password: "x" });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("service_unavailable");
      expect(JSON.stringify(res.body)).not.toMatch(/auth\.users|migrat/); // the client learns nothing
    } finally {
      auth.close();
      redis.disconnect();
    }
  });

  it("without a logger, goes to stderr by default", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const redis = await connectRedis(SHARED_REDIS_URL);
    const auth = createAuth({ prisma, redis, tokens, cache: { keyPrefix: `nt:${randomUUID()}:` } });
    try {
      await waitFor(() => errors.mock.calls.some(([text]) => String(text).includes("not ready")), {
        what: "a line on stderr",
      });
      const text = String(errors.mock.calls.find(([t]) => String(t).includes("not ready"))![0]);
      expect(text).toMatch(
        /^versioned-jwt-auth error: the auth store is not ready: the auth tables/,
      );
    } finally {
      auth.close();
      redis.disconnect();
      errors.mockRestore();
    }
  });
});
