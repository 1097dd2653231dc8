import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import jwt from "jsonwebtoken";
import { login, me, PASSWORD, register, uniqueEmail } from "./helpers/api.js";
import { freePort } from "./helpers/free-port.js";
import { createTestApp, stateSnapshot, type TestApp } from "./helpers/test-app.js";

let t: TestApp;
let user: { id: string; email: string };
let token: string;

beforeAll(async () => {
  t = await createTestApp();
  const email = uniqueEmail("contract");
  user = await register(t.app, email);
  token = await login(t.app, email);
  // Warm the cache, so a fill is not mistaken for a state change below.
  expect((await me(t.app, token)).status).toBe(200);
});
afterAll(async () => {
  await t.close();
});

/** Database and cache state that no rejected request may change. */
const snapshot = () => stateSnapshot(t);

function expectError(res: request.Response, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  expect(res.body.error).toMatchObject({ code, message: expect.any(String) });
  expect(Object.keys(res.body)).toEqual(["error"]);
}

function signed(claims: Record<string, unknown>, options: jwt.SignOptions = {}, secret = t.secret) {
  const now = Math.floor(Date.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({
      sub: user.id,
      jwtVersion: 0,
      iss: "test-issuer",
      aud: "test-audience",
      iat: now,
      exp: now + 60,
      jti: "j",
      ...claims,
    }).filter(([, value]) => value !== undefined),
  );
  return jwt.sign(payload, secret, {
    algorithm: "HS256",
    header: { alg: "HS256", typ: "at+jwt" },
    ...options,
  });
}

describe("POST /register", () => {
  const cases: [string, () => request.Test, number, string][] = [
    [
      "with an invalid email",
      () => request(t.app).post("/register").send({ email: "nope", password: PASSWORD }),
      400,
      "invalid_request",
    ],
    [
      "with a 7-character password",
      () => request(t.app).post("/register").send({ email: uniqueEmail(), password: "1234567" }),
      400,
      "invalid_request",
    ],
    [
      "with a 257-character password",
      () =>
        request(t.app)
          .post("/register")
          .send({ email: uniqueEmail(), password: "x".repeat(257) }),
      400,
      "invalid_request",
    ],
    [
      "with a missing password",
      () => request(t.app).post("/register").send({ email: uniqueEmail() }),
      400,
      "invalid_request",
    ],
    [
      "with a non-string name",
      () =>
        request(t.app)
          .post("/register")
          .send({ email: uniqueEmail(), password: PASSWORD, name: 5 }),
      400,
      "invalid_request",
    ],
    [
      "with an array body",
      () =>
        request(t.app)
          .post("/register")
          .send([{ email: uniqueEmail(), password: PASSWORD }]),
      400,
      "invalid_request",
    ],
    [
      "with malformed JSON",
      () =>
        request(t.app).post("/register").set("Content-Type", "application/json").send('{"email":'),
      400,
      "invalid_request",
    ],
    [
      "with a form body",
      () =>
        request(t.app)
          .post("/register")
          .type("form")
          .send({ email: uniqueEmail(), password: PASSWORD }),
      415,
      "unsupported_media_type",
    ],
    ["with no body at all", () => request(t.app).post("/register"), 415, "unsupported_media_type"],
    [
      "with a body over the limit",
      () =>
        request(t.app)
          .post("/register")
          .send({ email: uniqueEmail(), password: PASSWORD, name: "x".repeat(20_000) }),
      413,
      "payload_too_large",
    ],
    [
      "with an email already taken (in another case)",
      () =>
        request(t.app)
          .post("/register")
          .send({ email: user.email.toUpperCase(), password: PASSWORD }),
      409,
      "email_taken",
    ],
  ];
  for (const [condition, send, status, code] of cases) {
    it(`${condition} responds ${status} ${code} and changes nothing`, async () => {
      const before = await snapshot();
      expectError(await send(), status, code);
      expect(await snapshot()).toEqual(before);
    });
  }

  it("reports which fields failed without echoing their values", async () => {
    const res = await request(t.app)
      .post("/register")
      .send({ email: "secret-ish", password: "short" });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      "email",
      "password",
    ]);
    expect(JSON.stringify(res.body)).not.toContain("secret-ish");
    expect(JSON.stringify(res.body)).not.toContain("short");
  });

  it("accepts 8- and 256-character passwords", async () => {
    for (const password of ["x".repeat(8), "y".repeat(256)]) {
      const email = uniqueEmail();
      await register(t.app, email, password);
      await login(t.app, email, password);
    }
  });
});

describe("POST /login", () => {
  it("with a wrong password and with an unknown email responds identically: 401 invalid_credentials", async () => {
    const before = await snapshot();
    const wrong = await request(t.app)
      .post("/login")
      .send({ email: user.email, password: "wrong password" });
    const unknown = await request(t.app)
      .post("/login")
      .send({ email: uniqueEmail(), password: "wrong password" });
    expectError(wrong, 401, "invalid_credentials");
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
    expect(await snapshot()).toEqual(before);
  });

  it("with a form body responds 415", async () => {
    expectError(
      await request(t.app)
        .post("/login")
        .type("form")
        .send({ email: user.email, password: PASSWORD }),
      415,
      "unsupported_media_type",
    );
  });

  it("with a missing field responds 400", async () => {
    expectError(
      await request(t.app).post("/login").send({ email: user.email }),
      400,
      "invalid_request",
    );
  });

  it("with a body over the limit responds 413", async () => {
    expectError(
      await request(t.app)
        .post("/login")
        .send({ email: user.email, password: "x".repeat(20_000) }),
      413,
      "payload_too_large",
    );
  });

  it("with an email in another case succeeds", async () => {
    await login(t.app, `  ${user.email.toUpperCase()}`);
  });
});

describe("protected routes (GET /me, POST /logout)", () => {
  const bearer = (value: string) => ({ Authorization: value });
  const cases: [string, () => Record<string, string>, string][] = [
    ["without a token", () => ({}), "missing_token"],
    [
      "with another scheme",
      () => bearer(`Basic ${Buffer.from("a:b").toString("base64")}`),
      "missing_token",
    ],
    ["with an empty bearer", () => bearer("Bearer "), "missing_token"],
    ["with garbage", () => bearer("Bearer not-a-jwt"), "invalid_token"],
    [
      "signed with another secret",
      () => bearer(`Bearer ${signed({}, {}, "another-secret-another-secret-xx")}`),
      "invalid_token",
    ],
    [
      "with alg none",
      () =>
        bearer(
          `Bearer ${signed({}, { algorithm: "none", header: { alg: "none", typ: "at+jwt" } }, "")}`,
        ),
      "invalid_token",
    ],
    ["with another issuer", () => bearer(`Bearer ${signed({ iss: "evil" })}`), "invalid_token"],
    ["with another audience", () => bearer(`Bearer ${signed({ aud: "evil" })}`), "invalid_token"],
    ["without exp", () => bearer(`Bearer ${signed({ exp: undefined })}`), "invalid_token"],
    [
      "with a string jwtVersion",
      () => bearer(`Bearer ${signed({ jwtVersion: "0" })}`),
      "invalid_token",
    ],
    ["with a future version", () => bearer(`Bearer ${signed({ jwtVersion: 7 })}`), "token_revoked"],
    [
      "for a user that does not exist",
      () => bearer(`Bearer ${signed({ sub: "00000000-0000-4000-8000-000000000000" })}`),
      "invalid_token",
    ],
    [
      "with a non-UUID subject",
      () => bearer(`Bearer ${signed({ sub: "'; drop table users; --" })}`),
      "invalid_token",
    ],
    ["expired", () => bearer(`Bearer ${signed({ iat: 1_000, exp: 2_000 })}`), "token_expired"],
  ];
  for (const [condition, headers, code] of cases) {
    for (const [method, path] of [
      ["get", "/me"],
      ["post", "/logout"],
    ] as const) {
      it(`${method.toUpperCase()} ${path} ${condition} responds 401 ${code} with a challenge and changes nothing`, async () => {
        const before = await snapshot();
        const res = await request(t.app)[method](path).set(headers());
        expectError(res, 401, code);
        const challenge = res.headers["www-authenticate"];
        if (code === "missing_token") expect(challenge).toBe('Bearer realm="auth"');
        else
          expect(challenge).toMatch(
            /^Bearer realm="auth", error="invalid_token", error_description="[^"]+"$/,
          );
        expect(await snapshot()).toEqual(before);
      });
    }
  }

  it("accepts the scheme in any case", async () => {
    const res = await request(t.app).get("/me").set("Authorization", `bEaReR ${token}`);
    expect(res.status).toBe(200);
  });

  it("ignores the aid header unless enabled", async () => {
    const res = await request(t.app).get("/me").set("aid", token);
    expectError(res, 401, "missing_token");
  });
});

describe("other routes", () => {
  it("GET /healthz responds 200 ok", async () => {
    const res = await request(t.app).get("/healthz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("GET /readyz reports Postgres and Redis up", async () => {
    const res = await request(t.app).get("/readyz");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", checks: { postgres: "up", redis: "up" } });
  });

  it("an unknown route responds 404 not_found", async () => {
    expectError(await request(t.app).get("/admin"), 404, "not_found");
    expectError(await request(t.app).delete("/me"), 404, "not_found");
  });

  it("sends no x-powered-by header", async () => {
    const res = await request(t.app).get("/healthz");
    expect(res.headers["x-powered-by"]).toBeUndefined();
  });
});

describe("with registration turned off", () => {
  it("POST /register responds 404 not_found and creates nothing", async () => {
    const off = await createTestApp({
      databaseUrl: t.databaseUrl,
      overrides: { registration: false },
    });
    try {
      const before = await snapshot();
      expectError(
        await request(off.app).post("/register").send({ email: uniqueEmail(), password: PASSWORD }),
        404,
        "not_found",
      );
      expect(await snapshot()).toEqual(before);
    } finally {
      await off.close();
    }
  });
});

describe("with the aid header enabled", () => {
  it("accepts a token in aid, and refuses a token in both places with 400 invalid_request", async () => {
    const aid = await createTestApp({
      databaseUrl: t.databaseUrl,
      overrides: { allowAidHeader: true },
      secret: t.secret,
    });
    try {
      expect((await request(aid.app).get("/me").set("aid", token)).status).toBe(200);
      const both = await request(aid.app)
        .get("/me")
        .set("aid", token)
        .set("Authorization", `Bearer ${token}`);
      expectError(both, 400, "invalid_request");
    } finally {
      await aid.close();
    }
  });
});

describe("throttling", () => {
  it("answers 429 too_many_requests with Retry-After once the attempts are used up, even for the right password", async () => {
    const limited = await createTestApp({
      databaseUrl: t.databaseUrl,
      overrides: { rateLimit: { loginPerAccount: { points: 3, durationSeconds: 60 } } },
    });
    try {
      for (let i = 0; i < 3; i++) {
        expect(
          (
            await request(limited.app)
              .post("/login")
              .send({ email: user.email, password: "wrong password" })
          ).status,
        ).toBe(401);
      }
      const res = await request(limited.app)
        .post("/login")
        .send({ email: user.email, password: PASSWORD });
      expectError(res, 429, "too_many_requests");
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect(Number(res.headers["retry-after"])).toBeLessThanOrEqual(60);
    } finally {
      await limited.close();
    }
  });

  it("throttles registration per client", async () => {
    const limited = await createTestApp({
      databaseUrl: t.databaseUrl,
      overrides: { rateLimit: { registerPerClient: { points: 1, durationSeconds: 60 } } },
    });
    try {
      await register(limited.app, uniqueEmail());
      const before = await snapshot();
      const res = await request(limited.app)
        .post("/register")
        .send({ email: uniqueEmail(), password: PASSWORD });
      expectError(res, 429, "too_many_requests");
      expect(res.headers["retry-after"]).toBeDefined();
      expect((await snapshot()).users).toEqual(before.users);
    } finally {
      await limited.close();
    }
  });
});

describe("with Postgres unreachable", () => {
  it("POST /login responds 503 service_unavailable and GET /readyz responds 503", async () => {
    const port = await freePort();
    const down = await createTestApp({
      databaseUrl: `postgresql://postgres@127.0.0.1:${port}/none`,
      awaitTrustedCache: false,
    });
    try {
      expectError(
        await request(down.app).post("/login").send({ email: user.email, password: PASSWORD }),
        503,
        "service_unavailable",
      );
      const ready = await request(down.app).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        error: { code: "service_unavailable" },
        checks: { postgres: "down", redis: "up" },
      });
    } finally {
      await down.close();
    }
  });
});

describe("a valid token", () => {
  it("still works after all of the above", async () => {
    expect((await me(t.app, token)).status).toBe(200);
  });
});
