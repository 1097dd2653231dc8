import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { acceptsConnections } from "../../src/server/probe.js";
import { join, relative } from "node:path";

/**
 * Which test files this machine can run. Most need PostgreSQL and Redis
 * (DATABASE_URL / REDIS_URL, else the local defaults); the fault tests also
 * start private redis-server processes. On a machine with nothing but Node,
 * `npm test` runs the rest and says what it left out; under CI a missing
 * service fails the run instead.
 */
export interface TestPlan {
  include: string[];
  skipped: { files: string[]; why: string }[];
}

// Files that need neither Postgres nor Redis.
const SELF_CONTAINED = [
  /^test\/(core|http|adapters|scripts)\//,
  /^test\/(config|configuration-docs|embedded|embedded-netns)\.test\.ts$/,
];
// What a file uses to start Redis processes of its own.
const STARTS_REDIS =
  /startPrivateRedis|usePrivateRedisAndDatabase|startSentinelTopology|startCluster|redis-process/;

export async function planTests(root: string): Promise<TestPlan> {
  const files = listTests(join(root, "test")).map((file) => relative(root, file));
  const database = new URL(process.env.DATABASE_URL ?? "postgresql://127.0.0.1:5432");
  const redis = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const [postgresUp, redisUp] = await Promise.all([
    acceptsConnections(database.hostname, Number(database.port || 5432), 1000),
    acceptsConnections(redis.hostname, Number(redis.port || 6379), 1000),
  ]);
  const redisServer = hasCommand("redis-server");
  const selfContained = (file: string) => SELF_CONTAINED.some((pattern) => pattern.test(file));
  const startsRedis = (file: string) => STARTS_REDIS.test(readFileSync(join(root, file), "utf8"));

  const skipped: TestPlan["skipped"] = [];
  let include = files;
  if (!postgresUp || !redisUp) {
    const missing = [
      ...(postgresUp ? [] : [`PostgreSQL at ${database.host}`]),
      ...(redisUp ? [] : [`Redis at ${redis.host}`]),
    ];
    skipped.push({
      files: files.filter((file) => !selfContained(file)),
      why: `no ${missing.join(" and no ")} (set DATABASE_URL / REDIS_URL, or start them: README, "Switching to real Postgres and Redis")`,
    });
    include = files.filter(selfContained);
  } else if (!redisServer) {
    skipped.push({
      files: files.filter((file) => !selfContained(file) && startsRedis(file)),
      why: "no redis-server on the PATH (these tests start Redis processes of their own to kill)",
    });
    include = files.filter((file) => selfContained(file) || !startsRedis(file));
  }
  return { include, skipped };
}

export function describePlan(plan: TestPlan): string {
  return plan.skipped
    .map(({ files, why }) => `left out ${files.length} test files: ${why}\n  ${files.join("\n  ")}`)
    .join("\n");
}

function listTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? listTests(join(dir, entry.name))
      : entry.name.endsWith(".test.ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

function hasCommand(command: string): boolean {
  try {
    execFileSync(command, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
