import { describe, expect, it, vi } from "vitest";
import { TokenError } from "../../src/core/errors.js";
import { createTokenService, type TokenService } from "../../src/core/token-service.js";
import { cacheVerifiedTokens } from "../../src/core/verified-token-cache.js";

const SECRET = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 0, 1);
const USER = { id: "6f34c39b-1e82-4448-affb-d875da8a997b", jwtVersion: 3 };

/** The real token service on a clock the test moves, with its verify counted. */
function setup(maxEntries?: number) {
  let nowMs = T0;
  const now = () => nowMs;
  const inner = createTokenService({
    secret: SECRET,
    issuer: "iss",
    audience: "aud",
    expiresInSeconds: 60,
    now,
  });
  const verify = vi.spyOn(inner, "verify");
  const tokens = cacheVerifiedTokens(inner, { maxEntries, now });
  return { tokens, verify, advance: (seconds: number) => (nowMs += seconds * 1000) };
}

function codeOf(tokens: TokenService, token: string): string {
  try {
    tokens.verify(token);
    return "accepted";
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
}

describe("cacheVerifiedTokens", () => {
  it("verifies a token once and answers repeats from memory with the same claims", () => {
    const { tokens, verify } = setup();
    const { token, claims } = tokens.issue(USER);
    expect(tokens.verify(token)).toEqual(claims);
    expect(tokens.verify(token)).toEqual(claims);
    expect(tokens.verify(token)).toEqual(claims);
    expect(verify).toHaveBeenCalledTimes(1);
  });

  it("never remembers a failure", () => {
    const { tokens, verify } = setup();
    const { token } = tokens.issue(USER);
    const forged = `${token.slice(0, token.lastIndexOf("."))}.${"A".repeat(43)}`;
    expect(codeOf(tokens, forged)).toBe("invalid_token");
    expect(codeOf(tokens, forged)).toBe("invalid_token");
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it("goes back to the verifier once the token has expired, which rejects it", () => {
    const { tokens, verify, advance } = setup();
    const { token } = tokens.issue(USER);
    expect(codeOf(tokens, token)).toBe("accepted");
    advance(59);
    expect(codeOf(tokens, token)).toBe("accepted");
    expect(verify).toHaveBeenCalledTimes(1);
    advance(1); // now == exp: within the verifier's clock tolerance, not within ours
    expect(codeOf(tokens, token)).toBe("accepted");
    expect(verify).toHaveBeenCalledTimes(2);
    advance(10);
    expect(codeOf(tokens, token)).toBe("token_expired");
    expect(codeOf(tokens, token)).toBe("token_expired");
  });

  it("does not answer from memory for a token issued in its future (clock skew)", () => {
    const { tokens, verify, advance } = setup();
    advance(3);
    const { token } = tokens.issue(USER);
    advance(-3);
    expect(codeOf(tokens, token)).toBe("accepted"); // within the verifier's tolerance
    expect(codeOf(tokens, token)).toBe("accepted");
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it("returns a copy, so a caller editing its claims changes nothing for the next", () => {
    const { tokens } = setup();
    const { token } = tokens.issue(USER);
    const first = tokens.verify(token);
    first.jwtVersion = 99;
    tokens.verify(token).jwtVersion = 98;
    expect(tokens.verify(token).jwtVersion).toBe(3);
  });

  it("forgets the oldest token past its size", () => {
    const { tokens, verify } = setup(2);
    const a = tokens.issue(USER).token;
    const b = tokens.issue(USER).token;
    const c = tokens.issue(USER).token;
    for (const token of [a, b, c]) tokens.verify(token);
    expect(verify).toHaveBeenCalledTimes(3);
    tokens.verify(c);
    tokens.verify(b);
    expect(verify).toHaveBeenCalledTimes(3);
    tokens.verify(a);
    expect(verify).toHaveBeenCalledTimes(4);
  });

  it("refuses a size that is not a positive integer", () => {
    const inner = createTokenService({ secret: SECRET, issuer: "iss", audience: "aud" });
    expect(() => cacheVerifiedTokens(inner, { maxEntries: 0 })).toThrow(/positive integer/);
    expect(() => cacheVerifiedTokens(inner, { maxEntries: 1.5 })).toThrow(/positive integer/);
  });
});
