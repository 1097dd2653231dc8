import type { Response } from "express";
import type { AuthError } from "../core/errors.js";
import { InvalidRequestError, TooManyRequestsError } from "../core/errors.js";

export interface ErrorBody {
  error: { code: string; message: string; details?: readonly { path: string; message: string }[] };
}

/**
 * The one place an AuthError becomes an HTTP response. `challenge` adds the
 * RFC 6750 `WWW-Authenticate` header; every 401 carries it (RFC 9110 §15.5.2).
 */
export function sendAuthError(
  res: Response,
  error: AuthError,
  options: { realm: string; challenge?: boolean },
): void {
  if (options.challenge || error.status === 401) {
    res.set("WWW-Authenticate", bearerChallenge(error, options.realm));
  }
  if (error instanceof TooManyRequestsError) {
    res.set("Retry-After", String(error.retryAfterSeconds));
  }
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error instanceof InvalidRequestError && error.issues.length > 0) {
    body.error.details = error.issues;
  }
  res.status(error.status).json(body);
}

// RFC 6750 §3: a bare challenge when no credentials were sent, otherwise the error.
function bearerChallenge(error: AuthError, realm: string): string {
  const base = `Bearer realm="${realm}"`;
  switch (error.code) {
    case "missing_token":
      return base;
    case "invalid_request":
      return `${base}, error="invalid_request"`;
    case "invalid_token":
    case "token_expired":
    case "token_revoked":
    case "account_disabled":
    case "invalid_refresh_token":
    case "refresh_token_reused":
      return error.status === 401
        ? `${base}, error="invalid_token", error_description="${error.message}"`
        : base;
    default:
      return base;
  }
}
