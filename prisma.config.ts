import { defineConfig } from "prisma/config";

// For the Prisma CLI (`prisma migrate deploy`, `prisma generate`); the
// service reads its own configuration. It ships in the package, so an app can
// apply the auth tables' migrations with its own Prisma CLI:
//   npx prisma migrate deploy --config node_modules/versioned-jwt-auth/prisma.config.ts
// Paths are relative to this file. The migrations go into their own Postgres
// schema (DATABASE_SCHEMA, default "auth"), with their own history table there.
// Empty counts as unset, as everywhere in this project.
const url = new URL(process.env.DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/jwt_auth");
url.searchParams.set("schema", process.env.DATABASE_SCHEMA || "auth");

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: url.toString() },
});
