import type { ErrorRequestHandler } from "express";
import { AuthError, InvalidRequestError, ServiceUnavailableError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";
import { sendAuthError } from "./error-response.js";

// body-parser (inside express.json) reports client mistakes with a `type`.
function fromBodyParser(error: unknown): AuthError | null {
  if (typeof error !== "object" || error === null || !("type" in error)) return null;
  switch ((error as { type: unknown }).type) {
    case "entity.too.large":
      return new AuthError("payload_too_large");
    case "entity.parse.failed":
      return new InvalidRequestError([{ path: "", message: "body is not valid JSON" }]);
    case "encoding.unsupported":
    case "charset.unsupported":
      return new AuthError("unsupported_media_type");
    default: {
      // Any other client error of the body parser (aborted, size mismatch, …).
      const status = (error as { status?: unknown }).status;
      return typeof status === "number" && status >= 400 && status < 500
        ? new InvalidRequestError()
        : null;
    }
  }
}

/**
 * Known errors become their JSON response; anything else is logged and
 * answered with a bare 500 that leaks nothing.
 */
export function createErrorHandler(options: {
  logger: Logger;
  realm: string;
}): ErrorRequestHandler {
  return function authErrorHandler(error: unknown, _req, res, next) {
    if (res.headersSent) {
      next(error);
      return;
    }
    const known = error instanceof AuthError ? error : fromBodyParser(error);
    if (known) {
      if (known instanceof ServiceUnavailableError) {
        options.logger.error({ err: known.cause }, "dependency unavailable");
      }
      sendAuthError(res, known, { realm: options.realm });
      return;
    }
    options.logger.error({ err: error }, "unhandled error");
    sendAuthError(res, new AuthError("internal_error"), { realm: options.realm });
  };
}
