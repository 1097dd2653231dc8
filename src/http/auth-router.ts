import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
import type { AuthService, ClientInfo } from "../core/auth-service.js";
import { AuthError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";
import { createErrorHandler } from "./error-handler.js";
import {
  loginBody,
  logoutBody,
  parseBody,
  passwordBody,
  refreshBody,
  registerBody,
} from "./request-schemas.js";

export interface AuthRouterOptions {
  realm: string;
  registrationEnabled: boolean;
  /** Largest accepted JSON body, e.g. "10kb". */
  bodyLimit: string;
  logger: Logger;
}

function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is("application/json")) {
    next(new AuthError("unsupported_media_type"));
    return;
  }
  next();
}

// A body is optional on some routes; when one is sent, it must be JSON.
function jsonIfAny(req: Request, _res: Response, next: NextFunction): void {
  const length = req.headers["content-length"];
  const hasBody =
    req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
  if (hasBody && !req.is("application/json")) {
    next(new AuthError("unsupported_media_type"));
    return;
  }
  next();
}

function client(req: Request): ClientInfo {
  return {
    key: req.ip ?? req.socket.remoteAddress ?? "unknown",
    userAgent: req.headers["user-agent"] ?? null,
  };
}

export function createAuthRouter(
  auth: AuthService,
  requireAuth: RequestHandler,
  options: AuthRouterOptions,
): Router {
  const router = express.Router();
  // Tokens and user data must not be kept by browsers or shared caches.
  router.use((_req, res, next) => {
    res.set("Cache-Control", "no-store");
    next();
  });
  const parseJson = express.json({ limit: options.bodyLimit, strict: true });
  const json = [parseJson, requireJson];

  // With registration off the route does not exist: the host app's 404 answers.
  if (options.registrationEnabled) {
    router.post("/register", ...json, async (req, res) => {
      const input = parseBody(registerBody, req.body);
      const user = await auth.register(input, client(req));
      res.status(201).json({ user });
    });
  }

  router.post("/login", ...json, async (req, res) => {
    const input = parseBody(loginBody, req.body);
    res.status(200).json(await auth.login(input, client(req)));
  });

  router.post("/refresh", ...json, async (req, res) => {
    const { refreshToken } = parseBody(refreshBody, req.body);
    res.status(200).json(await auth.refresh(refreshToken, client(req)));
  });

  router.post("/logout", requireAuth, jsonIfAny, parseJson, async (req, res) => {
    const { scope } = parseBody(logoutBody, req.body ?? {});
    await auth.logout(req.auth!, scope);
    res.status(204).end();
  });

  router.get("/me", requireAuth, (req, res) => {
    res.status(200).json({ user: req.user });
  });

  router.get("/sessions", requireAuth, async (req, res) => {
    res.status(200).json({ sessions: await auth.listSessions(req.auth!) });
  });

  router.delete("/sessions/:id", requireAuth, async (req, res) => {
    // An unknown id and another user's session get the same answer.
    if (!(await auth.revokeSession(req.auth!, String(req.params.id)))) {
      throw new AuthError("not_found");
    }
    res.status(204).end();
  });

  router.post("/password", requireAuth, ...json, async (req, res) => {
    const input = parseBody(passwordBody, req.body);
    res.status(200).json(await auth.changePassword(req.auth!, input, client(req)));
  });

  router.get("/healthz", (_req, res) => {
    res.status(200).json({ status: "ok" });
  });

  router.get("/readyz", async (_req, res) => {
    const { ready, postgres, redis } = await auth.readiness();
    const checks = { postgres, redis };
    if (ready) {
      res.status(200).json({ status: "ok", checks });
      return;
    }
    const { status, message } = new AuthError("service_unavailable");
    res.status(status).json({ error: { code: "service_unavailable", message }, checks });
  });

  router.use(createErrorHandler({ logger: options.logger, realm: options.realm }));
  return router;
}
