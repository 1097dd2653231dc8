/**
 * Invariant 2 under races and Redis faults (issue 3): once POST /logout has
 * returned 2xx, no instance accepts an older token again. Every scenario runs
 * two app instances (own Prisma and ioredis clients) sharing one Postgres
 * database and one private redis-server this file can flush, pause, kill and
 * restart. Where a scenario exists to catch a specific mechanism, it also runs
 * against the naive design (the seed article's plain GET/SET cache, no
 * repairs) and shows that design accepting the revoked token.
 */
import { describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { redisCacheKeys } from "../src/adapters/redis-user-cache.js";
import { createMetricsRegistry } from "../src/server/metrics.js";
import request from "supertest";
import { login, logout, me, register, uniqueEmail } from "./helpers/api.js";
import {
  countCacheCalls,
  designPorts,
  holdNextStoreRead,
  holdStoreReads,
  type Design,
} from "./helpers/fault-ports.js";
import { listen } from "./helpers/listen.js";
import {
  createTestApp,
  usePrivateRedisAndDatabase,
  type TestApp,
  type TestAppOptions,
} from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

const env = usePrivateRedisAndDatabase();

const REPAIR_INTERVAL_MS = 50;
const COMMAND_TIMEOUT_MS = 150;

/** Two instances of the service sharing Postgres and the private Redis. */
async function twoInstances(
  options: {
    design?: Design;
    repairIntervalMs?: number;
    a?: Pick<TestAppOptions, "wrapPorts">;
    b?: Pick<TestAppOptions, "wrapPorts">;
  } = {},
) {
  const shared: TestAppOptions = {
    databaseUrl: env.database.url,
    redisUrl: env.redis.url,
    keyPrefix: `t:${randomUUID()}:`,
    secret: randomBytes(32).toString("hex"),
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    overrides: { cache: { repairIntervalMs: options.repairIntervalMs ?? REPAIR_INTERVAL_MS } },
  };
  const design = options.design ?? "real";
  const a = await createTestApp({
    ...shared,
    wrapPorts: designPorts(design, options.a?.wrapPorts),
  });
  const b = await createTestApp({
    ...shared,
    wrapPorts: designPorts(design, options.b?.wrapPorts),
  });
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
    },
  };
}

/**
 * What a scenario revokes: every token of the user (a sign-out everywhere),
 * or one session (a sign-out of the presenting session), which must be as
 * instant and as fault-proof.
 */
type Revocation = "everywhere" | "one session";
const REVOCATIONS: Revocation[] = ["everywhere", "one session"];

async function userWithToken(app: TestApp["app"]) {
  const email = uniqueEmail("rev");
  const user = await register(app, email);
  // A second session first: a one-session revocation must leave it alone.
  const other = await login(app, email);
  return { user, token: await login(app, email), other };
}

function revoke(app: TestApp["app"], token: string, kind: Revocation) {
  const req = request(app).post("/logout").set("Authorization", `Bearer ${token}`);
  return kind === "everywhere" ? req : req.send({ scope: "local" });
}

const sessionOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { sid: string }).sid;

async function cachedEntry(t: TestApp, id: string) {
  const raw = await env.redis.command("GET", redisCacheKeys(t.keyPrefix, id).entry);
  return raw === null
    ? null
    : (JSON.parse(String(raw)) as { jwtVersion: number; revokedSessions: [string][] });
}

async function cachedVersion(t: TestApp, id: string): Promise<number | null> {
  return (await cachedEntry(t, id))?.jwtVersion ?? null;
}

/** Whether the cache holds the revocation: the version raised, or the session listed (1), or not (0). */
async function cachedRevocation(t: TestApp, id: string, token: string, kind: Revocation) {
  const entry = await cachedEntry(t, id);
  if (entry === null) return null;
  if (kind === "everywhere") return entry.jwtVersion;
  return entry.revokedSessions.some(([sid]) => sid === sessionOf(token)) ? 1 : 0;
}

async function trusted(...instances: TestApp[]) {
  for (const t of instances) {
    await waitFor(() => t.auth.cacheStatus().breaker === "closed", {
      what: "the breaker to close",
    });
  }
}

async function redisBack(...instances: TestApp[]) {
  for (const t of instances) {
    await waitFor(() => t.redis.status === "ready", { what: "the redis client to reconnect" });
  }
  await trusted(...instances);
}

describe("two instances", () => {
  it("a logout on one is enforced by the other on its very next request", async () => {
    const { a, b, close } = await twoInstances();
    try {
      const { token } = await userWithToken(a.app);
      expect((await me(b.app, token)).status).toBe(200); // B has it cached
      expect((await logout(a.app, token)).status).toBe(204);
      const res = await me(b.app, token);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("token_revoked");
    } finally {
      await close();
    }
  });
});

for (const kind of REVOCATIONS)
  describe(`1. fill-after-write race (revoked ${kind})`, () => {
    /**
     * A misses and reads v0 from Postgres; before A writes its fill, B logs the
     * user out (v1 committed and written through). Optionally Redis is emptied
     * in that window too. Then A's fill lands.
     */
    async function race(design: Design, emptyRedis: "no" | "flush" | "restart") {
      const hold = holdNextStoreRead();
      const { a, b, close } = await twoInstances({
        design,
        a: { wrapPorts: (ports) => ({ ...ports, store: hold.wrap(ports.store) }) },
      });
      try {
        const { user, token, other } = await userWithToken(b.app);
        hold.arm();
        // Misses, reads v0, and is held before filling (then() sends it now).
        const slowRequest = me(a.app, token).then((res) => res.status);
        await hold.reached;
        expect((await revoke(b.app, token, kind)).status).toBe(204);
        if (emptyRedis === "flush") await env.redis.command("FLUSHALL");
        if (emptyRedis === "restart") {
          await env.redis.kill();
          await env.redis.start();
          await redisBack(a, b);
        }
        hold.release();
        await slowRequest; // began before the logout returned: its answer is not judged
        return {
          atA: (await me(a.app, token)).status,
          atB: (await me(b.app, token)).status,
          otherSession: kind === "everywhere" ? 401 : (await me(a.app, other)).status,
          cached: await cachedRevocation(a, user.id, token, kind),
          fillsSkipped: a.auth.cacheStatus().fillsSkipped,
        };
      } finally {
        await close();
      }
    }

    it("the slow fill cannot lower the version written by the logout", async () => {
      const result = await race("real", "no");
      expect(result).toMatchObject({
        atA: 401,
        atB: 401,
        cached: 1,
        otherSession: kind === "everywhere" ? 401 : 200,
      });
      expect(result.fillsSkipped).toBe(1);
    });

    it("nor land in a Redis that was flushed after its read", async () => {
      expect(await race("real", "flush")).toMatchObject({ atA: 401, atB: 401 });
    });

    it("nor land in a Redis that restarted empty after its read", async () => {
      expect(await race("real", "restart")).toMatchObject({ atA: 401, atB: 401 });
    });

    it("(the naive design lets the slow fill revive the revoked token)", async () => {
      expect(await race("naive", "no")).toMatchObject({ atA: 200, atB: 200, cached: 0 });
      expect(await race("naive", "flush")).toMatchObject({ atA: 200, atB: 200, cached: 0 });
    });
  });

for (const kind of REVOCATIONS)
  describe(`2. write-through fails after the commit (revoked ${kind})`, () => {
    // CLIENT PAUSE WRITE: reads still work, the logout's write times out.
    async function scenario(design: Design) {
      const { a, b, close } = await twoInstances({ design });
      try {
        const { user, token } = await userWithToken(a.app);
        expect((await me(a.app, token)).status).toBe(200);
        expect((await me(b.app, token)).status).toBe(200);
        await env.redis.command("CLIENT", "PAUSE", 10_000, "WRITE");
        let logoutStatus: number;
        try {
          logoutStatus = (await revoke(a.app, token, kind)).status;
          expect(await cachedRevocation(a, user.id, token, kind)).toBe(0); // Redis does not have it
          expect((await me(a.app, token)).status).toBe(401); // A no longer trusts Redis
          // Drop the connections, so the timed-out write is lost rather than applied late.
          await env.redis.command("CLIENT", "KILL", "TYPE", "normal");
        } finally {
          await env.redis.command("CLIENT", "UNPAUSE");
        }
        await redisBack(a, b);
        // One repair pass on each instance (the loop runs them anyway).
        await waitFor(() => b.auth.checkCache(), { what: "B's repair pass" });
        await waitFor(() => a.auth.checkCache(), { what: "A's repair pass" });
        return {
          logoutStatus,
          atA: (await me(a.app, token)).status,
          atB: (await me(b.app, token)).status,
          cached: await cachedRevocation(a, user.id, token, kind),
          pendingRepairs: await a.prisma.cacheRepair.count({
            where: { userId: user.id, appliedAt: null },
          }),
        };
      } finally {
        await close();
      }
    }

    it("the logout answers 503, and once Redis takes writes again the repair makes every instance reject", async () => {
      expect(await scenario("real")).toEqual({
        logoutStatus: 503,
        atA: 401,
        atB: 401,
        cached: 1,
        pendingRepairs: 0,
      });
    });

    it("(without the repair, the other instance keeps accepting the old token)", async () => {
      expect(await scenario("naive")).toMatchObject({ logoutStatus: 503, atB: 200, cached: 0 });
    });
  });

for (const kind of REVOCATIONS)
  describe(`3. partition heals with stale entries (SIGSTOP; revoked ${kind})`, () => {
    async function scenario(design: Design) {
      // The repair loop is slowed down so the test can look at Redis before it
      // runs, then runs one pass itself.
      const { a, b, close } = await twoInstances({ design, repairIntervalMs: 60_000 });
      try {
        const { user, token } = await userWithToken(a.app);
        expect((await me(a.app, token)).status).toBe(200);
        expect((await me(b.app, token)).status).toBe(200);
        env.redis.pause();
        let logoutStatus: number;
        try {
          // Requests still succeed from Postgres; their timeouts open both breakers.
          for (const t of [a, b]) {
            for (let i = 0; i < 3; i++) expect((await me(t.app, token)).status).toBe(200);
            expect(t.auth.cacheStatus().breaker).toBe("open");
          }
          logoutStatus = (await revoke(a.app, token, kind)).status;
          expect((await me(a.app, token)).status).toBe(401);
          expect((await me(b.app, token)).status).toBe(401);
        } finally {
          env.redis.resume();
        }
        expect(await cachedRevocation(a, user.id, token, kind)).toBe(0); // back, still stale
        // Until their repair pass, the instances still read Postgres.
        expect((await me(a.app, token)).status).toBe(401);
        expect((await me(b.app, token)).status).toBe(401);
        await waitFor(() => a.auth.checkCache(), { what: "A's repair pass" });
        await waitFor(() => b.auth.checkCache(), { what: "B's repair pass" });
        const hitsBefore = b.auth.cacheStatus().hits;
        const atB = (await me(b.app, token)).status;
        return {
          logoutStatus,
          atA: (await me(a.app, token)).status,
          atB,
          servedFromRedis: b.auth.cacheStatus().hits - hitsBefore === 1,
          cached: await cachedRevocation(a, user.id, token, kind),
        };
      } finally {
        await close();
      }
    }

    it("the old token stays rejected after Redis comes back: the breakers close only after the repair", async () => {
      expect(await scenario("real")).toEqual({
        logoutStatus: 503,
        atA: 401,
        atB: 401,
        servedFromRedis: true,
        cached: 1,
      });
    });

    it("(without the repair, Redis revives the old token when it comes back)", async () => {
      expect(await scenario("naive")).toMatchObject({ atA: 200, atB: 200, cached: 0 });
    });
  });

for (const kind of REVOCATIONS)
  describe(`4. Redis restarts empty (revoked ${kind})`, () => {
    it("everything refills from Postgres; revoked stays revoked, valid stays valid", async () => {
      const { a, b, close } = await twoInstances();
      try {
        const { user, token: revoked, other } = await userWithToken(a.app);
        expect((await revoke(a.app, revoked, kind)).status).toBe(204);
        const valid = kind === "everywhere" ? await login(a.app, user.email) : other;
        await env.redis.kill();
        // While it is down: Postgres answers, correctly.
        expect((await me(a.app, revoked)).status).toBe(401);
        expect((await me(b.app, valid)).status).toBe(200);
        await env.redis.start();
        await redisBack(a, b);
        // The lost connection made the instances replay the recent changes first.
        expect(await cachedRevocation(a, user.id, revoked, kind)).toBe(1);
        // (one of them may skip its replay when the other completed one on this data set first)
        const { replays, replaysSkipped } = a.auth.cacheStatus();
        expect(replays + replaysSkipped).toBeGreaterThanOrEqual(2);
        for (const t of [a, b]) {
          expect((await me(t.app, revoked)).body.error.code).toBe("token_revoked");
          expect((await me(t.app, valid)).status).toBe(200);
        }
        expect(await cachedRevocation(a, user.id, revoked, kind)).toBe(1);
        const ready = await import("supertest").then(({ default: request }) =>
          request(a.app).get("/readyz"),
        );
        expect(ready.body.checks).toEqual({ postgres: "up", redis: "up" });
      } finally {
        await close();
      }
    });
  });

describe("5. thundering herd", () => {
  it("200 concurrent requests for a cold user make one Postgres read per instance", async () => {
    const holds = [holdStoreReads(), holdStoreReads()] as const;
    const { a, b, close } = await twoInstances({
      a: { wrapPorts: (ports) => ({ ...ports, store: holds[0].wrap(ports.store) }) },
      b: { wrapPorts: (ports) => ({ ...ports, store: holds[1].wrap(ports.store) }) },
    });
    try {
      const email = uniqueEmail("herd");
      const user = await register(a.app, email);
      const token = await login(a.app, email);
      for (const [i, t] of [a, b].entries()) {
        await t.redis.del(redisCacheKeys(t.keyPrefix, user.id).entry); // cold for this instance
        const server = await listen(t.app);
        try {
          const before = t.auth.cacheStatus();
          holds[i]!.hold();
          const requests = Array.from({ length: 200 }, () =>
            fetch(`${server.url}/me`, { headers: { Authorization: `Bearer ${token}` } }),
          );
          // Postgres reads are held until all 200 requests have missed the cache.
          await waitFor(() => t.auth.cacheStatus().misses - before.misses === 200, {
            what: "200 concurrent misses",
          });
          holds[i]!.release();
          const statuses = await Promise.all(requests.map((r) => r.then((res) => res.status)));
          expect(statuses).toEqual(Array(200).fill(200));
          expect(t.auth.cacheStatus().storeReads - before.storeReads).toBe(1);
        } finally {
          holds[i]!.release();
          await server.close();
        }
      }
    } finally {
      await close();
    }
  });

  it("also while Redis is down: 200 concurrent fallbacks share one Postgres read", async () => {
    const hold = holdStoreReads();
    const { a, close } = await twoInstances({
      a: { wrapPorts: (ports) => ({ ...ports, store: hold.wrap(ports.store) }) },
    });
    const server = await listen(a.app);
    try {
      const email = uniqueEmail("herd-down");
      await register(a.app, email);
      const token = await login(a.app, email);
      await env.redis.kill();
      const before = a.auth.cacheStatus();
      hold.hold();
      const requests = Array.from({ length: 200 }, () =>
        fetch(`${server.url}/me`, { headers: { Authorization: `Bearer ${token}` } }),
      );
      await waitFor(() => a.auth.cacheStatus().fallbacks - before.fallbacks === 200, {
        what: "200 concurrent fallbacks",
      });
      hold.release();
      const statuses = await Promise.all(requests.map((r) => r.then((res) => res.status)));
      expect(statuses).toEqual(Array(200).fill(200));
      expect(a.auth.cacheStatus().storeReads - before.storeReads).toBe(1);
    } finally {
      hold.release();
      await env.redis.start();
      await server.close();
      await close();
    }
  });
});

describe("6. slow Redis: command timeout and breaker", () => {
  it("after a few timeouts, requests stop touching Redis; the breaker closes by itself when Redis recovers", async () => {
    let counter!: ReturnType<typeof countCacheCalls>;
    const { a, close } = await twoInstances({
      a: {
        wrapPorts: (ports) => {
          counter = countCacheCalls(ports.cache);
          return { ...ports, cache: counter.cache };
        },
      },
    });
    try {
      const { user, token: revoked } = await userWithToken(a.app);
      await logout(a.app, revoked);
      const valid = await login(a.app, user.email);
      expect((await me(a.app, valid)).status).toBe(200);
      env.redis.pause();
      try {
        for (let i = 0; i < 3; i++) expect((await me(a.app, valid)).status).toBe(200);
        expect(a.auth.cacheStatus().breaker).toBe("open");
        const metrics = await createMetricsRegistry(a.auth).metrics();
        expect(metrics).toMatch(/^auth_cache_breaker_open 1$/m);
        expect(metrics).toMatch(/^auth_cache_lookups_total\{result="fallback"\} [1-9]/m);
        const redisCalls = counter.calls.read;
        for (let i = 0; i < 20; i++) {
          expect((await me(a.app, valid)).status).toBe(200);
          expect((await me(a.app, revoked)).status).toBe(401);
        }
        expect(counter.calls.read).toBe(redisCalls); // straight to Postgres, no timeout paid
        expect((await logout(a.app, valid)).status).toBe(503); // cannot be written through
      } finally {
        env.redis.resume();
      }
      await trusted(a);
      expect(await createMetricsRegistry(a.auth).metrics()).toMatch(/^auth_cache_breaker_open 0$/m);
      const hits = a.auth.cacheStatus().hits;
      expect((await me(a.app, revoked)).status).toBe(401);
      expect(a.auth.cacheStatus().hits).toBe(hits + 1);
    } finally {
      await close();
    }
  });
});

describe("7. corrupt entries", () => {
  const corrupt = (id: string): [string, string][] => [
    ["not JSON", "{nope"],
    ["a JSON string", '"x"'],
    ["a JSON array", "[1,2]"],
    ["JSON null", "null"],
    ["binary junk", "\u00ff\u00fe\u0000"],
    ["a negative version", JSON.stringify({ id, email: "e", name: null, jwtVersion: -1 })],
    ["a string version", JSON.stringify({ id, email: "e", name: null, jwtVersion: "1" })],
    ["a fractional version", JSON.stringify({ id, email: "e", name: null, jwtVersion: 0.5 })],
    ["an absurd version", JSON.stringify({ id, email: "e", name: null, jwtVersion: 1e300 })],
    ["no version", JSON.stringify({ id, email: "e", name: null })],
    [
      "another user's id",
      JSON.stringify({ id: randomUUID(), email: "e", name: null, jwtVersion: 0 }),
    ],
  ];

  it("is treated as a miss, overwritten from Postgres, and never trusted or a 5xx", async () => {
    const { a, b, close } = await twoInstances();
    try {
      const { user, token: revoked } = await userWithToken(a.app);
      await logout(a.app, revoked);
      const valid = await login(a.app, user.email);
      const key = redisCacheKeys(a.keyPrefix, user.id).entry;
      for (const [what, value] of corrupt(user.id)) {
        await env.redis.command("SET", key, value);
        expect((await me(b.app, revoked)).status, what).toBe(401);
        expect(await cachedVersion(a, user.id), what).toBe(1); // overwritten by the fill
        await env.redis.command("SET", key, value);
        expect((await me(a.app, valid)).status, what).toBe(200);
        expect(await cachedVersion(a, user.id), what).toBe(1);
      }
    } finally {
      await close();
    }
  });
});
