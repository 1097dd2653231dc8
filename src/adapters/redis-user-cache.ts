import { createHash, randomUUID } from "node:crypto";
import { crc32 } from "node:zlib";
import type { Cluster, Redis } from "ioredis";
import { decodeCachedUser, encodeCachedUser } from "../core/cache-entry.js";
import type { CachedUser, UserCache } from "../core/ports.js";

// Shared tail of both scripts: never lower a revision, never replace a
// deletion. A well-formed entry for this user with a higher revision (or a
// deletion) wins; anything unreadable is replaced.
// KEYS[1] entry; ARGV[1] json, ARGV[2] revision ("deleted" for a deletion),
// ARGV[3] ttl ms, ARGV[4] user id.
const SET_UNLESS_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and entry.id == ARGV[4] then
    if entry.deleted == true then return 0 end
    if ARGV[2] ~= 'deleted' and type(entry.revision) == 'number' and entry.revision >= 0
       and entry.revision <= 9007199254740991 and entry.revision % 1 == 0
       and entry.revision > tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`;

// A fill read the store after seeing generation ARGV[5]; if the generation key
// changed or vanished (flush, restart), the cache was emptied meanwhile and
// the row it read may predate a change written before the emptying.
const FILL = `
if redis.call('GET', KEYS[2]) ~= ARGV[5] then return 0 end
${SET_UNLESS_NEWER}`;

// A committed state is always safe to write; start a generation if there is none.
const WRITE = `
redis.call('SET', KEYS[2], ARGV[5], 'NX')
${SET_UNLESS_NEWER}`;

const FILL_SHA = createHash("sha1").update(FILL).digest("hex");

/**
 * Users are spread over this many hash-tagged buckets. A user's entry and
 * its bucket's generation key share a slot, so one MGET (one round trip)
 * reads both on a Cluster too, and a flushed or restarted shard is detected
 * for exactly the users it holds.
 */
export const CACHE_BUCKETS = 1024;

export interface RedisUserCacheOptions {
  /** Prepended to every key, e.g. "auth:". May not contain `{` or `}` (hash tags are ours). */
  keyPrefix: string;
  /** Entry lifetime in seconds. */
  ttlSeconds: number;
  /**
   * Replicas that must acknowledge a committed change (Redis `WAIT`) before a
   * revocation answers success (default 0). With 1 or more, a failover or a
   * partition cannot lose a change the service reported as done.
   */
  replicaAcks?: number;
  /** How long to wait for those acknowledgements (default 250 ms). */
  replicaAckTimeoutMs?: number;
}

const bucketOf = (id: string) => crc32(id) % CACHE_BUCKETS;
/** The name of the one shard of a single server (standalone or Sentinel). */
const SINGLE_SHARD = "redis";

/** Where a user's cache entry and its bucket's generation live. */
export function redisCacheKeys(prefix: string, id: string): { entry: string; generation: string } {
  const bucket = `${prefix}{u${bucketOf(id)}}`;
  return { entry: `${bucket}:user:${id}`, generation: `${bucket}:generation` };
}

// Set by every instance that has trusted the cache under this prefix (see markReplayed).
const replayMarkKeyOf = (prefix: string) => `${prefix}replayed-on`;

/**
 * Whether any instance has used this cache under this key prefix: one-off
 * commands warn when none has, since a change written under the wrong
 * prefix leaves the servers' cached entries as they were.
 */
export async function cachePrefixInUse(
  redis: Redis | Cluster,
  keyPrefix: string,
): Promise<boolean> {
  return (await redis.exists(replayMarkKeyOf(keyPrefix))) === 1;
}

/**
 * Takes back the mark a one-off command's own cache made under a prefix that
 * no instance had used, so that the next run warns again. (Should a server
 * have started meanwhile, it only means one more replay pass.)
 */
export async function unmarkCachePrefix(redis: Redis | Cluster, keyPrefix: string): Promise<void> {
  await redis.del(replayMarkKeyOf(keyPrefix));
}

/** The Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag, or of the key without one. */
export function clusterKeySlot(key: string): number {
  const open = key.indexOf("{");
  const close = open < 0 ? -1 : key.indexOf("}", open + 1);
  const tagged = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tagged, "utf8")) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}

/** The hash slot of each bucket (they do not depend on the prefix). */
const BUCKET_SLOTS = Array.from({ length: CACHE_BUCKETS }, (_, b) => clusterKeySlot(`{u${b}}`));

export function validateKeyPrefix(prefix: string): void {
  if (typeof prefix !== "string" || /[{}]/.test(prefix)) {
    throw new TypeError(
      "cache key prefix may not contain { or } (the cache places its own hash tags)",
    );
  }
}

type AnyRedis = Redis | Cluster;

/**
 * The user cache on Redis: standalone, Sentinel or Cluster (an ioredis
 * `Redis` or `Cluster`). One MGET per lookup; fills and writes are Lua
 * compare-and-set scripts on the user's revision.
 */
export function createRedisUserCache(redis: AnyRedis, options: RedisUserCacheOptions): UserCache {
  validateKeyPrefix(options.keyPrefix);
  const cluster = isCluster(redis) ? redis : null;
  const lostListeners = new Set<(shard: string | null) => void>();
  const connectionLost = (shard: string | null) => {
    for (const listener of lostListeners) listener(shard);
  };
  // Cluster: which primary served each bucket's slot when the data sets were
  // last identified. A read answered by another one (a MOVED redirect, or a
  // slot map refreshed since) may come from a data set that missed writes,
  // such as a replica promoted by a forced failover; no connection closes then.
  const knownOwners: (string | undefined)[] = new Array<string | undefined>(CACHE_BUCKETS);
  let identified = false;
  const ownerOf = (bucket: number) => cluster?.slots[BUCKET_SLOTS[bucket]!]?.[0];
  const ttlMs = String(options.ttlSeconds * 1000);
  const replicaAcks = options.replicaAcks ?? 0;
  const ackTimeoutMs = options.replicaAckTimeoutMs ?? 250;
  const keys = (id: string) => redisCacheKeys(options.keyPrefix, id);
  // A hash: shard → the identity of its data set when a replay last completed on it.
  const replayMarkKey = replayMarkKeyOf(options.keyPrefix);
  // ioredis 6 does not apply `commandTimeout` to auto-pipelined Cluster
  // commands; the bound is then kept here.
  const bounded = needsOwnDeadline(redis)
    ? deadline(commandTimeoutOf(redis))
    : <T>(p: Promise<T>) => p;

  const entryArgs = (user: CachedUser) => [
    encodeCachedUser(user),
    "deleted" in user ? "deleted" : String(user.revision),
    ttlMs,
    user.id,
  ];

  async function fill(user: CachedUser, fence: string): Promise<unknown> {
    const k = keys(user.id);
    const args = [...entryArgs(user), fence];
    try {
      return await bounded(redis.evalsha(FILL_SHA, 2, k.entry, k.generation, ...args));
    } catch (error) {
      // After a restart the script cache is empty.
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return bounded(redis.eval(FILL, 2, k.entry, k.generation, ...args));
    }
  }

  return {
    async read(id) {
      const k = keys(id);
      const bucket = bucketOf(id);
      const before = ownerOf(bucket);
      const [raw, generation] = await bounded(redis.mget(k.entry, k.generation));
      if (cluster) {
        const after = ownerOf(bucket);
        // Never identified (a wrapper answers identity()): the first answer sets it.
        if (!identified) knownOwners[bucket] ??= before;
        const known = knownOwners[bucket];
        if (before !== known || after !== known) {
          // Both may be affected: the old owner lost the slot, the new one may hold stale data.
          connectionLost(known ?? null);
          connectionLost(after ?? null);
          knownOwners[bucket] = after;
          throw new Error(`another primary serves this user's slot now (${String(after)})`);
        }
      }
      let fence = generation ?? null;
      if (fence === null) {
        // First read of this bucket after a flush or restart: start a generation (rare path).
        const candidate = randomUUID();
        const previous = await bounded(redis.set(k.generation, candidate, "NX", "GET"));
        fence = previous ?? candidate;
      }
      return { user: decodeCachedUser(raw ?? null, id), fence };
    },

    async fill(user, fence) {
      return (await fill(user, fence)) === 1;
    },

    async write(user) {
      const k = keys(user.id);
      const args = [k.entry, k.generation, ...entryArgs(user), randomUUID()];
      if (replicaAcks === 0) {
        await bounded(redis.eval(WRITE, 2, ...args));
        return;
      }
      // One round trip: the write and the WAIT travel together to the node
      // that holds the key (a keyless WAIT in a Cluster pipeline follows the keys).
      const results = await bounded(
        redis
          .pipeline()
          .eval(WRITE, 2, ...args)
          .wait(replicaAcks, ackTimeoutMs)
          .exec(),
      );
      const [written, waited] = results ?? [];
      if (!written || written[0]) throw written?.[0] ?? new Error("cache write failed");
      if (!waited || waited[0]) throw waited?.[0] ?? new Error("WAIT failed");
      const acks = Number(waited[1]);
      if (acks < replicaAcks) {
        throw new Error(`${acks} of ${replicaAcks} replicas acknowledged the write`);
      }
    },

    shardOf(id) {
      if (!cluster) return SINGLE_SHARD;
      const bucket = bucketOf(id);
      return knownOwners[bucket] ?? ownerOf(bucket) ?? "unassigned";
    },

    async identities() {
      if (!cluster) {
        return new Map<string, string | null | undefined>([
          [SINGLE_SHARD, await identify(redis as Redis, bounded)],
        ]);
      }
      // Every primary of the slot map, with the slots it serves. ioredis drops
      // a dead node's connection and adds it back at the next slot refresh;
      // its pool is no list of primaries. A primary without a connection, or
      // not answering, is left out: its shard stays untrusted.
      const layout = slotLayout(cluster);
      if (layout.size === 0) throw new Error("no slot map yet");
      const connections = new Map(cluster.nodes("all").map((node) => [nodeKey(node), node]));
      const owners = Array.from({ length: CACHE_BUCKETS }, (_, bucket) => ownerOf(bucket));
      const identities = new Map<string, string | null | undefined>();
      let missing = false;
      await Promise.all(
        [...layout].map(async ([key, ranges]) => {
          identities.set(key, undefined); // a shard, unless it answers below
          const node = connections.get(key);
          if (!node) {
            missing = true;
            return;
          }
          try {
            const identity = await identify(node, bounded);
            identities.set(key, identity === null ? null : `${identity}[${ranges}]`);
          } catch {
            // Not answering: a shard that cannot be asked now.
          }
        }),
      );
      if (missing) cluster.refreshSlotsCache();
      owners.forEach((owner, bucket) => (knownOwners[bucket] = owner));
      identified = true;
      return identities;
    },

    async lastReplayedOn(shard) {
      return bounded(redis.hget(replayMarkKey, shard));
    },

    async markReplayed(shard, identity) {
      await bounded(redis.hset(replayMarkKey, shard, identity));
    },

    onConnectionLost(listener) {
      lostListeners.add(listener);
      if (!cluster) {
        const onClose = () => listener(SINGLE_SHARD);
        redis.on("close", onClose);
        return () => {
          lostListeners.delete(listener);
          redis.off("close", onClose);
        };
      }
      const watched = new Map<Redis, () => void>();
      const watch = (node: Redis) => {
        if (watched.has(node)) return;
        const onClose = () => listener(nodeKey(node));
        watched.set(node, onClose);
        node.on("close", onClose);
      };
      for (const node of cluster.nodes()) watch(node);
      const onNode = (node: Redis) => watch(node);
      // A node leaving the topology is a lost connection too. ioredis does not
      // reuse a removed connection: forget it (while a node is down a new one
      // is made at every slot refresh).
      const offNode = (node: Redis) => {
        listener(nodeKey(node));
        const onClose = watched.get(node);
        if (onClose) node.off("close", onClose);
        watched.delete(node);
      };
      cluster.on("+node", onNode);
      cluster.on("-node", offNode);
      return () => {
        lostListeners.delete(listener);
        cluster.off("+node", onNode);
        cluster.off("-node", offNode);
        for (const [node, onClose] of watched) node.off("close", onClose);
      };
    },

    onConnectionReady(listener) {
      redis.on("ready", listener);
      return () => redis.off("ready", listener);
    },

    async ping() {
      await bounded(redis.ping());
    },
  };
}

function isCluster(redis: AnyRedis): redis is Cluster {
  return "isCluster" in redis && redis.isCluster;
}

const nodeKey = (node: Redis) => `${node.options.host}:${node.options.port}`;

/**
 * Address, role and replication id of one server: another data set behind it
 * changes them. Null when the server will not say (INFO refused).
 */
async function identify(
  node: Redis,
  bounded: <T>(promise: Promise<T>) => Promise<T>,
): Promise<string | null> {
  const info = await bounded(node.info("replication")).catch((error: unknown) => {
    // Some managed services refuse INFO; lost connections still tell.
    if (error instanceof Error && /unknown command|NOPERM/i.test(error.message)) return "";
    throw error;
  });
  const role = /^role:(\S+)/m.exec(info)?.[1];
  const replid = /^master_replid:(\S+)/m.exec(info)?.[1];
  return role && replid ? `${nodeKey(node)}=${role}:${replid}` : null;
}

/** Each primary of the client's slot map and the slot ranges it serves ("0-5460 10923"). */
function slotLayout(cluster: Cluster): Map<string, string> {
  const ranges = new Map<string, string[]>();
  let start = 0;
  for (let slot = 1; slot <= 16384; slot++) {
    const owner = cluster.slots[start]?.[0];
    if (slot < 16384 && cluster.slots[slot]?.[0] === owner) continue;
    if (owner !== undefined) {
      const list = ranges.get(owner) ?? [];
      list.push(start === slot - 1 ? `${start}` : `${start}-${slot - 1}`);
      ranges.set(owner, list);
    }
    start = slot;
  }
  return new Map([...ranges].map(([owner, list]) => [owner, list.join(" ")]));
}

function needsOwnDeadline(redis: AnyRedis): boolean {
  return Boolean((redis as Cluster).isCluster && (redis as Cluster).options.enableAutoPipelining);
}

function commandTimeoutOf(redis: AnyRedis): number {
  const cluster = redis as Cluster;
  return cluster.options.redisOptions?.commandTimeout ?? 200;
}

function deadline(ms: number) {
  return <T>(promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Command timed out after ${ms} ms`)), ms);
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error as Error);
        },
      );
    });
}
