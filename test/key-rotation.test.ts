import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import type { TokenSettings } from "../src/core/token-service.js";
import { login, me, register, uniqueEmail } from "./helpers/api.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";

const K1 = randomBytes(32).toString("base64url");
const K2 = randomBytes(32).toString("base64url");

let first: TestApp;
let email: string;

/** An instance on the same database and Redis prefix with other token keys. */
function instance(tokens: Partial<TokenSettings>, base?: TestApp) {
  return createTestApp({
    databaseUrl: base?.databaseUrl,
    keyPrefix: base?.keyPrefix,
    overrides: {
      tokens: { issuer: "test-issuer", audience: "test-audience", secret: K1, ...tokens },
    },
  });
}

beforeAll(async () => {
  first = await instance({ secret: K1, keyId: "2026-01" });
  email = uniqueEmail("rotation");
  await register(first.app, email);
});
afterAll(async () => {
  await first.close();
});

describe("rotating the signing key", () => {
  it("follows the README procedure: no token is refused during a rolling rotation, old ones stop once dropped", async () => {
    const oldToken = await login(first.app, email);

    // Step 1: every instance learns the new key for verification, still signing with the old one.
    const prepared = await instance(
      { secret: K1, keyId: "2026-01", previousKeys: [{ keyId: "2026-02", secret: K2 }] },
      first,
    );
    // Step 2: the new key signs; the old one is kept for verification.
    const rotated = await instance(
      { secret: K2, keyId: "2026-02", previousKeys: [{ keyId: "2026-01", secret: K1 }] },
      first,
    );
    // Step 3, once the longest token lifetime has passed: the old key is dropped.
    const dropped = await instance({ secret: K2, keyId: "2026-02" }, first);
    try {
      expect((await me(prepared.app, oldToken)).status).toBe(200);
      expect((await me(rotated.app, oldToken)).status).toBe(200);
      const newToken = await login(rotated.app, email);
      const header = JSON.parse(Buffer.from(newToken.split(".")[0]!, "base64url").toString());
      expect(header).toEqual({ alg: "HS256", typ: "at+jwt", kid: "2026-02" });
      // Mid-rollout, an instance at step 1 accepts the new tokens; one that skipped it would not.
      expect((await me(prepared.app, newToken)).status).toBe(200);
      expect((await me(first.app, newToken)).body.error.code).toBe("invalid_token");

      const refused = await me(dropped.app, oldToken);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe("invalid_token");
      expect((await me(dropped.app, newToken)).status).toBe(200);

      // Logout revokes the tokens of every key.
      const out = await request(dropped.app)
        .post("/logout")
        .set("Authorization", `Bearer ${newToken}`);
      expect(out.status).toBe(204);
      expect((await me(rotated.app, newToken)).body.error.code).toBe("token_revoked");
      expect((await me(rotated.app, oldToken)).body.error.code).toBe("token_revoked");
    } finally {
      await dropped.close();
      await rotated.close();
      await prepared.close();
    }
  });
});
