import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import { createAuth } from "../create-auth.js";
import { normalizeEmail } from "../core/email.js";
import { authSettings, ConfigError, parseConfig, type ServerConfig } from "./config.js";
import {
  openDependencies,
  planDependencies,
  untilCacheTrusted,
  untilRedisReady,
} from "./dependencies.js";
import { cachePrefixInUse, unmarkCachePrefix } from "../adapters/redis-user-cache.js";
import { ENVIRONMENT_VARIABLES } from "./environment.js";
import { createLogger } from "./logger.js";
import { startServer, type RunningServer } from "./start-server.js";
import { describeError, StartupError } from "./startup-error.js";

const USAGE = `Usage: versioned-jwt-auth [command] [options]

Commands:
  start                   run the service (the default command)
  migrate                 apply the database migrations and exit
  revoke  --email <addr>  sign an account out everywhere: every token and session
  disable --email <addr>  disable an account: its tokens and sessions stop at once
  enable  --email <addr>  let a disabled account log in again
  delete  --email <addr>  delete an account; its tokens stop at once

Options:
  -h, --help              this text
  -v, --version           the version

Configuration comes from the environment (and a .env file in the working
directory, if any); the same rules as \`npm start\`. Variables:
`;

type Operation = "revoke" | "disable" | "enable" | "delete";
const OPERATIONS: Record<Operation, { done: string }> = {
  revoke: { done: "signed out everywhere" },
  disable: { done: "disabled" },
  enable: { done: "enabled" },
  delete: { done: "deleted" },
};

/** Runs one command; resolves to the exit code (a running server keeps the process alive). */
export async function runCli(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        email: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage());
    return 0;
  }
  if (values.version) {
    console.log(packageVersion());
    return 0;
  }
  const [command = "start", ...rest] = positionals;
  if (rest.length > 0) {
    return usageError(`unexpected argument: ${rest[0]}`);
  }
  if (command !== "start" && command !== "migrate" && !(command in OPERATIONS)) {
    return usageError(`unknown command: ${command}`);
  }
  if (command in OPERATIONS && !values.email) {
    return usageError(`${command} needs --email <address>`);
  }

  // Real environment variables win over .env, which is only a local convenience.
  if (existsSync(".env")) process.loadEnvFile(".env");
  let config: ServerConfig;
  try {
    config = parseConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`refusing to start: ${error.message}`);
    return 1;
  }

  try {
    if (command === "start") return await start(config);
    // A command's own output is its result on stdout; its logs go to stderr, warnings and up.
    const logger = createLogger(
      config.logLevel === "info" ? "warn" : config.logLevel,
      pino.destination(2),
    );
    if (command === "migrate") return await migrate(config, logger);
    return await operate(command as Operation, values.email!, config, logger);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(
      `${command === "start" ? "refusing to start" : `${command} failed`}: ${error.message}`,
    );
    return 1;
  }
}

async function start(config: ServerConfig): Promise<number> {
  const logger = createLogger(config.logLevel);
  // A signal during start-up stops the process at once (start-up may be
  // waiting on a connection timeout; a new embedded database is created
  // atomically, so nothing is left half-made); once serving, the first one
  // drains and closes, a second one stops at once.
  const state: { running?: RunningServer; stopping: boolean } = { stopping: false };
  const onSignal = (signal: string) => {
    const { running } = state;
    if (!running || state.stopping) {
      logger.warn({ signal }, running ? "stopping at once" : "stopped during start-up");
      process.exit(1);
    }
    state.stopping = true;
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  state.running = await startServer(config, logger);
  return new Promise<number>(() => {});
}

async function migrate(config: ServerConfig, logger: Logger): Promise<number> {
  const plan = await planDependencies(config);
  const deps = await openDependencies(config, plan, logger, { migrate: true, role: "command" });
  await deps.close();
  const where = `${plan.description.postgres}, schema "${config.databaseSchema}"`;
  const applied = deps.migrated?.applied ?? [];
  console.log(
    applied.length > 0
      ? `migrations applied to ${where}: ${applied.join(", ")}`
      : `${where} is up to date: no migrations to apply`,
  );
  return 0;
}

async function operate(
  operation: Operation,
  email: string,
  config: ServerConfig,
  logger: Logger,
): Promise<number> {
  const plan = await planDependencies(config);
  const deps = await openDependencies(config, plan, logger, { migrate: false, role: "command" });
  const auth = createAuth({
    prisma: deps.prisma,
    databaseSchema: config.databaseSchema,
    ...(deps.redis ? { redis: deps.redis } : { userCache: deps.userCache! }),
    // These commands sign and verify nothing: with no JWT_SECRET a throwaway
    // one will do (none is written to the data directory).
    ...authSettings(config, config.jwtSecret ?? randomBytes(32).toString("base64url"), logger),
    // An operator's command is not a login attempt.
    rateLimit: false,
  });
  try {
    // Asked before this command marks the prefix as used itself (below).
    const prefixUnused =
      deps.redis !== null &&
      (await untilRedisReady(deps.redis, 5000)) &&
      !(await cachePrefixInUse(deps.redis, config.cache.keyPrefix).catch(() => true));
    // The change must reach the cache every instance reads; 503 otherwise (below).
    await untilCacheTrusted(deps.redis, auth.checkCache, 5000);
    // As stored: trimmed and lower-cased.
    const userEmail = normalizeEmail(email);
    const userId = await auth.service.findUserIdByEmail(userEmail);
    if (!userId) {
      console.error(`no account with the email ${userEmail}`);
      return 3;
    }
    const done = await {
      revoke: () => auth.service.revokeAll(userId),
      disable: () => auth.service.disableUser(userId),
      enable: () => auth.service.enableUser(userId),
      delete: () => auth.service.deleteUser(userId),
    }[operation]();
    if (!done) {
      console.error(`no account with the email ${userEmail}`);
      return 3;
    }
    console.log(`${userEmail}: ${OPERATIONS[operation].done}`);
    if (prefixUnused) {
      // Saved in Postgres, but a server on another prefix would keep its cached entry.
      // Not this command's own mark: a second run must warn as well.
      await unmarkCachePrefix(deps.redis!, config.cache.keyPrefix).catch(() => {});
      console.error(
        `warning: no server has used the Redis key prefix "${config.cache.keyPrefix}" on ` +
          `${plan.description.cache}. If the servers run with another CACHE_KEY_PREFIX or Redis, ` +
          `they keep accepting the old state until their cached entry expires ` +
          `(CACHE_TTL_SECONDS=${config.cache.ttlSeconds}): run this again with their settings.`,
      );
      return 4;
    }
    return 0;
  } catch (error) {
    // A 503 here: Postgres holds the change, the cache may not yet.
    throw new StartupError(
      deps.redis
        ? `${describeError(error)} (the change is saved in Postgres if it got that far; every instance applies it once Redis answers)`
        : describeError(error),
    );
  } finally {
    auth.close();
    await deps.close();
  }
}

function usageError(problem: string): number {
  console.error(`${problem}\nRun \`versioned-jwt-auth --help\` for the commands and variables.`);
  return 2;
}

function usage(): string {
  const width = Math.max(...ENVIRONMENT_VARIABLES.map((v) => v.name.length));
  const lines = ENVIRONMENT_VARIABLES.map(
    (v) => `  ${v.name.padEnd(width)}  ${v.meaning}; default: ${v.default}`,
  );
  return `${USAGE}${lines.join("\n")}\n`;
}

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      return (JSON.parse(readFileSync(candidate, "utf8")) as { version: string }).version;
    }
    const parent = dirname(dir);
    if (parent === dir) return "unknown";
    dir = parent;
  }
}
