import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { buildExampleApp } from "../examples/express-app.js";
import { PASSWORD, uniqueEmail } from "./helpers/api.js";
import {
  connectRedis,
  createPrisma,
  createTestDatabase,
  SHARED_REDIS_URL,
} from "./helpers/test-app.js";
import type { PrismaClient } from "../src/generated/prisma/client.js";

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: PrismaClient;
let redis: Redis;
let app: ReturnType<typeof buildExampleApp>;

beforeAll(async () => {
  database = await createTestDatabase();
  prisma = createPrisma(database.url);
  redis = await connectRedis(SHARED_REDIS_URL);
  app = buildExampleApp({ prisma, redis, jwtSecret: randomBytes(32).toString("hex") });
});
afterAll(async () => {
  // The example uses the default "auth:" prefix; remove only this file's users.
  const users = await prisma.user.findMany({ select: { id: true } });
  if (users.length) await redis.del(...users.map((u) => `auth:user:${u.id}`));
  const limiterKeys = await redis.keys("auth:rl:*::ffff:127.0.0.1");
  if (limiterKeys.length) await redis.del(...limiterKeys);
  redis.disconnect();
  await prisma.$disconnect();
  await database.drop();
});

describe("the example app (router under /auth, requireAuth on its own route)", () => {
  it("GET /api/notes without a token responds 401 missing_token", async () => {
    const res = await request(app).get("/api/notes");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("missing_token");
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="auth"');
  });

  it("a public route is untouched", async () => {
    expect((await request(app).get("/api/public")).body).toEqual({ hello: "world" });
  });

  it("register and login under /auth, then use and revoke the token on the app's route", async () => {
    const email = uniqueEmail("example");
    expect(
      (await request(app).post("/auth/register").send({ email, password: PASSWORD })).status,
    ).toBe(201);
    const loginRes = await request(app).post("/auth/login").send({ email, password: PASSWORD });
    expect(loginRes.status).toBe(200);
    const auth = { Authorization: `Bearer ${loginRes.body.accessToken}` };

    const notes = await request(app).get("/api/notes").set(auth);
    expect(notes.status).toBe(200);
    expect(notes.body).toEqual({ owner: email, notes: [] });
    expect((await request(app).get("/auth/me").set(auth)).body.user.email).toBe(email);

    expect((await request(app).post("/auth/logout").set(auth)).status).toBe(204);
    const after = await request(app).get("/api/notes").set(auth);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("token_revoked");
  });

  it("errors inside the mounted router are JSON", async () => {
    const res = await request(app)
      .post("/auth/login")
      .set("Content-Type", "application/json")
      .send("{oops");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
  });
});
