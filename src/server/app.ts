import express, { type Express } from "express";
import helmet from "helmet";
import type { Logger as PinoLogger } from "pino";
import { AuthError } from "../core/errors.js";
import type { Auth } from "../create-auth.js";
import { createErrorHandler } from "../http/error-handler.js";
import { createRequestLog } from "./request-log.js";

/** The standalone service: the library's router at `/`, JSON 404s, request logs. Metrics are served apart (metrics.ts). */
export function createApp(options: {
  auth: Auth;
  logger: PinoLogger;
  trustProxy: boolean | number | string;
  realm?: string;
}): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", options.trustProxy);
  app.use(createRequestLog(options.logger));
  // A JSON API: nothing may be framed, run or sniffed, whoever renders it.
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
    }),
  );
  app.use(options.auth.router);
  app.use((_req, _res, next) => next(new AuthError("not_found")));
  app.use(createErrorHandler({ logger: options.logger, realm: options.realm ?? "auth" }));
  return app;
}
