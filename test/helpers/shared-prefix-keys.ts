import type { Redis } from "ioredis";
import { redisCacheKeys } from "../../src/adapters/redis-user-cache.js";

/**
 * Tests that run an app with the default key prefix ("auth:", as the README's
 * app and the example do) share it with every other such run on the same
 * Redis. They cannot delete the prefix; instead they take a snapshot first and
 * afterwards remove exactly what they added.
 */
export interface SharedPrefixSnapshot {
  prefix: string;
  keys: Set<string>;
  /** Rate-limit counters (`<prefix>rl:*`) and their values. */
  counters: Map<string, number>;
}

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (cursor !== "0");
  return [...keys];
}

export async function snapshotSharedPrefix(
  redis: Redis,
  prefix = "auth:",
): Promise<SharedPrefixSnapshot> {
  const keys = await scanKeys(redis, `${globEscape(prefix)}*`);
  const limiterKeys = keys.filter((key) => key.startsWith(`${prefix}rl:`));
  const values = limiterKeys.length > 0 ? await redis.mget(...limiterKeys) : [];
  return {
    prefix,
    keys: new Set(keys),
    counters: new Map(limiterKeys.map((key, i) => [key, Number(values[i] ?? 0)])),
  };
}

// A bucket's generation key goes only if this run started it and no other
// entry lives in the bucket (another user's entry needs it as its fence).
const DROP_GENERATION_IF_ALONE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local keys = redis.call('KEYS', ARGV[1])
if #keys == 1 and keys[1] == KEYS[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// Takes back the points this run added to a counter that existed before it.
const GIVE_BACK = `
local value = tonumber(redis.call('GET', KEYS[1]))
if not value then return 0 end
local left = value - tonumber(ARGV[1])
if left <= 0 then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], tostring(left), 'KEEPTTL')
return 1`;

/**
 * Removes what a run added under a shared prefix: the cache entries of the
 * users it created, bucket generations it started, rate-limit counters that
 * appeared during the run, and the points it added to counters that were
 * already there. Counts another run added meanwhile may go too, which only
 * gives that run more room.
 */
export async function restoreSharedPrefix(
  redis: Redis,
  before: SharedPrefixSnapshot,
  userIds: readonly string[],
): Promise<void> {
  for (const id of userIds) {
    const { entry, generation } = redisCacheKeys(before.prefix, id);
    await redis.del(entry);
    if (!before.keys.has(generation)) {
      const bucket = generation.slice(0, -":generation".length);
      await redis.eval(DROP_GENERATION_IF_ALONE, 1, generation, `${globEscape(bucket)}:*`);
    }
  }
  for (const key of await scanKeys(redis, `${globEscape(before.prefix)}rl:*`)) {
    if (!before.keys.has(key)) {
      await redis.del(key);
      continue;
    }
    const added = Number((await redis.get(key)) ?? 0) - (before.counters.get(key) ?? 0);
    if (added > 0) await redis.eval(GIVE_BACK, 1, key, String(added));
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
