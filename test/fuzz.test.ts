import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ERROR_CATALOGUE, TOKEN_REVOKED_MESSAGES, type ErrorCode } from "../src/core/errors.js";
import { PASSWORD, uniqueEmail } from "./helpers/api.js";
import { listen, type LiveServer, type RawRequest } from "./helpers/http-client.js";
import { forgeJws, segment } from "./helpers/jws.js";
import { createTestApp, stateSnapshot, type TestApp } from "./helpers/test-app.js";

/*
 * Property-based tests: random tokens, headers and bodies at every route.
 * Whatever is sent, the answer is never a 5xx, a rejection is JSON with a
 * catalogued code and status, and a rejected request changes neither
 * Postgres nor Redis. FUZZ_SEED=<n> replays a failing run.
 */

const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const runs = (numRuns: number) => ({ numRuns, seed, endOnFailure: true });

let t: TestApp;
let live: LiveServer;
const users: { id: string; email: string; token: string }[] = [];

beforeAll(async () => {
  // Throttling off: its counters are legitimate writes (tested elsewhere).
  t = await createTestApp({ overrides: { allowAidHeader: true } });
  live = await listen(t.app);
  for (const tag of ["fuzz-a", "fuzz-b"]) {
    const email = uniqueEmail(tag);
    const created = await send({
      method: "POST",
      path: "/register",
      ...asJson({ email, password: PASSWORD }),
    });
    const loggedIn = await send({
      method: "POST",
      path: "/login",
      ...asJson({ email, password: PASSWORD }),
    });
    const token = (loggedIn.json as { accessToken: string }).accessToken;
    users.push({ id: (created.json as { user: { id: string } }).user.id, email, token });
    // Warm the cache, so that a fill is not taken for a state change.
    expect(
      (await send({ path: "/me", headers: [["Authorization", `Bearer ${token}`]] })).status,
    ).toBe(200);
  }
  baseline = await snapshot();
});
afterAll(async () => {
  await live?.close();
  await t.close();
});

function send(req: RawRequest) {
  return live.send(req);
}

function asJson(value: unknown): Pick<RawRequest, "headers" | "body"> {
  return { headers: [["Content-Type", "application/json"]], body: JSON.stringify(value) };
}

let baseline: Awaited<ReturnType<typeof snapshot>>;
const snapshot = () => stateSnapshot(t);

/** The properties every response must have; the state check is for rejections only. */
async function check(req: RawRequest) {
  const res = await send(req);
  const where = `${req.method ?? "GET"} ${req.path} → ${res.status} ${res.text.slice(0, 200)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status !== 204) {
    expect(res.headers["content-type"], where).toMatch(/^application\/json/);
    expect(res.json, where).toBeTypeOf("object");
  }
  if (res.status >= 400) {
    const error = (res.json as { error?: { code?: string; message?: string } }).error;
    expect(Object.keys(ERROR_CATALOGUE), where).toContain(error?.code);
    const entry = ERROR_CATALOGUE[error!.code as ErrorCode];
    // Two codes have a second, documented status; token_revoked says why in its message.
    const statuses: number[] =
      error!.code === "invalid_credentials" || error!.code === "account_disabled"
        ? [entry.status, 403]
        : [entry.status];
    expect(statuses, where).toContain(res.status);
    const messages: string[] =
      error!.code === "token_revoked" ? Object.values(TOKEN_REVOKED_MESSAGES) : [entry.message];
    expect(messages, where).toContain(error!.message);
    expect(await snapshot(), `state changed by ${where}`).toEqual(baseline);
  } else {
    // A success may change state (a registration, a logout): it becomes the new baseline.
    baseline = await snapshot();
  }
}

// Arbitraries ---------------------------------------------------------------

const printable = (maxLength = 40) =>
  fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength,
  });
const b64url = fc.string({
  unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
  maxLength: 60,
});
const now = () => Math.floor(Date.now() / 1000);

const claimValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 2 ** 53, "0", true, null, [], {}),
);
/** Mostly the right value, sometimes anything: deep paths get reached, and every check gets hit. */
const mostly = <T>(right: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: right }, { weight: 1, arbitrary: claimValue });
const CLAIMS = ["sub", "jwtVersion", "iss", "aud", "iat", "exp", "jti"] as const;
const claims = fc
  .tuple(
    fc.record({
      sub: fc.oneof(
        { weight: 4, arbitrary: fc.nat(1).map((who) => () => users[who]!.id) },
        { weight: 1, arbitrary: claimValue.map((v) => () => v) },
      ),
      jwtVersion: mostly(fc.nat(2)),
      iss: mostly(fc.constant("test-issuer")),
      aud: mostly(fc.constantFrom("test-audience", ["test-audience"])),
      iat: mostly(fc.integer({ min: -10, max: 2 }).map((d) => () => now() + d * 60)),
      exp: mostly(fc.integer({ min: -100, max: 100_000 }).map((d) => () => now() + d)),
      jti: mostly(fc.constant("fuzz")),
    }),
    fc.subarray([...CLAIMS], { maxLength: 2 }),
    fc.option(mostly(fc.integer({ min: -10, max: 10 }).map((d) => () => now() + d * 60)), {
      nil: undefined,
    }),
  )
  .map(([record, dropped, nbf]) => {
    const value = (v: unknown) => (typeof v === "function" ? (v as () => unknown)() : v);
    const out: Record<string, unknown> = {};
    for (const name of CLAIMS) if (!dropped.includes(name)) out[name] = value(record[name]);
    if (nbf !== undefined) out.nbf = value(nbf);
    return out;
  });
const OURS = { alg: "HS256", typ: "at+jwt" };
const header = fc.record(
  {
    alg: fc.oneof(
      fc.constantFrom("HS256", "HS384", "HS512", "none", "None", "RS256", "ES256"),
      printable(8),
    ),
    typ: fc.oneof(fc.constantFrom("at+jwt", "JWT", "application/at+jwt"), printable(8)),
    kid: fc.oneof(fc.constantFrom("../../etc/passwd", "' OR 1=1 --", "__proto__"), printable(16)),
    crit: fc.constant(["exp"]),
    jku: fc.constant("https://attacker.example/jwks"),
  },
  { requiredKeys: [] },
);

const token: fc.Arbitrary<string> = fc.oneof(
  // Signed with our real secret: only the claims (or the header) are off.
  { weight: 6, arbitrary: claims.map((c) => forgeJws(OURS, c, t.secret)) },
  { weight: 2, arbitrary: fc.tuple(header, claims).map(([h, c]) => forgeJws(h, c, t.secret)) },
  // Signed with another key.
  {
    weight: 1,
    arbitrary: claims.map((c) => forgeJws(OURS, c, "not-our-key-not-our-key-not-our-key")),
  },
  // A real token, as is or mutated.
  { weight: 1, arbitrary: fc.nat(1).map((who) => users[who]!.token) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(1), fc.nat(400), fc.constantFrom(..."aA0-_.=+/ "))
      .map(([who, at, char]) => {
        const real = users[who]!.token;
        const i = at % real.length;
        return real.slice(0, i) + char + real.slice(i + 1);
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(1), fc.nat(400))
      .map(([who, cut]) => users[who]!.token.slice(0, cut)),
  },
  // Shapes of random segments, and plain garbage.
  {
    weight: 1,
    arbitrary: fc.array(b64url, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(".")),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.jsonValue(), fc.jsonValue())
      .map(([h, p]) => `${segment(h)}.${segment(p)}.`),
  },
  { weight: 1, arbitrary: printable(200) },
);

const authorization = fc.oneof(
  { weight: 8, arbitrary: token.map((value) => `Bearer ${value}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom("bearer", "BEARER", "Basic", "Token", "Digest", "", "Bearer "), token)
      .map(([scheme, value]) => `${scheme} ${value}`),
  },
  { weight: 1, arbitrary: printable(80) },
);
const tokenHeaders: fc.Arbitrary<[string, string][]> = fc.oneof(
  {
    weight: 8,
    arbitrary: authorization.map((value): [string, string][] => [["Authorization", value]]),
  },
  { weight: 1, arbitrary: token.map((value): [string, string][] => [["aid", value]]) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.array(authorization, { maxLength: 2 }),
        fc.option(token, { nil: undefined }),
        fc.option(printable(30), { nil: undefined }),
      )
      .map(([auth, aid, forwarded]) => {
        const headers: [string, string][] = auth.map((value) => ["Authorization", value]);
        if (aid !== undefined) headers.push(["aid", aid]);
        if (forwarded !== undefined) headers.push(["X-Forwarded-For", forwarded]);
        return headers;
      }),
  },
);

const emailLike = fc.oneof(
  { weight: 3, arbitrary: fc.emailAddress() },
  { weight: 2, arbitrary: fc.constant(null).map(() => users[0]!.email) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "\u212Aate@example.com",
      "adm\u0131n@example.com",
      "a@b",
      "",
      " @ ",
      "a@example.com\u0000",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const passwordLike = fc.oneof(
  { weight: 2, arbitrary: fc.constant(PASSWORD) },
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const credentials = fc.record(
  {
    email: emailLike,
    password: passwordLike,
    name: fc.oneof(fc.string({ maxLength: 120 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: ["email", "password"] },
);
const rawBody = fc.oneof(
  { weight: 6, arbitrary: credentials.map((value) => JSON.stringify(value)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        credentials,
        fc.constantFrom("__proto__", "constructor", "prototype", "isAdmin", "jwtVersion", "id"),
        fc.jsonValue({ maxDepth: 2 }),
      )
      // Written by hand: JSON.stringify would not keep an own "__proto__" key.
      .map(([value, key, extra]) =>
        JSON.stringify(value).replace(
          "{",
          `{${JSON.stringify(key)}:${JSON.stringify(extra) ?? "null"},`,
        ),
      ),
  },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("", "{", "[]", "null", '"x"', "1", "{}", '{"email":', "\u0000"),
  },
);
const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant("application/json") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/json; charset=utf-16",
      "application/json; charset=latin1",
      "application/vnd.api+json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
    ),
  },
  { weight: 1, arbitrary: printable(40) },
);
const bodyRequest = fc
  .tuple(
    fc.constantFrom("/register", "/login"),
    rawBody,
    fc.option(contentType, { nil: undefined, freq: 10 }),
  )
  .map(([path, body, type]): RawRequest => ({
    method: "POST",
    path,
    headers: type === undefined ? [] : [["Content-Type", type]],
    body,
  }));

const anyPath = fc.oneof(
  fc.constantFrom(
    "/register",
    "/login",
    "/refresh",
    "/logout",
    "/me",
    "/sessions",
    "/sessions/x",
    "/password",
    "/healthz",
    "/readyz",
    "/",
    "/admin",
    "/me/",
    "//me",
    "/ME",
  ),
  printable(30).map((path) => `/${encodeURI(path)}`),
  fc
    .string({ maxLength: 20 })
    .map((path) => `/me?${encodeURIComponent(path)}=${encodeURIComponent(path)}`),
);

// The session routes: bodies shaped like theirs, mostly wrong.
const refreshTokenLike = fc.oneof(
  { weight: 3, arbitrary: b64url },
  {
    weight: 2,
    arbitrary: fc.string({ unit: fc.constantFrom(..."AB_-"), minLength: 87, maxLength: 87 }),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 600 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const sessionBody = fc.oneof(
  fc.record({ refreshToken: refreshTokenLike }, { requiredKeys: [] }),
  fc.record(
    { scope: fc.oneof(fc.constantFrom("global", "local", "others", "all", ""), fc.jsonValue()) },
    { requiredKeys: [] },
  ),
  fc.record({ currentPassword: passwordLike, newPassword: passwordLike }, { requiredKeys: [] }),
  fc.dictionary(printable(12), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);
const sessionRequest = fc
  .tuple(
    fc.constantFrom(
      ["POST", "/refresh"],
      ["POST", "/logout"],
      ["POST", "/password"],
      ["GET", "/sessions"],
      ["DELETE", "/sessions/"],
    ),
    fc.oneof(
      sessionBody.map((value) => JSON.stringify(value)),
      rawBody,
    ),
    fc.option(contentType, { nil: undefined, freq: 10 }),
    fc.boolean(),
    fc.oneof(fc.uuid(), printable(40), fc.constantFrom("..", "%00", "x".repeat(300))),
  )
  .map(([[method, path], body, type, authenticated, id]): RawRequest => {
    const headers: [string, string][] = type === undefined ? [] : [["Content-Type", type]];
    // A wrong password or refresh token must change nothing even for a signed-in user.
    if (authenticated) headers.push(["Authorization", `Bearer ${users[0]!.token}`]);
    return {
      method,
      path: path === "/sessions/" ? `/sessions/${encodeURIComponent(id)}` : path,
      headers,
      body: method === "GET" ? undefined : body,
    };
  });

// Properties ----------------------------------------------------------------

// Generous: on a loaded 2-core machine a run can take several times its usual ~10 s.
describe("fuzzing", { timeout: 60_000 }, () => {
  it("random tokens and Authorization headers at GET /me and POST /logout", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(["GET", "/me"], ["POST", "/logout"]),
        tokenHeaders,
        async ([method, path], headers) => {
          await check({ method, path, headers });
        },
      ),
      runs(1200),
    );
  });

  it("random bodies and content types at POST /register and POST /login", async () => {
    await fc.assert(
      fc.asyncProperty(bodyRequest, async (req) => {
        await check(req);
      }),
      runs(1200),
    );
  });

  it("random bodies, tokens and ids at the session routes (refresh, logout scopes, sessions, password)", async () => {
    await fc.assert(
      fc.asyncProperty(sessionRequest, async (req) => {
        await check(req);
      }),
      runs(800),
    );
  });

  it("random methods, paths, headers and bodies anywhere", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE"),
        anyPath,
        tokenHeaders,
        fc.option(fc.tuple(rawBody, contentType), { nil: undefined }),
        async (method, path, headers, body) => {
          const req: RawRequest = { method, path, headers: [...headers] };
          if (body) {
            req.headers = [...headers, ["Content-Type", body[1]]];
            req.body = body[0];
          }
          await check(req);
        },
      ),
      runs(600),
    );
  });
});
