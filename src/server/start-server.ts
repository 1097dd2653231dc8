import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { PrismaPg } from "@prisma/adapter-pg";
import type { Logger } from "pino";
import { createRedisClient } from "../adapters/redis-client.js";
import { createAuth } from "../create-auth.js";
import { migrateDatabase } from "../db/migrate.js";
import { PrismaClient } from "../generated/prisma/client.js";
import { createApp } from "./app.js";
import { answerClientError } from "./client-error.js";
import type { ServerConfig } from "./config.js";

export interface RunningServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish, then closes Redis and Prisma. */
  close(): Promise<void>;
}

export class StartupError extends Error {}

/** Builds the clients from config, checks Postgres, and listens. */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  if (config.migrateOnStart) {
    try {
      const result = await migrateDatabase({
        databaseUrl: config.databaseUrl,
        createDatabase: true,
      });
      if (result.databaseCreated) logger.info("database created");
      if (result.applied.length > 0)
        logger.info({ migrations: result.applied }, "migrations applied");
    } catch (error) {
      throw new StartupError(`cannot prepare the database: ${describe(error)}`, { cause: error });
    }
  }

  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: config.databaseUrl }),
  });
  try {
    await prisma.$queryRawUnsafe("SELECT 1");
  } catch (error) {
    await prisma.$disconnect().catch(() => {});
    throw new StartupError(`cannot reach Postgres: ${describe(error)}`, { cause: error });
  }

  // Redis is optional at start: requests fall back to Postgres until it connects.
  const redis = createRedisClient(config.redisUrl, config.redisCommandTimeoutMs);
  let redisDown = false;
  redis.on("error", (error: Error) => {
    if (!redisDown) logger.warn({ err: { message: error.message } }, "redis unavailable");
    redisDown = true;
  });
  redis.on("ready", () => {
    if (redisDown) logger.info("redis reconnected");
    redisDown = false;
  });

  const auth = createAuth({
    prisma,
    redis,
    tokens: config.tokens,
    cache: config.cache,
    passwordHashing: config.passwordHashing,
    rateLimit: config.rateLimit ? {} : false,
    registration: config.registration,
    allowAidHeader: config.allowAidHeader,
    logger,
  });
  // Start trusted when Redis is reachable: wait briefly for it, then run the
  // first repair pass. If it is not, requests read Postgres until it is.
  await once(redis, "ready", { signal: AbortSignal.timeout(3000) }).then(
    () => auth.checkCache(),
    () => false,
  );
  const app = createApp({ auth, logger, trustProxy: config.trustProxy, metrics: config.metrics });
  const server = createServer(app);
  server.on("clientError", answerClientError);
  server.listen(config.port);
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, "listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      auth.close();
      await Promise.allSettled([redis.quit(), prisma.$disconnect()]);
      redis.disconnect();
    })());

  return { server, port, close };
}

// Connection errors are safe to print (host, port, reason); URLs with passwords are not.
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\/\/[^@/\s]*@/g, "//[redacted]@");
}
