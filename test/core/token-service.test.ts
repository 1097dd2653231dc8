import { describe, expect, it } from "vitest";
import jwt from "jsonwebtoken";
import { TokenError } from "../../src/core/errors.js";
import {
  createTokenService,
  validateAccessTokenClaims,
  type TokenSettings,
} from "../../src/core/token-service.js";

const SECRET = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 0, 1);
const USER = { id: "6f34c39b-1e82-4448-affb-d875da8a997b", jwtVersion: 3 };

function service(overrides: Partial<TokenSettings> = {}, now = () => T0) {
  return createTokenService({ secret: SECRET, issuer: "iss", audience: "aud", now, ...overrides });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof TokenError) return error.code;
    throw error;
  }
  return "accepted";
}

describe("createTokenService", () => {
  it("refuses a secret under 32 bytes", () => {
    expect(() => service({ secret: "x".repeat(31) })).toThrow(/32 bytes/);
  });

  it("refuses alg none and lifetimes outside 1..86400 s", () => {
    expect(() => service({ algorithm: "none" as never })).toThrow(/unsupported/);
    expect(() => service({ expiresInSeconds: 0 })).toThrow(/lifetime/);
    expect(() => service({ expiresInSeconds: 86_401 })).toThrow(/lifetime/);
  });
});

describe("issue", () => {
  it("signs every claim of the contract with typ at+jwt", () => {
    const { token, claims, expiresIn } = service({ expiresInSeconds: 600 }).issue(USER);
    const decoded = jwt.decode(token, { complete: true })!;
    expect(decoded.header).toEqual({ alg: "HS256", typ: "at+jwt" });
    expect(decoded.payload).toEqual(claims);
    expect(claims).toEqual({
      sub: USER.id,
      jwtVersion: 3,
      iss: "iss",
      aud: "aud",
      iat: T0 / 1000,
      exp: T0 / 1000 + 600,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(expiresIn).toBe(600);
  });

  it("gives each token its own jti", () => {
    const s = service();
    expect(s.issue(USER).claims.jti).not.toBe(s.issue(USER).claims.jti);
  });
});

describe("verify", () => {
  it("accepts its own token and returns the claims", () => {
    const s = service();
    const { token, claims } = s.issue(USER);
    expect(s.verify(token)).toEqual(claims);
  });

  it("reports token_expired after exp (beyond the clock tolerance), not before", () => {
    let now = T0;
    const s = service({ expiresInSeconds: 60, clockToleranceSeconds: 5 }, () => now);
    const { token } = s.issue(USER);
    now = T0 + 64_000;
    expect(codeOf(() => s.verify(token))).toBe("accepted");
    now = T0 + 66_000;
    expect(codeOf(() => s.verify(token))).toBe("token_expired");
  });

  const forge = (payload: object, header: object = { alg: "HS256", typ: "at+jwt" }, key = SECRET) =>
    jwt.sign(payload, key, { algorithm: "HS256", header: header as jwt.JwtHeader });
  const good = {
    sub: USER.id,
    jwtVersion: 0,
    iss: "iss",
    aud: "aud",
    iat: T0 / 1000,
    exp: T0 / 1000 + 60,
    jti: "j",
  };
  const without = (claim: keyof typeof good) =>
    Object.fromEntries(Object.entries(good).filter(([k]) => k !== claim));

  const rejected: [string, () => string][] = [
    ["another key", () => forge(good, undefined, "another-key-another-key-another-k")],
    ["alg none", () => jwt.sign(good, "", { algorithm: "none" })],
    [
      "HS512 when HS256 is configured",
      () => jwt.sign(good, SECRET, { algorithm: "HS512", header: { alg: "HS512", typ: "at+jwt" } }),
    ],
    ["typ JWT (another kind of token)", () => forge(good, { alg: "HS256", typ: "JWT" })],
    ["wrong issuer", () => forge({ ...good, iss: "x" })],
    ["wrong audience", () => forge({ ...good, aud: "x" })],
    ["no exp", () => forge(without("exp"))],
    ["no iat", () => forge(without("iat"))],
    ["no jti", () => forge(without("jti"))],
    ["no sub", () => forge(without("sub"))],
    ["no jwtVersion", () => forge(without("jwtVersion"))],
    ["string jwtVersion", () => forge({ ...good, jwtVersion: "0" })],
    ["negative jwtVersion", () => forge({ ...good, jwtVersion: -1 })],
    ["fractional jwtVersion", () => forge({ ...good, jwtVersion: 1.5 })],
    ["iat in the future", () => forge({ ...good, iat: T0 / 1000 + 600, exp: T0 / 1000 + 900 })],
    ["lifetime over 24 h", () => forge({ ...good, exp: T0 / 1000 + 90_000 })],
    [
      "a non-JSON payload",
      () =>
        `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString("base64url")}.${Buffer.from("nope").toString("base64url")}.sig`,
    ],
    ["two segments", () => "abc.def"],
    ["a huge token", () => `${"a".repeat(5000)}.b.c`],
  ];
  for (const [condition, make] of rejected) {
    it(`rejects ${condition} as invalid_token`, () => {
      expect(codeOf(() => service().verify(make()))).toBe("invalid_token");
    });
  }
});

describe("validateAccessTokenClaims", () => {
  it("rejects non-object payloads", () => {
    expect(() => validateAccessTokenClaims("x", 0, 0)).toThrow(TokenError);
    expect(() => validateAccessTokenClaims(null, 0, 0)).toThrow(TokenError);
  });
});
