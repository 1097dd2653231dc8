/**
 * The command line (src/server/bin.ts, the package's bin) and the guards of
 * the in-process parts: one instance per data directory, and no other kind of
 * instance beside one with an in-process cache.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import pg from "pg";
import request from "supertest";
import { ENVIRONMENT_VARIABLES } from "../src/server/environment.js";
import { loginPair, me, PASSWORD, refresh, register, uniqueEmail } from "./helpers/api.js";
import { freePort } from "./helpers/free-port.js";
import { scanKeys } from "./helpers/shared-prefix-keys.js";
import { startServerProcess } from "./helpers/server-process.js";
import {
  BASE_DATABASE_URL,
  createTestApp,
  databaseUrlFor,
  dropDatabase,
  testDatabaseName,
  type TestApp,
} from "./helpers/test-app.js";

/** Runs the CLI to completion; the environment is only what is given (and PATH). */
async function cli(args: string[], env: Record<string, string> = {}, cwd = process.cwd()) {
  const child = spawn(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), join(process.cwd(), "src/server/bin.ts"), ...args],
    { env: { PATH: process.env.PATH ?? "", ...env }, cwd, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  const [code] = (await once(child, "exit")) as [number];
  return { code, stdout, stderr };
}

const secret = randomBytes(32).toString("hex");
let t: TestApp;
let scratch: string;
beforeAll(async () => {
  t = await createTestApp({ secret });
  scratch = await mkdtemp(join(tmpdir(), "auth-cli-"));
});
afterAll(async () => {
  await t.close();
  await rm(scratch, { recursive: true, force: true });
});

async function deleteKeys(pattern: string) {
  const keys = await scanKeys(t.redis as Redis, pattern);
  if (keys.length > 0) await t.redis.del(...keys);
}

// The CLI as an operator runs it against the instances' Postgres and Redis.
const operatorEnv = () => ({
  DATABASE_URL: t.databaseUrl,
  REDIS_URL: "redis://127.0.0.1:6379",
  CACHE_KEY_PREFIX: t.keyPrefix,
  JWT_SECRET: secret,
  JWT_ISSUER: "test-issuer",
  JWT_AUDIENCE: "test-audience",
});

describe("versioned-jwt-auth --help", () => {
  it("lists the commands and every environment variable, and exits 0", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const command of ["start", "migrate", "revoke", "disable", "enable", "delete"]) {
      expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    }
    for (const variable of ENVIRONMENT_VARIABLES) expect(stdout).toContain(variable.name);
  });

  it("answers usage mistakes with exit 2 and the usage", async () => {
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    // The problem and where help is, not 70 lines of help.
    expect(unknown.stderr).toBe(
      "unknown command: frobnicate\nRun `versioned-jwt-auth --help` for the commands and variables.\n",
    );
    const noEmail = await cli(["revoke"]);
    expect(noEmail.code).toBe(2);
    expect(noEmail.stderr).toMatch(/^revoke needs --email <address>\nRun/);
    const noValue = await cli(["revoke", "--email"]);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr.split("\n")).toHaveLength(3);
  });
});

describe("versioned-jwt-auth migrate", () => {
  it("applies the migrations to a new database and exits 0; a second run applies nothing", async () => {
    const name = testDatabaseName("cli_migrate");
    try {
      const env = { DATABASE_URL: databaseUrlFor(name), REDIS_URL: "redis://127.0.0.1:6379" };
      const first = await cli(["migrate"], env);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(
        /^migrations applied to postgresql:\/\/127\.0\.0\.1:5432\/.*schema "auth": \d{14}_\w+/,
      );
      const client = new pg.Client({ connectionString: databaseUrlFor(name) });
      await client.connect();
      const tables = await client.query(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'auth' ORDER BY tablename`,
      );
      await client.end();
      expect(tables.rows.map((row) => row.tablename)).toEqual([
        "_prisma_migrations",
        "cache_repairs",
        "sessions",
        "users",
      ]);
      const second = await cli(["migrate"], env);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/schema "auth" is up to date: no migrations to apply\n$/);
    } finally {
      await dropDatabase(name);
    }
  });
});

describe("the operator commands", () => {
  it("revoke signs an account out everywhere: its tokens are refused at once by a running instance", async () => {
    const email = uniqueEmail("cli-revoke");
    await register(t.app, email);
    const pair = await loginPair(t.app, email);
    expect((await me(t.app, pair.accessToken)).status).toBe(200); // cached
    const { code, stdout, stderr } = await cli(
      ["revoke", "--email", email.toUpperCase()],
      operatorEnv(),
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toBe(`${email}: signed out everywhere\n`); // as stored
    expect(stderr).toBe("");
    const res = await me(t.app, pair.accessToken);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("token_revoked");
    expect((await refresh(t.app, pair.refreshToken)).body.error.code).toBe("invalid_refresh_token");
  });

  it("needs no JWT_SECRET, and then writes no secret (nor anything else) where it runs", async () => {
    const email = uniqueEmail("cli-nosecret");
    await register(t.app, email);
    const pair = await loginPair(t.app, email);
    expect((await me(t.app, pair.accessToken)).status).toBe(200);
    const cwd = await mkdtemp(join(scratch, "no-secret-"));
    const withoutSecret: Record<string, string> = operatorEnv();
    delete withoutSecret.JWT_SECRET;
    const { code, stderr } = await cli(["revoke", "--email", email], withoutSecret, cwd);
    expect(code, stderr).toBe(0);
    expect((await me(t.app, pair.accessToken)).body.error.code).toBe("token_revoked");
    expect(await readdir(cwd)).toEqual([]);
  });

  it("disable, enable and delete act at once too", async () => {
    const email = uniqueEmail("cli-disable");
    await register(t.app, email);
    const pair = await loginPair(t.app, email);
    expect((await me(t.app, pair.accessToken)).status).toBe(200);
    expect((await cli(["disable", "--email", email], operatorEnv())).code).toBe(0);
    expect((await me(t.app, pair.accessToken)).body.error.code).toBe("account_disabled");
    const refused = await request(t.app).post("/login").send({ email, password: PASSWORD });
    expect(refused.status).toBe(403);
    expect((await cli(["enable", "--email", email], operatorEnv())).code).toBe(0);
    const again = await loginPair(t.app, email);
    expect((await me(t.app, again.accessToken)).status).toBe(200);
    const deleted = await cli(["delete", "--email", email], operatorEnv());
    expect(deleted.stdout).toBe(`${email}: deleted\n`);
    expect((await me(t.app, again.accessToken)).body.error.code).toBe("invalid_token");
  });

  it("under a key prefix no server uses, it still revokes in Postgres but warns and exits 4", async () => {
    const email = uniqueEmail("cli-prefix");
    await register(t.app, email);
    const pair = await loginPair(t.app, email);
    expect((await me(t.app, pair.accessToken)).status).toBe(200); // cached under t's prefix
    const wrong = await cli(["revoke", "--email", email], {
      ...operatorEnv(),
      CACHE_KEY_PREFIX: `${t.keyPrefix}typo:`,
    });
    try {
      expect(wrong.code).toBe(4);
      expect(wrong.stdout).toBe(`${email}: signed out everywhere\n`);
      expect(wrong.stderr).toMatch(
        new RegExp(`^warning: no server has used the Redis key prefix "${t.keyPrefix}typo:"`),
      );
      expect(wrong.stderr).toMatch(
        /\(CACHE_TTL_SECONDS=\d+\): run this again with their settings\.\n$/,
      );
      // Run again as it was (not "with their settings"): the same warning, not this
      // command's own mark taken for a server's.
      const again = await cli(["revoke", "--email", email], {
        ...operatorEnv(),
        CACHE_KEY_PREFIX: `${t.keyPrefix}typo:`,
      });
      expect(again.code).toBe(4);
      expect(again.stderr).toMatch(/^warning: no server has used the Redis key prefix/);
      // What the warning is about: the running instance's cached entry was not
      // written (its repair loop may still catch the change in Postgres, but
      // only by luck of timing); with the instances' settings it is at once.
      expect((await cli(["revoke", "--email", email], operatorEnv())).code).toBe(0);
      expect((await me(t.app, pair.accessToken)).body.error.code).toBe("token_revoked");
    } finally {
      await deleteKeys(`${t.keyPrefix}typo:*`);
    }
  });

  it("on a database without the auth tables it says to migrate, in one line, and changes nothing", async () => {
    const name = testDatabaseName("cli_unmigrated");
    const client = new pg.Client({ connectionString: BASE_DATABASE_URL });
    await client.connect();
    await client.query(`CREATE DATABASE "${name}"`);
    await client.end();
    try {
      const result = await cli(["revoke", "--email", "a@example.com"], {
        ...operatorEnv(),
        DATABASE_URL: databaseUrlFor(name),
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^revoke failed: the auth tables in Postgres schema "auth" are missing .*versioned-jwt-auth migrate/,
      );
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).not.toMatch(/Redis answers/);
    } finally {
      await dropDatabase(name);
    }
  });

  it("in a data directory with no embedded database it refuses and creates nothing", async () => {
    const dataDir = join(scratch, "never-started");
    const result = await cli(["disable", "--email", "a@example.com"], {
      EMBEDDED: "on",
      DATA_DIR: dataDir,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `disable failed: no embedded database in ${dataDir}: run this where the server keeps its data (set DATA_DIR to its data directory), or start the server once\n`,
    );
    expect(existsSync(dataDir)).toBe(false);
  });

  it("an unknown email exits 3 and changes nothing", async () => {
    const result = await cli(["revoke", "--email", "nobody-at-all@example.com"], operatorEnv());
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/no account with the email nobody-at-all@example.com/);
  });
});

describe("in-process parts are for one instance", () => {
  it("a second server on the same data directory is refused, and so is an operator command", async () => {
    const dataDir = join(scratch, "one");
    const port = await freePort();
    const first = startServerProcess({ EMBEDDED: "on", DATA_DIR: dataDir, PORT: String(port) });
    try {
      await first.listening(port);
      const second = startServerProcess({ EMBEDDED: "on", DATA_DIR: dataDir, PORT: "0" });
      expect(await second.exited).toBe(1);
      expect(second.output().stderr).toMatch(
        new RegExp(`refusing to start: the data directory ${dataDir} is in use by process \\d+`),
      );
      const operator = await cli(["revoke", "--email", "a@example.com"], {
        EMBEDDED: "on",
        DATA_DIR: dataDir,
      });
      expect(operator.code).toBe(1);
      expect(operator.stderr).toMatch(/in use by a running server/);
    } finally {
      first.child.kill("SIGTERM");
      expect(await first.exited).toBe(0);
    }
    // The lock goes with the process: a later start takes the directory.
    const again = startServerProcess({ EMBEDDED: "on", DATA_DIR: dataDir, PORT: String(port) });
    try {
      await again.listening(port);
    } finally {
      again.child.kill("SIGKILL");
      await again.exited;
    }
    // A lock left by a killed process is taken over.
    const afterKill = startServerProcess({ EMBEDDED: "on", DATA_DIR: dataDir, PORT: String(port) });
    try {
      await afterKill.listening(port);
    } finally {
      afterKill.child.kill("SIGTERM");
      await afterKill.exited;
    }
  });

  it("beside a server with an in-process cache on real Postgres, no other instance or operator command runs", async () => {
    const name = testDatabaseName("cli_guard");
    const databaseUrl = databaseUrlFor(name);
    const port = await freePort();
    const alone = startServerProcess({
      EMBEDDED: "on",
      DATABASE_URL: databaseUrl,
      DATA_DIR: join(scratch, "guard"),
      JWT_SECRET: secret,
      PORT: String(port),
    });
    try {
      await alone.listening(port);
      expect(alone.output().stdout).toContain('"cache":"in-process (this instance only)"');
      const withMemory = startServerProcess({
        EMBEDDED: "on",
        DATABASE_URL: databaseUrl,
        DATA_DIR: join(scratch, "guard2"),
        JWT_SECRET: secret,
        PORT: "0",
      });
      expect(await withMemory.exited).toBe(1);
      expect(withMemory.output().stderr).toMatch(/an in-process cache cannot be shared/);
      const withRedis = startServerProcess({
        DATABASE_URL: databaseUrl,
        REDIS_URL: "redis://127.0.0.1:6379",
        JWT_SECRET: secret,
        PORT: "0",
      });
      expect(await withRedis.exited).toBe(1);
      expect(withRedis.output().stderr).toMatch(
        /an instance with an in-process cache runs on this database/,
      );
      const operator = await cli(["revoke", "--email", "a@example.com"], {
        DATABASE_URL: databaseUrl,
        REDIS_URL: "redis://127.0.0.1:6379",
        JWT_SECRET: secret,
      });
      expect(operator.code).toBe(1);
      expect(operator.stderr).toMatch(/a server with an in-process cache runs on this database/);
    } finally {
      alone.child.kill("SIGTERM");
      await alone.exited;
      await dropDatabase(name);
    }
  });
});
