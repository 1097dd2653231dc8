// npm run bench:soak [-- --duration S --rate R --warmup S --sample S]
// A few minutes of moderate load on the cached path: RSS and event-loop delay
// over time, to show nothing leaks.
import { mkdirSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { prepareFixtures } from "./lib/fixtures.js";
import { LoadGenerator, useRuntime } from "./lib/harness.js";
import { killChildrenOnExit, machineDescription } from "./lib/proc.js";
import { formatSoak, runSoak } from "./lib/soak.js";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    duration: { type: "string", default: "240" },
    warmup: { type: "string", default: "20" },
    sample: { type: "string", default: "10" },
    rate: { type: "string", default: "1500" },
    connections: { type: "string", default: "20" },
    users: { type: "string", default: "10000" },
    runtime: { type: "string", default: "compiled" },
    out: { type: "string", default: "bench/results/soak-latest.json" },
  },
});
// Bounded, like every load loop of the bench.
const positive = (name: keyof typeof values, max: number) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new Error(`--${name} must be a number above 0 and at most ${max}`);
  }
  return value;
};
const settings = {
  durationSeconds: positive("duration", 1800),
  warmupSeconds: positive("warmup", 300),
  sampleSeconds: positive("sample", 60),
  rate: positive("rate", 100_000),
  connections: positive("connections", 1000),
  nodeArgs: [],
};

killChildrenOnExit();
console.log(`soak on ${JSON.stringify(machineDescription())}`);
useRuntime(values.runtime === "tsx" ? "tsx" : "compiled");
const fixtures = await prepareFixtures({
  databaseName: `jwt_auth_bench_soak`,
  keyPrefix: `bench-soak:${randomUUID().slice(0, 8)}:`,
  userCount: positive("users", 1_000_000),
  logoutUserCount: 1,
});
const load = await LoadGenerator.start();
try {
  const result = await runSoak(fixtures, load, settings);
  console.log();
  console.log(formatSoak(result));
  const pass = result.rssGrowthPercent < 10;
  console.log(`\n${pass ? "PASS" : "FAIL"}  soak RSS growth ${result.rssGrowthPercent}% (< 10)`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ machine: machineDescription(), ...result }, null, 2)}\n`,
  );
  console.log(`wrote ${values.out}`);
} finally {
  await load.stop();
  await fixtures.close();
}
