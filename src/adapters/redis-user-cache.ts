import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { decodeCachedUser, encodeCachedUser, userCacheKey } from "../core/cache-policy.js";
import type { UserCache } from "../core/ports.js";

// Never lower a version: a slow fill that read an old row from Postgres must
// not overwrite what a logout wrote after it. Unreadable entries are replaced.
const PUT_UNLESS_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and type(entry.jwtVersion) == 'number'
     and entry.jwtVersion > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`;
const PUT_UNLESS_NEWER_SHA = createHash("sha1").update(PUT_UNLESS_NEWER).digest("hex");

export interface RedisUserCacheOptions {
  /** Prepended to every key, e.g. "auth:". */
  keyPrefix: string;
  /** Entry lifetime in seconds. */
  ttlSeconds: number;
}

export function createRedisUserCache(redis: Redis, options: RedisUserCacheOptions): UserCache {
  const ttlMs = String(options.ttlSeconds * 1000);
  const key = (id: string) => userCacheKey(options.keyPrefix, id);

  return {
    async get(id) {
      return decodeCachedUser(await redis.get(key(id)), id);
    },

    async put(user) {
      const args = [key(user.id), encodeCachedUser(user), String(user.jwtVersion), ttlMs];
      try {
        await redis.evalsha(PUT_UNLESS_NEWER_SHA, 1, ...args);
      } catch (error) {
        // After a Redis restart the script cache is empty.
        if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
        await redis.eval(PUT_UNLESS_NEWER, 1, ...args);
      }
    },

    async remove(id) {
      await redis.del(key(id));
    },

    async ping() {
      await redis.ping();
    },
  };
}
