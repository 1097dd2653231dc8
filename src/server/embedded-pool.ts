// One connection to the embedded database (see embedded-postgres.ts); kept
// apart so that sizing the pool does not load PGlite.
export const EMBEDDED_POOL_SIZE = 1;
