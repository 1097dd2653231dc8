/**
 * The store's statements on the embedded Postgres (PGlite over pglite-socket,
 * one pooled connection, as the server runs it): the same conformance suite
 * the real Postgres passes, concurrency cases included.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { createPrismaAuthStore } from "../src/adapters/prisma-auth-store.js";
import { migrateDatabase } from "../src/db/migrate.js";
import { PrismaClient } from "../src/generated/prisma/client.js";
import { EMBEDDED_POOL_SIZE } from "../src/server/embedded-pool.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../src/server/embedded-postgres.js";
import { testAuthStore } from "../src/testing/index.js";

let dir: string;
let embedded: EmbeddedPostgres;
let prisma: PrismaClient;

testAuthStore({
  name: "Prisma store on the embedded Postgres (PGlite)",
  async create() {
    dir = await mkdtemp(join(tmpdir(), "auth-pglite-"));
    embedded = await startEmbeddedPostgres({ dataDir: join(dir, "postgres") });
    await migrateDatabase({ databaseUrl: embedded.url });
    prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: embedded.url, max: EMBEDDED_POOL_SIZE }),
    });
    return createPrismaAuthStore(prisma);
  },
  async destroy() {
    await prisma.$disconnect();
    await embedded.stop();
    await rm(dir, { recursive: true, force: true });
  },
});
