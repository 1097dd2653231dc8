/**
 * A new embedded database is made beside its final place and renamed into it:
 * a start stopped half-way (Ctrl-C while PGlite initialises) leaves only a
 * `postgres.partial` directory, which the next start discards.
 */
import { afterEach, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/server/embedded-postgres.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe("creating the embedded database", () => {
  it("discards what an interrupted creation left and replaces an empty directory", async () => {
    dir = await mkdtemp(join(tmpdir(), "auth-pglite-init-"));
    const target = join(dir, "postgres");
    await mkdir(join(dir, "postgres.partial"));
    await writeFile(join(dir, "postgres.partial", "PG_VERSION"), "18\n");
    await mkdir(target);
    const embedded = await startEmbeddedPostgres({ dataDir: target });
    try {
      const client = new pg.Client({ connectionString: embedded.url });
      await client.connect();
      expect((await client.query("SELECT 1 + 1 AS two")).rows).toEqual([{ two: 2 }]);
      await client.end();
    } finally {
      await embedded.stop();
    }
    expect(existsSync(join(target, "PG_VERSION"))).toBe(true);
    expect(existsSync(join(dir, "postgres.partial"))).toBe(false);
  }, 120_000);

  it("refuses to replace a non-empty directory that holds no database", async () => {
    dir = await mkdtemp(join(tmpdir(), "auth-pglite-init-"));
    const target = join(dir, "postgres");
    await mkdir(target);
    await writeFile(join(target, "notes.txt"), "someone's file\n");
    await expect(startEmbeddedPostgres({ dataDir: target })).rejects.toThrow(
      /holds no database \(no PG_VERSION\): move it away/,
    );
    expect(existsSync(join(target, "notes.txt"))).toBe(true);
  }, 120_000);
});
