import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

// Same key as `prisma migrate deploy`, so this and Prisma never run at once.
const PRISMA_MIGRATE_LOCK = 72707369;
// Names of this package's first migration: how tables of an earlier layout are recognised.
const FIRST_MIGRATION = "20261122000000_init";
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const createMigrationsTable = (schema: string) => `
CREATE TABLE IF NOT EXISTS ${schema}."_prisma_migrations" (
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

export interface MigrateOptions {
  databaseUrl: string;
  /**
   * The Postgres schema that holds the auth tables and their own
   * `_prisma_migrations` history (default "auth"), apart from an app's tables.
   */
  schema?: string;
  /** Create the database named in the URL first if it is missing (default false). */
  createDatabase?: boolean;
  migrationsDir?: string;
  /** Longest wait for a connection (default 5000 ms): a Postgres that never answers fails fast. */
  connectionTimeoutMs?: number;
}

/** Raised when the database cannot be migrated as asked; its message says what to do. */
export class MigrationError extends Error {}

/**
 * Applies the committed `prisma/migrations/*` SQL to the auth schema and
 * records each in that schema's `_prisma_migrations` exactly as
 * `prisma migrate deploy` does (with `?schema=<schema>` in its URL), so either
 * tool can take over from the other. Creates the schema, and the database if
 * asked. An app's own tables and migration history are never touched.
 */
export async function migrateDatabase(options: MigrateOptions): Promise<MigrationResult> {
  const schemaName = options.schema ?? "auth";
  if (!SCHEMA_NAME.test(schemaName)) {
    throw new MigrationError(`database schema must match ${SCHEMA_NAME}`);
  }
  const schema = pg.escapeIdentifier(schemaName);
  const connectionTimeoutMillis = options.connectionTimeoutMs ?? 5000;
  const databaseCreated = options.createDatabase
    ? await createDatabaseIfMissing(options.databaseUrl, {
        connectionTimeoutMs: connectionTimeoutMillis,
      })
    : false;
  const migrationsDir = options.migrationsDir ?? findMigrationsDir();
  const migrations = await readMigrations(migrationsDir);

  const client = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    if ((error as { code?: string }).code === "3D000") {
      const name = decodeURIComponent(new URL(options.databaseUrl).pathname.slice(1));
      throw new MigrationError(
        `database "${name}" does not exist: create it, or pass createDatabase: true`,
        { cause: error },
      );
    }
    throw error;
  }
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
    if (schemaName !== "public") await refuseEarlierLayout(client, schemaName);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(createMigrationsTable(schema));
    const done = await client.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM ${schema}."_prisma_migrations"
       WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const finished = new Map(done.rows.map((row) => [row.migration_name, row.checksum]));
    for (const migration of migrations) {
      const recorded = finished.get(migration.name);
      if (recorded !== undefined) {
        if (recorded !== migration.checksum) {
          throw new MigrationError(`migration ${migration.name} was modified after it was applied`);
        }
        continue;
      }
      const id = randomUUID();
      await client.query("BEGIN");
      try {
        // SET LOCAL: the search path ends with the transaction, so it cannot
        // leak into a connection (or an embedded server's shared session).
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(
          `INSERT INTO ${schema}."_prisma_migrations" (id, checksum, migration_name, started_at)
           VALUES ($1, $2, $3, now())`,
          [id, migration.checksum, migration.name],
        );
        await client.query(migration.sql);
        await client.query(
          `UPDATE ${schema}."_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`,
          [id],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new MigrationError(`migration ${migration.name} failed`, { cause: error });
      }
      applied.push(migration.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => {});
    await client.end();
  }
  return { databaseCreated, applied };
}

// Version 0.1 kept the auth tables in `public`. Starting an empty `auth`
// schema beside them would look like every account had vanished.
async function refuseEarlierLayout(client: pg.Client, schemaName: string): Promise<void> {
  const found = await client.query<{ earlier: boolean; current: boolean }>(
    `SELECT
       to_regclass('public._prisma_migrations') IS NOT NULL
         AND EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'cache_repairs')
         AS "earlier",
       to_regclass($1) IS NOT NULL AS "current"`,
    [`${pg.escapeIdentifier(schemaName)}."_prisma_migrations"`],
  );
  const row = found.rows[0];
  if (!row?.earlier || row.current) return;
  const names = await client.query(
    `SELECT 1 FROM public."_prisma_migrations" WHERE migration_name = $1`,
    [FIRST_MIGRATION],
  );
  if (names.rowCount === 0) return;
  throw new MigrationError(
    `this database holds the auth tables of an earlier version in schema "public". ` +
      `Keep using them with DATABASE_SCHEMA=public (library: schema "public"), ` +
      `or move them first (README, "Upgrading from 0.1").`,
  );
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

/**
 * The connected `pg` client an operation on the maintenance database gets,
 * typed by what it may use: this module's declarations are part of
 * `versioned-jwt-auth/migrate`, and `@types/pg` is not a dependency.
 */
export interface MaintenanceClient {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
}

// CREATE DATABASE runs from another database: the server's `postgres`.
export async function onMaintenanceDatabase<T>(
  databaseUrl: string,
  operation: (admin: MaintenanceClient, database: string) => Promise<T>,
  connectionTimeoutMillis = 5000,
): Promise<T> {
  const database = decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
  if (!database) throw new MigrationError("DATABASE_URL names no database");
  const admin = new pg.Client({
    connectionString: databaseUrlNamed(databaseUrl, "postgres"),
    connectionTimeoutMillis,
  });
  admin.on("error", () => {});
  await admin.connect();
  try {
    return await operation(admin, database);
  } finally {
    await admin.end();
  }
}

/** Creates the database named in the URL; false when it already exists. */
export function createDatabaseIfMissing(
  databaseUrl: string,
  options: { connectionTimeoutMs?: number } = {},
): Promise<boolean> {
  return onMaintenanceDatabase(
    databaseUrl,
    async (admin, database) => {
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
    },
    options.connectionTimeoutMs,
  );
}

// The migrations ship beside the package: walk up from this file to find them,
// which works from src/ (tsx) and from dist/src/ (compiled) alike.
function findMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "prisma", "migrations");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new MigrationError("prisma/migrations not found beside the package");
    dir = parent;
  }
}
