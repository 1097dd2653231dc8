import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../src/core/errors.js";
import { loginBody, parseBody, registerBody } from "../../src/http/request-schemas.js";

const EMAIL = "ada@example.com";

function issues(schema: typeof registerBody | typeof loginBody, body: unknown) {
  try {
    parseBody(schema, body);
  } catch (error) {
    if (error instanceof InvalidRequestError) return error.issues;
    throw error;
  }
  return [];
}

describe("registerBody", () => {
  it("counts password length in characters (code points), not UTF-16 units", () => {
    const emoji = "\u{1F600}";
    expect(issues(registerBody, { email: EMAIL, password: emoji.repeat(256) })).toEqual([]);
    expect(issues(registerBody, { email: EMAIL, password: emoji.repeat(8) })).toEqual([]);
    expect(issues(registerBody, { email: EMAIL, password: emoji.repeat(257) })).toMatchObject([
      { path: "password" },
    ]);
    expect(issues(registerBody, { email: EMAIL, password: emoji.repeat(7) })).toMatchObject([
      { path: "password" },
    ]);
  });

  it("refuses a password with a lone surrogate (it would hash like U+FFFD)", () => {
    expect(issues(registerBody, { email: EMAIL, password: "abcdefgh\uD800" })).toMatchObject([
      { path: "password" },
    ]);
  });

  it("refuses unknown keys, __proto__ and constructor among them, naming them, and pollutes nothing", () => {
    for (const [key, raw] of [
      ["isAdmin", `{"email":"${EMAIL}","password":"long enough","isAdmin":true}`],
      ["jwtVersion", `{"email":"${EMAIL}","password":"long enough","jwtVersion":-1}`],
      ["__proto__", `{"email":"${EMAIL}","password":"long enough","__proto__":{"polluted":true}}`],
      [
        "constructor",
        `{"email":"${EMAIL}","password":"long enough","constructor":{"prototype":{"polluted":true}}}`,
      ],
    ] as const) {
      expect(issues(registerBody, JSON.parse(raw))).toEqual([
        { path: key, message: "unknown key" },
      ]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("refuses control characters and lone surrogates in the name, keeps other Unicode", () => {
    for (const name of ["a\u0000b", "a\u001bb", "a\u007fb", "a\u0085b", "a\uDC00"]) {
      expect(issues(registerBody, { email: EMAIL, password: "long enough", name })).toMatchObject([
        { path: "name" },
      ]);
    }
    const parsed = parseBody(registerBody, {
      email: EMAIL,
      password: "long enough",
      name: " Zoë \u{1F600} ",
    });
    expect(parsed.name).toBe("Zoë \u{1F600}");
  });

  it("refuses non-ASCII addresses rather than folding them onto ASCII ones", () => {
    for (const email of ["\u212Aate@example.com", "adm\u0131n@example.com", "a@b\u00FCcher.de"]) {
      expect(issues(registerBody, { email, password: "long enough" })).toMatchObject([
        { path: "email" },
      ]);
    }
    expect(
      parseBody(registerBody, { email: " Ada@Example.COM ", password: "long enough" }),
    ).toEqual({
      email: "ada@example.com",
      password: "long enough",
      name: null,
    });
  });
});

describe("unknown keys in details", () => {
  it("are named one by one, shortened and made printable: they are the client's own text", () => {
    const odd = `a\u0000b${"x".repeat(100)}`;
    expect(issues(loginBody, { email: EMAIL, password: "x", one: 1, [odd]: 2 })).toEqual([
      { path: "one", message: "unknown key" },
      { path: `a?b${"x".repeat(61)}`, message: "unknown key" },
    ]);
  });
});

describe("loginBody", () => {
  it("accepts any password of 1 to 256 characters and nothing else", () => {
    expect(issues(loginBody, { email: EMAIL, password: "x" })).toEqual([]);
    expect(issues(loginBody, { email: EMAIL, password: "" })).toMatchObject([{ path: "password" }]);
    expect(issues(loginBody, { email: EMAIL, password: "x", remember: true })).toMatchObject([
      { path: "remember", message: "unknown key" },
    ]);
  });
});
