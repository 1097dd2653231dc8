// npm run bench:ab -- --path /me --config base: --config pipelined:BENCH_REDIS_AUTOPIPELINING=on
// Before/after for one change: servers that differ only in environment (and
// optionally the route, as NAME@/path:ENV=…), interleaved A B A B … on the
// bench's pinned cores.
import { parseArgs } from "node:util";
import { prepareFixtures } from "./lib/fixtures.js";
import {
  LoadGenerator,
  measure,
  startServerUnderTest,
  useRuntime,
  type Measured,
} from "./lib/harness.js";
import { killChildrenOnExit, machineDescription } from "./lib/proc.js";
import { formatTable, median, round } from "./lib/stats.js";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    path: { type: "string", default: "/me" },
    config: { type: "string", multiple: true },
    rounds: { type: "string", default: "6" },
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "50" },
    runtime: { type: "string", default: "compiled" },
  },
});
// --config NAME[@PATH]:KEY=VALUE;KEY=VALUE
const configs = (values.config ?? ["base:"]).map((spec) => {
  const colon = spec.indexOf(":");
  const [name = "", path = values.path] = (colon === -1 ? spec : spec.slice(0, colon)).split("@");
  const env = Object.fromEntries(
    (colon === -1 ? "" : spec.slice(colon + 1))
      .split(";")
      .filter(Boolean)
      .map((pair) => {
        const eq = pair.indexOf("=");
        if (eq < 1) throw new Error(`bad KEY=VALUE in --config ${spec}`);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
  );
  return { name, path, env };
});
const rounds = Math.min(20, Number(values.rounds));
const durationSeconds = Math.min(30, Number(values.duration));
const connections = Math.min(1000, Math.max(1, Number(values.connections) || 50));

killChildrenOnExit();
console.log(`A/B: ${configs.map((c) => `${c.name} (${c.path})`).join(" vs ")}`);
console.log(JSON.stringify(machineDescription()));
useRuntime(values.runtime === "tsx" ? "tsx" : "compiled");
const fixtures = await prepareFixtures({
  databaseName: "jwt_auth_bench_ab",
  keyPrefix: "bench-ab:",
  userCount: 10_000,
  logoutUserCount: 1,
});
const load = await LoadGenerator.start();
const servers = await Promise.all(
  configs.map((config) => startServerUnderTest(config.name, fixtures.serverEnv(config.env))),
);
try {
  load.define("tokens", fixtures.tokens);
  const runs = configs.map(() => [] as Measured[]);
  for (const server of servers) {
    const path = configs[servers.indexOf(server)]!.path;
    await measure(server, load, {
      path,
      method: "GET",
      connections,
      amount: 10_000,
      tokens: "tokens",
    });
  }
  for (let r = 1; r <= rounds; r++) {
    const line: string[] = [];
    for (const [i, server] of servers.entries()) {
      const run = await measure(server, load, {
        path: configs[i]!.path,
        method: "GET",
        connections,
        durationSeconds,
        tokens: "tokens",
      });
      runs[i]!.push(run);
      line.push(`${configs[i]!.name} ${round(run.rps)} req/s ${round(run.cpuUsPerRequest)} µs`);
    }
    console.log(`round ${r}: ${line.join(" | ")}`);
  }
  const base = runs[0]!;
  console.log();
  console.log(
    formatTable([
      ["config", "req/s", "× first", "CPU µs/req", "Δ µs/req", "p50 ms", "p99 ms"],
      ...runs.map((list, i) => [
        configs[i]!.name,
        round(median(list.map((run) => run.rps))),
        round(median(list.map((run, r) => run.rps / base[r]!.rps)), 3),
        round(median(list.map((run) => run.cpuUsPerRequest))),
        round(median(list.map((run, r) => run.cpuUsPerRequest - base[r]!.cpuUsPerRequest))),
        median(list.map((run) => run.latencyMs.p50)),
        median(list.map((run) => run.latencyMs.p99)),
      ]),
    ]),
  );
} finally {
  await Promise.allSettled(servers.map((server) => server.stop()));
  await load.stop();
  await fixtures.close();
}
