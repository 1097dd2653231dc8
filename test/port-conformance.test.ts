/**
 * The public ports' conformance suites (versioned-jwt-auth/testing) against
 * every implementation in this repository: the Prisma store on real
 * Postgres, the reference store in memory, the Redis cache on a private
 * redis-server and the in-process cache.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { createPrismaAuthStore } from "../src/adapters/prisma-auth-store.js";
import { createMemoryUserCache } from "../src/adapters/memory-user-cache.js";
import { authRedisOptions } from "../src/adapters/redis-client.js";
import { createRedisUserCache } from "../src/adapters/redis-user-cache.js";
import { createMemoryAuthStore, testAuthStore, testUserCache } from "../src/testing/index.js";
import { startPrivateRedis, type PrivateRedis } from "./helpers/redis-server.js";
import { createPrisma, createTestDatabase } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

testAuthStore({ name: "in-memory reference store", create: () => createMemoryAuthStore() });

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: ReturnType<typeof createPrisma>;
testAuthStore({
  name: "Prisma store on Postgres",
  async create() {
    database = await createTestDatabase();
    prisma = createPrisma(database.url);
    return createPrismaAuthStore(prisma);
  },
  async destroy() {
    await prisma.$disconnect();
    await database.drop();
  },
});

testUserCache({
  name: "in-process cache",
  create: () => createMemoryUserCache({ ttlSeconds: 600 }),
});

let redisServer: PrivateRedis;
let redis: Redis;
testUserCache({
  name: "Redis cache",
  async create() {
    redisServer = await startPrivateRedis();
    redis = new Redis(redisServer.url, authRedisOptions(1000));
    redis.on("error", () => {});
    await waitFor(() => redis.status === "ready", { what: "redis" });
    return createRedisUserCache(redis, { keyPrefix: `conf:${randomUUID()}:`, ttlSeconds: 600 });
  },
  async flush() {
    await redisServer.command("FLUSHALL");
  },
  async destroy() {
    redis.disconnect();
    await redisServer.stop();
  },
});
