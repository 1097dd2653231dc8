import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

// Same key as `prisma migrate deploy`, so this and Prisma never run at once.
const PRISMA_MIGRATE_LOCK = 72707369;

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationResult {
  databaseCreated: boolean;
  applied: string[];
}

/**
 * Applies the committed `prisma/migrations/*` SQL and records each in
 * `_prisma_migrations` exactly as `prisma migrate deploy` does, so either
 * tool can take over from the other. Creates the database first if asked.
 */
export async function migrateDatabase(options: {
  databaseUrl: string;
  createDatabase?: boolean;
  migrationsDir?: string;
}): Promise<MigrationResult> {
  const databaseCreated = options.createDatabase
    ? await createDatabaseIfMissing(options.databaseUrl)
    : false;
  const migrationsDir = options.migrationsDir ?? findMigrationsDir();
  const migrations = await readMigrations(migrationsDir);

  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const done = await client.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations"
       WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const finished = new Map(done.rows.map((row) => [row.migration_name, row.checksum]));
    for (const migration of migrations) {
      const recorded = finished.get(migration.name);
      if (recorded !== undefined) {
        if (recorded !== migration.checksum) {
          throw new Error(`migration ${migration.name} was modified after it was applied`);
        }
        continue;
      }
      const id = randomUUID();
      await client.query("BEGIN");
      try {
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at)
           VALUES ($1, $2, $3, now())`,
          [id, migration.checksum, migration.name],
        );
        await client.query(migration.sql);
        await client.query(
          `UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
          [id],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${migration.name} failed`, { cause: error });
      }
      applied.push(migration.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => {});
    await client.end();
  }
  return { databaseCreated, applied };
}

async function readMigrations(dir: string) {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name, "migration.sql"), "utf8");
      // Prisma's checksum: hex SHA-256 of the script as committed.
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    }),
  );
}

/** The same server and credentials as `databaseUrl`, naming database `name` instead. */
export function databaseUrlNamed(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

// CREATE and DROP DATABASE run from another database: the server's `postgres`.
async function onMaintenanceDatabase<T>(
  databaseUrl: string,
  operation: (admin: pg.Client, database: string) => Promise<T>,
): Promise<T> {
  const database = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  if (!database) throw new Error("DATABASE_URL names no database");
  const admin = new pg.Client({ connectionString: databaseUrlNamed(databaseUrl, "postgres") });
  await admin.connect();
  try {
    return await operation(admin, database);
  } finally {
    await admin.end();
  }
}

/** Creates the database named in the URL; false when it already exists. */
export function createDatabaseIfMissing(databaseUrl: string): Promise<boolean> {
  return onMaintenanceDatabase(databaseUrl, async (admin, database) => {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    if (exists.rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
      return true;
    } catch (error) {
      // Another process created it between our check and our CREATE.
      if ((error as { code?: string }).code === "42P04") return false;
      throw error;
    }
  });
}

/** Drops the database named in the URL, closing its connections (tests and benchmarks). */
export function dropDatabaseIfExists(databaseUrl: string): Promise<void> {
  return onMaintenanceDatabase(databaseUrl, async (admin, database) => {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  });
}

// The migrations ship beside the package: walk up from this file to find them,
// which works from src/ (tsx) and from dist/src/ (compiled) alike.
function findMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "prisma", "migrations");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("prisma/migrations not found beside the package");
    dir = parent;
  }
}
