import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
import type { AuthService } from "../core/auth-service.js";
import { AuthError } from "../core/errors.js";
import type { Logger } from "../core/ports.js";
import { createErrorHandler } from "./error-handler.js";
import { loginBody, parseBody, registerBody } from "./request-schemas.js";

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

function clientKey(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? "unknown";
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
  const json = [express.json({ limit: options.bodyLimit, strict: true }), requireJson];

  // With registration off the route does not exist: the host app's 404 answers.
  if (options.registrationEnabled) {
    router.post("/register", ...json, async (req, res) => {
      const input = parseBody(registerBody, req.body);
      const user = await auth.register(input, clientKey(req));
      res.status(201).json({ user });
    });
  }

  router.post("/login", ...json, async (req, res) => {
    const input = parseBody(loginBody, req.body);
    res.status(200).json(await auth.login(input, clientKey(req)));
  });

  router.post("/logout", requireAuth, async (req, res) => {
    await auth.logout(req.user!.id);
    res.status(204).end();
  });

  router.get("/me", requireAuth, (req, res) => {
    res.status(200).json({ user: req.user });
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
