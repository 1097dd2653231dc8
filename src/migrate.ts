// `versioned-jwt-auth/migrate`: applies the auth tables' migrations to their
// own Postgres schema, recorded as `prisma migrate deploy` records them.
export {
  migrateDatabase,
  MigrationError,
  type MigrateOptions,
  type MigrationResult,
} from "./db/migrate.js";
