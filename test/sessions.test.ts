/**
 * Sessions (issue 10): refresh tokens with rotation and reuse detection,
 * sign-out scopes, the device list, password change, and operator actions —
 * on two instances sharing Postgres and Redis, so "at once" means on the
 * other instance's very next request.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import request from "supertest";
import { createPrismaAuthStore } from "../src/adapters/prisma-auth-store.js";
import { redisCacheKeys } from "../src/adapters/redis-user-cache.js";
import { createRefreshTokenCodec } from "../src/core/refresh-token.js";
import {
  bearer,
  loginPair,
  me,
  PASSWORD,
  refresh,
  register,
  uniqueEmail,
  type Pair,
} from "./helpers/api.js";
import { createTestApp, stateSnapshot, type TestApp } from "./helpers/test-app.js";

let a: TestApp;
let b: TestApp;
let grace0: TestApp;
const secret = randomBytes(32).toString("hex");

beforeAll(async () => {
  a = await createTestApp({ secret });
  const shared = { databaseUrl: a.databaseUrl, keyPrefix: a.keyPrefix, secret };
  b = await createTestApp(shared);
  grace0 = await createTestApp({
    ...shared,
    overrides: { sessions: { refreshReuseGraceSeconds: 0 } },
  });
});
afterAll(async () => {
  await grace0.close();
  await b.close();
  await a.close();
});

async function newUser(tag = "s") {
  const email = uniqueEmail(tag);
  const user = await register(a.app, email);
  return { ...user, email };
}

function expectError(res: request.Response, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toMatchObject({ error: { code, message: expect.any(String) } });
  expect(Object.keys(res.body)).toEqual(["error"]);
  expect(res.headers["cache-control"]).toBe("no-store");
  if (status === 401) {
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="auth"/);
  }
}

async function expectRevoked(token: string, description: RegExp) {
  for (const t of [a, b]) {
    const res = await me(t.app, token);
    expectError(res, 401, "token_revoked");
    expect(res.body.error.message).toMatch(description);
    expect(res.headers["www-authenticate"]).toMatch(description);
  }
}

async function expectAccepted(token: string) {
  for (const t of [a, b]) expect((await me(t.app, token)).status).toBe(200);
}

function expectPair(res: request.Response, userId: string): Pair {
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.headers["cache-control"]).toBe("no-store");
  expect(res.body).toEqual({
    accessToken: expect.any(String),
    tokenType: "Bearer",
    expiresIn: 900,
    refreshToken: expect.stringMatching(/^[A-Za-z0-9_-]{87}$/),
    refreshExpiresIn: expect.any(Number),
    user: expect.objectContaining({ id: userId }),
  });
  return res.body as Pair;
}

describe("POST /login", () => {
  it("answers an access token and a refresh token for a new session", async () => {
    const user = await newUser();
    const res = await request(a.app).post("/login").send({ email: user.email, password: PASSWORD });
    const pair = expectPair(res, user.id);
    expect(pair.refreshExpiresIn).toBeGreaterThan(30 * 24 * 3600 - 60);
    expect(pair.refreshExpiresIn).toBeLessThanOrEqual(30 * 24 * 3600);
    const row = await a.prisma.session.findFirstOrThrow({ where: { userId: user.id } });
    // Only a hash is stored.
    expect(JSON.stringify(row)).not.toContain(pair.refreshToken);
    const claims = JSON.parse(Buffer.from(pair.accessToken.split(".")[1]!, "base64url").toString());
    expect(claims.sid).toBe(row.id);
  });
});

describe("POST /refresh", () => {
  it("spends the refresh token for a new pair in the same session", async () => {
    const user = await newUser();
    const first = await loginPair(a.app, user.email);
    const second = expectPair(await refresh(b.app, first.refreshToken), user.id);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    await expectAccepted(second.accessToken);
    await expectAccepted(first.accessToken); // a refresh does not revoke the old access token
    const third = expectPair(await refresh(a.app, second.refreshToken), user.id);
    await expectAccepted(third.accessToken);
    expect(await a.prisma.session.count({ where: { userId: user.id } })).toBe(1);
  });

  describe("a spent refresh token presented again", () => {
    it("after the grace period is theft: 401 refresh_token_reused, and the session ends at once everywhere", async () => {
      const user = await newUser();
      const other = await loginPair(a.app, user.email); // another device, untouched
      const first = await loginPair(a.app, user.email);
      const second = expectPair(await refresh(grace0.app, first.refreshToken), user.id);
      expectError(await refresh(grace0.app, first.refreshToken), 401, "refresh_token_reused");
      await expectRevoked(first.accessToken, /session has ended/);
      await expectRevoked(second.accessToken, /session has ended/);
      expectError(await refresh(a.app, second.refreshToken), 401, "invalid_refresh_token");
      await expectAccepted(other.accessToken);
      expectPair(await refresh(a.app, other.refreshToken), user.id);
    });

    it("within the grace period is a race of one client: the same successor, nothing revoked", async () => {
      const user = await newUser();
      const first = await loginPair(a.app, user.email);
      const second = expectPair(await refresh(a.app, first.refreshToken), user.id);
      const repeat = expectPair(await refresh(b.app, first.refreshToken), user.id);
      expect(repeat.refreshToken).toBe(second.refreshToken);
      expect(repeat.accessToken).not.toBe(second.accessToken);
      await expectAccepted(repeat.accessToken);
      await expectAccepted(second.accessToken);
      expectPair(await refresh(b.app, repeat.refreshToken), user.id);
    });

    it("two rotations back is theft even within the grace period", async () => {
      const user = await newUser();
      const first = await loginPair(a.app, user.email);
      const second = expectPair(await refresh(a.app, first.refreshToken), user.id);
      expectPair(await refresh(a.app, second.refreshToken), user.id);
      expectError(await refresh(a.app, first.refreshToken), 401, "refresh_token_reused");
      await expectRevoked(second.accessToken, /session has ended/);
    });
  });

  describe("50 concurrent refreshes of one token", () => {
    it("with a grace period all succeed with one successor: exactly one live chain, no 5xx", async () => {
      const user = await newUser();
      const first = await loginPair(a.app, user.email);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => refresh(i % 2 ? a.app : b.app, first.refreshToken)),
      );
      const successors = new Set(results.map((res) => expectPair(res, user.id).refreshToken));
      expect(successors.size).toBe(1);
      const [successor] = successors;
      expect(await a.prisma.session.count({ where: { userId: user.id, revokedAt: null } })).toBe(1);
      expectPair(await refresh(a.app, successor!), user.id);
    });

    it("without one exactly one succeeds and the rest are reuse: the session ends, nothing forks, no 5xx", async () => {
      const user = await newUser();
      const first = await loginPair(a.app, user.email);
      const results = await Promise.all(
        Array.from({ length: 50 }, () => refresh(grace0.app, first.refreshToken)),
      );
      const statuses = results.map((res) => res.status);
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      // The first repeat ends the session as theft; repeats that arrive after
      // that find it ended. None gets a pair.
      const codes = results.filter((res) => res.status !== 200).map((res) => res.body.error.code);
      expect(codes).toHaveLength(49);
      expect(codes).toContain("refresh_token_reused");
      expect(new Set(codes)).toEqual(
        new Set(codes.filter((c) => /^(refresh_token_reused|invalid_refresh_token)$/.test(c))),
      );
      const winner = results.find((res) => res.status === 200)!.body as Pair;
      expectError(await refresh(a.app, winner.refreshToken), 401, "invalid_refresh_token");
      await expectRevoked(winner.accessToken, /session has ended/);
    });
  });

  describe("refuses", () => {
    it("a malformed, forged, unknown or foreign-key refresh token with 401 invalid_refresh_token, changing nothing", async () => {
      const user = await newUser();
      const pair = await loginPair(a.app, user.email);
      const otherKey = createRefreshTokenCodec([randomBytes(32)]);
      const flipped = `${pair.refreshToken.slice(0, 40)}${pair.refreshToken[40] === "A" ? "B" : "A"}${pair.refreshToken.slice(41)}`;
      const before = await stateSnapshot(a);
      for (const token of [
        "x",
        pair.refreshToken.slice(0, -1),
        `${pair.refreshToken}A`,
        flipped,
        otherKey.issue(randomUUID()), // well-formed, made with another key
        createRefreshTokenCodec([Buffer.from(secret)]).issue(randomUUID()), // our key, no such session
        pair.accessToken,
      ]) {
        expectError(await refresh(a.app, token), 401, "invalid_refresh_token");
      }
      expect(await stateSnapshot(a)).toEqual(before);
      expectPair(await refresh(a.app, pair.refreshToken), user.id);
    });

    it("bad bodies with 400, naming unknown keys", async () => {
      for (const body of [
        {},
        { refreshToken: 5 },
        { refreshToken: "" },
        { refreshToken: "x".repeat(600) },
      ]) {
        expectError(await request(a.app).post("/refresh").send(body), 400, "invalid_request");
      }
      const res = await request(a.app).post("/refresh").send({ refreshToken: "x", scope: "all" });
      expect(res.body.error.details).toEqual([{ path: "scope", message: "unknown key" }]);
      expectError(
        await request(a.app).post("/refresh").type("form").send("refreshToken=x"),
        415,
        "unsupported_media_type",
      );
    });

    it("a session past its absolute lifetime", async () => {
      const user = await newUser();
      const clock = { now: Date.now() };
      const late = await createTestApp({
        databaseUrl: a.databaseUrl,
        keyPrefix: a.keyPrefix,
        secret,
        overrides: {
          tokens: {
            secret,
            issuer: "test-issuer",
            audience: "test-audience",
            now: () => clock.now,
          },
          sessions: { refreshTokenTtlSeconds: 60 },
        },
      });
      try {
        const pair = await loginPair(late.app, user.email);
        clock.now += 61_000;
        expectError(await refresh(late.app, pair.refreshToken), 401, "invalid_refresh_token");
      } finally {
        await late.close();
      }
    });
  });
});

describe("POST /logout with a scope", () => {
  async function threeDevices() {
    const user = await newUser("scope");
    const devices = [];
    for (let i = 0; i < 3; i++)
      devices.push(await loginPair(a.app, user.email, PASSWORD, `device-${i}`));
    for (const d of devices) await expectAccepted(d.accessToken); // cached on both
    return { user, devices };
  }
  const logout = (token: string, scope?: string) => {
    const req = request(a.app).post("/logout").set(bearer(token));
    return scope === undefined ? req : req.send({ scope });
  };

  it("local ends only the session of the presenting token, at once on every instance", async () => {
    const { user, devices } = await threeDevices();
    const [mine, ...others] = devices as [Pair, Pair, Pair];
    expect((await logout(mine.accessToken, "local")).status).toBe(204);
    await expectRevoked(mine.accessToken, /session has ended/);
    expectError(await refresh(b.app, mine.refreshToken), 401, "invalid_refresh_token");
    for (const d of others) {
      await expectAccepted(d.accessToken);
      expectPair(await refresh(b.app, d.refreshToken), user.id);
    }
  });

  it("others ends every other session and keeps this one", async () => {
    const { user, devices } = await threeDevices();
    const [mine, ...others] = devices as [Pair, Pair, Pair];
    expect((await logout(mine.accessToken, "others")).status).toBe(204);
    await expectAccepted(mine.accessToken);
    expectPair(await refresh(b.app, mine.refreshToken), user.id);
    for (const d of others) {
      await expectRevoked(d.accessToken, /session has ended/);
      expectError(await refresh(b.app, d.refreshToken), 401, "invalid_refresh_token");
    }
  });

  it("global (and no body at all) ends every token and session of the user", async () => {
    const { devices } = await threeDevices();
    expect((await logout(devices[0]!.accessToken)).status).toBe(204);
    for (const d of devices) {
      await expectRevoked(d.accessToken, /the user signed out/);
      expectError(await refresh(b.app, d.refreshToken), 401, "invalid_refresh_token");
    }
    const { devices: more } = await threeDevices();
    expect((await logout(more[0]!.accessToken, "global")).status).toBe(204);
    await expectRevoked(more[1]!.accessToken, /the user signed out/);
  });

  it("refuses an unknown scope or body key with 400 and a non-JSON body with 415, changing nothing", async () => {
    const { devices } = await threeDevices();
    const before = await stateSnapshot(a);
    expectError(await logout(devices[0]!.accessToken, "everything"), 400, "invalid_request");
    const extra = await request(a.app)
      .post("/logout")
      .set(bearer(devices[0]!.accessToken))
      .send({ all: true });
    expectError(extra, 400, "invalid_request");
    expect(extra.body.error.details).toEqual([{ path: "all", message: "unknown key" }]);
    expectError(
      await request(a.app)
        .post("/logout")
        .set(bearer(devices[0]!.accessToken))
        .type("text")
        .send("scope=local"),
      415,
      "unsupported_media_type",
    );
    expect(await stateSnapshot(a)).toEqual(before);
  });
});

describe("GET /sessions", () => {
  it("lists the caller's live sessions, marks the current one, and shows no one else's", async () => {
    const user = await newUser("list");
    const stranger = await newUser("stranger");
    await loginPair(a.app, stranger.email);
    const phone = await loginPair(a.app, user.email, PASSWORD, "Phone/1.0");
    const laptop = await loginPair(a.app, user.email, PASSWORD, "Laptop/2.0");
    const gone = await loginPair(a.app, user.email, PASSWORD, "Old/0.1");
    await request(a.app).post("/logout").set(bearer(gone.accessToken)).send({ scope: "local" });
    const res = await request(b.app).get("/sessions").set(bearer(laptop.accessToken));
    expect(res.status).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    const sessions = res.body.sessions as Record<string, unknown>[];
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(s).toEqual({
        id: expect.any(String),
        createdAt: expect.stringMatching(/Z$/),
        lastUsedAt: expect.stringMatching(/Z$/),
        expiresAt: expect.stringMatching(/Z$/),
        userAgent: expect.any(String),
        current: expect.any(Boolean),
      });
    }
    expect(sessions.find((s) => s.current)).toMatchObject({ userAgent: "Laptop/2.0" });
    expect(sessions.find((s) => !s.current)).toMatchObject({ userAgent: "Phone/1.0" });
    expect(JSON.stringify(res.body)).not.toContain(phone.refreshToken);
  });

  it("without a token answers 401 missing_token", async () => {
    const res = await request(a.app).get("/sessions");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("missing_token");
  });
});

describe("DELETE /sessions/:id", () => {
  it("ends that session at once on every instance", async () => {
    const user = await newUser("del");
    const mine = await loginPair(a.app, user.email);
    const stolen = await loginPair(a.app, user.email, PASSWORD, "Unknown");
    await expectAccepted(stolen.accessToken);
    const list = await request(a.app).get("/sessions").set(bearer(mine.accessToken));
    const id = (list.body.sessions as { id: string; current: boolean }[]).find(
      (s) => !s.current,
    )!.id;
    const res = await request(a.app).delete(`/sessions/${id}`).set(bearer(mine.accessToken));
    expect(res.status).toBe(204);
    await expectRevoked(stolen.accessToken, /session has ended/);
    expectError(await refresh(b.app, stolen.refreshToken), 401, "invalid_refresh_token");
    await expectAccepted(mine.accessToken);
  });

  it("answers 404 not_found alike for an unknown id, another user's session, an ended one and a non-id", async () => {
    const user = await newUser("del404");
    const stranger = await newUser("del404s");
    const mine = await loginPair(a.app, user.email);
    await loginPair(a.app, stranger.email);
    const theirs = await a.prisma.session.findFirstOrThrow({ where: { userId: stranger.id } });
    const ended = await loginPair(a.app, user.email);
    await request(a.app).post("/logout").set(bearer(ended.accessToken)).send({ scope: "local" });
    const endedId = (
      await a.prisma.session.findFirstOrThrow({
        where: { userId: user.id, revokedAt: { not: null } },
      })
    ).id;
    const before = await stateSnapshot(a);
    const bodies = [];
    for (const id of [randomUUID(), theirs.id, endedId, "not-an-id", "%00"]) {
      const res = await request(a.app).delete(`/sessions/${id}`).set(bearer(mine.accessToken));
      expectError(res, 404, "not_found");
      bodies.push(JSON.stringify(res.body));
    }
    expect(new Set(bodies).size).toBe(1);
    expect(await stateSnapshot(a)).toEqual(before);
  });
});

describe("POST /password", () => {
  it("with the right current password ends every other session and token, and answers a fresh pair", async () => {
    const user = await newUser("pw");
    const other = await loginPair(a.app, user.email, PASSWORD, "Other");
    const mine = await loginPair(a.app, user.email, PASSWORD, "Mine");
    await expectAccepted(other.accessToken);
    const res = await request(a.app)
      .post("/password")
      .set(bearer(mine.accessToken))
      .send({ currentPassword: PASSWORD, newPassword: "a brand new passphrase" });
    const fresh = expectPair(res, user.id);
    await expectRevoked(mine.accessToken, /password was changed/);
    await expectRevoked(other.accessToken, /password was changed/);
    expectError(await refresh(b.app, other.refreshToken), 401, "invalid_refresh_token");
    await expectAccepted(fresh.accessToken);
    // The device keeps its session: the fresh pair belongs to it.
    const sessions = await request(b.app).get("/sessions").set(bearer(fresh.accessToken));
    expect(sessions.body.sessions).toMatchObject([{ current: true, userAgent: "Mine" }]);
    expectPair(await refresh(b.app, fresh.refreshToken), user.id);
    const again = await request(a.app)
      .post("/login")
      .send({ email: user.email, password: PASSWORD });
    expectError(again, 401, "invalid_credentials");
    await loginPair(a.app, user.email, "a brand new passphrase");
    // The device's previous refresh token is spent like any rotated one: presenting it is reuse.
    expectError(await refresh(b.app, mine.refreshToken), 401, "refresh_token_reused");
  });

  it("with a wrong current password answers 403 invalid_credentials and changes nothing", async () => {
    const user = await newUser("pw403");
    const mine = await loginPair(a.app, user.email);
    await expectAccepted(mine.accessToken);
    const before = await stateSnapshot(a);
    const res = await request(a.app)
      .post("/password")
      .set(bearer(mine.accessToken))
      .send({ currentPassword: "not my password", newPassword: "a brand new passphrase" });
    expectError(res, 403, "invalid_credentials");
    expect(res.headers["www-authenticate"]).toBeUndefined();
    expect(await stateSnapshot(a)).toEqual(before);
  });

  it("whose session ended after the request was let in answers 401 token_revoked and changes nothing", async () => {
    const user = await newUser("pw-ended");
    const mine = await loginPair(a.app, user.email, PASSWORD, "Mine");
    const other = await loginPair(a.app, user.email, PASSWORD, "Other");
    await expectAccepted(mine.accessToken);
    const sid = JSON.parse(Buffer.from(mine.accessToken.split(".")[1]!, "base64url").toString())
      .sid as string;
    // Signed out from elsewhere while this request was in flight: Postgres has
    // the revocation, the cache entry this request was let in by does not yet.
    await createPrismaAuthStore(a.prisma).changeUser(user.id, {
      type: "revoke-sessions",
      sessionIds: [sid],
      reason: "signed_out",
    });
    const res = await request(a.app)
      .post("/password")
      .set(bearer(mine.accessToken))
      .send({ currentPassword: PASSWORD, newPassword: "a brand new passphrase" });
    expectError(res, 401, "token_revoked");
    expect(res.body.error.message).toMatch(/session/);
    // The password, the version and the other session are as they were; the
    // cache now knows what Postgres knows.
    await expectAccepted(other.accessToken);
    await expectRevoked(mine.accessToken, /session/);
    await loginPair(a.app, user.email, PASSWORD);
    expectError(
      await request(a.app)
        .post("/login")
        .send({ email: user.email, password: "a brand new passphrase" }),
      401,
      "invalid_credentials",
    );
  });

  it("refuses a new password outside the policy, and unknown keys, with 400 and changes nothing", async () => {
    const user = await newUser("pw400");
    const mine = await loginPair(a.app, user.email);
    await expectAccepted(mine.accessToken);
    const before = await stateSnapshot(a);
    for (const body of [
      { currentPassword: PASSWORD, newPassword: "short" },
      { currentPassword: PASSWORD },
      { currentPassword: PASSWORD, newPassword: "long enough pass", sessions: "keep" },
    ]) {
      expectError(
        await request(a.app).post("/password").set(bearer(mine.accessToken)).send(body),
        400,
        "invalid_request",
      );
    }
    expect(await stateSnapshot(a)).toEqual(before);
  });

  it("is throttled like login", async () => {
    const user = await newUser("pw429");
    const throttled = await createTestApp({
      databaseUrl: a.databaseUrl,
      keyPrefix: `pw:${randomUUID()}:`,
      secret,
      overrides: { rateLimit: { loginPerAccountAndClient: { points: 2, durationSeconds: 60 } } },
    });
    try {
      const mine = await loginPair(throttled.app, user.email);
      const attempt = () =>
        request(throttled.app)
          .post("/password")
          .set(bearer(mine.accessToken))
          .send({ currentPassword: "wrong wrong", newPassword: "a brand new passphrase" });
      expect((await attempt()).status).toBe(403);
      expect((await attempt()).status).toBe(403);
      const res = await attempt();
      expectError(res, 429, "too_many_requests");
      expect(res.headers["retry-after"]).toMatch(/^\d+$/);
    } finally {
      await throttled.close();
    }
  });
});

describe("operators", () => {
  it("revokeAll ends every token and session of a user", async () => {
    const user = await newUser("op");
    const pair = await loginPair(a.app, user.email);
    await expectAccepted(pair.accessToken);
    expect(await a.auth.service.revokeAll(user.id)).toBe(true);
    await expectRevoked(pair.accessToken, /has been revoked/);
    expectError(await refresh(b.app, pair.refreshToken), 401, "invalid_refresh_token");
    expect(await a.auth.service.revokeAll(randomUUID())).toBe(false);
  });

  it("disableUser refuses its tokens and refresh tokens at once (401 account_disabled) and its login (403); enableUser lets it log in again", async () => {
    const user = await newUser("disable");
    const pair = await loginPair(a.app, user.email);
    await expectAccepted(pair.accessToken);
    expect(await b.auth.service.disableUser(user.id)).toBe(true);
    for (const t of [a, b]) {
      const res = await me(t.app, pair.accessToken);
      expectError(res, 401, "account_disabled");
      expect(res.headers["www-authenticate"]).toMatch(
        /error="invalid_token", error_description="The account is disabled."/,
      );
    }
    expectError(await refresh(a.app, pair.refreshToken), 401, "account_disabled");
    const right = await request(a.app)
      .post("/login")
      .send({ email: user.email, password: PASSWORD });
    expectError(right, 403, "account_disabled");
    const wrong = await request(a.app)
      .post("/login")
      .send({ email: user.email, password: "wrong password" });
    expectError(wrong, 401, "invalid_credentials");

    expect(await a.auth.service.enableUser(user.id)).toBe(true);
    await expectRevoked(pair.accessToken, /has been revoked/); // disabling ended them for good
    const again = await loginPair(b.app, user.email);
    await expectAccepted(again.accessToken);
  });

  it("deleteUser makes its tokens invalid at once and frees nothing else", async () => {
    const user = await newUser("delete");
    const bystander = await newUser("bystander");
    const pair = await loginPair(a.app, user.email);
    const other = await loginPair(a.app, bystander.email);
    await expectAccepted(pair.accessToken);
    expect(await a.auth.service.deleteUser(user.id)).toBe(true);
    for (const t of [a, b]) expectError(await me(t.app, pair.accessToken), 401, "invalid_token");
    expectError(await refresh(b.app, pair.refreshToken), 401, "invalid_refresh_token");
    const raw = await a.redis.get(redisCacheKeys(a.keyPrefix, user.id).entry);
    expect(JSON.parse(raw!)).toEqual({ id: user.id, deleted: true });
    expectError(
      await request(a.app).post("/login").send({ email: user.email, password: PASSWORD }),
      401,
      "invalid_credentials",
    );
    expect(await a.auth.service.deleteUser(user.id)).toBe(false);
    await expectAccepted(other.accessToken);
  });
});

describe("the cached request path with sessions", () => {
  it("still makes one Redis read and no Postgres read per authenticated request", async () => {
    const counts = { redisReads: 0, storeReads: 0 };
    const counted = await createTestApp({
      databaseUrl: a.databaseUrl,
      keyPrefix: a.keyPrefix,
      secret,
      wrapPorts: (ports) => ({
        store: {
          ...ports.store,
          findUserById: (id) => (counts.storeReads++, ports.store.findUserById(id)),
          findSession: (id) => (counts.storeReads++, ports.store.findSession(id)),
        },
        cache: { ...ports.cache, read: (id) => (counts.redisReads++, ports.cache.read(id)) },
      }),
    });
    try {
      const user = await newUser("hot");
      const devices = [];
      for (let i = 0; i < 4; i++) devices.push(await loginPair(a.app, user.email));
      await request(a.app)
        .post("/logout")
        .set(bearer(devices[0]!.accessToken))
        .send({ scope: "local" });
      await request(a.app)
        .post("/logout")
        .set(bearer(devices[1]!.accessToken))
        .send({ scope: "local" });
      expect((await me(counted.app, devices[2]!.accessToken)).status).toBe(200); // fills
      counts.redisReads = 0;
      counts.storeReads = 0;
      for (let i = 0; i < 20; i++) {
        expect((await me(counted.app, devices[2 + (i % 2)]!.accessToken)).status).toBe(200);
        expect((await me(counted.app, devices[i % 2]!.accessToken)).status).toBe(401);
      }
      expect(counts).toEqual({ redisReads: 40, storeReads: 0 });
    } finally {
      await counted.close();
    }
  });
});
