import pg from "pg";
import { onMaintenanceDatabase } from "../../src/db/migrate.js";

/** Drops the database named in the URL, closing its connections (tests and benchmarks). */
export function dropDatabaseIfExists(databaseUrl: string): Promise<void> {
  return onMaintenanceDatabase(databaseUrl, async (admin, database) => {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  });
}
