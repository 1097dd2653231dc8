import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { redisCacheKeys } from "../src/adapters/redis-user-cache.js";
import { login, logout, me, PASSWORD, register, uniqueEmail } from "./helpers/api.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t.close();
});

async function cachedEntry(id: string) {
  const key = redisCacheKeys(t.keyPrefix, id).entry;
  const [raw, ttl] = await Promise.all([t.redis.get(key), t.redis.ttl(key)]);
  return { raw, ttl, entry: raw === null ? null : (JSON.parse(raw) as Record<string, unknown>) };
}

describe("the full cycle", () => {
  it("register → login → me → logout → me is revoked → login again works", async () => {
    const email = uniqueEmail("cycle");
    const registered = await request(t.app)
      .post("/register")
      .send({ email: `  ${email.toUpperCase()} `, password: PASSWORD, name: "Ada" });
    expect(registered.status).toBe(201);
    expect(registered.body).toEqual({ user: { id: expect.any(String), email, name: "Ada" } });

    const loggedIn = await request(t.app).post("/login").send({ email, password: PASSWORD });
    expect(loggedIn.status).toBe(200);
    expect(loggedIn.body).toMatchObject({
      tokenType: "Bearer",
      expiresIn: 900,
      user: registered.body.user,
    });
    expect(loggedIn.headers["cache-control"]).toBe("no-store");
    const token = loggedIn.body.accessToken as string;

    const profile = await me(t.app, token);
    expect(profile.status).toBe(200);
    expect(profile.body).toEqual({ user: registered.body.user });

    const out = await logout(t.app, token);
    expect(out.status).toBe(204);

    const after = await me(t.app, token);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("token_revoked");
    expect(after.headers["www-authenticate"]).toMatch(
      /^Bearer realm="auth", error="invalid_token"/,
    );

    const again = await login(t.app, email);
    expect((await me(t.app, again)).status).toBe(200);
    expect((await me(t.app, token)).body.error.code).toBe("token_revoked");
  });

  it("one logout revokes every token of the user (two logins, two devices)", async () => {
    const email = uniqueEmail("devices");
    await register(t.app, email);
    const phone = await login(t.app, email);
    const laptop = await login(t.app, email);
    expect(phone).not.toBe(laptop);
    expect((await me(t.app, phone)).status).toBe(200);
    expect((await me(t.app, laptop)).status).toBe(200);

    expect((await logout(t.app, phone)).status).toBe(204);

    for (const token of [phone, laptop]) {
      const res = await me(t.app, token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("token_revoked");
    }
    // The revoked token cannot log out again either.
    expect((await logout(t.app, laptop)).body.error.code).toBe("token_revoked");
  });

  it("another user's tokens are unaffected by a logout", async () => {
    const [a, b] = [uniqueEmail("a"), uniqueEmail("b")];
    await register(t.app, a);
    await register(t.app, b);
    const tokenA = await login(t.app, a);
    const tokenB = await login(t.app, b);
    await logout(t.app, tokenA);
    expect((await me(t.app, tokenB)).status).toBe(200);
  });
});

describe("the Redis entry", () => {
  it("after a request holds the current version, no hash, and a TTL", async () => {
    const email = uniqueEmail("entry");
    const user = await register(t.app, email);
    const token = await login(t.app, email);
    expect((await me(t.app, token)).status).toBe(200);

    const { raw, ttl, entry } = await cachedEntry(user.id);
    expect(entry).toEqual({
      id: user.id,
      email,
      name: null,
      jwtVersion: 0,
      revision: 0,
      disabled: false,
      versionReason: null,
      revokedSessions: [],
      overflow: false,
    });
    expect(raw).not.toMatch(/argon2|password|hash|refresh/i);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it("after a logout holds the incremented version written through, matching Postgres", async () => {
    const email = uniqueEmail("entry-logout");
    const user = await register(t.app, email);
    const token = await login(t.app, email);
    await me(t.app, token);
    expect((await logout(t.app, token)).status).toBe(204);

    const row = await t.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row.jwtVersion).toBe(1);
    const { raw, ttl, entry } = await cachedEntry(user.id);
    expect(entry).toMatchObject({
      id: user.id,
      jwtVersion: 1,
      revision: row.revision,
      versionReason: "signed_out",
      revokedSessions: [],
    });
    expect(raw).not.toContain(row.passwordHash);
    expect(ttl).toBeGreaterThan(0);
  });

  it("a normal request is served from Redis without touching Postgres", async () => {
    const email = uniqueEmail("hit");
    await register(t.app, email);
    const token = await login(t.app, email);
    await me(t.app, token); // fills the cache
    const before = t.auth.cacheStatus();
    for (let i = 0; i < 5; i++) expect((await me(t.app, token)).status).toBe(200);
    const after = t.auth.cacheStatus();
    expect(after.hits - before.hits).toBe(5);
    expect(after.storeReads - before.storeReads).toBe(0);
    expect(after.fallbacks - before.fallbacks).toBe(0);
  });

  it("a deleted entry is refilled from Postgres and revocation still holds", async () => {
    const email = uniqueEmail("refill");
    const user = await register(t.app, email);
    const oldToken = await login(t.app, email);
    await logout(t.app, oldToken);
    const newToken = await login(t.app, email);

    await t.redis.del(redisCacheKeys(t.keyPrefix, user.id).entry);
    expect((await me(t.app, oldToken)).body.error.code).toBe("token_revoked");
    expect((await cachedEntry(user.id)).entry).toMatchObject({ jwtVersion: 1 });
    expect((await me(t.app, newToken)).status).toBe(200);
  });
});

describe("logging", () => {
  it("never writes passwords, hashes or tokens to the log", async () => {
    const email = uniqueEmail("logs");
    await register(t.app, email);
    const token = await login(t.app, email);
    await me(t.app, token);
    await logout(t.app, token);
    await me(t.app, token);
    const row = await t.prisma.user.findUniqueOrThrow({ where: { email } });
    const all = t.logs.join("\n");
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(row.passwordHash);
    expect(all).not.toContain(token);
    expect(all).not.toContain(t.secret);
    expect(t.logs.length).toBeGreaterThan(0);
  });
});
