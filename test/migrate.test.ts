import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { readdirSync } from "node:fs";
import { migrateDatabase } from "../src/db/migrate.js";
import { databaseUrlFor, dropDatabase, testDatabaseName } from "./helpers/test-app.js";

const name = testDatabaseName("migrate");
const url = databaseUrlFor(name);
const committed = readdirSync("prisma/migrations", { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

afterAll(() => dropDatabase(name));

describe("migrateDatabase", () => {
  it("creates a missing database, applies the committed migrations and records them as Prisma does", async () => {
    const result = await migrateDatabase({ databaseUrl: url, createDatabase: true });
    expect(committed[0]).toBe("20261122000000_init");
    expect(result).toEqual({ databaseCreated: true, applied: committed });

    const rows = await query<Record<string, unknown>>(
      `SELECT * FROM "_prisma_migrations" ORDER BY migration_name`,
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
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY column_name`,
    );
    expect(columns.map((c) => c.column_name)).toEqual([
      "created_at",
      "email",
      "id",
      "jwt_version",
      "name",
      "password_hash",
      "updated_at",
    ]);
  });

  it("is idempotent: a second run applies nothing", async () => {
    expect(await migrateDatabase({ databaseUrl: url, createDatabase: true })).toEqual({
      databaseCreated: false,
      applied: [],
    });
    expect(await query(`SELECT 1 FROM "_prisma_migrations"`)).toHaveLength(committed.length);
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
      expect(await query(`SELECT 1 FROM "_prisma_migrations"`)).toHaveLength(committed.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
