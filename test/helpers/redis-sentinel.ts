import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distinctFreePorts } from "./free-port.js";
import {
  ephemeralServerArgs,
  processAccess,
  redisCommand,
  redisProcess,
  type RedisProcess,
} from "./redis-process.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { waitFor } from "./wait-for.js";

/**
 * A private Sentinel topology: one primary, one replica and three sentinels
 * (quorum 2), every process on its own free port, data in a temp dir, no
 * persistence. The replica replicates through a TCP proxy, so a test can hold
 * the replication link and let the replica silently miss writes.
 *
 * Addresses: the replica announces 127.0.0.1 and its own port, so the
 * primary's INFO (where sentinels discover replicas) and therefore the
 * sentinels, and after a failover the clients, see the replica's real port,
 * never the proxy's.
 *
 * Sentinels "fix" a replica whose INFO names a master other than the one they
 * monitor (+fix-slave-config: REPLICAOF the real primary, bypassing the
 * proxy) at their first INFO of it after `failover-timeout` (replica INFO
 * comes every 10 s). The replica's master is the proxy, so with the usual
 * 3 s timeout the proxy is bypassed about 10 s after start. The topology
 * therefore keeps that timeout long (`failoverTimeoutMs`, default 30 s), and
 * `holdReplication` refuses to hold once the proxy has been bypassed. The
 * price: a failed election (a three-way split vote) is retried only after
 * twice that timeout. Start a new topology for each failover.
 */
export interface SentinelTopology {
  name: string;
  ports: { primary: number; replica: number; proxy: number; sentinels: number[] };
  /** For `new Redis({ sentinels, name })`. */
  sentinels: { host: string; port: number }[];
  /** The current primary's port, as a sentinel reports it. */
  primary(): Promise<number>;
  /** SIGKILL the current primary. Returns its port. */
  killPrimary(): Promise<number>;
  /** Throws if the sentinels have already pointed the replica past the proxy. */
  holdReplication(): Promise<void>;
  releaseReplication(): void;
  /** The replica still replicates through the proxy (the sentinels have not "fixed" it). */
  replicatesThroughProxy(): Promise<boolean>;
  /**
   * Polls the sentinels until every one reports a primary other than
   * `previousPrimaryPort` and that server answers ROLE as master. Returns the
   * new primary's port.
   */
  waitForFailover(previousPrimaryPort: number, options?: { timeoutMs?: number }): Promise<number>;
  /** One command on a short-lived connection to any server or sentinel of the topology. */
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  /** The process behind a port (primary, replica or sentinel). */
  process(port: number): RedisProcess;
  proxy: TcpProxy;
  /** Log tails of every process, for failure messages. */
  logs(): Promise<string>;
  stop(): Promise<void>;
}

export interface SentinelTopologyOptions {
  name?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
}

export async function startSentinelTopology(
  options: SentinelTopologyOptions = {},
): Promise<SentinelTopology> {
  const name = options.name ?? "auth-primary";
  const downAfterMs = options.downAfterMs ?? 1000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(tmpdir(), "auth-sentinel-"));
  const processes = new Map<number, RedisProcess>();
  let proxy: TcpProxy | undefined;

  async function stop() {
    await Promise.all([...processes.values()].map((p) => p.kill()));
    await proxy?.close();
    await rm(dir, { recursive: true, force: true });
  }

  try {
    // The proxy's port is chosen with the others: one it picked itself could be
    // a sentinel's before that sentinel starts.
    const [primaryPort, replicaPort, proxyPort, ...sentinelPorts] = await distinctFreePorts(6);
    const server = async (role: string, port: number, extra: string[]) => {
      const data = join(dir, `${role}-${port}`);
      await mkdir(data);
      const p = redisProcess({
        port,
        what: `redis ${role}`,
        logFile: join(data, "redis.log"),
        args: [
          ...ephemeralServerArgs(port, data),
          // A replica's full sync starts at once instead of after 5 s.
          "--repl-diskless-sync-delay",
          "0",
          ...extra,
        ],
      });
      processes.set(port, p);
      await p.start();
      return p;
    };

    await server("primary", primaryPort!, []);
    proxy = await startTcpProxy({ port: primaryPort! }, proxyPort);
    await server("replica", replicaPort!, [
      "--replicaof",
      "127.0.0.1",
      String(proxy.port),
      "--replica-announce-ip",
      "127.0.0.1",
      "--replica-announce-port",
      String(replicaPort),
    ]);
    await waitFor(
      async () =>
        String(await redisCommand(replicaPort!, "INFO", "replication")).includes(
          "master_link_status:up",
        ),
      { what: "the replica's initial sync", timeoutMs: 20_000 },
    );

    for (const port of sentinelPorts) {
      const data = join(dir, `sentinel-${port}`);
      await mkdir(data);
      const config = join(data, "sentinel.conf");
      await writeFile(
        config,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${data}`,
          `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
          `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${name} 1`,
          "",
        ].join("\n"),
      );
      const p = redisProcess({
        port,
        what: "redis sentinel",
        logFile: join(data, "sentinel.log"),
        args: [config, "--sentinel"],
      });
      processes.set(port, p);
      await p.start();
    }

    // Ready when every sentinel knows the replica (at its real port) and the other sentinels.
    await waitFor(
      async () => {
        for (const port of sentinelPorts) {
          const replicas = toRecords(await redisCommand(port, "SENTINEL", "REPLICAS", name));
          const known = replicas.some(
            (r) => r.port === String(replicaPort) && !/s_down|disconnected/.test(r.flags ?? ""),
          );
          const peers = toRecords(await redisCommand(port, "SENTINEL", "SENTINELS", name));
          if (!known || peers.length < sentinelPorts.length - 1) return false;
        }
        return true;
      },
      { what: "the sentinels to discover the replica and each other", timeoutMs: 30_000 },
    );

    const topology: SentinelTopology = {
      name,
      ports: {
        primary: primaryPort!,
        replica: replicaPort!,
        proxy: proxy.port,
        sentinels: sentinelPorts,
      },
      sentinels: sentinelPorts.map((port) => ({ host: "127.0.0.1", port })),
      proxy,
      async primary() {
        let lastError: unknown;
        for (const port of sentinelPorts) {
          try {
            const reply = await redisCommand(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
            if (Array.isArray(reply)) return Number(reply[1]);
          } catch (error) {
            lastError = error;
          }
        }
        throw new Error("no sentinel reports a primary", { cause: lastError });
      },
      async killPrimary() {
        const port = await topology.primary();
        await topology.process(port).kill();
        return port;
      },
      async holdReplication() {
        if (!(await topology.replicatesThroughProxy())) {
          throw new Error(
            "the replica no longer replicates through the proxy (sentinel +fix-slave-config?)",
          );
        }
        proxy!.hold("both");
      },
      releaseReplication: () => proxy!.release(),
      async replicatesThroughProxy() {
        const info = String(await redisCommand(replicaPort!, "INFO", "replication"));
        return (
          info.includes(`master_port:${proxy!.port}\r\n`) && info.includes("master_link_status:up")
        );
      },
      async waitForFailover(previousPrimaryPort, waitOptions = {}) {
        return waitFor(
          async () => {
            const reported = new Set<number>();
            for (const port of sentinelPorts) {
              const reply = await redisCommand(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name);
              if (!Array.isArray(reply)) return undefined;
              reported.add(Number(reply[1]));
            }
            const [next] = reported;
            if (reported.size !== 1 || next === undefined || next === previousPrimaryPort) {
              return undefined;
            }
            const role = await redisCommand(next, "ROLE");
            return Array.isArray(role) && role[0] === "master" ? next : undefined;
          },
          {
            what: `a failover away from ${previousPrimaryPort}`,
            timeoutMs: waitOptions.timeoutMs ?? 30_000,
            intervalMs: 50,
          },
        );
      },
      ...processAccess(processes, "process of this topology"),
      stop,
    };
    return topology;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** SENTINEL MASTERS/REPLICAS/SENTINELS replies: arrays of flat [field, value, ...] arrays. */
export function toRecords(reply: unknown): Record<string, string>[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((flat: unknown) => {
    const record: Record<string, string> = {};
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = String(flat[i + 1]);
    }
    return record;
  });
}
