import { afterAll, beforeAll, describe, expect, it } from "vitest";
import request from "supertest";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { APP_MIGRATIONS, buildExampleApp, type AppUser } from "../examples/express-app.js";
import { PASSWORD, uniqueEmail } from "./helpers/api.js";
import {
  restoreSharedPrefix,
  snapshotSharedPrefix,
  type SharedPrefixSnapshot,
} from "./helpers/shared-prefix-keys.js";
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
let sharedKeys: SharedPrefixSnapshot;
let example: ReturnType<typeof buildExampleApp>;

beforeAll(async () => {
  database = await createTestDatabase();
  prisma = createPrisma(database.url);
  for (const statement of APP_MIGRATIONS) await prisma.$executeRawUnsafe(statement);
  redis = await connectRedis(SHARED_REDIS_URL);
  // The example uses the default "auth:" prefix, shared with other runs.
  sharedKeys = await snapshotSharedPrefix(redis, "auth:");
  example = buildExampleApp({ prisma, redis, jwtSecret: randomBytes(32).toString("hex") });
});
afterAll(async () => {
  example.auth.close();
  const accounts = await prisma.user.findMany({ select: { id: true } });
  await restoreSharedPrefix(
    redis,
    sharedKeys,
    accounts.map((account) => account.id),
  );
  redis.disconnect();
  await prisma.$disconnect();
  await database.drop();
});

const appUsers = () =>
  prisma.$queryRawUnsafe<Pick<AppUser, "id" | "email" | "authUserId">[]>(
    `SELECT id, email, auth_user_id AS "authUserId" FROM public.users ORDER BY id`,
  );

describe("the example app (the README's app: router under /auth, requireAuth on its own route)", () => {
  it("GET /api/profile without a token responds 401 missing_token", async () => {
    const res = await request(example.app).get("/api/profile");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("missing_token");
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="auth"');
  });

  it("register creates the app's own user for the account; the token works on the app's route until logout", async () => {
    const app = example.app;
    const existing = uniqueEmail("example-existing");
    await prisma.$executeRawUnsafe(`INSERT INTO public.users (email) VALUES ($1)`, existing);
    const email = uniqueEmail("example");

    const registered = await request(app)
      .post("/auth/register")
      .send({ email, password: PASSWORD });
    expect(registered.status).toBe(201);
    const accountId = registered.body.user.id as string;
    const linked = (await appUsers()).find((user) => user.email === email);
    expect(linked?.authUserId).toBe(accountId);

    const loginRes = await request(app).post("/auth/login").send({ email, password: PASSWORD });
    expect(loginRes.status).toBe(200);
    const auth = { Authorization: `Bearer ${loginRes.body.accessToken}` };

    const profile = await request(app).get("/api/profile").set(auth);
    expect(profile.status).toBe(200);
    expect(profile.body.profile).toMatchObject({ id: linked!.id, email, authUserId: accountId });
    expect((await request(app).get("/auth/me").set(auth)).body.user.email).toBe(email);

    expect((await request(app).post("/auth/logout").set(auth)).status).toBe(204);
    const after = await request(app).get("/api/profile").set(auth);
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("token_revoked");
    const refreshed = await request(app)
      .post("/auth/refresh")
      .send({ refreshToken: loginRes.body.refreshToken });
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.error.code).toBe("invalid_refresh_token");

    // A user the app had before: registering with their email is refused (409),
    // their row is untouched, and no account is left behind.
    const before = (await appUsers()).find((user) => user.email === existing)!;
    expect(before.authUserId).toBeNull();
    const again = await request(app)
      .post("/auth/register")
      .send({ email: existing, password: PASSWORD });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("email_taken");
    expect((await appUsers()).find((user) => user.email === existing)).toEqual(before);
    const noAccount = await request(app)
      .post("/auth/login")
      .send({ email: existing, password: PASSWORD });
    expect(noAccount.body.error.code).toBe("invalid_credentials");
  });

  it("errors inside the mounted router are JSON", async () => {
    const res = await request(example.app)
      .post("/auth/login")
      .set("Content-Type", "application/json")
      .send("{oops");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_request");
  });
});
