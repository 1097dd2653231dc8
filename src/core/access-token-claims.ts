import { TokenError } from "./errors.js";

export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
export const MAX_CLOCK_TOLERANCE_SECONDS = 300;

export interface AccessTokenClaims {
  sub: string;
  jwtVersion: number;
  /** The session the token belongs to; absent on tokens issued before sessions existed. */
  sid?: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

export interface ClaimExpectations {
  nowSeconds: number;
  clockToleranceSeconds: number;
  issuer: string;
  audience: string;
}

/**
 * Checks the claims without trusting the JWT library's leniency: every
 * required claim present with its type, `iss` and `aud` equal to ours (an
 * `aud` array is refused: we never issue one), an integer version, `iat`
 * and `nbf` not in the future, a bounded lifetime, and expiry.
 */
export function validateAccessTokenClaims(
  payload: unknown,
  expected: ClaimExpectations,
): AccessTokenClaims {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new TokenError("invalid_token", "payload is not an object");
  }
  const p = payload as Record<string, unknown>;
  const { nowSeconds, clockToleranceSeconds } = expected;
  const fail = (claim: string): never => {
    throw new TokenError("invalid_token", `claim ${claim} missing or malformed`);
  };
  if (!isShortString(p.sub)) fail("sub");
  if (!isVersion(p.jwtVersion)) fail("jwtVersion");
  if (p.sid !== undefined && !isShortString(p.sid)) fail("sid");
  if (typeof p.iss !== "string" || p.iss !== expected.issuer) fail("iss");
  if (typeof p.aud !== "string" || p.aud !== expected.audience) fail("aud");
  if (!isNumericDate(p.iat) || p.iat > nowSeconds + clockToleranceSeconds) fail("iat");
  if (!isNumericDate(p.exp)) fail("exp");
  if (!isShortString(p.jti)) fail("jti");
  if (p.nbf !== undefined && (!isNumericDate(p.nbf) || p.nbf > nowSeconds + clockToleranceSeconds))
    fail("nbf");
  const iat = p.iat as number;
  const exp = p.exp as number;
  if (exp <= iat || exp - iat > MAX_TOKEN_LIFETIME_SECONDS) fail("exp");
  if (nowSeconds >= exp + clockToleranceSeconds) {
    throw new TokenError("token_expired", "expired");
  }
  const claims: AccessTokenClaims = {
    sub: p.sub as string,
    jwtVersion: p.jwtVersion as number,
    iss: p.iss as string,
    aud: p.aud as string,
    iat,
    exp,
    jti: p.jti as string,
  };
  if (p.sid !== undefined) claims.sid = p.sid as string;
  return claims;
}

export function isVersion(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isShortString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 128;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}
