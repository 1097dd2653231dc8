/**
 * The library in someone else's Express app, set up the way README.md's "Use
 * it as a library" section says, literally: this packs the package (from a
 * copy of the working tree with no dist/, as in a fresh clone), creates a
 * scratch project, runs the README's install commands with the tarball in
 * place of `versioned-jwt-auth` and no compiler on the PATH, writes the
 * README's files, runs its build and start commands, and drives the flow over
 * HTTP against real Postgres and Redis. A second project does the same at the
 * low ends of the peer ranges (ioredis 5, Prisma 7.3.0). Both install, build
 * and start at once; the tests wait for their steps in order. Set
 * KEEP_CONSUMER_PROJECTS=1 to keep the scratch projects (their path is in
 * the failure messages).
 *
 * Sizes and times are annotations, not assertions (the verbose reporter shows
 * them). For comparison, the 0.1 release state (commit 2eea09d), measured the
 * same way on the 2-core dev box (Node 20.20, npm 11.19, warm npm cache):
 *   - tarball 20.5 kB packed, 60.3 kB unpacked, 7 files: no dist/ at all
 *     (no prepack), so nothing to import even if it installed;
 *   - its tarball in this README's runtime install line (0.1's README had
 *     none) fails after 4-8 s with no compiler on the PATH: argon2's prebuilt binary crashes its load test here, its
 *     install script falls back to node-gyp, "Could not find any Python
 *     installation to use"; with compilers it fails after 8-15 s in the
 *     package's own postinstall: "Cannot find module
 *     .../node_modules/versioned-jwt-auth/scripts/prisma-generate.mjs";
 *   - installed with --ignore-scripts for a size comparison: 102 MB of
 *     node_modules after the runtime line, 362 MB after the dev line
 *     (0.2: 128 MB and 389 MB; PGlite for the embedded mode is 27 MB of it).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { setPriority, tmpdir } from "node:os";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabaseIfMissing } from "../src/db/migrate.js";
import { PASSWORD } from "./helpers/api.js";
import { dropDatabaseIfExists } from "./helpers/database.js";
import { freePort } from "./helpers/free-port.js";
import {
  restoreSharedPrefix,
  snapshotSharedPrefix,
  type SharedPrefixSnapshot,
} from "./helpers/shared-prefix-keys.js";
import {
  connectRedis,
  databaseUrlFor,
  SHARED_REDIS_URL,
  testDatabaseName,
} from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const README = await readFile(join(REPO, "README.md"), "utf8");
const KEEP = Boolean(process.env.KEEP_CONSUMER_PROJECTS);

// What a consumer's shell has: node, npm and npx of the Node running this
// suite, and basic utilities. No compiler, make or Python.
const UTILITIES = [
  "sh",
  "bash",
  "env",
  "cat",
  "ls",
  "mkdir",
  "rm",
  "cp",
  "mv",
  "ln",
  "chmod",
  "dirname",
  "basename",
  "uname",
  "sed",
  "grep",
  "head",
  "tail",
  "sort",
  "tr",
  "wc",
  "find",
  "xargs",
  "readlink",
  "realpath",
];
const COMPILERS = ["g++", "gcc", "cc", "c++", "make", "python3", "python"];
const NPM_FLAGS = ["--no-audit", "--no-fund", "--prefer-offline"];

// The README's app (src/server.ts) links its own users to auth accounts.
const USERS_TABLE_MIGRATIONS = [
  // The app's first migration, long before it used this package (as
  // `prisma migrate dev` writes it for the model without `authUserId`).
  `CREATE TABLE "users" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
  );
  CREATE UNIQUE INDEX "users_email_key" ON "users"("email");`,
  // Its migration for the README's one new column.
  `ALTER TABLE "users" ADD COLUMN "auth_user_id" UUID;
  CREATE UNIQUE INDEX "users_auth_user_id_key" ON "users"("auth_user_id");`,
];

interface ConsumerSpec {
  name: string;
  /** README install arguments replaced by pinned ones, e.g. ioredis → ioredis@5. */
  pins: Record<string, string>;
  /** Expected installed versions (prefix match). */
  expectVersions: Record<string, string>;
  skipLibCheck: boolean;
  /**
   * Dev dependencies the README says a `"skipLibCheck": false` app adds, because
   * a peer's declarations import types it does not depend on.
   */
  typesForLibCheck: string[];
  /**
   * A new project: its users table and tsconfig.json are the README's
   * new-project ones (else an app that had users, with a strict tsconfig).
   */
  newProject: boolean;
}

const LATEST: ConsumerSpec = {
  name: "latest",
  pins: {},
  expectVersions: {},
  skipLibCheck: false,
  // ioredis 6.1's declarations import `redis-errors` without depending on its types.
  typesForLibCheck: ["@types/redis-errors"],
  newProject: false,
};

const LOWER_BOUNDS: ConsumerSpec = {
  name: "lower-bounds",
  pins: {
    ioredis: "ioredis@5",
    "@prisma/client": "@prisma/client@7.3.0",
    "@prisma/adapter-pg": "@prisma/adapter-pg@7.3.0",
    prisma: "prisma@7.3.0",
  },
  expectVersions: {
    ioredis: "5.",
    "@prisma/client": "7.3.0",
    "@prisma/adapter-pg": "7.3.0",
    prisma: "7.3.0",
  },
  // @prisma/adapter-pg before 7.5 ships declarations that import `pg` without
  // depending on @types/pg (the README says so). This package's own
  // declarations are still checked with skipLibCheck off, on their own.
  skipLibCheck: true,
  typesForLibCheck: [],
  newProject: true,
};

// ---------------------------------------------------------------------------
// README blocks

/** The fenced block right after `<!-- marker -->`. */
function readmeBlock(marker: string): { lang: string; body: string } {
  const at = README.indexOf(`<!-- ${marker} -->`);
  if (at < 0) throw new Error(`README.md has no <!-- ${marker} --> marker`);
  const match = /^\s*```(\w*)\n([\s\S]*?)\n```/.exec(README.slice(at + marker.length + 9));
  if (!match) throw new Error(`no fenced block right after <!-- ${marker} -->`);
  return { lang: match[1]!, body: match[2]! };
}

function readmeFiles(): { path: string; body: string }[] {
  const files: { path: string; body: string }[] = [];
  for (const [, path] of README.matchAll(/<!-- consumer-file: (\S+) -->/g)) {
    files.push({ path: path!, body: readmeBlock(`consumer-file: ${path}`).body });
  }
  return files;
}

function commandLines(marker: string): string[] {
  const { lang, body } = readmeBlock(marker);
  expect(lang).toBe("sh");
  return body
    .split("\n")
    .map((line) => line.replace(/\s+#.*$/, "").trim())
    .filter((line) => line && !line.startsWith("#"));
}

// ---------------------------------------------------------------------------
// Processes

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env });
    // Installs and compiles yield the CPU to the suite's timing-sensitive
    // files running beside this one (the niceness is inherited by what npm,
    // npx and tsc start, which happens later than this).
    try {
      if (child.pid !== undefined) setPriority(child.pid, 10);
    } catch {
      // Already gone.
    }
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

async function mustRun(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `\`${[command, ...args].join(" ")}\` in ${options.cwd} exited with ${result.code}\n` +
        `--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`,
    );
  }
  return result;
}

function findOnPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** npm's own entry scripts, so that npm runs on the Node running this suite (20 or 24). */
async function npmScripts(): Promise<{ npm: string; npx: string }> {
  const fromEnv = process.env.npm_execpath;
  const npmCli =
    fromEnv && fromEnv.endsWith("npm-cli.js")
      ? fromEnv
      : await realpath(findOnPath("npm") ?? "npm (not on the PATH)");
  const npx = join(dirname(npmCli), "npx-cli.js");
  if (!existsSync(npx)) throw new Error(`no npx-cli.js beside ${npmCli}`);
  return { npm: npmCli, npx };
}

/** A bin directory with node (this process's), npm, npx and basic utilities only. */
async function toolsWithoutCompilers(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });
  const { npm, npx } = await npmScripts();
  await symlink(process.execPath, join(bin, "node"));
  await symlink(npm, join(bin, "npm"));
  await symlink(npx, join(bin, "npx"));
  for (const tool of UTILITIES) {
    const found = findOnPath(tool);
    if (found) await symlink(found, join(bin, tool));
  }
  return bin;
}

/** The environment of a consumer's shell: nothing of this suite's npm run, PATH = tools only. */
function consumerEnv(bin: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const inherited = /^(npm_|NODE$|NODE_OPTIONS$|NODE_ENV$|VITEST|TEST$|INIT_CWD$)/;
  const ours = /^(PATH|PYTHON|CC|CXX|MAKE|DATABASE_URL|REDIS_URL|JWT_SECRET|PORT)$/;
  for (const [key, value] of Object.entries(process.env)) {
    if (!inherited.test(key) && !ours.test(key)) env[key] = value;
  }
  return {
    ...env,
    PATH: bin,
    // Offline only: `prisma generate` never runs the schema engine but fetches
    // it unless this names a file (as scripts/prisma-generate.mjs does). A
    // user with internet access needs nothing.
    PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
    ...extra,
  };
}

async function duKiB(path: string): Promise<number> {
  const { stdout } = await promisify(execFile)("du", ["-sk", path]);
  return Number(stdout.split("\t")[0]);
}

const mb = (kib: number) => `${(kib / 1024).toFixed(0)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------
// Pack

interface Packed {
  tarball: string;
  ms: number;
  size: number;
  unpackedSize: number;
  files: string[];
}

// What a fresh clone does not have; the copy links the suite's node_modules.
const NOT_IN_A_CLONE =
  /^(node_modules|dist|\.git|\.data|coverage|\.env|src\/generated|bench\/results)(\/|$)/;

async function pack(root: string, bin: string): Promise<Packed> {
  const clone = join(root, "clone");
  await cp(REPO, clone, {
    recursive: true,
    filter: (source) => !NOT_IN_A_CLONE.test(relative(REPO, source)),
  });
  await symlink(join(REPO, "node_modules"), join(clone, "node_modules"));
  const result = await mustRun("npm", ["pack", "--pack-destination", root, "--json"], {
    cwd: clone,
    env: consumerEnv(bin),
    timeoutMs: 120_000,
  });
  // Lifecycle output (prisma generate) comes before npm's JSON.
  const json = result.stdout.slice(result.stdout.search(/^\[/m));
  const [info] = JSON.parse(json) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  return {
    tarball: join(root, info!.filename),
    ms: result.ms,
    size: info!.size,
    unpackedSize: info!.unpackedSize,
    files: info!.files.map((file) => file.path),
  };
}

// ---------------------------------------------------------------------------
// A consumer project

interface Installed {
  dir: string;
  env: NodeJS.ProcessEnv;
  steps: { command: string; ms: number }[];
  runtimeKiB: number;
  totalKiB: number;
  versions: Record<string, string>;
  output: string;
  /** What the runtime line (the tarball and its peers) printed. */
  runtimeOutput: string;
}

interface Running {
  url: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  databaseUrl: string;
  existingEmail: string;
}

interface Consumer {
  spec: ConsumerSpec;
  installed: Promise<Installed>;
  generated: Promise<RunResult[]>;
  typechecked: Promise<RunResult>;
  built: Promise<RunResult[]>;
  running: Promise<Running>;
  databaseName: string;
  userIds: string[];
}

function installCommands(spec: ConsumerSpec, tarball: string): string[][] {
  const pinned = new Set<string>();
  const commands = commandLines("consumer-install").map((line) => {
    const args = line.split(/\s+/);
    expect(args.slice(0, 2), line).toEqual(["npm", "install"]);
    return args.slice(1).map((arg) => {
      if (arg === "versioned-jwt-auth") return tarball;
      const pin = spec.pins[arg];
      if (pin) pinned.add(arg);
      return pin ?? arg;
    });
  });
  expect(commands.flat()).toContain(tarball);
  expect([...pinned].sort()).toEqual(Object.keys(spec.pins).sort());
  if (spec.typesForLibCheck.length > 0) {
    for (const name of spec.typesForLibCheck) expect(README, name).toContain(`\`${name}\``);
    commands.push(["install", "--save-dev", ...spec.typesForLibCheck]);
  }
  return commands.map((args) => [...args, ...NPM_FLAGS]);
}

async function install(
  spec: ConsumerSpec,
  root: string,
  bin: string,
  packed: Promise<Packed>,
): Promise<Installed> {
  const dir = join(root, spec.name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "package.json"),
    JSON.stringify({
      name: `consumer-${spec.name}`,
      version: "1.0.0",
      private: true,
      type: "module",
    }),
  );
  const env = consumerEnv(bin);
  const { tarball } = await packed;
  const steps: { command: string; ms: number }[] = [];
  let output = "";
  let runtimeOutput: string | undefined;
  let runtimeKiB = 0;
  for (const args of installCommands(spec, tarball)) {
    const result = await mustRun("npm", args, { cwd: dir, env, timeoutMs: 150_000 });
    steps.push({
      command: ["npm", ...args].join(" ").replace(tarball, "<tarball>"),
      ms: result.ms,
    });
    output += result.stdout + result.stderr;
    runtimeOutput ??= result.stdout + result.stderr;
    if (!runtimeKiB) runtimeKiB = await duKiB(join(dir, "node_modules"));
  }
  const versions: Record<string, string> = {};
  for (const name of [
    "versioned-jwt-auth",
    "express",
    "ioredis",
    "@prisma/client",
    "@prisma/adapter-pg",
    "prisma",
    "typescript",
    "@types/express",
    "@types/node",
  ]) {
    const manifest = JSON.parse(
      await readFile(join(dir, "node_modules", name, "package.json"), "utf8"),
    ) as { version: string };
    versions[name] = manifest.version;
  }
  return {
    dir,
    env,
    steps,
    runtimeKiB,
    totalKiB: await duKiB(join(dir, "node_modules")),
    versions,
    output,
    runtimeOutput: runtimeOutput ?? "",
  };
}

/** The README's files, and what it leaves to the app's own setup: tsconfig.json. */
async function writeProject(spec: ConsumerSpec, installed: Installed): Promise<void> {
  const files = readmeFiles();
  expect(files.map((file) => file.path)).toContain("src/server.ts");
  for (const file of files) {
    await mkdir(dirname(join(installed.dir, file.path)), { recursive: true });
    await writeFile(join(installed.dir, file.path), `${file.body}\n`);
  }
  const tsconfig = spec.newProject
    ? (JSON.parse(readmeBlock("consumer-new-project-tsconfig").body) as {
        compilerOptions: Record<string, unknown>;
      })
    : {
        compilerOptions: {
          strict: true,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2022",
          outDir: "dist",
          rootDir: "src",
          skipLibCheck: spec.skipLibCheck,
        },
        include: ["src"],
      };
  const { compilerOptions } = tsconfig;
  expect(compilerOptions.skipLibCheck).toBe(spec.skipLibCheck);
  await writeFile(join(installed.dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  if (spec.skipLibCheck) {
    // This package's public declarations, with skipLibCheck off: they must
    // need nothing beyond the peers the README names.
    await writeFile(
      join(installed.dir, "library-types.ts"),
      'export * from "versioned-jwt-auth";\nexport * from "versioned-jwt-auth/migrate";\n',
    );
    await writeFile(
      join(installed.dir, "tsconfig.library-types.json"),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, skipLibCheck: false, noEmit: true, rootDir: "." },
        files: ["library-types.ts"],
      }),
    );
  }
}

function consumer(
  spec: ConsumerSpec,
  root: Promise<{ dir: string; bin: string }>,
  packed: Promise<Packed>,
): Consumer {
  const databaseName = testDatabaseName("consumer");
  const userIds: string[] = [];
  const installed = root.then(({ dir, bin }) => install(spec, dir, bin, packed));
  const runLines = commandLines("consumer-run");
  const generateLines = runLines.filter((line) => line.startsWith("npx prisma "));
  const buildLines = runLines.filter((line) => line.startsWith("npx tsc"));
  const npx = (line: string, c: Installed) =>
    mustRun("npx", line.split(/\s+/).slice(1), { cwd: c.dir, env: c.env, timeoutMs: 120_000 });

  const generated = installed.then(async (c) => {
    await writeProject(spec, c);
    expect(generateLines.length, "the README says how to generate the Prisma client").toBe(1);
    const results: RunResult[] = [];
    for (const line of generateLines) results.push(await npx(line, c));
    return results;
  });
  const typechecked = generated.then(async () => {
    const c = await installed;
    if (spec.skipLibCheck) {
      await mustRun("npx", ["tsc", "-p", "tsconfig.library-types.json"], {
        cwd: c.dir,
        env: c.env,
      });
    }
    return mustRun("npx", ["tsc", "--noEmit", "-p", "."], { cwd: c.dir, env: c.env });
  });
  const built = typechecked.then(async () => {
    const c = await installed;
    expect(buildLines.length, "the README says how to build the app").toBe(1);
    const results: RunResult[] = [];
    for (const line of buildLines) results.push(await npx(line, c));
    return results;
  });
  const running = built.then(async () => start(spec, await installed, databaseName, runLines));
  for (const step of [installed, generated, typechecked, built, running]) step.catch(() => {});
  return { spec, installed, generated, typechecked, built, running, databaseName, userIds };
}

async function createAppDatabase(
  spec: ConsumerSpec,
  databaseUrl: string,
  existingEmail: string,
): Promise<void> {
  await createDatabaseIfMissing(databaseUrl);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    if (spec.newProject) {
      const { lang, body } = readmeBlock("consumer-new-project-sql");
      expect(lang).toBe("sql");
      await client.query(body);
      // A user the app made itself, without this package.
      await client.query("INSERT INTO users (email) VALUES ($1)", [existingEmail]);
      return;
    }
    await client.query(USERS_TABLE_MIGRATIONS[0]!);
    // A user the app had before it used this package.
    await client.query("INSERT INTO users (email) VALUES ($1)", [existingEmail]);
    await client.query(USERS_TABLE_MIGRATIONS[1]!);
  } finally {
    await client.end();
  }
}

async function start(
  spec: ConsumerSpec,
  c: Installed,
  databaseName: string,
  runLines: string[],
): Promise<Running> {
  const startLines = runLines
    .map((line) => /^((?:[A-Z_]+=\S+\s+)+)node\s+(\S+)$/.exec(line))
    .filter((match) => match !== null);
  expect(startLines.length, "the README says how to start the app").toBe(1);
  const [, assignments, script] = startLines[0]!;
  const names = assignments!
    .trim()
    .split(/\s+/)
    .map((pair) => pair.split("=")[0]);
  expect(names.sort()).toEqual(["DATABASE_URL", "JWT_SECRET", "REDIS_URL"]);

  const databaseUrl = databaseUrlFor(databaseName);
  const existingEmail = `existing-${databaseName}@example.com`;
  await createAppDatabase(spec, databaseUrl, existingEmail);
  const port = await freePort();
  const child = spawn("node", [script!], {
    cwd: c.dir,
    env: consumerEnv(String(c.env.PATH), {
      DATABASE_URL: databaseUrl,
      REDIS_URL: SHARED_REDIS_URL,
      JWT_SECRET: randomBytes(48).toString("base64"),
      PORT: String(port), // src/server.ts: Number(process.env.PORT ?? 3000)
    }),
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) {
        throw new Error(`node ${script} exited with ${child.exitCode}:\n${stderr}`);
      }
      return (await fetch(`${url}/auth/readyz`)).status === 200;
    },
    { timeoutMs: 30_000, intervalMs: 100, what: `the consumer app to be ready (${stderr})` },
  ).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return { url, child, stdout: () => stdout, stderr: () => stderr, databaseUrl, existingEmail };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

async function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string } = {},
) {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers["content-type"] = "application/json";
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (text ? JSON.parse(text) : null) as any };
}

async function appUsers(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number; email: string; auth_user_id: string | null }>(
      "SELECT id, email, auth_user_id FROM public.users ORDER BY id",
    );
    return rows;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------

let root: Promise<{ dir: string; bin: string }>;
let packed: Promise<Packed>;
let consumers: Consumer[] = [];
let redis: Redis;
let sharedKeys: SharedPrefixSnapshot;

beforeAll(async () => {
  // The README's app uses the default key prefix "auth:", shared with other runs.
  redis = await connectRedis(SHARED_REDIS_URL);
  sharedKeys = await snapshotSharedPrefix(redis, "auth:");
  root = (async () => {
    const dir = await mkdtemp(join(tmpdir(), "vja-consumer-"));
    return { dir, bin: await toolsWithoutCompilers(dir) };
  })();
  packed = root.then(({ dir, bin }) => pack(dir, bin));
  packed.catch(() => {});
  // Both projects install, build and start at once; the tests below wait for their steps.
  consumers = [consumer(LATEST, root, packed), consumer(LOWER_BOUNDS, root, packed)];
});

afterAll(async () => {
  for (const c of consumers) {
    const running = await c.running.catch(() => null);
    if (running) await stop(running.child);
    await dropDatabaseIfExists(databaseUrlFor(c.databaseName));
  }
  if (redis) {
    await restoreSharedPrefix(
      redis,
      sharedKeys,
      consumers.flatMap((c) => c.userIds),
    );
    redis.disconnect();
  }
  const dir = await root?.then((r) => r.dir).catch(() => undefined);
  if (dir && !KEEP) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("packing", () => {
  it("gives the consumer's shell this suite's node and npm, and no compiler", async () => {
    const { bin } = await root;
    const env = consumerEnv(bin);
    for (const tool of COMPILERS) expect(findOnPath(tool, bin), tool).toBeUndefined();
    const shell = await run("sh", ["-c", `command -v ${COMPILERS.join(" ")}; true`], {
      cwd: bin,
      env,
    });
    expect(shell.stdout.trim()).toBe("");
    const node = await mustRun("node", ["-p", "process.execPath"], { cwd: bin, env });
    expect(node.stdout.trim()).toBe(process.execPath);
    // npm itself runs on that node too (`npm version` reports its own process's versions).
    const npm = await mustRun("npm", ["version", "--json"], { cwd: bin, env });
    expect(JSON.parse(npm.stdout).node).toBe(process.versions.node);
  });

  it("npm pack builds dist/ on a fresh clone (prepack) and packs only what a consumer needs", async ({
    annotate,
  }) => {
    const result = await packed;
    await annotate(
      `npm pack: ${seconds(result.ms)}; tarball ${(result.size / 1000).toFixed(1)} kB, ` +
        `unpacked ${(result.unpackedSize / 1000).toFixed(1)} kB, ${result.files.length} files`,
    );
    expect(result.files).toContain("dist/src/index.js");
    expect(result.files).toContain("dist/src/index.d.ts");
    expect(result.files).toContain("dist/src/migrate.js");
    expect(result.files).toContain("dist/src/server/bin.js");
    expect(result.files.some((file) => file.startsWith("prisma/migrations/"))).toBe(true);
    expect(result.files.filter((file) => /^(src|test|bench|scripts)\//.test(file))).toEqual([]);
    expect(result.files.filter((file) => file.endsWith(".map"))).toEqual([]);
  }, 150_000);
});

for (const [index, spec] of [LATEST, LOWER_BOUNDS].entries()) {
  describe(`a consumer project (${spec.name})`, () => {
    const c = () => consumers[index]!;

    it("installs with the README's commands, no compiler and no peer conflict", async ({
      annotate,
    }) => {
      const installed = await c().installed;
      for (const step of installed.steps) await annotate(`${seconds(step.ms)}: ${step.command}`);
      await annotate(
        `node_modules: ${mb(installed.runtimeKiB)} after the runtime line, ` +
          `${mb(installed.totalKiB)} in all; ${JSON.stringify(installed.versions)}`,
      );
      expect(installed.output).not.toMatch(/ERESOLVE|gyp (info|ERR)|node-gyp rebuild/);
      // Nothing of ours runs, or is even listed to run, when a consumer installs the tarball
      // and its peers. (The dev line's `prisma` CLI has install scripts of its own; npm may
      // list those, and they are the consumer's choice, not ours.)
      expect(installed.runtimeOutput).not.toMatch(/install-scripts/);
      expect(installed.output).not.toMatch(/install-scripts.*versioned-jwt-auth/);
      const manifest = JSON.parse(
        await readFile(join(installed.dir, "node_modules/versioned-jwt-auth/package.json"), "utf8"),
      ) as { scripts?: Record<string, string> };
      expect(
        Object.keys(manifest.scripts ?? {}).filter((name) =>
          /^(pre|post)?(install|prepare)$/.test(name),
        ),
      ).toEqual([]);
      expect(installed.versions["versioned-jwt-auth"]).toBe(
        JSON.parse(await readFile(join(REPO, "package.json"), "utf8")).version,
      );
      for (const [name, prefix] of Object.entries(spec.expectVersions)) {
        expect(installed.versions[name], name).toMatch(
          new RegExp(`^${prefix.replace(/\./g, "\\.")}`),
        );
      }
    }, 240_000);

    it("generates the app's Prisma client with the README's command", async () => {
      const [generate] = await c().generated;
      expect(generate!.stdout + generate!.stderr).toMatch(/Generated Prisma Client/);
      const { dir } = await c().installed;
      expect(existsSync(join(dir, "src/generated/prisma/client.ts"))).toBe(true);
    }, 60_000);

    it("type-checks the README's app with strict TypeScript", async ({ annotate }) => {
      const result = await c().typechecked;
      await annotate(
        `tsc --noEmit (${(await c().installed).versions.typescript}, skipLibCheck ${spec.skipLibCheck}): ${seconds(result.ms)}`,
      );
      expect(result.stdout + result.stderr).toBe("");
    }, 60_000);

    it("builds and starts with the README's commands", async () => {
      await c().built;
      const running = await c().running;
      expect((await call(running.url, "GET", "/auth/healthz")).status).toBe(200);
    }, 60_000);

    it("register links the app's own user; login, the app's route, logout and refresh behave", async () => {
      const { url, databaseUrl, existingEmail } = await c().running;
      const email = `new-${c().databaseName}@example.com`;

      expect((await call(url, "GET", "/api/profile")).body.error.code).toBe("missing_token");

      const registered = await call(url, "POST", "/auth/register", {
        body: { email, password: PASSWORD },
      });
      expect(registered.status, JSON.stringify(registered.body)).toBe(201);
      const accountId = registered.body.user.id as string;
      c().userIds.push(accountId);
      // onRegister created the app's row: a new Int id after the existing user.
      const rows = await appUsers(databaseUrl);
      expect(rows).toEqual([
        { id: 1, email: existingEmail, auth_user_id: null },
        { id: 2, email, auth_user_id: accountId },
      ]);

      const login = await call(url, "POST", "/auth/login", { body: { email, password: PASSWORD } });
      expect(login.status, JSON.stringify(login.body)).toBe(200);
      const { accessToken, refreshToken } = login.body as {
        accessToken: string;
        refreshToken: string;
      };
      expect(typeof accessToken).toBe("string");
      expect(typeof refreshToken).toBe("string");

      const profile = await call(url, "GET", "/api/profile", { token: accessToken });
      expect(profile.status, JSON.stringify(profile.body)).toBe(200);
      expect(profile.body.profile).toMatchObject({ id: 2, email, authUserId: accountId });

      expect((await call(url, "POST", "/auth/logout", { token: accessToken })).status).toBe(204);
      const after = await call(url, "GET", "/api/profile", { token: accessToken });
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe("token_revoked");
      const refreshed = await call(url, "POST", "/auth/refresh", { body: { refreshToken } });
      expect(refreshed.status).toBe(401);
      expect(refreshed.body.error.code).toBe("invalid_refresh_token");
    });

    it("a user the app had before cannot take their row by registering their email (409)", async () => {
      const { url, databaseUrl, existingEmail } = await c().running;
      const before = (await appUsers(databaseUrl))[0];
      const registered = await call(url, "POST", "/auth/register", {
        body: { email: existingEmail, password: PASSWORD },
      });
      expect(registered.status, JSON.stringify(registered.body)).toBe(409);
      expect(registered.body.error.code).toBe("email_taken");
      expect((await appUsers(databaseUrl))[0]).toEqual(before);
      expect(before).toEqual({ id: 1, email: existingEmail, auth_user_id: null });
      // The undone registration left no account behind.
      const login = await call(url, "POST", "/auth/login", {
        body: { email: existingEmail, password: PASSWORD },
      });
      expect(login.status).toBe(401);
    });

    it("logs nothing to stderr and stops on SIGTERM (the README's shutdown handler)", async () => {
      const running = await c().running;
      expect(running.stderr()).toBe("");
      expect(await stop(running.child)).toBe(0);
    }, 20_000);

    it("require() works for the main entry and ./migrate, and the bin prints its usage", async () => {
      const { dir, env } = await c().installed;
      const cjs = await mustRun(
        "node",
        [
          "-e",
          `const m = require("versioned-jwt-auth");
           const g = require("versioned-jwt-auth/migrate");
           console.log(JSON.stringify([typeof m.createAuth, typeof m.createRedisClient,
             m.AUTH_DEFAULTS.cache.keyPrefix, typeof g.migrateDatabase, typeof g.MigrationError]));`,
        ],
        { cwd: dir, env },
      );
      expect(JSON.parse(cjs.stdout)).toEqual([
        "function",
        "function",
        "auth:",
        "function",
        "function",
      ]);

      const help = await mustRun("npx", ["versioned-jwt-auth", "--help"], { cwd: dir, env });
      expect(help.stdout).toMatch(/^Usage: versioned-jwt-auth/);
    });

    it("importing the main entry loads none of the server's dependencies", async () => {
      const { dir, env } = await c().installed;
      await writeFile(join(dir, "loaded-scripts.mjs"), LOADED_SCRIPTS);
      const loaded = async (...entries: string[]) => {
        const result = await mustRun("node", ["loaded-scripts.mjs", ...entries], { cwd: dir, env });
        return new Set(
          (JSON.parse(result.stdout) as string[]).map(
            (url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? url,
          ),
        );
      };
      const serverOnly = ["pino", "helmet", "prom-client", "@electric-sql/pglite"];
      const main = await loaded("versioned-jwt-auth");
      expect(main).toContain("versioned-jwt-auth");
      expect(main).toContain("ioredis");
      expect(serverOnly.filter((name) => main.has(name))).toEqual([]);
      // The same probe sees them when they are loaded.
      const server = await loaded("versioned-jwt-auth/server", "@electric-sql/pglite");
      expect(serverOnly.filter((name) => !server.has(name))).toEqual([]);
    });
  });
}

// Every script V8 compiles (ES modules and CommonJS alike) while the entries
// named on the command line are imported, as seen by the inspector.
const LOADED_SCRIPTS = `import { Session } from "node:inspector/promises";
const session = new Session();
session.connect();
const urls = new Set();
session.on("Debugger.scriptParsed", ({ params }) => urls.add(params.url));
await session.post("Debugger.enable");
for (const entry of process.argv.slice(2)) await import(entry);
await new Promise((resolve) => setImmediate(resolve));
session.disconnect();
process.stdout.write(JSON.stringify([...urls].filter((url) => url.includes("/node_modules/"))));
`;
