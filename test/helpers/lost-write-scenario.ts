import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { authRedisOptions } from "../../src/adapters/redis-client.js";
import { redisCacheKeys } from "../../src/adapters/redis-user-cache.js";
import { PASSWORD, uniqueEmail } from "./api.js";
import { listen } from "./listen.js";
import { startSentinelTopology, type SentinelTopology } from "./redis-sentinel.js";
import { createTestApp, type TestApp, type TestAppOptions } from "./test-app.js";
import { waitFor } from "./wait-for.js";

/**
 * A logout whose Redis write reached the primary but not the replica, then a
 * failover to that replica: two service instances (own Prisma and ioredis
 * clients, one database, one key prefix) on a Sentinel topology. The
 * scenario only observes; `lostWriteViolations` says what was wrong.
 *
 * 1. Register and log in on A; GET /me on A and B (the entry is cached).
 * 2. Hold replication; POST /logout on A. From its answer on, both
 *    instances are asked GET /me with the old token every `intervalMs`.
 * 3. SIGKILL the primary; wait until the sentinels agree on the replica.
 * 4. Log in again on A; both instances are asked GET /me with the fresh
 *    token too, until `observeMs` after the failover.
 */
export interface LostWriteOptions {
  /**
   * What each instance is given (both get the same), e.g. its Redis client
   * factory in Sentinel mode. The default is today's service: `authRedisOptions(200)`.
   */
  instance?: (topology: SentinelTopology) => Partial<TestAppOptions>;
  /** How long to keep asking after the failover (default 8000 ms). */
  observeMs?: number;
  /** How long after the failover to log in again (default at once). */
  freshLoginAfterMs?: number;
  intervalMs?: number;
}

export type InstanceName = "A" | "B";

export interface Sample {
  /** ms after the logout's answer. */
  at: number;
  instance: InstanceName;
  token: "revoked" | "fresh";
  /** 0: no answer within 5 s. */
  status: number;
  code?: string;
}

export interface LostWriteRun {
  logoutStatus: number;
  /** ms after the logout's answer. */
  killedAt: number;
  failoverAt: number;
  freshLoginAt: number;
  endedAt: number;
  ports: { oldPrimary: number; newPrimary: number; replica: number };
  /** The user's cached jwtVersion (null: no entry) as each server held it. */
  cached: {
    primaryAfterLogout: number | null;
    replicaBeforeKill: number | null;
    newPrimary: number | null;
  };
  postgresVersion: number;
  samples: Sample[];
}

export function todaysInstance(topology: SentinelTopology): Partial<TestAppOptions> {
  return {
    redis: () =>
      new Redis({ sentinels: topology.sentinels, name: topology.name, ...authRedisOptions(200) }),
  };
}

export async function runLostWriteAcrossFailover(
  options: LostWriteOptions = {},
): Promise<LostWriteRun> {
  const observeMs = options.observeMs ?? 8000;
  const intervalMs = options.intervalMs ?? 50;
  const topology = await startSentinelTopology();
  const apps: TestApp[] = [];
  const servers: Awaited<ReturnType<typeof listen>>[] = [];
  const samplers: Promise<void>[] = [];
  let sampling = true;
  try {
    const perInstance = (options.instance ?? todaysInstance)(topology);
    const shared = { keyPrefix: `t:${randomUUID()}:`, secret: randomBytes(32).toString("hex") };
    const a = await createTestApp({ ...perInstance, ...shared });
    apps.push(a);
    const b = await createTestApp({ ...perInstance, ...shared, databaseUrl: a.databaseUrl });
    apps.push(b);
    for (const app of apps) servers.push(await listen(app.app));
    const url: Record<InstanceName, string> = { A: servers[0]!.url, B: servers[1]!.url };

    const post = async (instance: InstanceName, path: string, body?: object, token?: string) => {
      const res = await fetch(`${url[instance]}${path}`, {
        method: "POST",
        headers: {
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      return { status: res.status, body: (await res.json().catch(() => null)) as unknown };
    };
    const me = async (instance: InstanceName, token: string) => {
      try {
        const res = await fetch(`${url[instance]}/me`, {
          headers: { Authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(5000),
        });
        const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
        return { status: res.status, code: body?.error?.code };
      } catch {
        return { status: 0, code: "no answer" };
      }
    };
    const email = uniqueEmail("lost-write");
    const login = async () => {
      const res = await post("A", "/login", { email, password: PASSWORD });
      if (res.status !== 200) throw new Error(`login answered ${res.status}`);
      return (res.body as { accessToken: string }).accessToken;
    };

    const registered = await post("A", "/register", { email, password: PASSWORD });
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
    const userId = (registered.body as { user: { id: string } }).user.id;
    const revoked = await login();
    for (const instance of ["A", "B"] as const) {
      const res = await me(instance, revoked);
      if (res.status !== 200) throw new Error(`GET /me on ${instance} answered ${res.status}`);
    }
    const key = redisCacheKeys(shared.keyPrefix, userId).entry;
    const cachedAt = async (port: number) => {
      const raw = await topology.command(port, "GET", key);
      return raw === null ? null : (JSON.parse(String(raw)) as { jwtVersion: number }).jwtVersion;
    };
    const oldPrimary = await topology.primary();
    await waitFor(async () => (await cachedAt(topology.ports.replica)) === 0, {
      what: "the cached entry to reach the replica",
    });

    await topology.holdReplication();
    const logout = await post("A", "/logout", undefined, revoked);
    const t0 = Date.now();
    const since = () => Date.now() - t0;
    const samples: Sample[] = [];
    const sample = (instance: InstanceName, token: Sample["token"], value: string) =>
      (async () => {
        while (sampling) {
          const at = since();
          const res = await me(instance, value);
          samples.push({ at, instance, token, ...res });
          await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
      })();
    samplers.push(sample("A", "revoked", revoked), sample("B", "revoked", revoked));
    const primaryAfterLogout = await cachedAt(oldPrimary);
    const replicaBeforeKill = await cachedAt(topology.ports.replica);
    await waitFor(
      () =>
        (["A", "B"] as const).every(
          (i) => samples.filter((s) => s.instance === i && s.token === "revoked").length >= 3,
        ),
      { what: "a few answers from both instances before the kill" },
    );

    await topology.killPrimary();
    const killedAt = since();
    const newPrimary = await topology.waitForFailover(oldPrimary);
    const failoverAt = since();

    await new Promise((resolve) => setTimeout(resolve, options.freshLoginAfterMs ?? 0));
    const fresh = await login();
    const freshLoginAt = since();
    samplers.push(sample("A", "fresh", fresh), sample("B", "fresh", fresh));
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, failoverAt + observeMs - since())),
    );
    sampling = false;
    await Promise.all(samplers);

    return {
      logoutStatus: logout.status,
      killedAt,
      failoverAt,
      freshLoginAt,
      endedAt: since(),
      ports: { oldPrimary, newPrimary, replica: topology.ports.replica },
      cached: { primaryAfterLogout, replicaBeforeKill, newPrimary: await cachedAt(newPrimary) },
      postgresVersion: (await a.prisma.user.findUniqueOrThrow({ where: { id: userId } }))
        .jwtVersion,
      samples: samples.sort((x, y) => x.at - y.at),
    };
  } catch (error) {
    throw new Error(`${String(error)}\n${await topology.logs()}`, { cause: error });
  } finally {
    sampling = false;
    await Promise.allSettled(samplers);
    for (const server of servers) await server.close();
    for (const app of [...apps].reverse()) await app.close().catch(() => {});
    await topology.stop();
  }
}

/**
 * What the run shows that the service must not do, one line per instance and
 * kind: accept the revoked token at any moment after the logout's answer; refuse
 * the token of a login made after the failover as revoked; not accept that
 * token on both instances by the end.
 */
export function lostWriteViolations(
  run: LostWriteRun,
  expected: { logoutStatus: 204 | 503 } = { logoutStatus: 204 },
): string[] {
  const violations: string[] = [];
  if (run.logoutStatus !== expected.logoutStatus) {
    violations.push(`the logout answered ${run.logoutStatus}, not ${expected.logoutStatus}`);
  }
  const when = (at: number) => {
    const phase =
      at < run.killedAt
        ? "before the kill"
        : at < run.failoverAt
          ? `during the failover, ${at - run.killedAt} ms after the SIGKILL`
          : `${at - run.failoverAt} ms after the failover`;
    return `+${at} ms (${phase})`;
  };
  const report = (bad: Sample[], what: string) => {
    if (bad.length === 0) return;
    const first = bad[0]!;
    const last = bad.at(-1)!;
    const answer = `${first.status}${first.code ? ` ${first.code}` : ""}`;
    violations.push(
      `${first.instance} ${what} ${bad.length}×, first at ${when(first.at)}, last at ${when(last.at)}: ${answer}`,
    );
  };
  for (const instance of ["A", "B"] as const) {
    const of = (token: Sample["token"]) =>
      run.samples.filter((s) => s.instance === instance && s.token === token);
    report(
      of("revoked").filter((s) => s.status === 200),
      "accepted the revoked token",
    );
    report(
      of("fresh").filter((s) => s.code === "token_revoked"),
      "refused the fresh token as revoked",
    );
    const last = of("fresh").at(-1);
    if (last?.status !== 200) {
      violations.push(
        `${instance} did not accept the fresh token by the end (last answer: ${last ? `${last.status} ${last.code ?? ""}` : "none"})`,
      );
    }
  }
  return violations;
}

/** The run as a timeline: events, and each series' answers as runs of equal answers. */
export function describeRun(run: LostWriteRun): string {
  const lines = [
    `logout on A answered ${run.logoutStatus} at +0 ms (replication held; Postgres jwtVersion now ${run.postgresVersion})`,
    `cached jwtVersion: old primary after the logout ${run.cached.primaryAfterLogout}, replica before the kill ${run.cached.replicaBeforeKill}, new primary ${run.cached.newPrimary}`,
    `primary ${run.ports.oldPrimary} SIGKILLed at +${run.killedAt} ms; sentinels agree on ${run.ports.newPrimary} (the replica: ${run.ports.replica}) at +${run.failoverAt} ms; fresh login at +${run.freshLoginAt} ms; end at +${run.endedAt} ms`,
  ];
  for (const token of ["revoked", "fresh"] as const) {
    for (const instance of ["A", "B"] as const) {
      const series = run.samples.filter((s) => s.instance === instance && s.token === token);
      const runs: string[] = [];
      let start = 0;
      for (let i = 1; i <= series.length; i++) {
        const answer = (s: Sample | undefined) =>
          s ? `${s.status}${s.code ? ` ${s.code}` : ""}` : "";
        if (i === series.length || answer(series[i]) !== answer(series[start])) {
          const first = series[start]!;
          const last = series[i - 1]!;
          runs.push(`+${first.at}..+${last.at} ms ${answer(first)} (${i - start}×)`);
          start = i;
        }
      }
      lines.push(`${instance}, ${token} token: ${runs.join("; ") || "no answers"}`);
    }
  }
  return lines.join("\n");
}
