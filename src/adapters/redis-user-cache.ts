import { createHash, randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { decodeCachedUser, encodeCachedUser, userCacheKey } from "../core/cache-policy.js";
import type { UserCache } from "../core/ports.js";

// Shared tail of both scripts: never lower a version. A well-formed entry for
// this user with a higher version wins; anything unreadable is replaced.
// KEYS[1] entry; ARGV[1] json, ARGV[2] version, ARGV[3] ttl ms, ARGV[4] user id.
const SET_UNLESS_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, entry = pcall(cjson.decode, current)
  if ok and type(entry) == 'table' and entry.id == ARGV[4]
     and type(entry.jwtVersion) == 'number' and entry.jwtVersion >= 0
     and entry.jwtVersion <= 9007199254740991 and entry.jwtVersion % 1 == 0
     and entry.jwtVersion > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
`;

// A fill read Postgres after seeing generation ARGV[5]; if the generation key
// changed or vanished (flush, restart), the cache was emptied meanwhile and
// the row it read may predate a logout written before the emptying.
const FILL = `
if redis.call('GET', KEYS[2]) ~= ARGV[5] then return 0 end
${SET_UNLESS_NEWER}`;

// A committed version is always safe to write; start a generation if there is none.
const WRITE = `
redis.call('SET', KEYS[2], ARGV[5], 'NX')
${SET_UNLESS_NEWER}`;

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({
  source,
  sha: createHash("sha1").update(source).digest("hex"),
});
const FILL_SCRIPT = script(FILL);
const WRITE_SCRIPT = script(WRITE);

export interface RedisUserCacheOptions {
  /** Prepended to every key, e.g. "auth:". */
  keyPrefix: string;
  /** Entry lifetime in seconds. */
  ttlSeconds: number;
}

export function createRedisUserCache(redis: Redis, options: RedisUserCacheOptions): UserCache {
  const ttlMs = String(options.ttlSeconds * 1000);
  const entryKey = (id: string) => userCacheKey(options.keyPrefix, id);
  const generationKey = `${options.keyPrefix}generation`;

  async function run(s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      // After a Redis restart its script cache is empty.
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return redis.eval(s.source, keys.length, ...keys, ...args);
    }
  }

  const entryArgs = (user: Parameters<UserCache["write"]>[0]) => [
    encodeCachedUser(user),
    String(user.jwtVersion),
    ttlMs,
    user.id,
  ];

  return {
    async read(id) {
      const [raw, generation] = await redis.mget(entryKey(id), generationKey);
      let fence = generation ?? null;
      if (fence === null) {
        // First read after a flush or restart: start a generation (rare path).
        const candidate = randomUUID();
        const previous = await redis.set(generationKey, candidate, "NX", "GET");
        fence = previous ?? candidate;
      }
      return { user: decodeCachedUser(raw ?? null, id), fence };
    },

    async fill(user, fence) {
      const stored = await run(
        FILL_SCRIPT,
        [entryKey(user.id), generationKey],
        [...entryArgs(user), fence],
      );
      return stored === 1;
    },

    async write(user) {
      await run(
        WRITE_SCRIPT,
        [entryKey(user.id), generationKey],
        [...entryArgs(user), randomUUID()],
      );
    },

    async ping() {
      await redis.ping();
    },
  };
}
