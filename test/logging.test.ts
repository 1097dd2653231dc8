import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { freePort } from "./helpers/free-port.js";
import { login, loginPair, PASSWORD, register, uniqueEmail } from "./helpers/api.js";
import { createTestApp, type TestApp } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ overrides: { allowAidHeader: true } });
});
afterAll(async () => {
  await t.close();
});

/** Waits until every request so far has its log line (pino-http logs after the response). */
async function settled(requests: number) {
  await waitFor(
    () => t.logs.filter((line) => line.includes('"request completed"')).length >= requests,
    {
      what: `${requests} request log lines`,
    },
  );
}

describe("the log", () => {
  it("never holds a password, hash, token or secret, whatever the flow or failure", async () => {
    const email = uniqueEmail("logged");
    const other = "an0ther-Passw0rd-in-a-bad-body";
    await register(t.app, email);
    const token = await login(t.app, email);
    const signature = token.split(".")[2]!;
    const pair = await loginPair(t.app, email);
    const spent = pair.refreshToken;
    const rotated = (await request(t.app).post("/refresh").send({ refreshToken: spent })).body as {
      refreshToken: string;
      accessToken: string;
    };
    const newPassword = "a-new-Passw0rd-for-the-log-test";
    const sent: request.Test[] = [
      request(t.app).post("/login").send({ email, password: "wrong-Passw0rd-attempt" }),
      request(t.app)
        .post("/login")
        .send({ email: uniqueEmail(), password: "unknown-Passw0rd-attempt" }),
      request(t.app)
        .post("/register")
        .set("Content-Type", "application/json")
        .send(`{"email":"${email}","password":"${other}"`),
      request(t.app).post("/register").send({ email, password: PASSWORD }),
      request(t.app).post("/register").type("form").send({ email, password: other }),
      request(t.app)
        .post("/register")
        .send({ email: "x@example.com", password: other, role: "admin" }),
      request(t.app).get("/me").set("Authorization", `Bearer ${token}`),
      request(t.app).get("/me").set("Authorization", `Bearer ${token}x`),
      request(t.app)
        .get("/me")
        .set("Authorization", `Basic ${Buffer.from(`${email}:${PASSWORD}`).toString("base64")}`),
      request(t.app).get("/me").set("aid", token),
      request(t.app).get("/me").set("aid", token).set("Authorization", `Bearer ${token}`),
      request(t.app).get(`/me?access_token=${token}`),
      request(t.app).get(`/nowhere?token=${token}&password=${other}`),
      request(t.app)
        .post("/refresh")
        .send({ refreshToken: `${spent}x` }),
      request(t.app).post("/refresh").send({ refreshToken: rotated.refreshToken, extra: 1 }),
      request(t.app).get("/sessions").set("Authorization", `Bearer ${rotated.accessToken}`),
      request(t.app)
        .post("/password")
        .set("Authorization", `Bearer ${rotated.accessToken}`)
        .send({ currentPassword: other, newPassword }),
      request(t.app)
        .post("/logout")
        .set("Authorization", `Bearer ${rotated.accessToken}`)
        .send({ scope: "local" }),
      request(t.app).post("/refresh").send({ refreshToken: spent }),
      request(t.app).post("/logout").set("Authorization", `Bearer ${token}`),
      request(t.app).get("/me").set("Authorization", `Bearer ${token}`),
      request(t.app).get("/me").set("Proxy-Authorization", `Bearer ${token}`),
    ];
    for (const pending of sent) {
      const res = await pending;
      expect(res.status).toBeLessThan(500);
      // Nor in any response that is an error.
      if (res.status >= 400) {
        for (const secret of [
          token,
          signature,
          PASSWORD,
          other,
          t.secret,
          spent,
          rotated.refreshToken,
          newPassword,
        ]) {
          expect(res.text).not.toContain(secret);
        }
      }
    }
    await settled(sent.length + 4);

    const row = await t.prisma.user.findUniqueOrThrow({ where: { email } });
    const all = t.logs.join("\n");
    for (const secret of [
      token,
      signature,
      PASSWORD,
      other,
      "wrong-Passw0rd-attempt",
      "unknown-Passw0rd-attempt",
      row.passwordHash,
      t.secret,
      spent,
      rotated.refreshToken,
      rotated.accessToken,
      newPassword,
      Buffer.from(`${email}:${PASSWORD}`).toString("base64"),
    ]) {
      expect(all).not.toContain(secret);
    }
    // Request lines name the path only: no headers, so no credentials, at all.
    expect(all).toContain('"url":"/me"');
    expect(all).not.toMatch(/"headers"|authorization|"aid"/i);
  });

  it("logs a dependency failure without the request's credentials", async () => {
    const port = await freePort();
    const down = await createTestApp({
      databaseUrl: `postgresql://postgres:pg-Passw0rd@127.0.0.1:${port}/none`,
      awaitTrustedCache: false,
    });
    try {
      const res = await request(down.app)
        .post("/login")
        .send({ email: "a@example.com", password: PASSWORD });
      expect(res.status).toBe(503);
      expect(res.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|pg-Passw0rd|stack/);
      await waitFor(() => down.logs.some((line) => line.includes("dependency unavailable")), {
        what: "the error log line",
      });
      const all = down.logs.join("\n");
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain("pg-Passw0rd");
    } finally {
      await down.close();
    }
  });
});
