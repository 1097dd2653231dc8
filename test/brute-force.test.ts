import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { RateLimitOptions } from "../src/create-auth.js";
import { PASSWORD, register, uniqueEmail } from "./helpers/api.js";
import { startPrivateRedis } from "./helpers/redis-server.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";

let t: TestApp;
let email: string;

beforeAll(async () => {
  t = await createTestApp();
  email = uniqueEmail("victim");
  await register(t.app, email);
});
afterAll(async () => {
  await t.close();
});

/** An app on the same database with its own Redis prefix, its own limits, and X-Forwarded-For trusted. */
async function limitedApp(rateLimit: RateLimitOptions, options: { redisUrl?: string } = {}) {
  return createTestApp({
    databaseUrl: t.databaseUrl,
    trustProxy: true,
    redisUrl: options.redisUrl,
    overrides: { rateLimit },
  });
}

const window = { durationSeconds: 60 };
const loginFrom = (app: TestApp, ip: string, who: string, password = "wrong password") =>
  request(app.app).post("/login").set("X-Forwarded-For", ip).send({ email: who, password });

/** Headers that may legitimately differ between two otherwise identical responses. */
function comparableHeaders(res: request.Response) {
  const headers: Record<string, unknown> = { ...res.headers };
  delete headers.date;
  headers["retry-after"] = headers["retry-after"] === undefined ? "absent" : "present";
  return headers;
}

describe("POST /login with a wrong password and with an unknown email", () => {
  it("responds with the same status, headers and body", async () => {
    const wrong = await request(t.app).post("/login").send({ email, password: "wrong password" });
    const unknown = await request(t.app)
      .post("/login")
      .send({ email: uniqueEmail("nobody"), password: "wrong password" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
    expect(comparableHeaders(unknown)).toEqual(comparableHeaders(wrong));
  });
});

describe("login throttling", () => {
  it("per account and client: the next attempt from that address gets 429 with Retry-After, others do not", async () => {
    const app = await limitedApp({ loginPerAccountAndClient: { points: 2, ...window } });
    try {
      for (let i = 0; i < 2; i++)
        expect((await loginFrom(app, "10.0.0.1", email)).status).toBe(401);
      const blocked = await loginFrom(app, "10.0.0.1", email, PASSWORD);
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe("too_many_requests");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect(Number(blocked.headers["retry-after"])).toBeLessThanOrEqual(60);
      expect((await loginFrom(app, "10.0.0.2", email, PASSWORD)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("per account across addresses: failures from many addresses add up, even for the right password", async () => {
    const app = await limitedApp({
      loginPerAccountAndClient: { points: 2, ...window },
      loginPerAccount: { points: 4, ...window },
    });
    try {
      for (const ip of ["10.1.0.1", "10.1.0.1", "10.1.0.2", "10.1.0.2"]) {
        expect((await loginFrom(app, ip, email)).status).toBe(401);
      }
      const blocked = await loginFrom(app, "10.1.0.3", email, PASSWORD);
      expect(blocked.status).toBe(429);
      expect(blocked.headers["retry-after"]).toBeDefined();
      // Another account from the same fresh address is not affected.
      const other = uniqueEmail("other");
      expect((await loginFrom(app, "10.1.0.3", other)).status).toBe(401);
    } finally {
      await app.close();
    }
  });

  it("per client: one address trying many accounts is stopped", async () => {
    const app = await limitedApp({ loginPerClient: { points: 3, ...window } });
    try {
      for (let i = 0; i < 3; i++) {
        expect((await loginFrom(app, "10.2.0.1", uniqueEmail("spray"))).status).toBe(401);
      }
      expect((await loginFrom(app, "10.2.0.1", email, PASSWORD)).status).toBe(429);
      expect((await loginFrom(app, "10.2.0.2", email, PASSWORD)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("counts only failures: successful logins give their attempts back", async () => {
    const app = await limitedApp({
      loginPerAccountAndClient: { points: 2, ...window },
      loginPerAccount: { points: 2, ...window },
      loginPerClient: { points: 2, ...window },
    });
    try {
      for (let i = 0; i < 6; i++) {
        expect((await loginFrom(app, "10.3.0.1", email, PASSWORD)).status).toBe(200);
      }
      expect((await loginFrom(app, "10.3.0.1", email)).status).toBe(401);
      expect((await loginFrom(app, "10.3.0.1", email, PASSWORD)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it("throttles an unknown email exactly like an existing one (no enumeration through 429s)", async () => {
    const app = await limitedApp({ loginPerAccountAndClient: { points: 2, ...window } });
    try {
      const answers = [];
      for (const who of [email, uniqueEmail("ghost")]) {
        for (let i = 0; i < 2; i++)
          expect((await loginFrom(app, "10.4.0.1", who)).status).toBe(401);
        answers.push(await loginFrom(app, "10.4.0.1", who));
      }
      const [existing, unknown] = answers as [request.Response, request.Response];
      expect(existing.status).toBe(429);
      expect(unknown.status).toBe(429);
      expect(unknown.body).toEqual(existing.body);
      expect(comparableHeaders(unknown)).toEqual(comparableHeaders(existing));
    } finally {
      await app.close();
    }
  });

  it("is shared by every instance through Redis", async () => {
    const limits = { loginPerAccountAndClient: { points: 2, ...window } };
    const a = await limitedApp(limits);
    const b = await createTestApp({
      databaseUrl: t.databaseUrl,
      keyPrefix: a.keyPrefix,
      trustProxy: true,
      overrides: { rateLimit: limits },
    });
    try {
      expect((await loginFrom(a, "10.5.0.1", email)).status).toBe(401);
      expect((await loginFrom(b, "10.5.0.1", email)).status).toBe(401);
      expect((await loginFrom(a, "10.5.0.1", email, PASSWORD)).status).toBe(429);
      expect((await loginFrom(b, "10.5.0.1", email, PASSWORD)).status).toBe(429);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it("keeps neither emails nor addresses in Redis key names", async () => {
    const app = await limitedApp({});
    try {
      await loginFrom(app, "10.6.0.1", email);
      const keys = await app.redis.keys(`${app.keyPrefix}*`);
      expect(keys.length).toBeGreaterThanOrEqual(3);
      for (const key of keys) {
        expect(key).not.toContain(email);
        expect(key).not.toContain("10.6.0.1");
      }
    } finally {
      await app.close();
    }
  });
});

describe("login throttling with Redis down", () => {
  it("falls back to a per-process counter: still 429 with Retry-After", async () => {
    const redis = await startPrivateRedis();
    const app = await limitedApp(
      { loginPerAccountAndClient: { points: 2, ...window } },
      { redisUrl: redis.url },
    );
    try {
      await redis.kill();
      for (let i = 0; i < 2; i++)
        expect((await loginFrom(app, "10.7.0.1", email)).status).toBe(401);
      const blocked = await loginFrom(app, "10.7.0.1", email, PASSWORD);
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe("too_many_requests");
      expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      expect((await loginFrom(app, "10.7.0.2", email, PASSWORD)).status).toBe(200);
    } finally {
      await app.close();
      await redis.stop();
    }
  });
});
