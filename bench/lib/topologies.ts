import { startCluster, type RedisCluster } from "../../test/helpers/redis-cluster.js";
import { redisCommand } from "../../test/helpers/redis-process.js";
import { startSentinelTopology, type SentinelTopology } from "../../test/helpers/redis-sentinel.js";

export type TopologyName = "sentinel" | "cluster";

/**
 * A private Redis topology for the bench, started and stopped by the run:
 * Sentinel (1 primary, 1 replica, 3 sentinels) or Cluster (3 primaries).
 * Its processes are not pinned, like the shared standalone Redis.
 */
export interface BenchTopology {
  name: TopologyName;
  /** What the servers under test need to reach it (REDIS_URL unset). */
  env: Record<string, string>;
  /** Where the service's data lives: the primary, or every Cluster primary. */
  dataPorts(): Promise<number[]>;
  describe: string;
  stop(): Promise<void>;
}

export async function startTopology(name: TopologyName): Promise<BenchTopology> {
  if (name === "sentinel") {
    const topology: SentinelTopology = await startSentinelTopology({ name: "bench-primary" });
    return {
      name,
      env: {
        REDIS_URL: "",
        REDIS_SENTINELS: topology.sentinels.map((s) => `${s.host}:${s.port}`).join(","),
        REDIS_SENTINEL_NAME: topology.name,
      },
      dataPorts: async () => [await topology.primary()],
      describe: `Sentinel: primary :${topology.ports.primary}, replica :${topology.ports.replica}, sentinels :${topology.ports.sentinels.join(", :")}`,
      stop: () => topology.stop(),
    };
  }
  const cluster: RedisCluster = await startCluster({ primaries: 3, replicasPerPrimary: 0 });
  return {
    name,
    env: {
      REDIS_URL: "",
      REDIS_CLUSTER_NODES: cluster.startupNodes.map((n) => `${n.host}:${n.port}`).join(","),
    },
    dataPorts: async () =>
      (await cluster.nodes()).filter((n) => n.role === "primary").map((n) => n.port),
    describe: `Cluster: primaries :${cluster.ports.join(", :")}`,
    stop: () => cluster.stop(),
  };
}

/** `INFO commandstats` calls per command, summed over these servers. */
export async function commandCalls(ports: number[]): Promise<Record<string, number>> {
  const total: Record<string, number> = {};
  for (const port of ports) {
    const text = String(await redisCommand(port, "INFO", "commandstats"));
    for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      total[match[1]!] = (total[match[1]!] ?? 0) + Number(match[2]);
    }
  }
  return total;
}

export function subtractCalls(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after)) {
    const d = calls - (before[name] ?? 0);
    if (d > 0) delta[name] = d;
  }
  return delta;
}
