import { defineConfig } from "prisma/config";

// Only the Prisma CLI reads this file (migrate deploy, generate). The service
// itself gets its connection string from its validated config.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/jwt_auth",
  },
});
