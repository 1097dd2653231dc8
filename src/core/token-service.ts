import { createSecretKey, randomUUID, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { TokenError } from "./errors.js";

export const ACCESS_TOKEN_TYPE = "at+jwt";
export const SUPPORTED_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
export type TokenAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];
export const MIN_SECRET_BYTES = 32;
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
// Longer than any token we issue; anything bigger is rejected before parsing.
const MAX_TOKEN_LENGTH = 4096;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface AccessTokenClaims {
  sub: string;
  jwtVersion: number;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

export interface TokenSettings {
  /** HMAC secret, at least 32 bytes. */
  secret: string | Uint8Array;
  issuer: string;
  audience: string;
  /** Access token lifetime in seconds (default 900, at most 86400). */
  expiresInSeconds?: number;
  /** Default HS256. Verification accepts this one algorithm only. */
  algorithm?: TokenAlgorithm;
  /** Allowed clock skew between issuer and verifier, in seconds (default 5). */
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
  issue(subject: { id: string; jwtVersion: number }): IssuedToken;
  verify(token: string): AccessTokenClaims;
  readonly expiresInSeconds: number;
}

export function createTokenService(settings: TokenSettings): TokenService {
  const secretBytes =
    typeof settings.secret === "string" ? Buffer.from(settings.secret, "utf8") : settings.secret;
  if (secretBytes.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`token secret must be at least ${MIN_SECRET_BYTES} bytes`);
  }
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
  const now = settings.now ?? Date.now;
  // A KeyObject, not the raw string: jsonwebtoken 9 otherwise tries (and
  // fails) to parse a string secret as a public key on every verify.
  const key: KeyObject = createSecretKey(secretBytes);
  const { issuer, audience } = settings;

  return {
    expiresInSeconds,

    issue(subject) {
      const iat = Math.floor(now() / 1000);
      const claims: AccessTokenClaims = {
        sub: subject.id,
        jwtVersion: subject.jwtVersion,
        iss: issuer,
        aud: audience,
        iat,
        exp: iat + expiresInSeconds,
        jti: randomUUID(),
      };
      const token = jwt.sign(claims, key, {
        algorithm,
        header: { alg: algorithm, typ: ACCESS_TOKEN_TYPE },
      });
      return { token, expiresIn: expiresInSeconds, claims };
    },

    verify(token) {
      if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
        throw new TokenError("invalid_token", "malformed");
      }
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
          throw new TokenError("token_expired", "expired", error);
        }
        throw new TokenError("invalid_token", "verification failed", error);
      }
      if (decoded.header.typ !== ACCESS_TOKEN_TYPE) {
        throw new TokenError("invalid_token", "wrong typ");
      }
      return validateAccessTokenClaims(decoded.payload, nowSeconds, clockTolerance);
    },
  };
}

/**
 * Checks what jsonwebtoken does not: presence and types of every claim, an
 * integer version, and an `iat` that is not in the future.
 */
export function validateAccessTokenClaims(
  payload: unknown,
  nowSeconds: number,
  clockToleranceSeconds: number,
): AccessTokenClaims {
  if (typeof payload !== "object" || payload === null) {
    throw new TokenError("invalid_token", "payload is not an object");
  }
  const p = payload as Record<string, unknown>;
  const fail = (claim: string): never => {
    throw new TokenError("invalid_token", `claim ${claim} missing or malformed`);
  };
  if (typeof p.sub !== "string" || p.sub.length === 0 || p.sub.length > 128) fail("sub");
  if (!isVersion(p.jwtVersion)) fail("jwtVersion");
  if (typeof p.iss !== "string") fail("iss");
  if (typeof p.aud !== "string") fail("aud");
  if (!isNumericDate(p.iat) || p.iat > nowSeconds + clockToleranceSeconds) fail("iat");
  if (!isNumericDate(p.exp)) fail("exp");
  if (typeof p.jti !== "string" || p.jti.length === 0 || p.jti.length > 128) fail("jti");
  if ((p.exp as number) <= (p.iat as number)) fail("exp");
  if ((p.exp as number) - (p.iat as number) > MAX_TOKEN_LIFETIME_SECONDS) fail("exp");
  return {
    sub: p.sub as string,
    jwtVersion: p.jwtVersion as number,
    iss: p.iss as string,
    aud: p.aud as string,
    iat: p.iat as number,
    exp: p.exp as number,
    jti: p.jti as string,
  };
}

export function isVersion(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}
