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
/** What a `kid` may look like: short, printable, nothing a path or a query could use. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
// Everything we put in a header. Anything else (crit, jku, jwk, x5u, x5c, …)
// did not come from us, so the token is refused rather than partly understood.
const HEADER_PARAMETERS = new Set(["alg", "typ", "kid"]);

export interface AccessTokenClaims {
  sub: string;
  jwtVersion: number;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

/** A key of an earlier rotation: verifies tokens whose header names its `kid`, signs nothing. */
export interface VerificationKey {
  /**
   * The `kid` its tokens carry. Leave it out for the one key that verifies
   * tokens without a `kid` (issued before key ids were configured).
   */
  keyId?: string;
  /** HMAC secret, at least 32 bytes. */
  secret: string | Uint8Array;
}

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
  const keys = createKeyRing(settings);
  const { issuer, audience } = settings;
  const header: jwt.JwtHeader = { alg: algorithm, typ: ACCESS_TOKEN_TYPE };
  if (settings.keyId !== undefined) header.kid = settings.keyId;

  function selectKey(encodedHeader: string): KeyObject {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(encodedHeader, "base64url").toString("utf8"));
    } catch (error) {
      throw new TokenError("invalid_token", "header is not JSON", error);
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
          throw new TokenError("token_expired", "expired", error);
        }
        throw new TokenError("invalid_token", "verification failed", error);
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

interface KeyRing {
  signing: KeyObject;
  /** Verifies tokens without a `kid`, when one key has no id. */
  unnamed: KeyObject | undefined;
  named: Map<string, KeyObject>;
}

function createKeyRing(settings: TokenSettings): KeyRing {
  // KeyObjects, not raw strings: jsonwebtoken 9 otherwise tries (and fails)
  // to parse a string secret as a public key on every verify.
  const signing = createSecretKey(toSecretBytes(settings.secret, "token secret"));
  const ring: KeyRing = { signing, unnamed: undefined, named: new Map() };
  const add = (keyId: string | undefined, key: KeyObject, what: string) => {
    if (keyId === undefined) {
      if (ring.unnamed) throw new TypeError("at most one token key may be without a key id");
      ring.unnamed = key;
      return;
    }
    if (typeof keyId !== "string" || !KEY_ID_PATTERN.test(keyId)) {
      throw new TypeError(`key id of the ${what} must match ${KEY_ID_PATTERN}`);
    }
    if (ring.named.has(keyId)) throw new TypeError(`duplicate token key id: ${keyId}`);
    ring.named.set(keyId, key);
  };
  add(settings.keyId, signing, "token secret");
  for (const [index, previous] of (settings.previousKeys ?? []).entries()) {
    const what = `previous key #${index + 1}`;
    add(previous.keyId, createSecretKey(toSecretBytes(previous.secret, what)), what);
  }
  return ring;
}

function toSecretBytes(secret: string | Uint8Array, what: string): Uint8Array {
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : secret;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`${what} must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
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
  if (typeof p.sub !== "string" || p.sub.length === 0 || p.sub.length > 128) fail("sub");
  if (!isVersion(p.jwtVersion)) fail("jwtVersion");
  if (typeof p.iss !== "string" || p.iss !== expected.issuer) fail("iss");
  if (typeof p.aud !== "string" || p.aud !== expected.audience) fail("aud");
  if (!isNumericDate(p.iat) || p.iat > nowSeconds + clockToleranceSeconds) fail("iat");
  if (!isNumericDate(p.exp)) fail("exp");
  if (typeof p.jti !== "string" || p.jti.length === 0 || p.jti.length > 128) fail("jti");
  if (p.nbf !== undefined && (!isNumericDate(p.nbf) || p.nbf > nowSeconds + clockToleranceSeconds))
    fail("nbf");
  const iat = p.iat as number;
  const exp = p.exp as number;
  if (exp <= iat || exp - iat > MAX_TOKEN_LIFETIME_SECONDS) fail("exp");
  if (nowSeconds >= exp + clockToleranceSeconds) {
    throw new TokenError("token_expired", "expired");
  }
  return {
    sub: p.sub as string,
    jwtVersion: p.jwtVersion as number,
    iss: p.iss as string,
    aud: p.aud as string,
    iat,
    exp,
    jti: p.jti as string,
  };
}

export function isVersion(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}
