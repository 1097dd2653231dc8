import type { RequestHandler } from "express";
import type { Logger } from "pino";

/**
 * One line per request once its response is done, with pino-http's field
 * names (`reqId`, `req.method`, `req.url`, `res.statusCode`, `responseTime`)
 * but without its two child loggers per request and its serialisation of
 * every header, which cost more CPU than authenticating the request does
 * (README, Performance). Headers are never logged, so neither are credentials.
 */
export function createRequestLog(logger: Logger): RequestHandler {
  // The line below holds nothing secret, so it skips the logger's redaction
  // pass, which would cost more than the rest of the line.
  const log = logger.child({}, { redact: [] });
  let lastId = 0;
  return function requestLog(req, res, next) {
    const started = Date.now();
    const reqId = ++lastId;
    // "close" follows "finish" for every response, and comes alone when the
    // client went away first: one listener covers both.
    res.once("close", () => {
      const statusCode = res.statusCode;
      const line = {
        reqId,
        // The path only: a query string may carry a token (`?access_token=`,
        // which we do not accept but clients send anyway).
        req: { method: req.method, url: req.originalUrl.split("?", 1)[0] },
        res: { statusCode },
        responseTime: Date.now() - started,
      };
      if (!res.writableFinished) log.info(line, "request aborted");
      else if (statusCode >= 500) log.error(line, "request errored");
      else log.info(line, "request completed");
    });
    next();
  };
}
