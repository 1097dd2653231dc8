import type { BenchFixtures } from "./fixtures.js";
import { startServerUnderTest, type LoadGenerator, type ServerStats } from "./harness.js";
import type { LoadResult } from "./load-protocol.js";
import { rssKb } from "./proc.js";
import { formatTable, median, round } from "./stats.js";

export interface SoakOptions {
  /** Measured time, after the warm-up. */
  durationSeconds: number;
  /** Load before the baseline sample: JIT, heap sizing, cache fill. */
  warmupSeconds: number;
  sampleSeconds: number;
  /** Requests per second over all connections: moderate, well under capacity. */
  rate: number;
  connections: number;
  nodeArgs: string[];
}

export interface SoakSample {
  t: number;
  rssMb: number;
  heapUsedMb: number;
  /** Authenticated requests served per second since the previous sample. */
  rps: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

export interface SoakResult {
  settings: SoakOptions & { path: string };
  samples: SoakSample[];
  baselineRssMb: number;
  finalRssMb: number;
  rssGrowthPercent: number;
  maxRssMb: number;
  eventLoopDelayP99Ms: { median: number; max: number };
  load: LoadResult;
}

/**
 * A fresh cached-path server under a fixed, moderate request rate, sampled
 * every few seconds. Baseline: median RSS over the first quarter of the
 * samples after the warm-up (at least three); final: over the last quarter.
 */
export async function runSoak(
  fixtures: BenchFixtures,
  load: LoadGenerator,
  options: SoakOptions,
  print: (line: string) => void = console.log,
): Promise<SoakResult> {
  const server = await startServerUnderTest("soak", fixtures.serverEnv(), {
    nodeArgs: options.nodeArgs,
  });
  try {
    load.define("soak-tokens", fixtures.tokens);
    const total = options.warmupSeconds + options.durationSeconds;
    const running = load.run({
      url: `${server.baseUrl}/me`,
      method: "GET",
      connections: options.connections,
      durationSeconds: total,
      overallRate: options.rate,
      tokens: "soak-tokens",
    });
    let finished = false;
    void running.then(
      () => (finished = true),
      () => (finished = true),
    );

    const samples: SoakSample[] = [];
    const started = Date.now();
    let previous: { at: number; served: number } | null = null;
    print(`soak: ${options.rate} req/s for ${total} s (first ${options.warmupSeconds} s warm-up)`);
    while (!finished && (Date.now() - started) / 1000 < total + 5) {
      await sleep(options.sampleSeconds * 1000, () => finished);
      if (finished) break;
      const response = await fetch(`${server.baseUrl}/bench/stats?reset=eld`);
      const stats = (await response.json()) as ServerStats;
      const at = Date.now();
      const served = stats.hit + stats.miss;
      const sample: SoakSample = {
        t: round((at - started) / 1000, 1),
        rssMb: round(rssKb(server.pid) / 1024, 1),
        heapUsedMb: round(stats.memory.heapUsed / 2 ** 20, 1),
        rps: previous ? round(((served - previous.served) * 1000) / (at - previous.at)) : 0,
        eventLoopDelayMs: {
          p50: stats.eventLoopDelayMs.p50,
          p99: stats.eventLoopDelayMs.p99,
          max: stats.eventLoopDelayMs.max,
        },
      };
      previous = { at, served };
      samples.push(sample);
      print(
        `  t=${String(sample.t).padStart(6)} s  rss ${sample.rssMb} MB  heap ${sample.heapUsedMb} MB  ` +
          `${sample.rps} req/s  loop delay p50/p99/max ${sample.eventLoopDelayMs.p50}/` +
          `${sample.eventLoopDelayMs.p99}/${sample.eventLoopDelayMs.max} ms`,
      );
    }
    const loadResult = await running;
    const measured = samples.filter((sample) => sample.t >= options.warmupSeconds);
    const rss = measured.map((sample) => sample.rssMb);
    // GC makes RSS saw-tooth; compare the medians of the first and last quarters.
    const window = Math.max(3, Math.floor(rss.length / 4));
    const baselineRssMb = median(rss.slice(0, window));
    const finalRssMb = median(rss.slice(-window));
    const p99s = measured.map((sample) => sample.eventLoopDelayMs.p99);
    return {
      settings: { ...options, path: "/me" },
      samples,
      baselineRssMb,
      finalRssMb,
      rssGrowthPercent: round(((finalRssMb - baselineRssMb) / baselineRssMb) * 100, 1),
      maxRssMb: Math.max(...rss),
      eventLoopDelayP99Ms: { median: round(median(p99s), 2), max: Math.max(...p99s) },
      load: loadResult,
    };
  } finally {
    await server.stop();
  }
}

export function formatSoak(result: SoakResult): string {
  return formatTable([
    ["soak", "value"],
    ["load", `${result.settings.rate} req/s, ${result.settings.connections} connections`],
    [
      "measured",
      `${result.settings.durationSeconds} s after ${result.settings.warmupSeconds} s warm-up`,
    ],
    ["served", `${result.load.ok} ok, ${result.load.non2xx} non-2xx, ${result.load.errors} errors`],
    ["RSS baseline → final", `${result.baselineRssMb} → ${result.finalRssMb} MB`],
    ["RSS growth", `${result.rssGrowthPercent}%`],
    ["RSS max", `${result.maxRssMb} MB`],
    [
      "event-loop delay p99",
      `median ${result.eventLoopDelayP99Ms.median} ms, worst ${result.eventLoopDelayP99Ms.max} ms`,
    ],
  ]);
}

async function sleep(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !stop()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, until - Date.now())));
  }
}
