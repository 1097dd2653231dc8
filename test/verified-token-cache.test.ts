import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, logout, me, register, uniqueEmail } from "./helpers/api.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";

// Two instances of the service on one database and one Redis, each with its
// verified-token cache on (the default). Remembering that a token's signature
// is valid must never keep a revoked token alive on either of them.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ databaseUrl: a.databaseUrl, keyPrefix: a.keyPrefix, secret: a.secret });
});
afterAll(async () => {
  await b.close();
  await a.close();
});

describe("with the verified-token cache on two instances", () => {
  it("a logout on one instance revokes the token on both at once", async () => {
    const email = uniqueEmail("two-instances");
    await register(a.app, email);
    const token = await login(a.app, email);
    // Both instances have now verified (and remembered) the token.
    for (let i = 0; i < 3; i++) {
      expect((await me(a.app, token)).status).toBe(200);
      expect((await me(b.app, token)).status).toBe(200);
    }
    expect((await logout(b.app, token)).status).toBe(204);
    for (const app of [a.app, b.app]) {
      const res = await me(app, token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("token_revoked");
    }
  });

  it("a new token after logging in again works on both", async () => {
    const email = uniqueEmail("two-instances-again");
    await register(a.app, email);
    const first = await login(a.app, email);
    expect((await me(b.app, first)).status).toBe(200);
    expect((await logout(a.app, first)).status).toBe(204);
    const second = await login(b.app, email);
    expect((await me(a.app, second)).status).toBe(200);
    expect((await me(b.app, second)).status).toBe(200);
    expect((await me(a.app, first)).status).toBe(401);
    expect((await me(b.app, first)).status).toBe(401);
  });
});
