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
  afterFullGc: boolean;
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
  heapAfterGcMb: { baseline: number; final: number };
  maxRssMb: number;
  eventLoopDelayP99Ms: { median: number; max: number };
  load: LoadResult;
}

/**
 * A fresh cached-path server under a fixed, moderate request rate, sampled
 * every few seconds. RSS growth compares two samples taken right after a
 * forced full GC: at the end of the warm-up and just before the load stops.
 */
export async function runSoak(
  fixtures: BenchFixtures,
  load: LoadGenerator,
  options: SoakOptions,
  print: (line: string) => void = console.log,
): Promise<SoakResult> {
  const server = await startServerUnderTest("soak", fixtures.serverEnv(), {
    nodeArgs: ["--expose-gc", ...options.nodeArgs],
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

    // Natural samples every few seconds, plus two after a forced full GC:
    // when the warm-up ends (baseline) and just before the load stops (final).
    const margin = Math.min(1, options.sampleSeconds / 2);
    const plan: { at: number; gc: boolean }[] = [
      { at: options.warmupSeconds, gc: true },
      { at: total - margin, gc: true },
    ];
    for (let at = options.sampleSeconds; at < total - margin; at += options.sampleSeconds) {
      if (Math.abs(at - options.warmupSeconds) > 1e-6) plan.push({ at, gc: false });
    }
    plan.sort((a, b) => a.at - b.at);

    const samples: SoakSample[] = [];
    const started = Date.now();
    let previous: { at: number; served: number } | null = null;
    print(`soak: ${options.rate} req/s for ${total} s (first ${options.warmupSeconds} s warm-up)`);
    for (const step of plan) {
      await sleep(started + step.at * 1000 - Date.now(), () => finished);
      if (finished) break;
      const response = await fetch(
        `${server.baseUrl}/bench/stats?reset=eld${step.gc ? "&gc=1" : ""}`,
      );
      const stats = (await response.json()) as ServerStats;
      const at = Date.now();
      const served = stats.hit + stats.miss;
      const sample: SoakSample = {
        t: round((at - started) / 1000, 1),
        afterFullGc: step.gc,
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
          `${sample.eventLoopDelayMs.p99}/${sample.eventLoopDelayMs.max} ms` +
          (step.gc ? "  (after a full GC)" : ""),
      );
    }
    const loadResult = await running;
    const gcSamples = samples.filter((sample) => sample.afterFullGc);
    if (gcSamples.length < 2) throw new Error("the soak ended before its final sample");
    const baseline = gcSamples[0]!;
    const final = gcSamples[gcSamples.length - 1]!;
    // Delay figures leave out the forced collections' own pauses, which land
    // in the interval after each of them.
    const p99s = samples
      .filter((sample, i) => sample.t > options.warmupSeconds && !samples[i - 1]?.afterFullGc)
      .map((sample) => sample.eventLoopDelayMs.p99);
    return {
      settings: { ...options, path: "/me" },
      samples,
      baselineRssMb: baseline.rssMb,
      finalRssMb: final.rssMb,
      rssGrowthPercent: round(((final.rssMb - baseline.rssMb) / baseline.rssMb) * 100, 1),
      heapAfterGcMb: { baseline: baseline.heapUsedMb, final: final.heapUsedMb },
      maxRssMb: Math.max(...samples.map((sample) => sample.rssMb)),
      eventLoopDelayP99Ms: {
        median: round(median(p99s), 2),
        max: p99s.length > 0 ? Math.max(...p99s) : NaN,
      },
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
    ["RSS after full GC: start → end", `${result.baselineRssMb} → ${result.finalRssMb} MB`],
    ["RSS growth", `${result.rssGrowthPercent}%`],
    [
      "heap used after full GC",
      `${result.heapAfterGcMb.baseline} → ${result.heapAfterGcMb.final} MB`,
    ],
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
