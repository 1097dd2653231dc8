import { randomUUID, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import {
  MAX_CLOCK_TOLERANCE_SECONDS,
  MAX_TOKEN_LIFETIME_SECONDS,
  validateAccessTokenClaims,
  type AccessTokenClaims,
} from "./access-token-claims.js";
import { TokenError } from "./errors.js";
import { createKeyRing, type KeyRing, type VerificationKey } from "./key-ring.js";

export const ACCESS_TOKEN_TYPE = "at+jwt";
export const SUPPORTED_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
export type TokenAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];
// Longer than any token we issue; anything bigger is rejected before parsing.
const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
// Everything we put in a header. Anything else (crit, jku, jwk, x5u, x5c, …)
// did not come from us, so the token is refused rather than partly understood.
const HEADER_PARAMETERS = new Set(["alg", "typ", "kid"]);

export interface TokenSettings {
  /** HMAC secret that signs new tokens, at least 32 bytes. */
  secret: string | Uint8Array;
  /** `kid` written into the header of every new token; needed to rotate keys. */
  keyId?: string;
  /**
   * Keys of earlier rotations, still accepted until the tokens they signed
   * have expired. A token is checked against exactly one key: the one its
   * `kid` names (or the one without a `keyId`, for a token without `kid`).
   */
  previousKeys?: readonly VerificationKey[];
  issuer: string;
  audience: string;
  /** Access token lifetime in seconds (default 900, at most 86400). */
  expiresInSeconds?: number;
  /** Default HS256. Verification accepts this one algorithm only. */
  algorithm?: TokenAlgorithm;
  /** Allowed clock skew between issuer and verifier, in seconds (default 5, at most 300). */
  clockToleranceSeconds?: number;
  /** Current time in milliseconds; injected so tests can freeze time. */
  now?: () => number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  claims: AccessTokenClaims;
}

export interface TokenService {
  /** `issuedAtMs` (default: now) lets a caller know the expiry before it signs. */
  issue(
    subject: { id: string; jwtVersion: number; sessionId?: string },
    issuedAtMs?: number,
  ): IssuedToken;
  verify(token: string): AccessTokenClaims;
  readonly expiresInSeconds: number;
  readonly clockToleranceSeconds: number;
}

export function createTokenService(settings: TokenSettings): TokenService {
  const algorithm = settings.algorithm ?? "HS256";
  if (!SUPPORTED_ALGORITHMS.includes(algorithm)) {
    throw new TypeError(`unsupported token algorithm: ${String(algorithm)}`);
  }
  const expiresInSeconds = settings.expiresInSeconds ?? 900;
  if (
    !Number.isInteger(expiresInSeconds) ||
    expiresInSeconds < 1 ||
    expiresInSeconds > MAX_TOKEN_LIFETIME_SECONDS
  ) {
    throw new TypeError(
      `token lifetime must be an integer from 1 to ${MAX_TOKEN_LIFETIME_SECONDS} seconds`,
    );
  }
  if (!settings.issuer || !settings.audience) {
    throw new TypeError("token issuer and audience are required");
  }
  const clockTolerance = settings.clockToleranceSeconds ?? 5;
  if (
    !Number.isInteger(clockTolerance) ||
    clockTolerance < 0 ||
    clockTolerance > MAX_CLOCK_TOLERANCE_SECONDS
  ) {
    throw new TypeError(
      `clock tolerance must be an integer from 0 to ${MAX_CLOCK_TOLERANCE_SECONDS} seconds`,
    );
  }
  const now = settings.now ?? Date.now;
  const keys: KeyRing = createKeyRing(settings);
  const { issuer, audience } = settings;
  const header: jwt.JwtHeader = { alg: algorithm, typ: ACCESS_TOKEN_TYPE };
  if (settings.keyId !== undefined) header.kid = settings.keyId;

  function selectKey(encodedHeader: string): KeyObject {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(encodedHeader, "base64url").toString("utf8"));
    } catch (error) {
      throw new TokenError("invalid_token", "header is not JSON", { cause: error });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new TokenError("invalid_token", "header is not an object");
    }
    const h = parsed as Record<string, unknown>;
    if (Object.keys(h).some((name) => !HEADER_PARAMETERS.has(name))) {
      throw new TokenError("invalid_token", "unexpected header parameter");
    }
    // The algorithm comes from configuration; the header only has to agree.
    if (h.alg !== algorithm) throw new TokenError("invalid_token", "wrong alg");
    if (h.typ !== ACCESS_TOKEN_TYPE) throw new TokenError("invalid_token", "wrong typ");
    let key: KeyObject | undefined;
    if (h.kid === undefined) key = keys.unnamed;
    else if (typeof h.kid === "string") key = keys.named.get(h.kid);
    if (!key) throw new TokenError("invalid_token", "unknown kid");
    return key;
  }

  return {
    expiresInSeconds,
    clockToleranceSeconds: clockTolerance,

    issue(subject, issuedAtMs = now()) {
      const iat = Math.floor(issuedAtMs / 1000);
      const claims: AccessTokenClaims = {
        sub: subject.id,
        jwtVersion: subject.jwtVersion,
        ...(subject.sessionId === undefined ? {} : { sid: subject.sessionId }),
        iss: issuer,
        aud: audience,
        iat,
        exp: iat + expiresInSeconds,
        jti: randomUUID(),
      };
      const token = jwt.sign(claims, keys.signing, { algorithm, header });
      return { token, expiresIn: expiresInSeconds, claims };
    },

    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
        throw new TokenError("invalid_token", "malformed");
      }
      const key = selectKey(token.slice(0, token.indexOf(".")));
      const nowSeconds = Math.floor(now() / 1000);
      let decoded: jwt.Jwt;
      try {
        decoded = jwt.verify(token, key, {
          algorithms: [algorithm],
          issuer,
          audience,
          clockTimestamp: nowSeconds,
          clockTolerance,
          complete: true,
        });
      } catch (error) {
        // Anything jsonwebtoken throws (including a bare SyntaxError for a
        // non-JSON payload) is the client's fault, never a 500.
        if (error instanceof jwt.TokenExpiredError) {
          throw new TokenError("token_expired", "expired", { cause: error });
        }
        throw new TokenError("invalid_token", "verification failed", { cause: error });
      }
      return validateAccessTokenClaims(decoded.payload, {
        nowSeconds,
        clockToleranceSeconds: clockTolerance,
        issuer,
        audience,
      });
    },
  };
}
