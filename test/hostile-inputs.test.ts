import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CATALOGUE } from "../src/core/errors.js";
import { PASSWORD, uniqueEmail } from "./helpers/api.js";
import {
  listen,
  type LiveServer,
  type RawRequest,
  type RawResponse,
} from "./helpers/http-client.js";
import { forgeJws, segment } from "./helpers/jws.js";
import { createTestApp, stateSnapshot, type TestApp } from "./helpers/test-app.js";
import { createRefreshTokenCodec } from "../src/core/refresh-token.js";

/*
 * One row per hostile input (RFC 8725, RFC 7519, RFC 6750, the OWASP JWT and
 * Authentication cheat sheets): the status and code it must get, and the
 * proof that Postgres and Redis are exactly as they were before it.
 */

let t: TestApp;
let live: LiveServer;
let victim: { id: string; email: string };
let other: { id: string; email: string };
let token: string;
let otherSessionId: string;

const ATTACKER_KEY = "attacker-key-attacker-key-attacker-key";
const OURS = { alg: "HS256", typ: "at+jwt" };

beforeAll(async () => {
  // Throttling off: its counters are legitimate writes and have their own tests.
  // The aid header on, so a token in two places can be tried.
  t = await createTestApp({ overrides: { allowAidHeader: true } });
  live = await listen(t.app);
  victim = await registered(uniqueEmail("victim"));
  other = await registered(uniqueEmail("other"));
  const res = await post("/login", { email: victim.email, password: PASSWORD });
  token = (res.json as { accessToken: string }).accessToken;
  // Warm the cache for both users, so a cache fill is not mistaken for a state change.
  expect((await me(`Bearer ${token}`)).status).toBe(200);
  const otherLogin = await post("/login", { email: other.email, password: PASSWORD });
  const otherToken = (otherLogin.json as { accessToken: string }).accessToken;
  otherSessionId = JSON.parse(Buffer.from(otherToken.split(".")[1]!, "base64url").toString()).sid;
  expect((await me(`Bearer ${otherToken}`)).status).toBe(200);
});
afterAll(async () => {
  await live?.close();
  await t.close();
});

async function registered(email: string) {
  const res = await post("/register", { email, password: PASSWORD });
  expect(res.status, res.text).toBe(201);
  return (res.json as { user: { id: string; email: string } }).user;
}

function post(path: string, body: unknown) {
  return live.send({
    method: "POST",
    path,
    headers: [["Content-Type", "application/json"]],
    body: JSON.stringify(body),
  });
}

function me(authorization: string) {
  return live.send({ path: "/me", headers: [["Authorization", authorization]] });
}

const snapshot = () => stateSnapshot(t);

/** The claims of a valid token for the victim, with changes; undefined removes a claim. */
function claims(changes: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  const base: Record<string, unknown> = {
    sub: victim.id,
    jwtVersion: 0,
    iss: "test-issuer",
    aud: "test-audience",
    iat: now,
    exp: now + 300,
    jti: "hostile",
  };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete base[name];
    else base[name] = value;
  }
  return base;
}

/** Signed with our real secret: only the header or claims are wrong. */
const signed = (payload: unknown, header: unknown = OURS, options = {}) =>
  forgeJws(header, payload, t.secret, options);
const unsigned = (header: unknown, payload: unknown) => `${segment(header)}.${segment(payload)}.`;

interface Row {
  name: string;
  send: () => RawRequest | Promise<RawResponse>;
  status: number;
  code: string;
}

const bearer =
  (value: () => string, path = "/me", method = "GET") =>
  (): RawRequest => ({
    method,
    path,
    headers: [["Authorization", `Bearer ${value()}`]],
  });
const authorization = (value: () => string) => (): RawRequest => ({
  path: "/me",
  headers: [["Authorization", value()]],
});
const body =
  (
    path: string,
    content: () => string | Buffer,
    headers: [string, string][] = [["Content-Type", "application/json"]],
  ) =>
  (): RawRequest => ({ method: "POST", path, headers, body: content() });
const json = (path: string, value: () => unknown) => body(path, () => JSON.stringify(value()));
const register = (fields: Record<string, unknown>) =>
  json("/register", () => ({ email: uniqueEmail("hostile"), password: PASSWORD, ...fields }));
const loginAs = (fields: Record<string, unknown>) =>
  json("/login", () => ({ email: victim.email, password: PASSWORD, ...fields }));

const tokenRows: Row[] = [
  ["alg none, unsigned", () => unsigned({ alg: "none", typ: "at+jwt" }, claims())],
  ["alg None, unsigned", () => unsigned({ alg: "None", typ: "at+jwt" }, claims())],
  ["alg NONE, unsigned", () => unsigned({ alg: "NONE", typ: "at+jwt" }, claims())],
  [
    "alg none with our signature kept",
    () => `${unsigned({ alg: "none" }, claims())}${token.split(".")[2]}`,
  ],
  [
    "alg HS512 signed with our secret",
    () => signed(claims(), { ...OURS, alg: "HS512" }, { hmac: "HS512" }),
  ],
  [
    "alg RS256, HMAC'd with our secret as if it were the public key",
    () => signed(claims(), { ...OURS, alg: "RS256" }),
  ],
  ["alg ES256 (algorithm substitution)", () => signed(claims(), { ...OURS, alg: "ES256" })],
  ["no alg", () => signed(claims(), { typ: "at+jwt" })],
  ["no typ", () => signed(claims(), { alg: "HS256" })],
  ["typ JWT (another kind of token, same key)", () => signed(claims(), { ...OURS, typ: "JWT" })],
  [
    "kid with path traversal",
    () => signed(claims(), { ...OURS, kid: "../../../../../../dev/null" }),
  ],
  ["kid with SQL injection", () => signed(claims(), { ...OURS, kid: "x' UNION SELECT 'secret" })],
  ["kid naming no key", () => signed(claims(), { ...OURS, kid: "2020-01" })],
  [
    "jku pointing at the attacker's keys",
    () => forgeJws({ ...OURS, jku: "https://attacker.example/jwks" }, claims(), ATTACKER_KEY),
  ],
  [
    "x5u pointing at the attacker's certificate",
    () => forgeJws({ ...OURS, x5u: "https://attacker.example/c.pem" }, claims(), ATTACKER_KEY),
  ],
  [
    "the attacker's key embedded as jwk",
    () =>
      forgeJws(
        { ...OURS, jwk: { kty: "oct", k: Buffer.from(ATTACKER_KEY).toString("base64url") } },
        claims(),
        ATTACKER_KEY,
      ),
  ],
  [
    "crit naming an unknown extension",
    () => signed(claims(), { ...OURS, crit: ["http://example.com/x"], "http://example.com/x": 1 }),
  ],
  [
    "a __proto__ member in the header",
    () => signed(claims(), JSON.parse('{"alg":"HS256","typ":"at+jwt","__proto__":{"alg":"none"}}')),
  ],
  ["signed with another key", () => forgeJws(OURS, claims(), ATTACKER_KEY)],
  [
    "payload swapped to another user's id, signature kept",
    () => {
      const [h, , s] = token.split(".");
      return `${h}.${segment(claims({ sub: other.id }))}.${s}`;
    },
  ],
  ["exp missing", () => signed(claims({ exp: undefined }))],
  ["exp a string", () => signed(claims({ exp: String(Math.floor(Date.now() / 1000) + 300) }))],
  [
    "exp NaN (not JSON)",
    () =>
      signed(JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":NaN'), OURS, {
        rawPayload: true,
      }),
  ],
  [
    "exp 1e400 (Infinity once parsed)",
    () =>
      signed(JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400'), OURS, {
        rawPayload: true,
      }),
  ],
  [
    "exp a year away (lifetime over 24 h)",
    () => signed(claims({ exp: Math.floor(Date.now() / 1000) + 365 * 86400 })),
  ],
  [
    "iat an hour in the future",
    () =>
      signed(
        claims({
          iat: Math.floor(Date.now() / 1000) + 3600,
          exp: Math.floor(Date.now() / 1000) + 3900,
        }),
      ),
  ],
  [
    "nbf an hour in the future",
    () => signed(claims({ nbf: Math.floor(Date.now() / 1000) + 3600 })),
  ],
  ["jwtVersion missing", () => signed(claims({ jwtVersion: undefined }))],
  [
    "jwtVersion only on the prototype (__proto__ claim)",
    () =>
      signed(
        JSON.stringify(claims({ jwtVersion: undefined })).replace(
          "{",
          '{"__proto__":{"jwtVersion":0},',
        ),
        OURS,
        { rawPayload: true },
      ),
  ],
  ["jwtVersion -1", () => signed(claims({ jwtVersion: -1 }))],
  ["jwtVersion 0.5", () => signed(claims({ jwtVersion: 0.5 }))],
  ['jwtVersion "0"', () => signed(claims({ jwtVersion: "0" }))],
  ["jwtVersion 2^53 (beyond MAX_SAFE_INTEGER)", () => signed(claims({ jwtVersion: 2 ** 53 }))],
  ["jwtVersion false", () => signed(claims({ jwtVersion: false }))],
  ["jwtVersion null", () => signed(claims({ jwtVersion: null }))],
  ["jwtVersion [0]", () => signed(claims({ jwtVersion: [0] }))],
  ["sub missing", () => signed(claims({ sub: undefined }))],
  ["sub a number", () => signed(claims({ sub: 1 }))],
  ["sub empty", () => signed(claims({ sub: "" }))],
  ["sub not a UUID (SQL)", () => signed(claims({ sub: "1' OR '1'='1" }))],
  ["sub of no user", () => signed(claims({ sub: "00000000-0000-4000-8000-000000000000" }))],
  ["iss wrong", () => signed(claims({ iss: "https://attacker.example" }))],
  ["iss an array holding ours", () => signed(claims({ iss: ["test-issuer"] }))],
  ["iss missing", () => signed(claims({ iss: undefined }))],
  ["aud wrong", () => signed(claims({ aud: "another-api" }))],
  ["aud an array holding ours", () => signed(claims({ aud: ["test-audience", "another-api"] }))],
  ["aud missing", () => signed(claims({ aud: undefined }))],
  ["jti missing", () => signed(claims({ jti: undefined }))],
  ["four segments", () => `${token}.e30`],
  [
    "five segments (JWE-shaped)",
    () => `${segment({ alg: "dir", enc: "A256GCM" })}..aXY.Y2lwaGVy.dGFn`,
  ],
  ["characters outside base64url", () => token.replace(/-|_/g, "+").replace(/\.([^.]*)$/, ".$1=")],
  ["an empty signature", () => token.replace(/[^.]+$/, "")],
  ["the signature stripped", () => token.split(".").slice(0, 2).join(".")],
  ["truncated by five characters", () => token.slice(0, -5)],
  [
    "a header that is not JSON",
    () =>
      `${Buffer.from("{alg:HS256").toString("base64url")}.${token.split(".").slice(1).join(".")}`,
  ],
  [
    "a payload that is not JSON, typ JWT (jsonwebtoken's SyntaxError)",
    () => signed("not json", { alg: "HS256", typ: "JWT" }, { rawPayload: true }),
  ],
  ["a payload that is not JSON, our typ", () => signed("not json", OURS, { rawPayload: true })],
  ["a payload that is a JSON array", () => signed([claims()])],
  ["a payload that is a JSON number", () => signed(7)],
  ["over 4 KB long", () => signed(claims({ pad: "x".repeat(5000) }))],
  ["a future version (1 while the user has 0)", () => signed(claims({ jwtVersion: 1 }))],
].map(([name, value]) => {
  const make = value as () => string;
  const code =
    name === "a future version (1 while the user has 0)" ? "token_revoked" : "invalid_token";
  return { name: `GET /me with a token with ${name}`, send: bearer(make), status: 401, code };
});

const expiredRow: Row = {
  name: "GET /me with an expired token (validly signed)",
  send: bearer(() => signed(claims({ iat: 1_700_000_000, exp: 1_700_000_600 }))),
  status: 401,
  code: "token_expired",
};

const headerRows: Row[] = [
  {
    name: "GET /me with two Authorization headers",
    send: () => ({
      path: "/me",
      headers: [
        ["Authorization", `Bearer ${token}`],
        ["Authorization", `Bearer ${token}`],
      ],
    }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /logout with a token in both aid and Authorization",
    send: () => ({
      method: "POST",
      path: "/logout",
      headers: [
        ["aid", token],
        ["Authorization", `Bearer ${token}`],
      ],
    }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "GET /me with two aid headers",
    send: () => ({
      path: "/me",
      headers: [
        ["aid", token],
        ["aid", token],
      ],
    }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "GET /me with Bearer and two tokens",
    send: authorization(() => `Bearer ${token} ${token}`),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "GET /me with Basic credentials",
    send: authorization(
      () => `Basic ${Buffer.from(`${victim.email}:${PASSWORD}`).toString("base64")}`,
    ),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with the Token scheme",
    send: authorization(() => `Token ${token}`),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with the scheme glued to the token",
    send: authorization(() => `Bearer${token}`),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with Bearer and nothing after it",
    send: authorization(() => "Bearer"),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with the token alone, no scheme",
    send: authorization(() => token),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with the token in the query string",
    send: () => ({ path: `/me?access_token=${token}` }),
    status: 401,
    code: "missing_token",
  },
  {
    name: "POST /logout with the token in a form body",
    send: body("/logout", () => `access_token=${token}`, [
      ["Content-Type", "application/x-www-form-urlencoded"],
    ]),
    status: 401,
    code: "missing_token",
  },
  {
    name: "GET /me with a 20 KB Authorization header (Node refuses it before Express)",
    send: () => ({
      path: "/me",
      headers: [["Authorization", `Bearer ${"a".repeat(20_000)}`]],
      fresh: true,
    }),
    status: 431,
    code: "headers_too_large",
  },
  {
    name: "GET /me with a bare CR inside a header (raw bytes)",
    send: () => live.sendBytes(`GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\rb\r\n\r\n`),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with both Content-Length and Transfer-Encoding (smuggling)",
    send: () =>
      live.sendBytes(
        `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n` +
          `Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /me HTTP/1.1\r\nHost: x\r\n\r\n`,
      ),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "DELETE /me (no such route)",
    send: () => ({
      method: "DELETE",
      path: "/me",
      headers: [["Authorization", `Bearer ${token}`]],
    }),
    status: 404,
    code: "not_found",
  },
  {
    name: "GET /register (wrong method)",
    send: () => ({ path: "/register" }),
    status: 404,
    code: "not_found",
  },
  {
    name: "GET an encoded path traversal",
    send: () => ({ path: "/..%2f..%2fetc%2fpasswd" }),
    status: 404,
    code: "not_found",
  },
  {
    name: "GET a path with broken percent-encoding",
    send: () => ({ path: "/me%ZZ" }),
    status: 404,
    code: "not_found",
  },
];

const bodyRows: Row[] = [
  {
    name: "POST /login as text/plain",
    send: body("/login", () => JSON.stringify({ email: victim.email, password: PASSWORD }), [
      ["Content-Type", "text/plain"],
    ]),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /register as a form",
    send: body("/register", () => `email=a%40example.com&password=${PASSWORD}`, [
      ["Content-Type", "application/x-www-form-urlencoded"],
    ]),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /register as multipart",
    send: body(
      "/register",
      () => '--b\r\nContent-Disposition: form-data; name="email"\r\n\r\na@example.com\r\n--b--',
      [["Content-Type", "multipart/form-data; boundary=b"]],
    ),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /register without Content-Type",
    send: body("/register", () => JSON.stringify({ email: uniqueEmail(), password: PASSWORD }), []),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /register as application/vnd.api+json",
    send: body("/register", () => JSON.stringify({ email: uniqueEmail(), password: PASSWORD }), [
      ["Content-Type", "application/vnd.api+json"],
    ]),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /login as JSON in latin1",
    send: body("/login", () => JSON.stringify({ email: victim.email, password: PASSWORD }), [
      ["Content-Type", "application/json; charset=latin1"],
    ]),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /login with an unknown Content-Encoding",
    send: body("/login", () => JSON.stringify({ email: victim.email, password: PASSWORD }), [
      ["Content-Type", "application/json"],
      ["Content-Encoding", "x-custom"],
    ]),
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "POST /register with a gzip body that inflates past the limit",
    send: body(
      "/register",
      () =>
        gzipSync(
          JSON.stringify({ email: uniqueEmail(), password: PASSWORD, name: "x".repeat(1_000_000) }),
        ),
      [
        ["Content-Type", "application/json"],
        ["Content-Encoding", "gzip"],
      ],
    ),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "POST /register with a 20 KB body",
    send: register({ name: "x".repeat(20_000) }),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "POST /login with malformed JSON",
    send: body("/login", () => `{"email":"${victim.email}","password":`),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a JSON array",
    send: json("/login", () => [{ email: victim.email, password: PASSWORD }]),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a JSON string",
    send: json("/login", () => "email"),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a JSON number",
    send: json("/login", () => 1),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with JSON null",
    send: json("/login", () => null),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with an empty JSON body",
    send: body("/login", () => ""),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with arrays nested 2000 deep",
    send: body("/register", () => "[".repeat(2000) + "]".repeat(2000)),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a __proto__ key",
    send: body(
      "/register",
      () => `{"email":"${uniqueEmail()}","password":"${PASSWORD}","__proto__":{"isAdmin":true}}`,
    ),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with constructor.prototype",
    send: body(
      "/register",
      () =>
        `{"email":"${uniqueEmail()}","password":"${PASSWORD}","constructor":{"prototype":{"isAdmin":true}}}`,
    ),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register setting its own jwtVersion",
    send: register({ jwtVersion: -1 }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register setting its own id",
    send: register({ id: "00000000-0000-4000-8000-000000000001" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with an extra key",
    send: loginAs({ remember: true }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with an email object",
    send: loginAs({ email: { $ne: null } }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a password object (operator injection)",
    send: loginAs({ password: { $gt: "" } }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a password array",
    send: loginAs({ password: [PASSWORD] }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a numeric email",
    send: loginAs({ email: 42 }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a null password",
    send: loginAs({ password: null }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a 257-character password",
    send: loginAs({ password: "p".repeat(257) }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a 7-character password",
    send: register({ password: "1234567" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with 257 emoji as password",
    send: register({ password: "\u{1F510}".repeat(257) }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a lone surrogate in the password",
    send: register({ password: "password\uD800" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a NUL byte in the email",
    send: register({ email: "ada\u0000@example.com" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a NUL byte in the name",
    send: register({ name: "Ada\u0000" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with an escape sequence in the name",
    send: register({ name: "\u001b[31mAda" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with CRLF in the email",
    send: register({ email: "ada@example.com\r\nBcc: x@example.com" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a KELVIN SIGN lookalike of the victim's email",
    send: () =>
      json("/register", () => ({
        email: victim.email.replace(/^v/, "\u212A"),
        password: PASSWORD,
      }))(),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a dotless-ı lookalike email",
    send: register({ email: "adm\u0131n@example.com" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a fullwidth email",
    send: register({ email: "\uFF41dmin@example.com" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with a Cyrillic lookalike email",
    send: register({ email: "\u0430dmin@example.com" }),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /login with a KELVIN SIGN lookalike of the victim's email",
    send: () =>
      json("/login", () => ({ email: victim.email.replace(/^v/, "\u212A"), password: PASSWORD }))(),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /register with the victim's email in upper case",
    send: () =>
      json("/register", () => ({ email: victim.email.toUpperCase(), password: PASSWORD }))(),
    status: 409,
    code: "email_taken",
  },
  {
    name: "POST /login with an SQL-injection email",
    send: loginAs({ email: "admin'--@example.com" }),
    status: 401,
    code: "invalid_credentials",
  },
  {
    name: "POST /login with the victim's email and a wrong password",
    send: loginAs({ password: "not the password" }),
    status: 401,
    code: "invalid_credentials",
  },
];

const victimSession = () =>
  JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sid as string;
const refreshWith = (value: () => unknown) => json("/refresh", () => ({ refreshToken: value() }));
const asVictim =
  (method: string, path: string, content?: () => unknown): (() => RawRequest) =>
  () => ({
    method,
    path,
    headers: [
      ["Authorization", `Bearer ${token}`],
      ...(content ? ([["Content-Type", "application/json"]] as [string, string][]) : []),
    ],
    ...(content ? { body: JSON.stringify(content()) } : {}),
  });
const sessionRows: Row[] = [
  {
    name: "POST /refresh with the victim's access token as the refresh token",
    send: refreshWith(() => token),
    status: 401,
    code: "invalid_refresh_token",
  },
  {
    name: "POST /refresh with a token for the victim's session made with the attacker's key",
    send: refreshWith(() =>
      createRefreshTokenCodec([Buffer.from(ATTACKER_KEY)]).issue(victimSession()),
    ),
    status: 401,
    code: "invalid_refresh_token",
  },
  {
    name: "POST /refresh with a token of the right shape and a wrong tag",
    send: refreshWith(() => {
      const real = createRefreshTokenCodec([Buffer.from(t.secret)]).issue(victimSession());
      return `${real.slice(0, 80)}${real[80] === "A" ? "B" : "A"}${real.slice(81)}`;
    }),
    status: 401,
    code: "invalid_refresh_token",
  },
  {
    name: "POST /refresh with an SQL-injection refresh token",
    send: refreshWith(() => "' OR 1=1; DROP TABLE auth.sessions; --"),
    status: 401,
    code: "invalid_refresh_token",
  },
  {
    name: "POST /refresh with a query object as the refresh token",
    send: refreshWith(() => ({ $ne: "" })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /refresh with an array of refresh tokens",
    send: refreshWith(() => ["a", "b"]),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /refresh with a 100 KB refresh token",
    send: refreshWith(() => "A".repeat(100_000)),
    status: 413,
    code: "payload_too_large",
  },
  {
    name: "POST /refresh naming a session to refresh",
    send: json("/refresh", () => ({ refreshToken: "x", sessionId: victimSession() })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /logout with an unknown scope",
    send: asVictim("POST", "/logout", () => ({ scope: "everyone" })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /logout naming another user's session",
    send: asVictim("POST", "/logout", () => ({ scope: "local", sessionId: otherSessionId })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /logout with a scope object",
    send: asVictim("POST", "/logout", () => ({ scope: { $gt: "" } })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "DELETE /sessions/:id with another user's session",
    send: () => asVictim("DELETE", `/sessions/${otherSessionId}`)(),
    status: 404,
    code: "not_found",
  },
  {
    name: "DELETE /sessions/:id with SQL in the id",
    send: asVictim("DELETE", `/sessions/${encodeURIComponent("1' OR '1'='1")}`),
    status: 404,
    code: "not_found",
  },
  {
    name: "DELETE /sessions/:id with a path traversal",
    send: asVictim("DELETE", "/sessions/..%2F..%2Fusers"),
    status: 404,
    code: "not_found",
  },
  {
    name: "POST /password with a wrong current password",
    send: asVictim("POST", "/password", () => ({
      currentPassword: "not the password",
      newPassword: "a brand new passphrase",
    })),
    status: 403,
    code: "invalid_credentials",
  },
  {
    name: "POST /password naming the user to change",
    send: asVictim("POST", "/password", () => ({
      currentPassword: PASSWORD,
      newPassword: "a brand new passphrase",
      userId: other.id,
    })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /password with a new password over 256 characters",
    send: asVictim("POST", "/password", () => ({
      currentPassword: PASSWORD,
      newPassword: "x".repeat(257),
    })),
    status: 400,
    code: "invalid_request",
  },
  {
    name: "POST /password without a token",
    send: json("/password", () => ({ currentPassword: PASSWORD, newPassword: "long enough pass" })),
    status: 401,
    code: "missing_token",
  },
];

const rows: Row[] = [...tokenRows, expiredRow, ...headerRows, ...bodyRows, ...sessionRows];
const KNOWN_CODES = Object.keys(ERROR_CATALOGUE);

describe("hostile inputs", () => {
  it("are at least 55 distinct cases", () => {
    expect(new Set(rows.map((row) => row.name)).size).toBe(rows.length);
    expect(rows.length).toBeGreaterThanOrEqual(55);
  });

  for (const row of rows) {
    it(`${row.name}: ${row.status} ${row.code}, nothing changed`, async () => {
      const before = await snapshot();
      const sent = row.send();
      const res = sent instanceof Promise ? await sent : await live.send(sent);
      expect(res.status, res.text).toBe(row.status);
      expect(res.headers["content-type"]).toMatch(/^application\/json/);
      const error = (res.json as { error: { code: string; message: string } }).error;
      expect(error.code).toBe(row.code);
      expect(KNOWN_CODES).toContain(error.code);
      expect(error.message).toBe(ERROR_CATALOGUE[row.code as keyof typeof ERROR_CATALOGUE].message);
      expect(res.text).not.toContain(t.secret);
      expect(res.text).not.toMatch(/\bat .+:\d+:\d+\)?/); // no stack frames
      if (row.code === "missing_token") {
        expect(res.headers["www-authenticate"]).toBe('Bearer realm="auth"');
      } else if (["invalid_token", "token_expired", "token_revoked"].includes(row.code)) {
        expect(res.headers["www-authenticate"]).toMatch(
          /^Bearer realm="auth", error="invalid_token", error_description="[^"]+"$/,
        );
      }
      expect(await snapshot()).toEqual(before);
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    });
  }
});

describe("variants a client may legitimately send", () => {
  const accepted: [string, () => RawRequest][] = [
    ["the scheme in lower case", authorization(() => `bearer ${token}`)],
    ["the scheme in upper case", authorization(() => `BEARER ${token}`)],
    ["two spaces after the scheme (RFC 6750: 1*SP)", authorization(() => `Bearer  ${token}`)],
    ["the token in aid (enabled here)", () => ({ path: "/me", headers: [["aid", token]] })],
  ];
  for (const [name, send] of accepted) {
    it(`GET /me with ${name}: 200, nothing changed`, async () => {
      const before = await snapshot();
      const res = await live.send(send());
      expect(res.status, res.text).toBe(200);
      expect(await snapshot()).toEqual(before);
    });
  }

  it("a valid token still works after all of the above", async () => {
    expect((await me(`Bearer ${token}`)).status).toBe(200);
  });
});

describe("the library's service, called without HTTP", () => {
  it("refuses unsafe registrations with invalid_request (never a 503 from Postgres) and changes nothing", async () => {
    const before = await snapshot();
    const attempts = [
      { email: uniqueEmail(), password: PASSWORD, name: "Ada\u0000" },
      { email: "\u212Aate@example.com", password: PASSWORD, name: null },
      { email: uniqueEmail(), password: "x".repeat(10_000), name: null },
      { email: uniqueEmail(), password: "short", name: null },
    ];
    for (const input of attempts) {
      await expect(t.auth.service.register(input, { key: "127.0.0.1" })).rejects.toMatchObject({
        code: "invalid_request",
      });
    }
    await expect(
      t.auth.service.login(
        { email: victim.email, password: "x".repeat(10_000) },
        { key: "127.0.0.1" },
      ),
    ).rejects.toMatchObject({ code: "invalid_request" });
    expect(await snapshot()).toEqual(before);
  });
});
