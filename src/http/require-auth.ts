import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { AuthService } from "../core/auth-service.js";
import { AuthError } from "../core/errors.js";
import { extractBearerToken } from "./bearer-token.js";
import { sendAuthError } from "./error-response.js";
import "./request-user.js";

export interface RequireAuthOptions {
  realm: string;
  allowAidHeader: boolean;
}

/**
 * Answers auth failures itself (401/400/503 JSON with a challenge), so a host
 * app's error handler never sees them; anything unexpected goes to `next`.
 */
export function createRequireAuth(auth: AuthService, options: RequireAuthOptions): RequestHandler {
  return async function requireAuth(req: Request, res: Response, next: NextFunction) {
    try {
      const token = extractBearerToken(req, options.allowAidHeader);
      const { user, claims } = await auth.authenticate(token);
      req.user = user;
      req.auth = claims;
    } catch (error) {
      if (error instanceof AuthError) {
        sendAuthError(res, error, { realm: options.realm, challenge: true });
        return;
      }
      next(error);
      return;
    }
    next();
  };
}
