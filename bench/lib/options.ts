import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { Runtime } from "./harness.js";
import type { TopologyName } from "./topologies.js";

export const VARIANT_NAMES = [
  "ceiling",
  "stateless",
  "cached",
  "cached-sentinel",
  "cached-cluster",
  "cold",
  "db-per-request",
  "login",
  "refresh",
  "logout",
] as const;
export type VariantName = (typeof VARIANT_NAMES)[number];

/** Variants on a private Redis topology the run starts (and stops) itself. */
export const TOPOLOGY_VARIANTS = {
  "cached-sentinel": "sentinel",
  "cached-cluster": "cluster",
} as const satisfies Partial<Record<VariantName, TopologyName>>;

export function topologyOf(name: VariantName): TopologyName | null {
  return (TOPOLOGY_VARIANTS as Partial<Record<VariantName, TopologyName>>)[name] ?? null;
}

export interface BenchOptions {
  mode: "full" | "smoke";
  rounds: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  users: number;
  logoutUsers: number;
  /** Users per cold-stampede probe; each is requested `connections` times in a row. */
  stampedeUsers: number;
  variants: VariantName[];
  /** Standalone Redis started by the run instead of REDIS_URL. */
  privateRedis: boolean;
  /** LOG_LEVEL of the servers under test; production's default unless overridden. */
  logLevel: string | null;
  soak: { durationSeconds: number; warmupSeconds: number; sampleSeconds: number; rate: number };
  out: string;
  databaseName: string;
  keyPrefix: string;
  keepDatabase: boolean;
  runtime: Runtime;
  /** Extra node flags for the servers under test, e.g. --cpu-prof. */
  nodeArgs: string[];
}

const HELP = `usage: npm run bench -- [options]
  --smoke              seconds-long end-to-end run (tiny data, 1 round, ~1 s per variant)
  --rounds N           interleaved rounds (default 5)
  --duration S         seconds per timed run (default 10)
  --warmup S           warm-up seconds per server before round 1 (default 3)
  --connections N      concurrent connections (default 50)
  --users N            seeded users with tokens (default 10000)
  --variants a,b       subset of: ${VARIANT_NAMES.join(", ")}
  --topologies         with --smoke: also the Sentinel and Cluster variants (a full run has them)
  --private-redis      standalone variants on a redis-server the run starts, not REDIS_URL:
                       no other clients beside the servers under test (as the topologies)
  --log-level L        LOG_LEVEL of the servers (default: the production default)
  --soak S             seconds of soak at the end (default 60; 0 skips it)
  --soak-rate R        soak requests per second (default 1500)
  --out FILE           results JSON (default bench/results/latest.json)
  --runtime R          compiled (default) or tsx
  --node-arg FLAG      extra node flag for the servers under test (repeatable)
  --keep-database      leave the bench database in place afterwards`;

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: "boolean", default: false },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string" },
      users: { type: "string" },
      variants: { type: "string" },
      topologies: { type: "boolean", default: false },
      "private-redis": { type: "boolean", default: false },
      "log-level": { type: "string" },
      soak: { type: "string" },
      "soak-rate": { type: "string" },
      out: { type: "string" },
      runtime: { type: "string" },
      "keep-database": { type: "boolean", default: false },
      "node-arg": { type: "string", multiple: true },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const smoke = values.smoke;
  // Every load loop stays bounded: nothing here can ask for an endless run.
  const number = (value: string | undefined, fallback: number, min = 0, max = 3600) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new Error(`bad number: ${value} (from ${min} to ${max})`);
    }
    return parsed;
  };
  const variants = values.variants
    ? values.variants.split(",").map((name) => {
        if (!(VARIANT_NAMES as readonly string[]).includes(name)) {
          throw new Error(`unknown variant ${name}; known: ${VARIANT_NAMES.join(", ")}`);
        }
        return name as VariantName;
      })
    : VARIANT_NAMES.filter((name) => !smoke || values.topologies || topologyOf(name) === null);
  const runtime = values.runtime ?? (smoke ? "tsx" : "compiled");
  if (runtime !== "tsx" && runtime !== "compiled") throw new Error(`bad runtime: ${runtime}`);
  const connections = number(values.connections, 50, 1, 1000);
  const users = number(values.users, smoke ? 200 : 10_000, 1, 1_000_000);
  if (users < connections) throw new Error("--users must be at least --connections");
  const unique = randomUUID().slice(0, 8);
  return {
    mode: smoke ? "smoke" : "full",
    rounds: number(values.rounds, smoke ? 1 : 5, 1, 20),
    durationSeconds: number(values.duration, smoke ? 1 : 10, 0.5, 120),
    warmupSeconds: number(values.warmup, smoke ? 0 : 3, 0, 60),
    connections,
    users,
    logoutUsers: smoke ? Math.max(connections, 100) : Math.max(connections, 5000),
    stampedeUsers: smoke ? 5 : 100,
    variants,
    privateRedis: values["private-redis"],
    logLevel: values["log-level"] ?? null,
    soak: {
      durationSeconds: number(values.soak, smoke ? 2 : 60, 0, 1800),
      warmupSeconds: smoke ? 1 : 15,
      sampleSeconds: smoke ? 0.5 : 5,
      rate: number(values["soak-rate"], smoke ? 200 : 1500, 1, 100_000),
    },
    out: values.out ?? "bench/results/latest.json",
    // A smoke run may overlap a real one (or the test suite): it gets names of its own.
    databaseName: smoke ? `jwt_auth_bench_smoke_${unique}` : "jwt_auth_bench",
    keyPrefix: smoke ? `bench-smoke:${unique}:` : "bench:",
    keepDatabase: values["keep-database"],
    runtime,
    nodeArgs: values["node-arg"] ?? [],
  };
}
