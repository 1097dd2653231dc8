/**
 * The service on a real Redis Cluster: three primaries (no replicas,
 * cluster-require-full-coverage no), two service instances each with its own
 * ioredis Cluster client as the product builds it (`createRedisClient({
 * clusterNodes }, 200)`), one Postgres database, a key prefix per test.
 *
 * What a Cluster adds to the single-server case: entries spread over shards,
 * a shard can be flushed, restarted empty, hung or lost on its own while the
 * others keep their data, a slot can move to another primary without any
 * connection closing, and the client re-creates its node connections. An
 * instance trusts the cache shard by shard (a shard is a primary): while one
 * primary is missing, its users read Postgres and their revocations answer
 * 503, and everyone else stays on the cache.
 * Each test names its condition and checks answers and state; timings are
 * annotations (`--reporter=verbose`), asserted only as generous bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { Redis, type Cluster } from "ioredis";
import request from "supertest";
import { createRedisClient } from "../src/adapters/redis-client.js";
import { clusterKeySlot, redisCacheKeys } from "../src/adapters/redis-user-cache.js";
import { PASSWORD, login, logout, me, register, uniqueEmail } from "./helpers/api.js";
import { countCacheCalls, holdNextStoreRead } from "./helpers/fault-ports.js";
import { listen } from "./helpers/listen.js";
import { startCluster, type RedisCluster } from "./helpers/redis-cluster.js";
import {
  createTestApp,
  createTestDatabase,
  type AuthPorts,
  type TestApp,
  type TestAppOptions,
} from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

let cluster: RedisCluster;
let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  [cluster, database] = await Promise.all([
    startCluster({ primaries: 3, requireFullCoverage: false }),
    createTestDatabase(),
  ]);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
  await database?.drop();
});

type Wrap = NonNullable<TestAppOptions["wrapPorts"]>;

/** Two instances on one database and one key prefix, each with its own Cluster client. */
async function twoInstances(
  options: { a?: Wrap; b?: Wrap } & Pick<TestAppOptions, "trustProxy" | "overrides"> = {},
) {
  const shared: TestAppOptions = {
    databaseUrl: database.url,
    keyPrefix: `c:${randomUUID()}:`,
    secret: randomBytes(32).toString("hex"),
    redis: () => createRedisClient({ clusterNodes: cluster.startupNodes }, 200),
    trustProxy: options.trustProxy,
    overrides: {
      ...options.overrides,
      cache: { repairIntervalMs: 50, ...options.overrides?.cache },
    },
  };
  const a = await createTestApp({ ...shared, wrapPorts: options.a });
  let b: TestApp;
  try {
    b = await createTestApp({ ...shared, wrapPorts: options.b });
  } catch (error) {
    await a.close();
    throw error;
  }
  return {
    a,
    b,
    keyPrefix: shared.keyPrefix!,
    async close() {
      await a.close();
      await b.close();
    },
  };
}

interface User {
  id: string;
  email: string;
  token: string;
  /** The primary serving the user's entry (and its bucket's generation). */
  port: number;
}

async function inBatches<T, R>(items: T[], size: number, each: (item: T) => Promise<R>) {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    results.push(...(await Promise.all(items.slice(i, i + size).map(each))));
  }
  return results;
}

/** Registers and logs in `count` users (alternating instances), with where each one's entry lives. */
async function users(instances: TestApp[], keyPrefix: string, count: number): Promise<User[]> {
  return inBatches(
    Array.from({ length: count }, (_, i) => i),
    10,
    async (i) => {
      const app = instances[i % instances.length]!.app;
      const email = uniqueEmail("cluster");
      const { id } = await register(app, email);
      const token = await login(app, email);
      const port = await cluster.nodeForKey(redisCacheKeys(keyPrefix, id).entry);
      return { id, email, token, port };
    },
  );
}

/** `users`, each then accepted by every instance (so each entry is cached). */
async function cachedUsers(instances: TestApp[], keyPrefix: string, count: number) {
  const all = await users(instances, keyPrefix, count);
  for (const u of all) {
    for (const t of instances) expect((await me(t.app, u.token)).status).toBe(200);
  }
  return all;
}

/** The primary holding the most of these users' entries. */
function busiest(all: User[]): number {
  const counts = new Map<number, number>();
  for (const u of all) counts.set(u.port, (counts.get(u.port) ?? 0) + 1);
  return [...counts].sort((x, y) => y[1] - x[1])[0]![0];
}

async function keysOn(port: number, pattern: string): Promise<string[]> {
  return (await cluster.command(port, "KEYS", pattern)) as string[];
}

async function cachedVersionOn(port: number, keyPrefix: string, id: string) {
  const raw = await cluster.command(port, "GET", redisCacheKeys(keyPrefix, id).entry);
  return raw === null ? null : (JSON.parse(String(raw)) as { jwtVersion: number }).jwtVersion;
}

/** Sum of one command's calls over the primaries since the last CONFIG RESETSTAT. */
async function commandCalls(command: string): Promise<number> {
  let total = 0;
  for (const port of cluster.ports) {
    const stats = String(await cluster.command(port, "INFO", "commandstats"));
    total += Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, "m").exec(stats)?.[1] ?? 0);
  }
  return total;
}

function countStoreReads(): { reads: { n: number }; wrap: Wrap } {
  const reads = { n: 0 };
  return {
    reads,
    wrap: (ports: AuthPorts) => ({
      ...ports,
      store: {
        ...ports.store,
        findUserById: (id: string) => (reads.n++, ports.store.findUserById(id)),
      },
    }),
  };
}

async function trusted(...instances: TestApp[]) {
  for (const t of instances) {
    await waitFor(() => t.auth.cacheStatus().breaker === "closed", {
      what: "the instance to trust the cache",
      timeoutMs: 30_000,
    });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function withClusterLogs<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new Error(`${String(error)}\n${await cluster.logs()}`, { cause: error });
  }
}

/** Restart a node this test killed (even on failure) and wait until every slot is served again. */
async function restored(port: number) {
  if (!cluster.process(port).alive()) await cluster.restartNode(port);
  await cluster.waitForClusterOk({ allSlotsServed: true });
}

describe("entries on a Cluster", () => {
  it("users' entries and generations land on all three primaries, each entry on its generation's node, and a warm request is one MGET", async () => {
    // Per instance: calls through the cache port, and Postgres reads by id.
    const counted: ReturnType<typeof countCacheCalls>[] = [];
    const storeReads = [countStoreReads(), countStoreReads()];
    const wrap =
      (i: number): Wrap =>
      (ports, context) => {
        counted[i] = countCacheCalls(ports.cache);
        return storeReads[i]!.wrap({ ...ports, cache: counted[i].cache }, context);
      };
    const { a, b, keyPrefix, close } = await twoInstances({ a: wrap(0), b: wrap(1) });
    try {
      const all = await cachedUsers([a, b], keyPrefix, 60);

      // Where everything is, asked of each node on its own port.
      const primaries = (await cluster.nodes()).filter((n) => n.role === "primary");
      expect(primaries.map((n) => n.port).sort()).toEqual([...cluster.ports].sort());
      const onNode = new Map<number, string[]>();
      for (const port of cluster.ports) onNode.set(port, await keysOn(port, `${keyPrefix}*`));
      for (const port of cluster.ports) {
        const keys = onNode.get(port)!;
        expect(
          keys.filter((k) => k.includes(":user:")).length,
          `entries on ${port}`,
        ).toBeGreaterThan(0);
        expect(
          keys.filter((k) => k.endsWith(":generation")).length,
          `generations on ${port}`,
        ).toBeGreaterThan(0);
      }
      const holder = (key: string) =>
        cluster.ports.filter((port) => onNode.get(port)!.includes(key));
      for (const u of all) {
        const k = redisCacheKeys(keyPrefix, u.id);
        const slot = await cluster.keySlot(k.entry);
        expect(await cluster.keySlot(k.generation)).toBe(slot);
        expect(clusterKeySlot(k.entry)).toBe(slot); // the adapter's own slot arithmetic
        expect(holder(k.entry)).toEqual([u.port]);
        expect(holder(k.generation)).toEqual([u.port]);
      }
      const entries = [...onNode.values()].flat().filter((k) => k.includes(":user:"));
      expect(entries).toHaveLength(all.length);

      // Warm: every request is one cache read, one MGET, and no store read.
      for (const port of cluster.ports) await cluster.command(port, "CONFIG", "RESETSTAT");
      const readsBefore = counted.map((c) => c.calls.read);
      const fillsBefore = counted.map((c) => c.calls.fill);
      const storeBefore = storeReads.map((s) => s.reads.n);
      let requests = 0;
      for (const u of all) {
        for (const t of [a, b]) {
          expect((await me(t.app, u.token)).status).toBe(200);
          requests++;
        }
      }
      expect(counted.map((c, i) => c.calls.read - readsBefore[i]!)).toEqual([
        all.length,
        all.length,
      ]);
      expect(counted.map((c, i) => c.calls.fill - fillsBefore[i]!)).toEqual([0, 0]);
      expect(storeReads.map((s, i) => s.reads.n - storeBefore[i]!)).toEqual([0, 0]);
      expect(await commandCalls("mget")).toBe(requests);
      for (const other of ["get", "set", "eval", "evalsha"]) {
        expect(await commandCalls(other), other).toBe(0);
      }
    } finally {
      await close();
    }
  });
});

describe("one node flushed (FLUSHALL) while fills race", () => {
  it("no revoked token is accepted on either instance, a fill read before the logout is refused, valid tokens keep working", async () => {
    const holdA = holdNextStoreRead();
    const holdB = holdNextStoreRead();
    const { a, b, keyPrefix, close } = await twoInstances({
      a: (ports) => ({ ...ports, store: holdA.wrap(ports.store) }),
      b: (ports) => ({ ...ports, store: holdB.wrap(ports.store) }),
    });
    try {
      await withClusterLogs(async () => {
        const all = await cachedUsers([a, b], keyPrefix, 30);
        const victim = busiest(all);
        const onVictim = all.filter((u) => u.port === victim);
        const elsewhere = all.filter((u) => u.port !== victim);
        expect(onVictim.length).toBeGreaterThanOrEqual(4);
        expect(elsewhere.length).toBeGreaterThanOrEqual(4);
        const revoked = [...onVictim.slice(0, 4), ...elsewhere.slice(0, 3)];
        const valid = all.filter((u) => !revoked.includes(u));
        const [x, y] = onVictim as [User, User];

        // Delayed fills: each instance misses on a victim-node user, reads v0 from
        // Postgres and is held before writing it back.
        for (const u of [x, y]) {
          await cluster.command(victim, "DEL", redisCacheKeys(keyPrefix, u.id).entry);
        }
        holdA.arm();
        holdB.arm();
        const heldOnA = me(a.app, x.token).then((res) => res.status);
        const heldOnB = me(b.app, y.token).then((res) => res.status);
        await Promise.all([holdA.reached, holdB.reached]);
        const skippedBefore = a.auth.cacheStatus().fillsSkipped + b.auth.cacheStatus().fillsSkipped;

        const logouts = await Promise.all(
          revoked.map((u, i) => logout((i % 2 ? a : b).app, u.token).then((res) => res.status)),
        );
        expect(logouts).toEqual(revoked.map(() => 204));
        // (Not followed by a DBSIZE check: the instances' background passes may
        // write to the node at once. The skipped fills below show the flush.)
        await cluster.flushNode(victim);

        // Right after the flush: both instances, every user, twice, while the
        // held fills are released in the middle.
        const answers: { u: User; at: string; status: number }[] = [];
        const race = [a, b, a, b].flatMap((t, round) =>
          all.map(async (u) => {
            const res = await me(t.app, u.token);
            answers.push({ u, at: `${t === a ? "A" : "B"}#${round}`, status: res.status });
          }),
        );
        holdA.release();
        holdB.release();
        await Promise.all(race);
        // Both were in flight before the logouts: they answer from what they read then.
        expect(await heldOnA).toBe(200);
        expect(await heldOnB).toBe(200);

        const accepted = answers.filter((r) => revoked.includes(r.u) && r.status !== 401);
        expect(accepted.map((r) => `${r.u.email}@${r.at}: ${r.status}`)).toEqual([]);
        const refused = answers.filter((r) => valid.includes(r.u) && r.status !== 200);
        expect(refused.map((r) => `${r.u.email}@${r.at}: ${r.status}`)).toEqual([]);
        // The held fills read v0 before the flush: the generation they saw is gone.
        expect(
          a.auth.cacheStatus().fillsSkipped + b.auth.cacheStatus().fillsSkipped,
        ).toBeGreaterThanOrEqual(skippedBefore + 2);
        for (const u of [x, y]) {
          expect([null, 1]).toContain(await cachedVersionOn(victim, keyPrefix, u.id));
        }
        for (const u of revoked) {
          for (const t of [a, b]) {
            const res = await me(t.app, u.token);
            expect(res.status).toBe(401);
            expect(res.body.error.code).toBe("token_revoked");
          }
        }
        for (const u of valid) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }
      });
    } finally {
      holdA.release();
      holdB.release();
      await close();
    }
  });
});

describe("throttling on a Cluster", () => {
  it("counters of different client addresses spread over more than one node, and each address is limited", async () => {
    const limit = { points: 2, durationSeconds: 60 };
    const { a, b, keyPrefix, close } = await twoInstances({
      trustProxy: true,
      overrides: { rateLimit: { loginPerClient: limit, loginPerAccountAndClient: limit } },
    });
    try {
      const email = uniqueEmail("throttled");
      await register(a.app, email);
      const loginFrom = (t: TestApp, ip: string, password: string) =>
        request(t.app)
          .post("/login")
          .set("X-Forwarded-For", ip)
          .send({ email, password })
          .then((res) => res.status);
      const addresses = Array.from({ length: 12 }, (_, i) => `10.9.${i}.1`);
      for (const ip of addresses) {
        expect(await loginFrom(a, ip, "wrong password")).toBe(401);
        expect(await loginFrom(b, ip, "wrong password")).toBe(401);
        // The limit is shared by both instances: the third attempt is refused, even the right password.
        expect(await loginFrom(a, ip, PASSWORD)).toBe(429);
      }
      const perNode = new Map<number, number>();
      for (const port of cluster.ports) {
        perNode.set(port, (await keysOn(port, `${keyPrefix}rl:*`)).length);
      }
      const nodesWithCounters = [...perNode.values()].filter((n) => n > 0).length;
      expect(nodesWithCounters, JSON.stringify([...perNode])).toBeGreaterThan(1);
      expect([...perNode.values()].reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(
        addresses.length,
      );
      // Another address is not limited.
      expect(await loginFrom(b, "10.9.99.1", PASSWORD)).toBe(200);
    } finally {
      await close();
    }
  });
});

describe("one node restarted empty (same nodes.conf)", () => {
  it("logouts while it is down answer 503 for its users and 204 for the others; after the restart both instances get its shard replayed, no revoked token is accepted, fresh logins work", async ({
    annotate,
  }) => {
    const { a, b, keyPrefix, close } = await twoInstances();
    let victim: number | undefined;
    try {
      await withClusterLogs(async () => {
        const all = await cachedUsers([a, b], keyPrefix, 30);
        victim = busiest(all);
        const onVictim = all.filter((u) => u.port === victim);
        const elsewhere = all.filter((u) => u.port !== victim);
        expect(onVictim.length).toBeGreaterThanOrEqual(3);
        expect(elsewhere.length).toBeGreaterThanOrEqual(3);
        const revoked = [...onVictim.slice(0, 3), ...elsewhere.slice(0, 3)];
        const valid = all.filter((u) => !revoked.includes(u));
        const replaysBefore = [a, b].map(
          (t) => t.auth.cacheStatus().replays + t.auth.cacheStatus().replaysSkipped,
        );

        await cluster.killNode(victim);
        const outcomes = [];
        for (const [i, u] of revoked.entries()) {
          const res = await logout((i % 2 ? a : b).app, u.token);
          outcomes.push({ u, status: res.status });
        }
        const mine = outcomes.filter((o) => o.u.port === victim).map((o) => o.status);
        const others = outcomes.filter((o) => o.u.port !== victim).map((o) => o.status);
        expect(mine).toEqual([503, 503, 503]);
        // Each shard is trusted on its own: a live primary's users are not held back.
        expect(others).toEqual([204, 204, 204]);
        // Postgres has every one of them: refused while the node is down too.
        for (const u of revoked) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(401);
        }
        for (const u of valid) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }

        const restartedAt = Date.now();
        await cluster.restartNode(victim);
        await trusted(a, b);
        const trustedAfterMs = Date.now() - restartedAt;
        await cluster.waitForClusterOk({ allSlotsServed: true });
        // One replay of its shard (or, on the instance that came second, the other's mark).
        const replayed = (t: TestApp) =>
          t.auth.cacheStatus().replays + t.auth.cacheStatus().replaysSkipped;
        expect([a, b].map((t, i) => replayed(t) > replaysBefore[i]!)).toEqual([true, true]);
        for (const u of revoked) {
          for (const t of [a, b]) {
            const res = await me(t.app, u.token);
            expect(res.status, u.email).toBe(401);
            expect(res.body.error.code).toBe("token_revoked");
          }
        }
        for (const u of valid) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }
        // The 503s' changes reached the restarted node through the repair loop.
        for (const u of revoked.filter((r) => r.port === victim)) {
          expect(await cachedVersionOn(victim, keyPrefix, u.id)).toBe(1);
        }
        for (const [i, u] of revoked.entries()) {
          const fresh = await login((i % 2 ? a : b).app, u.email);
          for (const t of [a, b]) expect((await me(t.app, fresh)).status).toBe(200);
        }
        await annotate(
          `logouts while down: its users ${mine.join(",")}, others ${others.join(",")}; ` +
            `both instances trusted the cache ${trustedAfterMs} ms after the restart ` +
            `(replays + skipped: A ${replaysBefore[0]}→${replayed(a)}, B ${replaysBefore[1]}→${replayed(b)})`,
        );
      });
    } finally {
      await close();
      if (victim !== undefined) await restored(victim);
    }
  });
});

describe("one node hung (SIGSTOP: connections stay open, nothing answers)", () => {
  /**
   * Every command to the hung node must give up within its bound (200 ms)
   * for the request to fall back. (ioredis 6.0.0 applies commandTimeout to
   * auto-pipelined Cluster commands as well; the cache's own deadline is a
   * second bound: with it disabled this test passes too.)
   */
  it("every request still answers within the bound, a logout of its user answers 503, and once it resumes that token is refused everywhere", async ({
    annotate,
  }) => {
    const { a, b, keyPrefix, close } = await twoInstances();
    let paused: number | undefined;
    try {
      await withClusterLogs(async () => {
        const all = await cachedUsers([a, b], keyPrefix, 12);
        const victim = busiest(all);
        const mine = all.find((u) => u.port === victim)!;
        cluster.process(victim).pause();
        paused = victim;
        const timings: number[] = [];
        for (const u of all) {
          for (const t of [a, b]) {
            const started = performance.now();
            expect((await me(t.app, u.token)).status).toBe(200);
            timings.push(performance.now() - started);
          }
        }
        const started = performance.now();
        expect((await logout(a.app, mine.token)).status).toBe(503);
        const logoutMs = performance.now() - started;
        expect(Math.max(...timings, logoutMs)).toBeLessThan(3000);
        for (const t of [a, b]) expect((await me(t.app, mine.token)).status).toBe(401);

        cluster.process(victim).resume();
        paused = undefined;
        await trusted(a, b);
        for (const t of [a, b]) expect((await me(t.app, mine.token)).status).toBe(401);
        expect(await cachedVersionOn(victim, keyPrefix, mine.id)).toBe(1);
        await annotate(
          `with one primary stopped: ${timings.length} GET /me, p50 ${percentile(timings, 50).toFixed(1)} ms, ` +
            `max ${Math.max(...timings).toFixed(1)} ms; the logout's 503 after ${logoutMs.toFixed(1)} ms`,
        );
      });
    } finally {
      if (paused !== undefined) cluster.process(paused).resume();
      await close();
    }
  });
});

describe("one node dead (cluster-require-full-coverage no)", () => {
  it("its users are answered from Postgres within the time bound (200 valid, 401 revoked); everyone else stays on the cache", async ({
    annotate,
  }) => {
    const { a, b, keyPrefix, close } = await twoInstances();
    const servers = [await listen(a.app), await listen(b.app)];
    let victim: number | undefined;
    try {
      await withClusterLogs(async () => {
        const all = await users([a, b], keyPrefix, 30);
        victim = busiest(all);
        const onVictim = all.filter((u) => u.port === victim);
        const elsewhere = all.filter((u) => u.port !== victim);
        expect(onVictim.length).toBeGreaterThanOrEqual(3);
        expect(elsewhere.length).toBeGreaterThanOrEqual(3);
        const revoked = [...onVictim.slice(0, 2), ...elsewhere.slice(0, 2)];
        for (const u of revoked) expect((await logout(a.app, u.token)).status).toBe(204);
        for (const u of all) {
          for (const t of [a, b]) await me(t.app, u.token);
        }
        const before = [a, b].map((t) => t.auth.cacheStatus());

        await cluster.killNode(victim);
        const timings: { u: User; ms: number; status: number }[] = [];
        let afterFirstRound = before;
        for (let round = 0; round < 3; round++) {
          // The first round starts right after the SIGKILL, maybe before the
          // instances have seen the connection go; by the second they have.
          if (round === 1) afterFirstRound = [a, b].map((t) => t.auth.cacheStatus());
          await Promise.all(
            servers.flatMap((server) =>
              all.map(async (u) => {
                const started = performance.now();
                const res = await fetch(`${server.url}/me`, {
                  headers: { Authorization: `Bearer ${u.token}` },
                  signal: AbortSignal.timeout(10_000),
                });
                timings.push({ u, ms: performance.now() - started, status: res.status });
              }),
            ),
          );
        }
        const wrong = timings.filter((t) => t.status !== (revoked.includes(t.u) ? 401 : 200));
        expect(wrong.map((t) => `${t.u.email}: ${t.status}`)).toEqual([]);
        const ms = timings.map((t) => t.ms);
        const dead = timings.filter((t) => t.u.port === victim).map((t) => t.ms);
        const p50 = percentile(ms, 50);
        const max = Math.max(...ms);
        expect(max).toBeLessThan(3000);
        expect(ms.filter((x) => x < 1000).length).toBeGreaterThan(ms.length * 0.9);
        const after = [a, b].map((t) => t.auth.cacheStatus());
        const hits = after.map((s, i) => s.hits - before[i]!.hits);
        const fallbacks = after.map((s, i) => s.fallbacks - before[i]!.fallbacks);
        // Then its users from Postgres, everyone else from the cache: shards are trusted one by one.
        const twoRounds = 2;
        expect(after.map((s, i) => s.hits - afterFirstRound[i]!.hits)).toEqual([
          elsewhere.length * twoRounds,
          elsewhere.length * twoRounds,
        ]);
        expect(after.map((s, i) => s.fallbacks - afterFirstRound[i]!.fallbacks)).toEqual([
          onVictim.length * twoRounds,
          onVictim.length * twoRounds,
        ]);
        await annotate(
          `${timings.length} GET /me after the kill: p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms; ` +
            `its users p50 ${percentile(dead, 50).toFixed(1)} ms, max ${Math.max(...dead).toFixed(1)} ms; ` +
            `cache hits A ${hits[0]}, B ${hits[1]}; fallbacks to Postgres A ${fallbacks[0]}, B ${fallbacks[1]}; ` +
            `breaker A ${after[0]!.breaker}, B ${after[1]!.breaker}; replays A ${before[0]!.replays}→${after[0]!.replays}, B ${before[1]!.replays}→${after[1]!.replays}`,
        );
      });
    } finally {
      for (const server of servers) await server.close();
      await close();
      if (victim !== undefined) await restored(victim);
    }
  });
});

describe("a slot handed to another primary that holds an older entry (no connection lost)", () => {
  /**
   * What a client sees after a forced failover to a lagging replica or a
   * botched resharding: the user's slot is now served by a node whose copy of
   * the entry predates the logout, and no connection closed. Built here by
   * importing the old entry into another primary (IMPORTING + ASKING), then
   * assigning the slot to it after the logout. The repair loop runs once a
   * minute in this test, so only the change of owner itself can protect.
   */
  it("both instances refuse the revoked token at once, and the next pass puts the revocation on the new owner", async () => {
    const { a, b, keyPrefix, close } = await twoInstances({
      overrides: { cache: { repairIntervalMs: 60_000 } },
    });
    let slot: number | undefined;
    let owner: { id: string; port: number } | undefined;
    const nodeIds = new Map((await cluster.nodes()).map((n) => [n.port, n.id]));
    try {
      await withClusterLogs(async () => {
        const [x] = await users([a, b], keyPrefix, 1);
        for (const t of [a, b]) expect((await me(t.app, x!.token)).status).toBe(200);
        const k = redisCacheKeys(keyPrefix, x!.id);
        slot = await cluster.keySlot(k.entry);
        owner = { port: x!.port, id: nodeIds.get(x!.port)! };
        const target = cluster.ports.find((port) => port !== owner!.port)!;
        const oldEntry = String(await cluster.command(owner.port, "GET", k.entry));
        const oldGeneration = String(await cluster.command(owner.port, "GET", k.generation));
        expect(JSON.parse(oldEntry)).toMatchObject({ jwtVersion: 0 });

        // The future owner gets the entry as it is now (v0).
        await cluster.command(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", owner.id);
        const direct = new Redis({ port: target, host: "127.0.0.1", lazyConnect: true });
        direct.on("error", () => {});
        try {
          await direct.connect();
          const results = await direct
            .pipeline()
            .asking()
            .set(k.entry, oldEntry)
            .asking()
            .set(k.generation, oldGeneration)
            .exec();
          expect(results?.map(([error]) => error)).toEqual([null, null, null, null]);
        } finally {
          direct.disconnect();
        }

        expect((await logout(a.app, x!.token)).status).toBe(204);
        expect(await cachedVersionOn(owner.port, keyPrefix, x!.id)).toBe(1);
        await handOver(slot, owner.port, target, nodeIds);
        expect(await cluster.nodeForKey(k.entry)).toBe(target);
        expect(await cachedVersionOn(target, keyPrefix, x!.id)).toBe(0);

        for (const t of [a, b]) {
          const res = await me(t.app, x!.token);
          expect(res.status).toBe(401);
          expect(res.body.error.code).toBe("token_revoked");
        }
        for (const t of [a, b]) expect(await t.auth.checkCache()).toBe(true);
        expect(await cachedVersionOn(target, keyPrefix, x!.id)).toBe(1);
        for (const t of [a, b]) expect((await me(t.app, x!.token)).status).toBe(401);
        const fresh = await login(a.app, x!.email);
        for (const t of [a, b]) expect((await me(t.app, fresh)).status).toBe(200);
      });
    } finally {
      await close();
      if (slot !== undefined && owner !== undefined) {
        for (const port of cluster.ports)
          await cluster.command(port, "CLUSTER", "SETSLOT", slot, "STABLE");
        const servedBy = (await cluster.nodes()).find(
          (n) => n.role === "primary" && n.slots.some(([x, y]) => slot! >= x && slot! <= y),
        )?.port;
        if (servedBy !== undefined && servedBy !== owner.port) {
          await handOver(slot, servedBy, owner.port, nodeIds);
        }
        await cluster.waitForClusterOk({ allSlotsServed: true });
      }
    }
  });
});

/** Moves `slot` from one primary to another without its keys (the old owner's are deleted). */
async function handOver(slot: number, from: number, to: number, ids: Map<number, string>) {
  const keys = (await cluster.command(from, "CLUSTER", "GETKEYSINSLOT", slot, 1000)) as string[];
  for (const key of keys) await cluster.command(from, "DEL", key);
  await cluster.command(to, "CLUSTER", "SETSLOT", slot, "NODE", ids.get(to)!);
  for (const port of cluster.ports.filter((p) => p !== to)) {
    await cluster.command(port, "CLUSTER", "SETSLOT", slot, "NODE", ids.get(to)!);
  }
  await cluster.waitForClusterOk({ allSlotsServed: true });
}

describe("a dead primary whose users were not revoked lately", () => {
  /**
   * ioredis drops a dead node's connection and adds it back at each slot
   * refresh; an identity built from that pool flips between "two primaries"
   * (which then looked like another data set: a replay of every retained
   * change, and trust) and "three, one failing" (distrust), several times a
   * second, for as long as the node is down. Each of those connections is
   * a new ioredis instance: the cache must not keep them (and its listener
   * on them) once ioredis has dropped them.
   */
  it("each instance distrusts that shard steadily until the node is back: no replay after replay, no flapping, no dropped connection kept", async ({
    annotate,
  }) => {
    const { a, b, keyPrefix, close } = await twoInstances();
    let victim: number | undefined;
    try {
      await withClusterLogs(async () => {
        const all = await cachedUsers([a, b], keyPrefix, 12);
        victim = busiest(all);
        const made: Redis[] = [];
        a.redis.on("+node", (node: Redis) => made.push(node));
        await cluster.killNode(victim);
        await waitFor(() => [a, b].every((t) => t.auth.cacheStatus().untrustedShards === 1), {
          what: "both instances to distrust its shard",
        });
        const replayed = (t: TestApp) =>
          t.auth.cacheStatus().replays + t.auth.cacheStatus().replaysSkipped;
        const replays = [a, b].map(replayed);
        const states = new Set<string>();
        const until = Date.now() + 2000;
        while (Date.now() < until) {
          // Requests keep coming, so the client keeps running into the dead node.
          for (const u of all) {
            for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
          }
          for (const t of [a, b]) states.add(String(t.auth.cacheStatus().untrustedShards));
        }
        const replaysWhileDown = [a, b].map((t, i) => replayed(t) - replays[i]!);
        await annotate(
          `while down: untrusted shards seen ${[...states].join(", ")}; replays A ${replaysWhileDown[0]}, B ${replaysWhileDown[1]}`,
        );
        expect([...states]).toEqual(["1"]);
        expect(replaysWhileDown).toEqual([0, 0]);

        await cluster.restartNode(victim);
        await trusted(a, b);
        // Its shard replayed once per instance (or skipped once, the other having done it).
        expect([a, b].map((t, i) => replayed(t) - replays[i]!)).toEqual([1, 1]);
        const dropped = made.filter((node) => !(a.redis as Cluster).nodes().includes(node));
        expect(dropped.length).toBeGreaterThan(0);
        expect(dropped.filter((node) => node.listenerCount("close") > 0)).toHaveLength(0);
        for (const u of all) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }
      });
    } finally {
      await close();
      if (victim !== undefined) await restored(victim);
    }
  });
});

describe("one replica per primary, revocations wait for one replica (cache.replicaAcks 1)", () => {
  it(
    "a logout waits on its own shard's replica (503 while that one is stopped, 204 elsewhere); a killed primary's replica takes over and no revoked token is accepted",
    { timeout: 90_000 },
    async ({ annotate }) => {
      const replicated = await startCluster({ primaries: 3, replicasPerPrimary: 1 });
      const shared: TestAppOptions = {
        databaseUrl: database.url,
        keyPrefix: `c:${randomUUID()}:`,
        secret: randomBytes(32).toString("hex"),
        redis: () => createRedisClient({ clusterNodes: replicated.startupNodes }, 200),
        overrides: { cache: { repairIntervalMs: 50, replicaAcks: 1 } },
      };
      const instances: TestApp[] = [];
      let stopped: number | undefined;
      try {
        instances.push(await createTestApp(shared));
        instances.push(await createTestApp(shared));
        const [a, b] = instances as [TestApp, TestApp];
        const all = await inBatches(
          Array.from({ length: 24 }, (_, i) => i),
          10,
          async (i) => {
            const email = uniqueEmail("replicated");
            const { id } = await register(instances[i % 2]!.app, email);
            const token = await login(instances[i % 2]!.app, email);
            const port = await replicated.nodeForKey(redisCacheKeys(shared.keyPrefix!, id).entry);
            return { id, email, token, port } satisfies User;
          },
        );
        for (const u of all) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }
        const nodes = await replicated.nodes();
        const primary = busiest(all);
        const primaryId = nodes.find((n) => n.port === primary)!.id;
        const replica = nodes.find((n) => n.primaryId === primaryId)!.port;
        const onPrimary = all.filter((u) => u.port === primary);
        const elsewhere = all.filter((u) => u.port !== primary);
        expect(onPrimary.length).toBeGreaterThanOrEqual(4);

        // The WAIT travels with the write to the user's primary: with that
        // primary's replica stopped, a logout elsewhere is confirmed and one of
        // its users is not (after which the instance distrusts that shard until
        // a pass can confirm the change).
        replicated.process(replica).pause();
        stopped = replica;
        expect((await logout(a.app, elsewhere[0]!.token)).status).toBe(204);
        expect((await logout(a.app, onPrimary[0]!.token)).status).toBe(503);
        expect(a.auth.cacheStatus().breaker).toBe("open");
        replicated.process(replica).resume();
        stopped = undefined;
        await trusted(a, b);
        expect((await logout(b.app, onPrimary[1]!.token)).status).toBe(204);
        const revoked = [onPrimary[0]!, elsewhere[0]!, onPrimary[1]!];
        const valid = all.filter((u) => !revoked.includes(u));
        // The replica had every one of them before the failover.
        const onReplica = new Redis({ port: replica, host: "127.0.0.1", lazyConnect: true });
        onReplica.on("error", () => {});
        try {
          await onReplica.connect();
          await onReplica.call("READONLY");
          for (const u of [onPrimary[0]!, onPrimary[1]!]) {
            const raw = await onReplica.get(redisCacheKeys(shared.keyPrefix!, u.id).entry);
            expect(JSON.parse(String(raw))).toMatchObject({ jwtVersion: 1 });
          }
        } finally {
          onReplica.disconnect();
        }

        const replayed = (t: TestApp) =>
          t.auth.cacheStatus().replays + t.auth.cacheStatus().replaysSkipped;
        const replays = [a, b].map(replayed);
        const killedAt = Date.now();
        await replicated.killNode(primary);
        const answers: number[] = [];
        await waitFor(
          async () => {
            for (const u of revoked)
              for (const t of [a, b]) answers.push((await me(t.app, u.token)).status);
            return (
              (await replicated.nodeForKey(
                redisCacheKeys(shared.keyPrefix!, onPrimary[0]!.id).entry,
              )) === replica
            );
          },
          { what: "the replica to take over", timeoutMs: 30_000 },
        );
        const promotedAfterMs = Date.now() - killedAt;
        expect(answers.filter((status) => status !== 401)).toEqual([]);
        // The promoted replica has no replica of its own: nothing written to it
        // can be confirmed, so neither a logout of its users nor the replay.
        expect((await logout(a.app, onPrimary[2]!.token)).status).toBe(503);
        revoked.push(onPrimary[2]!);
        for (const u of revoked) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(401);
        }
        await replicated.restartNode(primary);
        await replicated.waitForClusterOk({ allSlotsServed: true });
        expect((await replicated.nodes()).find((n) => n.port === primary)?.role).toBe("replica");
        await trusted(a, b);
        const trustedAfterMs = Date.now() - killedAt;
        // The new primary's shard replayed (or, on the second instance, found the other's mark).
        expect([a, b].map((t, i) => replayed(t) > replays[i]!)).toEqual([true, true]);
        for (const u of revoked) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(401);
        }
        for (const u of valid.filter((v) => v !== onPrimary[2])) {
          for (const t of [a, b]) expect((await me(t.app, u.token)).status).toBe(200);
        }
        expect((await logout(b.app, onPrimary[3]!.token)).status).toBe(204);
        await annotate(
          `SIGKILL of a primary: its replica served the slots after ${promotedAfterMs} ms ` +
            `(${answers.length} GET /me with revoked tokens meanwhile, all 401); ` +
            `with the old primary back as its replica, both instances trusted the cache ${trustedAfterMs} ms after the kill`,
        );
      } catch (error) {
        throw new Error(`${String(error)}\n${await replicated.logs()}`, { cause: error });
      } finally {
        if (stopped !== undefined) replicated.process(stopped).resume();
        for (const t of instances) await t.close().catch(() => {});
        await replicated.stop();
      }
    },
  );
});
