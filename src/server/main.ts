import { existsSync } from "node:fs";
import { ConfigError, parseConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startServer, StartupError } from "./start-server.js";

// Real environment variables win over .env, which is only a local convenience.
if (existsSync(".env")) process.loadEnvFile(".env");

let config;
try {
  config = parseConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`refusing to start: ${error.message}`);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
try {
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
} catch (error) {
  if (!(error instanceof StartupError)) throw error;
  logger.fatal(error.message);
  console.error(`refusing to start: ${error.message}`);
  process.exit(1);
}
