import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { distinctFreePorts } from "./free-port.js";
import {
  ephemeralServerArgs,
  processAccess,
  redisCommand,
  redisProcess,
  type RedisProcess,
} from "./redis-process.js";
import { waitFor } from "./wait-for.js";

const run = promisify(execFile);

export interface ClusterNode {
  id: string;
  port: number;
  role: "primary" | "replica";
  /** The primary's id, for a replica. */
  primaryId: string | null;
  /** Slot ranges [first, last] this node serves (primaries). */
  slots: [number, number][];
  /** CLUSTER NODES flags as the asked node sees them, e.g. ["master", "fail"]. */
  flags: string[];
}

/**
 * A private Redis Cluster: `primaries` primaries (and `replicasPerPrimary`
 * replicas each), every node on a free port with its bus on another free
 * port (`cluster-port`; the default port + 10000 may be taken or out of
 * range), no persistence, data and nodes.conf in a temp dir.
 *
 * `restartNode` starts a node again on the same port with the same nodes.conf
 * and no data. A primary without replicas comes back as the primary of its
 * slots, empty: the "one node restarted" case. A primary whose replica was
 * promoted meanwhile rejoins as that replica's replica.
 */
export interface RedisCluster {
  /** All nodes, as a live node currently sees them. */
  nodes(): Promise<ClusterNode[]>;
  ports: number[];
  /** Seed addresses for `new Cluster(...)`. */
  startupNodes: { host: string; port: number }[];
  /** The port of the primary serving `key`'s slot. */
  nodeForKey(key: string): Promise<number>;
  keySlot(key: string): Promise<number>;
  /** FLUSHALL on one node: only the keys of its slots go. */
  flushNode(port: number): Promise<void>;
  /** SIGKILL one node. */
  killNode(port: number): Promise<void>;
  /** Start a killed node again on its port, with its nodes.conf, without data. */
  restartNode(port: number): Promise<void>;
  /**
   * Every live node reports cluster_state:ok, knows every node, and sees all
   * 16384 slots assigned. With `allSlotsServed`, also no slot's primary is
   * failed (all data reachable).
   */
  waitForClusterOk(options?: { allSlotsServed?: boolean; timeoutMs?: number }): Promise<void>;
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  process(port: number): RedisProcess;
  logs(): Promise<string>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  primaries?: number;
  replicasPerPrimary?: 0 | 1;
  /** cluster-require-full-coverage (default true, Redis' default). */
  requireFullCoverage?: boolean;
  nodeTimeoutMs?: number;
}

export async function startCluster(options: ClusterOptions = {}): Promise<RedisCluster> {
  const primaries = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 0;
  const total = primaries * (1 + replicas);
  const dir = await mkdtemp(join(tmpdir(), "auth-cluster-"));
  const processes = new Map<number, RedisProcess>();

  async function stop() {
    await Promise.all([...processes.values()].map((p) => p.kill()));
    await rm(dir, { recursive: true, force: true });
  }

  try {
    const allPorts = await distinctFreePorts(total * 2);
    const ports = allPorts.slice(0, total);
    const busPorts = allPorts.slice(total);
    for (const [i, port] of ports.entries()) {
      const data = join(dir, `node-${port}`);
      await mkdir(data);
      const p = redisProcess({
        port,
        what: "redis cluster node",
        logFile: join(data, "redis.log"),
        args: [
          ...ephemeralServerArgs(port, data),
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(data, "nodes.conf"),
          "--cluster-port",
          String(busPorts[i]),
          "--cluster-node-timeout",
          String(options.nodeTimeoutMs ?? 2000),
          "--cluster-require-full-coverage",
          options.requireFullCoverage === false ? "no" : "yes",
          "--cluster-announce-ip",
          "127.0.0.1",
          "--repl-diskless-sync-delay",
          "0",
        ],
      });
      processes.set(port, p);
    }
    await Promise.all([...processes.values()].map((p) => p.start()));
    await run(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((port) => `127.0.0.1:${port}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ],
      { timeout: 60_000 },
    );

    const alive = () => ports.filter((port) => processes.get(port)!.alive());

    async function nodes(): Promise<ClusterNode[]> {
      let lastError: unknown;
      for (const port of alive()) {
        try {
          return parseClusterNodes(String(await redisCommand(port, "CLUSTER", "NODES")));
        } catch (error) {
          lastError = error;
        }
      }
      throw new Error("no cluster node answers", { cause: lastError });
    }

    const cluster: RedisCluster = {
      ports,
      startupNodes: ports.map((port) => ({ host: "127.0.0.1", port })),
      nodes,
      async keySlot(key) {
        return Number(await redisCommand(alive()[0]!, "CLUSTER", "KEYSLOT", key));
      },
      async nodeForKey(key) {
        const slot = await cluster.keySlot(key);
        const owner = (await nodes()).find(
          (n) => n.role === "primary" && n.slots.some(([a, b]) => slot >= a && slot <= b),
        );
        if (!owner) throw new Error(`no primary serves slot ${slot}`);
        return owner.port;
      },
      async flushNode(port) {
        await redisCommand(port, "FLUSHALL");
      },
      async killNode(port) {
        await cluster.process(port).kill();
      },
      async restartNode(port) {
        await cluster.process(port).start();
      },
      async waitForClusterOk(waitOptions = {}) {
        await waitFor(
          async () => {
            const live = alive();
            const views = new Set<string>();
            for (const port of live) {
              const info = String(await redisCommand(port, "CLUSTER", "INFO"));
              if (!info.includes("cluster_state:ok")) return false;
              if (!info.includes("cluster_slots_assigned:16384")) return false;
              if (!info.includes(`cluster_known_nodes:${total}`)) return false;
              if (waitOptions.allSlotsServed && !info.includes("cluster_slots_ok:16384")) {
                return false;
              }
              const view = parseClusterNodes(String(await redisCommand(port, "CLUSTER", "NODES")));
              views.add(viewSignature(view));
            }
            // Every live node agrees on who serves which slots and who replicates whom
            // (a restarted node briefly believes its old nodes.conf).
            return live.length > 0 && views.size === 1;
          },
          {
            what: "cluster_state:ok on every live node",
            timeoutMs: waitOptions.timeoutMs ?? 30_000,
          },
        );
      },
      ...processAccess(processes, "node of this cluster"),
      stop,
    };
    await cluster.waitForClusterOk({ allSlotsServed: true });
    // redis-cli returns before every node has heard that the replicas are replicas.
    await waitFor(
      async () => {
        const view = await nodes();
        const synced = await Promise.all(
          view
            .filter((n) => n.role === "replica")
            .map(async (n) =>
              String(await redisCommand(n.port, "INFO", "replication")).includes(
                "master_link_status:up",
              ),
            ),
        );
        return synced.length === primaries * replicas && synced.every(Boolean);
      },
      { what: "every replica attached and in sync", timeoutMs: 30_000 },
    );
    await cluster.waitForClusterOk({ allSlotsServed: true });
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** What must agree between nodes' views: roles, replication and slots, not flags or epochs. */
function viewSignature(view: ClusterNode[]): string {
  return view
    .map((n) => `${n.port}:${n.role}:${n.primaryId ?? "-"}:${JSON.stringify(n.slots)}`)
    .sort()
    .join("|");
}

/** CLUSTER NODES: `<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...` */
export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => {
      const [id, address, flags, primary, , , , , ...slotFields] = line.trim().split(" ");
      const port = Number(/:(\d+)/.exec(address ?? "")?.[1]);
      const flagList = (flags ?? "").split(",");
      const slots: [number, number][] = slotFields
        .filter((field) => !field.startsWith("["))
        .map((field) => {
          const [first, last] = field.split("-").map(Number);
          return [first!, last ?? first!];
        });
      return {
        id: id!,
        port,
        role: flagList.includes("master") ? "primary" : "replica",
        primaryId: primary === "-" ? null : primary!,
        slots,
        flags: flagList,
      } satisfies ClusterNode;
    });
}
