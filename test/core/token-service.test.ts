import { describe, expect, it } from "vitest";
import jwt from "jsonwebtoken";
import { TokenError } from "../../src/core/errors.js";
import { forgeJws } from "../helpers/jws.js";
import { validateAccessTokenClaims } from "../../src/core/access-token-claims.js";
import { createTokenService, type TokenSettings } from "../../src/core/token-service.js";

const SECRET = "0123456789abcdef0123456789abcdef";
const T0 = Date.UTC(2026, 0, 1);
const USER = { id: "6f34c39b-1e82-4448-affb-d875da8a997b", jwtVersion: 3 };
// Every claim a valid access token carries, issued at T0 for 60 s.
const VALID_CLAIMS = {
  sub: USER.id,
  jwtVersion: 0,
  iss: "iss",
  aud: "aud",
  iat: T0 / 1000,
  exp: T0 / 1000 + 60,
  jti: "j",
};

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
  const good = VALID_CLAIMS;
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

describe("verify: the header", () => {
  const payload = VALID_CLAIMS;
  const ours = { alg: "HS256", typ: "at+jwt" };

  it("accepts a hand-made token with exactly our header", () => {
    expect(codeOf(() => service().verify(forgeJws(ours, payload, SECRET)))).toBe("accepted");
  });

  const rejected: [string, unknown, object?][] = [
    ["alg None", { ...ours, alg: "None" }],
    ["alg NONE", { ...ours, alg: "NONE" }],
    ["alg hs256 (wrong case)", { ...ours, alg: "hs256" }],
    ["alg HS512 signed as HS512", { ...ours, alg: "HS512" }, { hmac: "HS512" }],
    ["alg RS256 with the secret as an HMAC key (key confusion)", { ...ours, alg: "RS256" }],
    ["no alg", { typ: "at+jwt" }],
    ["no typ", { alg: "HS256" }],
    ["typ JWT", { ...ours, typ: "JWT" }],
    ["typ application/at+jwt", { ...ours, typ: "application/at+jwt" }],
    ["a crit header", { ...ours, crit: ["exp"], exp: 1 }],
    ["a jku header", { ...ours, jku: "https://evil.example/jwks.json" }],
    ["an x5u header", { ...ours, x5u: "https://evil.example/cert.pem" }],
    ["an embedded jwk", { ...ours, jwk: { kty: "oct", k: "c2VjcmV0" } }],
    ["a __proto__ member", JSON.parse('{"alg":"HS256","typ":"at+jwt","__proto__":{"x":1}}')],
    ["a header that is an array", [ours]],
    ["a header that is a string", "HS256"],
    ["a kid when no key has one", { ...ours, kid: "k1" }],
  ];
  for (const [condition, header, options] of rejected) {
    it(`rejects ${condition} as invalid_token`, () => {
      expect(codeOf(() => service().verify(forgeJws(header, payload, SECRET, options)))).toBe(
        "invalid_token",
      );
    });
  }

  it("rejects a header that is not JSON", () => {
    const token = forgeJws("{alg:HS256", payload, SECRET, { rawHeader: true });
    expect(codeOf(() => service().verify(token))).toBe("invalid_token");
  });
});

describe("key rotation", () => {
  const K1 = "k1-secret-k1-secret-k1-secret-k1";
  const K2 = "k2-secret-k2-secret-k2-secret-k2";
  const K3 = "k3-secret-k3-secret-k3-secret-k3";
  const old = () => service({ secret: K1, keyId: "2026-01" });
  const rotated = () =>
    service({ secret: K2, keyId: "2026-02", previousKeys: [{ keyId: "2026-01", secret: K1 }] });

  it("signs with the current key and names it in kid", () => {
    const { token } = rotated().issue(USER);
    expect(jwt.decode(token, { complete: true })!.header).toEqual({
      alg: "HS256",
      typ: "at+jwt",
      kid: "2026-02",
    });
    expect(() => jwt.verify(token, K2, { clockTimestamp: T0 / 1000 })).not.toThrow();
  });

  it("still accepts tokens of a previous key, by kid", () => {
    const s = rotated();
    expect(codeOf(() => s.verify(old().issue(USER).token))).toBe("accepted");
    expect(codeOf(() => s.verify(s.issue(USER).token))).toBe("accepted");
  });

  it("rejects tokens of a key that was dropped", () => {
    const next = service({
      secret: K3,
      keyId: "2026-03",
      previousKeys: [{ keyId: "2026-02", secret: K2 }],
    });
    expect(codeOf(() => next.verify(old().issue(USER).token))).toBe("invalid_token");
    expect(codeOf(() => next.verify(rotated().issue(USER).token))).toBe("accepted");
  });

  it("checks a token against the key its kid names only", () => {
    const header = { alg: "HS256", typ: "at+jwt", kid: "2026-01" };
    const good = { ...rotated().issue(USER).claims };
    // Signed with the current key but claiming the previous one.
    expect(codeOf(() => rotated().verify(forgeJws(header, good, K2)))).toBe("invalid_token");
    expect(codeOf(() => rotated().verify(forgeJws(header, good, K1)))).toBe("accepted");
  });

  const hostileKids: [string, unknown][] = [
    ["an unknown kid", "2025-12"],
    ["a path-traversal kid", "../../../../dev/null"],
    ["an SQL kid", "' OR '1'='1"],
    ["a numeric kid", 1],
    ["a null kid", null],
    ["an object kid", { $ne: null }],
    ["an empty kid", ""],
  ];
  for (const [condition, kid] of hostileKids) {
    it(`rejects ${condition} as invalid_token`, () => {
      const token = forgeJws({ alg: "HS256", typ: "at+jwt", kid }, old().issue(USER).claims, K1);
      expect(codeOf(() => rotated().verify(token))).toBe("invalid_token");
    });
  }

  it("rejects a token without kid once every key has an id", () => {
    const legacy = service({ secret: K1 }).issue(USER).token;
    expect(codeOf(() => rotated().verify(legacy))).toBe("invalid_token");
  });

  it("accepts tokens without kid through the one key configured without an id (migration)", () => {
    const legacy = service({ secret: K1 }).issue(USER).token;
    const migrating = service({ secret: K2, keyId: "2026-02", previousKeys: [{ secret: K1 }] });
    expect(codeOf(() => migrating.verify(legacy))).toBe("accepted");
    const foreign = service({ secret: K3 }).issue(USER).token;
    expect(codeOf(() => migrating.verify(foreign))).toBe("invalid_token");
  });

  it("lets an unnamed key learn its future kid first (naming a key without refusing tokens)", () => {
    const before = service({ secret: K1 });
    const step1 = service({ secret: K1, previousKeys: [{ keyId: "2026-01", secret: K1 }] });
    const step2 = service({ secret: K1, keyId: "2026-01", previousKeys: [{ secret: K1 }] });
    for (const verifier of [step1, step2]) {
      for (const issuer of [before, step1, step2]) {
        expect(codeOf(() => verifier.verify(issuer.issue(USER).token))).toBe("accepted");
      }
    }
    expect(codeOf(() => before.verify(step2.issue(USER).token))).toBe("invalid_token");
  });

  it("refuses to start with a short previous key, a duplicate or malformed kid, or two keys without id", () => {
    expect(() => service({ keyId: "a", previousKeys: [{ keyId: "b", secret: "short" }] })).toThrow(
      /previous key #1 must be at least 32 bytes/,
    );
    expect(() => service({ keyId: "a", previousKeys: [{ keyId: "a", secret: K1 }] })).toThrow(
      /duplicate/,
    );
    expect(() =>
      service({
        keyId: "a",
        previousKeys: [
          { keyId: "b", secret: K1 },
          { keyId: "b", secret: K2 },
        ],
      }),
    ).toThrow(/duplicate/);
    expect(() => service({ keyId: "../etc" })).toThrow(/key id/);
    expect(() => service({ previousKeys: [{ secret: K1 }] })).toThrow(/without a key id/);
  });
});

describe("validateAccessTokenClaims", () => {
  const expected = {
    nowSeconds: T0 / 1000,
    clockToleranceSeconds: 5,
    issuer: "iss",
    audience: "aud",
  };
  const claims = {
    sub: USER.id,
    jwtVersion: 0,
    iss: "iss",
    aud: "aud",
    iat: T0 / 1000,
    exp: T0 / 1000 + 60,
    jti: "j",
  };
  const check = (payload: unknown) => codeOf(() => validateAccessTokenClaims(payload, expected));

  it("accepts well-formed claims", () => {
    expect(validateAccessTokenClaims(claims, expected)).toEqual(claims);
    expect(check({ ...claims, nbf: T0 / 1000 + 5 })).toBe("accepted");
  });

  it("rejects non-object payloads", () => {
    for (const payload of ["x", null, 7, [claims], undefined]) {
      expect(check(payload)).toBe("invalid_token");
    }
  });

  const rejected: [string, Record<string, unknown>][] = [
    ["an aud array that contains ours", { aud: ["aud"] }],
    ["an aud array with ours and another", { aud: ["aud", "other"] }],
    ["an iss array", { iss: ["iss"] }],
    ["another iss", { iss: "ISS" }],
    ["nbf beyond the clock tolerance", { nbf: T0 / 1000 + 6 }],
    ["a string nbf", { nbf: String(T0 / 1000) }],
    ["a non-finite exp", { exp: Infinity }],
    ["a string exp", { exp: String(T0 / 1000 + 60) }],
    ["exp before iat", { exp: T0 / 1000 - 1 }],
    ["jwtVersion above MAX_SAFE_INTEGER", { jwtVersion: Number.MAX_SAFE_INTEGER + 1 }],
    ["jwtVersion true", { jwtVersion: true }],
    ["jwtVersion null", { jwtVersion: null }],
    ["jwtVersion [0]", { jwtVersion: [0] }],
    ["an empty sub", { sub: "" }],
    ["a numeric sub", { sub: 5 }],
  ];
  for (const [condition, change] of rejected) {
    it(`rejects ${condition} as invalid_token`, () => {
      expect(check({ ...claims, ...change })).toBe("invalid_token");
    });
  }

  it("reports expiry as token_expired, after every other check", () => {
    const old = { ...claims, iat: T0 / 1000 - 600, exp: T0 / 1000 - 10 };
    expect(check(old)).toBe("token_expired");
    expect(check({ ...old, aud: ["aud"] })).toBe("invalid_token");
  });
});
