import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { userCacheKey } from "../src/core/cache-policy.js";
import { login, logout, me, register, uniqueEmail } from "./helpers/api.js";
import { startPrivateRedis, type PrivateRedis } from "./helpers/redis-server.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

let redis: PrivateRedis;
let t: TestApp;

beforeAll(async () => {
  redis = await startPrivateRedis();
  t = await createTestApp({ redisUrl: redis.url });
});
afterAll(async () => {
  await t.close();
  await redis.stop();
});

async function userWithRevokedAndValidToken() {
  const email = uniqueEmail("fault");
  const user = await register(t.app, email);
  const revoked = await login(t.app, email);
  expect((await logout(t.app, revoked)).status).toBe(204);
  const valid = await login(t.app, email);
  expect((await me(t.app, valid)).status).toBe(200);
  return { user, revoked, valid };
}

async function redisIsBack() {
  await waitFor(() => t.redis.status === "ready", { what: "the app's redis client to reconnect" });
}

describe("with the private Redis killed", () => {
  it("a revoked token is still rejected and a valid one still accepted (Postgres fallback)", async () => {
    const { revoked, valid } = await userWithRevokedAndValidToken();
    await redis.kill();
    try {
      const fallbacksBefore = t.counters.fallback;
      expect((await me(t.app, revoked)).body.error?.code).toBe("token_revoked");
      expect((await me(t.app, valid)).status).toBe(200);
      expect(t.counters.fallback - fallbacksBefore).toBe(2);
      const ready = await request(t.app).get("/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toEqual({ postgres: "up", redis: "down" });
    } finally {
      await redis.start();
      await redisIsBack();
    }
  });

  it("a logout that cannot reach Redis does not claim success, and the version is still enforced", async () => {
    const email = uniqueEmail("logout-down");
    const user = await register(t.app, email);
    const token = await login(t.app, email);
    await me(t.app, token);
    await redis.kill();
    try {
      const res = await logout(t.app, token);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("service_unavailable");
      // Postgres committed the increment; with Redis down every instance reads it there.
      const row = await t.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
      expect(row.jwtVersion).toBe(1);
      expect((await me(t.app, token)).body.error.code).toBe("token_revoked");
    } finally {
      await redis.start();
      await redisIsBack();
    }
    // Restarted empty: refilled from Postgres, the old token stays rejected.
    expect((await me(t.app, token)).body.error.code).toBe("token_revoked");
    const entry = JSON.parse((await t.redis.get(userCacheKey(t.keyPrefix, user.id)))!);
    expect(entry.jwtVersion).toBe(1);
  });

  it("requests recover to cache hits by themselves once Redis is back", async () => {
    const { valid } = await userWithRevokedAndValidToken();
    await redis.kill();
    await redis.start();
    await redisIsBack();
    await me(t.app, valid); // refill
    const hitsBefore = t.counters.hit;
    expect((await me(t.app, valid)).status).toBe(200);
    expect(t.counters.hit - hitsBefore).toBe(1);
  });
});

describe("with the private Redis hung (SIGSTOP)", () => {
  it("requests fall back to Postgres after the command timeout and still enforce the version", async () => {
    const { revoked, valid } = await userWithRevokedAndValidToken();
    redis.pause();
    try {
      const fallbacksBefore = t.counters.fallback;
      const [a, b] = await Promise.all([me(t.app, revoked), me(t.app, valid)]);
      expect(a.body.error?.code).toBe("token_revoked");
      expect(b.status).toBe(200);
      expect(t.counters.fallback - fallbacksBefore).toBe(2);
    } finally {
      redis.resume();
    }
    await redisIsBack();
  });
});

describe("with the private Redis flushed", () => {
  it("every user is refilled from Postgres and nothing is lost", async () => {
    const { user, revoked, valid } = await userWithRevokedAndValidToken();
    await redis.command("FLUSHALL");
    expect(await t.redis.exists(userCacheKey(t.keyPrefix, user.id))).toBe(0);
    expect((await me(t.app, revoked)).body.error.code).toBe("token_revoked");
    expect((await me(t.app, valid)).status).toBe(200);
    const entry = JSON.parse((await t.redis.get(userCacheKey(t.keyPrefix, user.id)))!);
    expect(entry.jwtVersion).toBe(1);
  });
});
