import type { AccessTokenClaims } from "../core/access-token-claims.js";
import type { PublicUser } from "../core/ports.js";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by `requireAuth`: the authenticated user. */
      user?: PublicUser;
      /** Set by `requireAuth`: the verified claims of the access token. */
      auth?: AccessTokenClaims;
    }
  }
}

export {};
