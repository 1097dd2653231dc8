/**
 * The README's "Use it as a library" app, runnable inside this repository:
 * the same createAuth call (your Prisma client, onRegister linking the new
 * account to your own users) and the same protected route. In your project,
 * import from "versioned-jwt-auth" instead of "../src/index.js", and use your
 * own generated client with the README's `User` model where this file, which
 * has no such model, writes the SQL of those calls.
 *
 *   JWT_SECRET=$(openssl rand -base64 48) npx tsx examples/express-app.ts
 */
import express from "express";
import { PrismaPg } from "@prisma/adapter-pg";
import type { Redis } from "ioredis";
import {
  createAuth,
  createRedisClient,
  EmailTakenError,
  type PrismaSqlClient,
} from "../src/index.js";
import { migrateDatabase } from "../src/migrate.js";
import { PrismaClient } from "../src/generated/prisma/client.js";

/** A row of your own `users` table (the README's `User` model, in schema public). */
export interface AppUser {
  id: number;
  email: string;
  authUserId: string | null;
  createdAt: Date;
}

/** Your own migrations, as `prisma migrate dev` writes them for the README's `User` model. */
export const APP_MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS public.users (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "auth_user_id" UUID,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
  )`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "users_email_key" ON public.users ("email")`,
  `CREATE UNIQUE INDEX IF NOT EXISTS "users_auth_user_id_key" ON public.users ("auth_user_id")`,
];

export function buildExampleApp(deps: {
  prisma: PrismaSqlClient;
  redis: Redis;
  jwtSecret: string;
}) {
  const { prisma } = deps;
  const auth = createAuth({
    prisma, // your own client: the auth tables are reached with SQL of their own
    redis: deps.redis,
    tokens: { secret: deps.jwtSecret, issuer: "my-app", audience: "my-app-api" },
    // Runs before POST /register answers; if it throws, the account is removed again.
    // Create-only: registering proves no one owns an email, so a row of yours with
    // this email is never linked to the new account (whoever registered first would get it).
    onRegister: async (account) => {
      // prisma.user.create({ data: { email, authUserId } }), refused on a taken email
      const created = await prisma.$executeRawUnsafe(
        `INSERT INTO public.users (email, auth_user_id) VALUES ($1, $2::uuid)
         ON CONFLICT (email) DO NOTHING`,
        account.email,
        account.id,
      );
      if (created === 0) throw new EmailTakenError(); // 409 email_taken
    },
  });

  const app = express();
  app.use("/auth", auth.router); // /auth/register, /auth/login, /auth/refresh, /auth/logout, /auth/me, …
  app.get("/api/profile", auth.requireAuth, async (req, res) => {
    // req.user: { id, email, name } of the auth account; req.auth: the token's claims
    // prisma.user.findUnique({ where: { authUserId: req.user!.id } })
    const [profile] = await prisma.$queryRawUnsafe<AppUser[]>(
      `SELECT id, email, auth_user_id AS "authUserId", created_at AS "createdAt"
       FROM public.users WHERE auth_user_id = $1::uuid`,
      req.user!.id,
    );
    res.json({ profile: profile ?? null });
  });
  return { app, auth };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const databaseUrl =
    process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/jwt_auth_example";
  const jwtSecret = process.env.JWT_SECRET;
  if (!jwtSecret) throw new Error("set JWT_SECRET (at least 32 bytes)");
  await migrateDatabase({ databaseUrl, createDatabase: true }); // the auth tables, in schema "auth"

  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
  for (const statement of APP_MIGRATIONS) await prisma.$executeRawUnsafe(statement);
  const redis = createRedisClient(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const { app, auth } = buildExampleApp({ prisma, redis, jwtSecret });

  const port = Number(process.env.PORT ?? 3000);
  const server = app.listen(port, () => console.log(`example app on http://localhost:${port}`));
  process.on("SIGTERM", () => {
    server.close();
    auth.close(); // stops its repair loop; your clients stay yours to close
    redis.disconnect();
    void prisma.$disconnect();
  });
}
