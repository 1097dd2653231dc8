import type { Cluster, Redis } from "ioredis";

export interface RedisCommandCounter {
  /** Commands sent since the last reset, by lower-case name. */
  counts(): Record<string, number>;
  reset(): void;
}

type Sendable = Pick<Redis, "sendCommand">;

/**
 * Counts the commands an ioredis client writes to Redis, by name: on a
 * `Redis` (standalone or Sentinel: the connection to the primary, not the
 * sentinels), or on every node connection of a `Cluster` (so a command
 * redirected by MOVED/ASK counts twice, as it costs two round trips).
 * Auto-pipelined commands are counted one by one: each is a command the
 * request waits for, whatever socket write it shares.
 */
export function countRedisCommands(client: Redis | Cluster): RedisCommandCounter {
  let counts = new Map<string, number>();
  const patched = new WeakSet<object>();
  const patch = (node: Sendable) => {
    if (patched.has(node)) return;
    patched.add(node);
    const send = node.sendCommand.bind(node);
    node.sendCommand = ((command, ...rest) => {
      counts.set(command.name, (counts.get(command.name) ?? 0) + 1);
      return send(command, ...rest);
    }) as Sendable["sendCommand"];
  };
  if ((client as Cluster).isCluster) {
    const cluster = client as Cluster;
    for (const node of cluster.nodes()) patch(node);
    cluster.on("+node", (node: Redis) => patch(node));
  } else {
    patch(client as Redis);
  }
  return {
    counts: () => Object.fromEntries(counts),
    reset: () => {
      counts = new Map();
    },
  };
}
