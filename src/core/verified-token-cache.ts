import type { AccessTokenClaims } from "./access-token-claims.js";
import type { TokenService } from "./token-service.js";

export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered; past it the oldest is forgotten (default 10000). */
  maxEntries?: number;
  /** Current time in milliseconds: the token service's clock. */
  now?: () => number;
}

/**
 * Remembers tokens that passed `verify`, so a client presenting the same
 * token again skips the signature check and the JSON parsing, as fast-jwt's
 * cache does. Only exact token strings that verified are remembered, never a
 * failure; a remembered token is accepted only while `iat <= now < exp`
 * (stricter than `verify`, which allows clock skew) and otherwise goes
 * through `verify` again. Revocation does not depend on this: the caller
 * still compares the token's version with the user's on every request.
 */
export function cacheVerifiedTokens(
  tokens: TokenService,
  options: VerifiedTokenCacheOptions = {},
): TokenService {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError("verified token cache size must be a positive integer");
  }
  const now = options.now ?? Date.now;
  const verified = new Map<string, AccessTokenClaims>();

  return {
    expiresInSeconds: tokens.expiresInSeconds,
    clockToleranceSeconds: tokens.clockToleranceSeconds,
    issue: (subject, issuedAtMs) => tokens.issue(subject, issuedAtMs),
    verify(token) {
      const known = verified.get(token);
      if (known !== undefined) {
        const nowSeconds = Math.floor(now() / 1000);
        // A copy, so a caller that edits its claims cannot edit ours.
        if (known.iat <= nowSeconds && nowSeconds < known.exp) return { ...known };
        verified.delete(token);
      }
      const claims = tokens.verify(token);
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value!);
      verified.set(token, { ...claims });
      return claims;
    },
  };
}
