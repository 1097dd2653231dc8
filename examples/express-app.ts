/**
 * An Express app of your own that mounts the auth router under /auth and
 * protects its own route with requireAuth. In your project, import from
 * "versioned-jwt-auth" instead of "../src/index.js".
 *
 *   JWT_SECRET=$(openssl rand -base64 48) npx tsx examples/express-app.ts
 */
import express from "express";
import { PrismaPg } from "@prisma/adapter-pg";
import type { Redis } from "ioredis";
import { createAuth, createRedisClient, type PrismaSqlClient } from "../src/index.js";
import { migrateDatabase } from "../src/migrate.js";
import { PrismaClient } from "../src/generated/prisma/client.js";

export function buildExampleApp(deps: {
  prisma: PrismaSqlClient;
  redis: Redis;
  jwtSecret: string;
}) {
  const auth = createAuth({
    prisma: deps.prisma,
    redis: deps.redis,
    tokens: { secret: deps.jwtSecret, issuer: "example-app", audience: "example-app" },
  });

  const app = express();
  app.use("/auth", auth.router); // POST /auth/register, /auth/login, /auth/logout, GET /auth/me …

  app.get("/api/notes", auth.requireAuth, (req, res) => {
    // req.user is typed: { id, email, name }
    res.json({ owner: req.user!.email, notes: [] });
  });

  app.get("/api/public", (_req, res) => {
    res.json({ hello: "world" });
  });
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const databaseUrl =
    process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/jwt_auth_example";
  const jwtSecret = process.env.JWT_SECRET;
  if (!jwtSecret) throw new Error("set JWT_SECRET (at least 32 bytes)");
  await migrateDatabase({ databaseUrl, createDatabase: true });
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
  const redis = createRedisClient(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const port = Number(process.env.PORT ?? 4000);
  buildExampleApp({ prisma, redis, jwtSecret }).listen(port, () => {
    console.log(`example app on http://localhost:${port}`);
  });
}
