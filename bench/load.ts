// The load generator: a long-lived child of bench/run.ts (pinned to its own
// core) that runs autocannon on request over IPC. One process for the whole
// bench, so its start-up is paid once.
import autocannon from "autocannon";
import type {
  FromLoadGenerator,
  LoadResult,
  LoadRunOptions,
  ToLoadGenerator,
} from "./lib/load-protocol.js";

const lists = new Map<string, string[]>();

function send(message: FromLoadGenerator): void {
  process.send?.(message);
}

function list(name: string | undefined): string[] | null {
  if (name === undefined) return null;
  const values = lists.get(name);
  if (!values || values.length === 0) throw new Error(`no list named ${name}`);
  return values;
}

async function run(options: LoadRunOptions): Promise<LoadResult> {
  const tokens = list(options.tokens);
  const bodies = list(options.bodies);
  const url = new URL(options.url);
  if (url.hostname !== "127.0.0.1" && url.hostname !== "localhost") {
    throw new Error("the bench only loads servers on this machine");
  }
  // One counter shared by every connection, so consecutive requests (and so
  // the ones in flight together) take consecutive entries of the lists.
  let next = 0;
  const result = await autocannon({
    url: url.origin,
    connections: options.connections,
    ...(options.amount ? { amount: options.amount } : { duration: options.durationSeconds ?? 10 }),
    ...(options.overallRate ? { overallRate: options.overallRate } : {}),
    timeout: 10,
    requests: [
      {
        method: options.method,
        path: url.pathname,
        setupRequest(request) {
          const i = next++;
          const headers = { ...request.headers };
          if (tokens) headers.authorization = `Bearer ${tokens[i % tokens.length]}`;
          if (bodies) {
            headers["content-type"] = "application/json";
            return { ...request, headers, body: bodies[i % bodies.length] };
          }
          return { ...request, headers };
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = stats.count ?? 0;
  }
  const durationSeconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  const ok = result["2xx"];
  return {
    requests: ok + result.non2xx,
    ok,
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSeconds,
    rps: durationSeconds > 0 ? ok / durationSeconds : 0,
    latencyMs: {
      mean: result.latency.mean,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
  };
}

process.on("message", (message: ToLoadGenerator) => {
  if (message.type === "define") {
    lists.set(message.name, message.values);
    return;
  }
  run(message.options).then(
    (result) => send({ type: "result", id: message.id, result }),
    (error: unknown) =>
      send({
        type: "failed",
        id: message.id,
        message: error instanceof Error ? error.message : String(error),
      }),
  );
});
process.once("disconnect", () => process.exit(0));
send({ type: "ready" });
