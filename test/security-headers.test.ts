import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { login, register, uniqueEmail } from "./helpers/api.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await createTestApp();
  const email = uniqueEmail("headers");
  await register(t.app, email);
  token = await login(t.app, email);
});
afterAll(async () => {
  await t.close();
});

describe("every response of the standalone server", () => {
  const requests: [string, () => request.Test][] = [
    ["GET /healthz", () => request(t.app).get("/healthz")],
    ["GET /me (200)", () => request(t.app).get("/me").set("Authorization", `Bearer ${token}`)],
    ["GET /me (401)", () => request(t.app).get("/me")],
    ["POST /login (400)", () => request(t.app).post("/login").send({})],
    ["GET /nowhere (404)", () => request(t.app).get("/nowhere")],
  ];
  for (const [what, send] of requests) {
    it(`${what} carries security headers for a JSON API and no x-powered-by`, async () => {
      const res = await send();
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      expect(res.headers["x-powered-by"]).toBeUndefined();
      expect(res.headers).toMatchObject({
        "content-security-policy": "default-src 'none';frame-ancestors 'none'",
        "x-content-type-options": "nosniff",
        "x-frame-options": "SAMEORIGIN",
        "referrer-policy": "no-referrer",
        "cross-origin-resource-policy": "same-origin",
        "strict-transport-security": expect.stringMatching(/^max-age=\d+/),
        "cache-control": "no-store",
      });
    });
  }
});
