/**
 * The Redis topology helpers, exercised with plain ioredis (no service code):
 * a Sentinel topology whose replication link can be held (so a failover
 * loses acknowledged writes), and a Redis Cluster whose nodes can be
 * flushed, killed and restarted. Timings are attached as annotations
 * (`vitest run --reporter=verbose` prints them).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { createConnection, createServer, type Socket } from "node:net";
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { authRedisOptions } from "../src/adapters/redis-client.js";
import { startCluster, type RedisCluster } from "./helpers/redis-cluster.js";
import { startSentinelTopology, toRecords } from "./helpers/redis-sentinel.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";
import { waitFor } from "./helpers/wait-for.js";

/** A plain connection to one server, for writes followed by WAIT on the same connection. */
async function direct(port: number): Promise<Redis> {
  const redis = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  await redis.connect();
  return redis;
}

describe("tcp proxy", () => {
  it("holds bytes in both directions without closing, and delivers them in order on release", async () => {
    const server = createServer((socket) => socket.pipe(socket)); // echo
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    const proxy = await startTcpProxy({ port: typeof address === "object" ? address!.port : 0 });
    let client: Socket | undefined;
    try {
      client = createConnection({ port: proxy.port, host: "127.0.0.1" });
      await once(client, "connect");
      let received = "";
      client.on("data", (chunk: Buffer) => (received += chunk.toString()));
      client.write("a");
      await waitFor(() => received === "a", { what: "the echo through the proxy" });
      proxy.hold();
      client.write("b");
      client.write("c");
      await waitFor(() => proxy.held().upstream === 2, { what: "two bytes held" });
      expect(received).toBe("a");
      expect(client.destroyed).toBe(false);
      proxy.release();
      await waitFor(() => received === "abc", { what: "the held bytes" });
    } finally {
      client?.destroy();
      await proxy.close();
      server.close();
    }
  });
});

describe("sentinel topology", () => {
  it("loses a write the replica never received: the failover promotes the older value", async () => {
    const topology = await startSentinelTopology();
    let writer: Redis | undefined;
    try {
      const primary = await topology.primary();
      expect(primary).toBe(topology.ports.primary);
      writer = await direct(primary);
      await writer.set("k", "old");
      expect(await writer.call("WAIT", "1", "2000")).toBe(1);

      expect(await topology.replicatesThroughProxy()).toBe(true);
      await topology.holdReplication();
      await writer.set("k", "new");
      expect(await writer.call("WAIT", "1", "100")).toBe(0); // nobody acknowledged it
      expect(topology.proxy.held().downstream).toBeGreaterThan(0); // the SET, held on its way
      expect(await writer.get("k")).toBe("new");
      expect(await topology.command(topology.ports.replica, "GET", "k")).toBe("old");

      writer.disconnect();
      await topology.killPrimary();
      const next = await topology.waitForFailover(primary);
      expect(next).toBe(topology.ports.replica);
      expect(await topology.command(next, "GET", "k")).toBe("old"); // the acknowledged SET is gone
    } catch (error) {
      throw new Error(`${String(error)}\n${await topology.logs()}`, { cause: error });
    } finally {
      writer?.disconnect();
      await topology.stop();
    }
  });

  it("keeps a write WAIT confirmed; clients follow the failover to the replica's real port", async ({
    annotate,
  }) => {
    const topology = await startSentinelTopology();
    const clients: Record<string, Redis> = {};
    const watchers: Redis[] = [];
    let writer: Redis | undefined;
    try {
      // Sentinels know the replica by its own port, not by the proxy's.
      for (const port of topology.ports.sentinels) {
        const replicas = toRecords(
          await topology.command(port, "SENTINEL", "REPLICAS", topology.name),
        );
        expect(replicas.map((r) => Number(r.port))).toEqual([topology.ports.replica]);
      }
      const variants: Record<string, RedisOptions> = {
        "service options": authRedisOptions(200),
        "constant 100 ms retry": { ...authRedisOptions(200), retryStrategy: () => 100 },
      };
      for (const [name, options] of Object.entries(variants)) {
        const client = new Redis({
          ...options,
          sentinels: topology.sentinels,
          name: topology.name,
        });
        client.on("error", () => {});
        clients[name] = client;
      }
      let switchedAt: number | undefined;
      for (const sentinel of topology.sentinels) {
        const watcher = new Redis({ ...sentinel, retryStrategy: () => 100 });
        watcher.on("error", () => {});
        watcher.on("message", () => (switchedAt ??= Date.now()));
        await watcher.subscribe("+switch-master");
        watchers.push(watcher);
      }
      for (const client of Object.values(clients)) {
        await waitFor(() => client.status === "ready", { what: "a sentinel client" });
      }

      const primary = await topology.primary();
      writer = await direct(primary);
      await writer.set("k", "confirmed");
      expect(await writer.call("WAIT", "1", "1000")).toBe(1);
      writer.disconnect();

      const killedAt = Date.now();
      await topology.killPrimary();
      const answeredAt: Record<string, number> = {};
      const answeredBy: Record<string, number> = {};
      await Promise.all(
        Object.entries(clients).map(([name, client]) =>
          waitFor(
            async () => {
              const port = Number(/tcp_port:(\d+)/.exec(String(await client.info("server")))?.[1]);
              if (port === primary) return false;
              answeredAt[name] = Date.now() - killedAt;
              answeredBy[name] = port;
              return true;
            },
            { what: `${name} to answer from the new primary`, timeoutMs: 30_000 },
          ),
        ),
      );
      const next = await topology.waitForFailover(primary);
      expect(next).toBe(topology.ports.replica);
      expect(await topology.command(next, "GET", "k")).toBe("confirmed");
      for (const port of Object.values(answeredBy)) expect(port).toBe(topology.ports.replica);
      expect(switchedAt).toBeDefined();
      await annotate(
        `SIGKILL → +switch-master ${switchedAt! - killedAt} ms; ` +
          Object.entries(answeredAt)
            .map(([name, ms]) => `ioredis (${name}) answers on the new primary after ${ms} ms`)
            .join("; "),
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await topology.logs()}`, { cause: error });
    } finally {
      writer?.disconnect();
      for (const client of [...Object.values(clients), ...watchers]) client.disconnect();
      await topology.stop();
    }
  });
});

describe("cluster, three primaries without replicas, cluster-require-full-coverage no", () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startCluster({
      primaries: 3,
      replicasPerPrimary: 0,
      requireFullCoverage: false,
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const keysTagged = (tag: string, count = 100) =>
    Array.from({ length: count }, (_, i) => `{${tag}-${i}}:entry`);

  async function writeAll(keys: string[]) {
    const owners = new Map<string, number>();
    for (const key of keys) {
      const port = await cluster.nodeForKey(key);
      await cluster.command(port, "SET", key, "v");
      owners.set(key, port);
    }
    return owners;
  }

  async function present(keys: string[], owners: Map<string, number>) {
    const found: string[] = [];
    for (const key of keys) {
      if ((await cluster.command(owners.get(key)!, "EXISTS", key)) === 1) found.push(key);
    }
    return found;
  }

  it("spreads keys with different hash tags over all three primaries", async () => {
    const nodes = await cluster.nodes();
    expect(nodes.filter((n) => n.role === "primary")).toHaveLength(3);
    const keys = keysTagged("spread");
    const owners = await writeAll(keys);
    expect(new Set(owners.values())).toEqual(new Set(cluster.ports));
    expect(await present(keys, owners)).toEqual(keys); // each on the node nodeForKey named
  });

  it("FLUSHALL on one node loses only that node's keys", async () => {
    const keys = keysTagged("flush");
    const owners = await writeAll(keys);
    const victim = cluster.ports[0]!;
    await cluster.flushNode(victim);
    const left = await present(keys, owners);
    expect(left.sort()).toEqual(keys.filter((k) => owners.get(k) !== victim).sort());
  });

  it("a killed node's slots fail fast for an ioredis Cluster while the others keep working; restarted, it serves its slots again, empty", async ({
    annotate,
  }) => {
    const keys = keysTagged("kill");
    const owners = await writeAll(keys);
    const victim = cluster.ports[1]!;
    const deadKey = keys.find((k) => owners.get(k) === victim)!;
    const liveKeys = keys.filter((k) => owners.get(k) !== victim);
    const before = (await cluster.nodes()).find((n) => n.port === victim)!;

    const client = new Cluster(cluster.startupNodes, {
      enableAutoPipelining: false,
      redisOptions: { commandTimeout: 200 },
    });
    const events = new Map<string, number>();
    for (const event of ["+node", "-node", "node error", "refresh", "close", "end", "ready"]) {
      client.on(event, () => events.set(event, (events.get(event) ?? 0) + 1));
    }
    client.on("error", () => {});
    try {
      await waitFor(() => client.status === "ready", { what: "the cluster client" });
      expect(await client.get(deadKey)).toBe("v");
      events.clear();

      const killedAt = Date.now();
      await cluster.killNode(victim);
      const error = await client.get(deadKey).then(
        () => null,
        (e: Error) => e,
      );
      const failedAfterMs = Date.now() - killedAt;
      expect(error?.message).toBeDefined();
      expect(failedAfterMs).toBeLessThan(5000);
      // Other slots answer meanwhile, and keep answering once the node is marked failed.
      for (const key of liveKeys.slice(0, 10)) expect(await client.get(key)).toBe("v");
      await waitFor(
        async () => (await cluster.nodes()).find((n) => n.port === victim)!.flags.includes("fail"),
        { what: "the others to mark the node failed" },
      );
      for (const key of liveKeys.slice(10, 20)) expect(await client.get(key)).toBe("v");
      const eventsWhileDown = [...events].map(([event, n]) => `${event} ×${n}`).join(", ");

      const restartedAt = Date.now();
      await cluster.restartNode(victim);
      let recoveredAfterMs = 0;
      const errorsAfterRestart = new Set<string>();
      await waitFor(
        async () => {
          try {
            await client.get(deadKey);
          } catch (e) {
            errorsAfterRestart.add((e as Error).message);
            return false;
          }
          recoveredAfterMs = Date.now() - restartedAt;
          return true;
        },
        { what: "the restarted node's slots to answer", timeoutMs: 30_000 },
      );
      await cluster.waitForClusterOk({ allSlotsServed: true });
      const after = (await cluster.nodes()).find((n) => n.port === victim)!;
      expect(after).toMatchObject({ id: before.id, role: "primary", slots: before.slots });
      expect(await cluster.command(victim, "DBSIZE")).toBe(0);
      expect(await client.get(deadKey)).toBeNull(); // lost with the restart
      expect(await present(keys, owners)).toEqual(liveKeys);
      await annotate(
        `dead slot rejected after ${failedAfterMs} ms (${error?.message}); ` +
          `cluster client events while down: ${eventsWhileDown}; ` +
          `restart → first answer for its slot after ${recoveredAfterMs} ms ` +
          `(errors meanwhile: ${[...errorsAfterRestart].join(" / ") || "none"})`,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await cluster.logs()}`, { cause: error });
    } finally {
      client.disconnect();
      if (!cluster.process(victim).alive()) await cluster.restartNode(victim);
    }
  });
});

describe("cluster with one replica per primary", () => {
  it("a killed primary's replica takes over; the restarted primary rejoins as its replica", async ({
    annotate,
  }) => {
    const cluster = await startCluster({ primaries: 3, replicasPerPrimary: 1 });
    try {
      const nodes = await cluster.nodes();
      expect(nodes.filter((n) => n.role === "primary")).toHaveLength(3);
      expect(nodes.filter((n) => n.role === "replica")).toHaveLength(3);
      const key = "{replicated}:entry";
      const primary = await cluster.nodeForKey(key);
      const replica = nodes.find(
        (n) => n.primaryId === nodes.find((p) => p.port === primary)!.id,
      )!.port;
      const writer = await direct(primary);
      await writer.set(key, "v");
      expect(await writer.call("WAIT", "1", "2000")).toBe(1);
      writer.disconnect();

      const killedAt = Date.now();
      await cluster.killNode(primary);
      await waitFor(async () => (await cluster.nodeForKey(key)) === replica, {
        what: "the replica to be promoted",
        timeoutMs: 30_000,
      });
      const promotedAfterMs = Date.now() - killedAt;
      await cluster.waitForClusterOk();
      expect(await cluster.command(replica, "GET", key)).toBe("v");

      await cluster.restartNode(primary);
      await cluster.waitForClusterOk({ allSlotsServed: true });
      const rejoined = (await cluster.nodes()).find((n) => n.port === primary)!;
      expect(rejoined.role).toBe("replica");
      expect(rejoined.primaryId).toBe(nodes.find((n) => n.port === replica)!.id);
      await waitFor(async () => (await cluster.command(primary, "DBSIZE")) === 1, {
        what: "the rejoined node to resync",
      });
      await annotate(
        `SIGKILL of a primary → its replica serves the slot after ${promotedAfterMs} ms`,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n${await cluster.logs()}`, { cause: error });
    } finally {
      await cluster.stop();
    }
  });
});
