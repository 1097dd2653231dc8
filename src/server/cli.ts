import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino, type Logger } from "pino";
import { createAuth } from "../create-auth.js";
import { ConfigError, parseConfig, type ServerConfig } from "./config.js";
import { openDependencies, planDependencies, untilCacheTrusted } from "./dependencies.js";
import { ENVIRONMENT_VARIABLES } from "./environment.js";
import { createLogger } from "./logger.js";
import { resolveSigningSecret } from "./signing-secret.js";
import { startServer } from "./start-server.js";
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
    console.error(`${(error as Error).message}\n\n${usage()}`);
    return 2;
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
    console.error(`unexpected argument: ${rest[0]}\n\n${usage()}`);
    return 2;
  }
  if (command !== "start" && command !== "migrate" && !(command in OPERATIONS)) {
    console.error(`unknown command: ${command}\n\n${usage()}`);
    return 2;
  }
  if (command in OPERATIONS && !values.email) {
    console.error(`${command} needs --email <address>`);
    return 2;
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
  const running = await startServer(config, logger);
  const shutdown = (signal: string) => {
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  return new Promise<number>(() => {});
}

async function migrate(config: ServerConfig, logger: Logger): Promise<number> {
  const plan = await planDependencies(config);
  const deps = await openDependencies(config, plan, logger, { migrate: true, role: "command" });
  await deps.close();
  console.log(
    `migrations applied to ${plan.description.postgres}, schema "${config.databaseSchema}"`,
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
    tokens: { ...config.tokens, secret: await resolveSigningSecret(config, logger) },
    cache: config.cache,
    rateLimit: false,
    logger,
  });
  try {
    // The change must reach the cache every instance reads; 503 otherwise (below).
    await untilCacheTrusted(deps.redis, auth.checkCache, 5000);
    const userId = await auth.service.findUserIdByEmail(email);
    if (!userId) {
      console.error(`no account with the email ${email}`);
      return 3;
    }
    const done = await {
      revoke: () => auth.service.revokeAll(userId),
      disable: () => auth.service.disableUser(userId),
      enable: () => auth.service.enableUser(userId),
      delete: () => auth.service.deleteUser(userId),
    }[operation]();
    if (!done) {
      console.error(`no account with the email ${email}`);
      return 3;
    }
    console.log(`${email}: ${OPERATIONS[operation].done}`);
    return 0;
  } catch (error) {
    // A 503 here: Postgres holds the change, the cache may not yet.
    throw new StartupError(
      `${describeError(error)} (the change is saved in Postgres if it got that far; every instance applies it once Redis answers)`,
    );
  } finally {
    auth.close();
    await deps.close();
  }
}

function usage(): string {
  const width = Math.max(...ENVIRONMENT_VARIABLES.map((v) => v.name.length));
  const lines = ENVIRONMENT_VARIABLES.map(
    (v) => `  ${v.name.padEnd(width)}  ${v.meaning} (default: ${v.default})`,
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
