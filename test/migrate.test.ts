import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { readdirSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { once } from "node:events";
import { migrateDatabase, MigrationError } from "../src/db/migrate.js";
import { databaseUrlFor, dropDatabase, testDatabaseName } from "./helpers/test-app.js";

const name = testDatabaseName("migrate");
const url = databaseUrlFor(name);
const committed = readdirSync("prisma/migrations", { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

async function query<T extends pg.QueryResultRow>(sql: string, on = url): Promise<T[]> {
  const client = new pg.Client({ connectionString: on });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const others: string[] = [];
afterAll(async () => {
  await dropDatabase(name);
  for (const other of others) await dropDatabase(other);
});

/** A database of its own for one test. */
function otherDatabase(tag: string) {
  const database = testDatabaseName(tag);
  others.push(database);
  return databaseUrlFor(database);
}

describe("migrateDatabase", () => {
  it("creates a missing database, applies the committed migrations and records them as Prisma does", async () => {
    const result = await migrateDatabase({ databaseUrl: url, createDatabase: true });
    expect(committed[0]).toBe("20261122000000_init");
    expect(result).toEqual({ databaseCreated: true, applied: committed });

    const rows = await query<Record<string, unknown>>(
      `SELECT * FROM auth."_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows).toHaveLength(committed.length);
    for (const [i, migration] of committed.entries()) {
      const sql = await readFile(`prisma/migrations/${migration}/migration.sql`, "utf8");
      expect(rows[i]).toMatchObject({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        migration_name: migration,
        checksum: createHash("sha256").update(sql).digest("hex"),
        finished_at: expect.any(Date),
        rolled_back_at: null,
        logs: null,
        applied_steps_count: 1,
      });
    }
    const columns = await query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = 'auth' AND table_name = 'users' ORDER BY column_name`,
    );
    expect(columns.map((c) => c.column_name)).toEqual([
      "created_at",
      "disabled_at",
      "email",
      "id",
      "jwt_version",
      "name",
      "password_hash",
      "revision",
      "updated_at",
      "version_reason",
      "version_revision",
    ]);
    // Nothing in the public schema: that is the app's.
    expect(await query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).toEqual([]);
  });

  it("is idempotent: a second run applies nothing", async () => {
    expect(await migrateDatabase({ databaseUrl: url, createDatabase: true })).toEqual({
      databaseCreated: false,
      applied: [],
    });
    expect(await query(`SELECT 1 FROM auth."_prisma_migrations"`)).toHaveLength(committed.length);
  });

  it("refuses to continue when an applied migration was edited afterwards", async () => {
    const dir = await mkdtemp(join(tmpdir(), "migrations-"));
    try {
      await cp("prisma/migrations", dir, { recursive: true });
      await writeFile(join(dir, "20261122000000_init", "migration.sql"), "-- edited\n");
      await expect(migrateDatabase({ databaseUrl: url, migrationsDir: dir })).rejects.toThrow(
        /modified after it was applied/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rolls a failing migration back and does not record it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "migrations-"));
    try {
      await cp("prisma/migrations", dir, { recursive: true });
      await cp(join(dir, "20261122000000_init"), join(dir, "29991231000000_broken"), {
        recursive: true,
      });
      await writeFile(
        join(dir, "29991231000000_broken", "migration.sql"),
        `CREATE TABLE "half" (id INT);\nSELECT * FROM no_such_table;\n`,
      );
      await expect(migrateDatabase({ databaseUrl: url, migrationsDir: dir })).rejects.toThrow(
        /29991231000000_broken failed/,
      );
      expect(await query(`SELECT 1 FROM pg_tables WHERE tablename = 'half'`)).toHaveLength(0);
      expect(await query(`SELECT 1 FROM auth."_prisma_migrations"`)).toHaveLength(committed.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("leaves an app's own users table and migration history alone", async () => {
    const app = otherDatabase("migrate_app");
    await migrateDatabase({ databaseUrl: app, createDatabase: true, schema: "auth" }).catch(
      () => {},
    );
    // An app as Prisma would have made it: public.users with Int ids, its own history.
    await query(
      `CREATE TABLE public.users (id SERIAL PRIMARY KEY, email TEXT NOT NULL);
       CREATE TABLE public."_prisma_migrations" (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL,
         finished_at TIMESTAMPTZ, migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ,
         started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0);
       INSERT INTO public."_prisma_migrations" (id, checksum, migration_name, finished_at)
         VALUES ('a', 'c', '20250101000000_app_init', now());
       INSERT INTO public.users (email) VALUES ('app@example.com');`,
      app,
    );
    const result = await migrateDatabase({ databaseUrl: app, schema: "auth" });
    expect(result.applied).toEqual([]);
    expect(await query(`SELECT migration_name FROM public."_prisma_migrations"`, app)).toEqual([
      { migration_name: "20250101000000_app_init" },
    ]);
    expect(await query(`SELECT id, email FROM public.users`, app)).toEqual([
      { id: 1, email: "app@example.com" },
    ]);
  });

  it("migrates into another schema when asked, with its own history", async () => {
    const other = otherDatabase("migrate_schema");
    const result = await migrateDatabase({
      databaseUrl: other,
      createDatabase: true,
      schema: "identity",
    });
    expect(result.applied).toEqual(committed);
    expect(await query(`SELECT 1 FROM identity."_prisma_migrations"`, other)).toHaveLength(
      committed.length,
    );
    expect(await query(`SELECT to_regclass('auth.users') AS t`, other)).toEqual([{ t: null }]);
    await expect(migrateDatabase({ databaseUrl: other, schema: "Bad-Name" })).rejects.toThrow(
      MigrationError,
    );
  });

  it("refuses to start an empty auth schema beside the tables of version 0.1 in public", async () => {
    const earlier = otherDatabase("migrate_earlier");
    const dir = await mkdtemp(join(tmpdir(), "migrations-"));
    try {
      // Version 0.1: its two migrations, applied to public.
      await cp("prisma/migrations", dir, { recursive: true });
      for (const migration of committed.slice(2))
        await rm(join(dir, migration), { recursive: true });
      await migrateDatabase({
        databaseUrl: earlier,
        createDatabase: true,
        schema: "public",
        migrationsDir: dir,
      });
      await expect(migrateDatabase({ databaseUrl: earlier })).rejects.toThrow(
        /earlier version in schema "public".*DATABASE_SCHEMA=public/,
      );
      // Keeping them where they are works, and brings them up to date.
      const kept = await migrateDatabase({ databaseUrl: earlier, schema: "public" });
      expect(kept.applied).toEqual(committed.slice(2));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("gives up within its connection timeout on a server that accepts but never answers", async () => {
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => sockets.push(socket));
    blackHole.listen(0, "127.0.0.1");
    await once(blackHole, "listening");
    const { port } = blackHole.address() as { port: number };
    const started = Date.now();
    try {
      await expect(
        migrateDatabase({
          databaseUrl: `postgresql://postgres@127.0.0.1:${port}/x`,
          connectionTimeoutMs: 500,
        }),
      ).rejects.toThrow(/timeout/i);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      blackHole.close();
    }
  });

  it("says so plainly when the database does not exist", async () => {
    const missing = databaseUrlFor(testDatabaseName("missing"));
    await expect(migrateDatabase({ databaseUrl: missing })).rejects.toThrow(
      /^database "jwt_auth_missing_\w+" does not exist: create it, or pass createDatabase: true$/,
    );
  });
});
