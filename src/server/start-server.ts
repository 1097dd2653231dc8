import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { createAuth, type Auth } from "../create-auth.js";
import { ERROR_CATALOGUE } from "../core/errors.js";
import { createApp } from "./app.js";
import { answerClientError } from "./client-error.js";
import { listenOrExplain } from "./listen.js";
import { authSettings, type ServerConfig } from "./config.js";
import { openDependencies, planDependencies, untilCacheTrusted } from "./dependencies.js";
import { startMetricsServer } from "./metrics.js";
import { resolveSigningSecret } from "./signing-secret.js";

export interface RunningServer {
  server: Server;
  port: number;
  auth: Auth;
  /** Stops accepting, lets in-flight requests finish, then closes everything it opened. */
  close(): Promise<void>;
}

/**
 * The standalone service. In this order, so that it fails fast and says why:
 * bind the port (a port in use stops it before anything else), choose and
 * announce Postgres and the cache, open them (bounded timeouts), migrate,
 * then serve.
 */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = answerStarting;
  const server = createServer((req, res) => handler(req, res));
  server.on("clientError", answerClientError);
  await listenOrExplain(server, config.port, config.host, "PORT");
  const port = (server.address() as AddressInfo).port;

  const cleanups: (() => Promise<void>)[] = [
    () => new Promise<void>((resolve) => server.close(() => resolve())),
  ];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  };
  try {
    const metrics = config.metrics ? await startMetricsServer(config.metrics) : null;
    if (metrics) cleanups.push(metrics.close);
    const plan = await planDependencies(config);
    // In-process parts are worth a warning: they are for one instance, not production.
    const embedded = plan.database === "embedded" || plan.cache === "memory";
    // Schema and key prefix too: two services sharing a Postgres or a Redis
    // by accident share accounts, and this line is where that shows.
    const keyPrefix = plan.cache === "memory" ? null : config.cache.keyPrefix;
    logger[embedded ? "warn" : "info"](
      {
        postgres: plan.description.postgres,
        schema: config.databaseSchema,
        cache: plan.description.cache,
        keyPrefix,
        dataDir: plan.description.dataDir,
      },
      `postgres: ${plan.description.postgres} (schema "${config.databaseSchema}"); ` +
        `cache: ${plan.description.cache}` +
        (keyPrefix === null ? "" : ` (key prefix "${keyPrefix}")`) +
        (embedded ? " (one instance only; not for production)" : ""),
    );
    const secret = await resolveSigningSecret(config, logger);
    const deps = await openDependencies(config, plan, logger, {
      migrate: config.migrateOnStart,
      role: "server",
    });
    cleanups.push(deps.close);
    if (deps.redis) {
      let redisDown = false;
      deps.redis.on("error", (error: Error) => {
        if (!redisDown) logger.warn({ err: { message: error.message } }, "redis unavailable");
        redisDown = true;
      });
      deps.redis.on("ready", () => {
        if (redisDown) logger.info("redis reconnected");
        redisDown = false;
      });
    }

    const auth = createAuth({
      prisma: deps.prisma,
      databaseSchema: config.databaseSchema,
      ...(deps.redis ? { redis: deps.redis } : { userCache: deps.userCache! }),
      ...(deps.attemptLimiters ? { attemptLimiters: deps.attemptLimiters } : {}),
      ...authSettings(config, secret, logger),
    });
    cleanups.push(async () => auth.close());
    // Start trusted when the cache is reachable: wait briefly for it. If it is
    // not, requests read Postgres until it is.
    await untilCacheTrusted(deps.redis, auth.checkCache, 3000);

    if (metrics) {
      metrics.attach(auth);
      logger.info({ metrics: metrics.url }, "metrics served");
    }

    const shutdown = drainOnClose(server);
    handler = createApp({ auth, logger, trustProxy: config.trustProxy });
    logger.info({ port }, "listening");

    let closing: Promise<void> | undefined;
    const close = () =>
      (closing ??= (async () => {
        await shutdown.drain(config.shutdownTimeoutMs);
        await closeAll();
      })());
    return { server, port, auth, close };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

// Requests that arrive while the server starts get a clear 503, not a hang;
// the process is alive, though, and /healthz says so (as it will later).
function answerStarting(req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? "").split("?")[0];
  if (req.method === "GET" && path === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", Connection: "close" });
    res.end(JSON.stringify({ status: "ok" }));
    return;
  }
  const { status, message } = ERROR_CATALOGUE.service_unavailable;
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Retry-After": "1",
    Connection: "close",
  });
  const body = { error: { code: "service_unavailable", message } };
  res.end(
    JSON.stringify(
      path === "/readyz" ? { ...body, checks: { postgres: "starting", redis: "starting" } } : body,
    ),
  );
}

/**
 * Graceful shutdown without waiting on idle keep-alive sockets: once closing,
 * every response not yet sent says `Connection: close` (in-flight ones
 * included), idle sockets are closed at once, and each other socket as soon
 * as its response is done.
 */
function drainOnClose(server: Server) {
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  const closeConnection = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader("Connection", "close");
  };
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) closeConnection(res);
    inFlight.add(res);
    res.once("close", () => {
      inFlight.delete(res);
      if (closing) server.closeIdleConnections();
    });
  });
  return {
    async drain(timeoutMs: number) {
      closing = true;
      for (const res of inFlight) closeConnection(res);
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
      await drained;
      clearTimeout(timer);
    },
  };
}
