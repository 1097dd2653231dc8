import { execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FromLoadGenerator, LoadResult, LoadRunOptions } from "./load-protocol.js";
import {
  cpuMicros,
  cpuTimes,
  killGroup,
  peakRssKb,
  resetPeakRss,
  rssKb,
  spawnNode,
} from "./proc.js";

const REPO_DIR = findRepoDir();
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

/**
 * "compiled": the bench and src built with tsc into dist/bench and run with
 * plain node, as production runs (tsx costs ~50 MB of RSS and start-up time).
 * "tsx": straight from the sources, for the smoke run.
 */
export type Runtime = "compiled" | "tsx";
let runtime: Runtime = "tsx";

export function useRuntime(value: Runtime): void {
  runtime = value;
  if (value === "compiled") compileBench(REPO_DIR);
}

/**
 * Builds src and bench of a checkout (this one, or another one's for
 * `npm run bench:ab -- --build`) into its dist/bench with its own tsc.
 */
export function compileBench(repoDir: string): void {
  const dir = repoDir.endsWith("/") ? repoDir : `${repoDir}/`;
  execFileSync(
    process.execPath,
    [`${dir}node_modules/typescript/bin/tsc`, "-p", `${dir}bench/tsconfig.build.json`],
    { stdio: "inherit", cwd: dir },
  );
}

function script(name: "server" | "load", repoDir = REPO_DIR): string[] {
  const dir = repoDir.endsWith("/") ? repoDir : `${repoDir}/`;
  return runtime === "compiled"
    ? [`${dir}dist/bench/bench/${name}.js`]
    : ["--import", "tsx", `${dir}bench/${name}.ts`];
}

// This file runs from bench/lib or from dist/bench/bench/lib.
function findRepoDir(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const marker = here.lastIndexOf("/dist/bench/");
  return marker === -1
    ? fileURLToPath(new URL("../../", import.meta.url))
    : here.slice(0, marker + 1);
}

export interface ServerStats {
  cache: "redis" | "off";
  hit: number;
  miss: number;
  fallback: number;
  /** Cache fills that landed, and those refused (newer entry or emptied cache). */
  fills: number;
  fillsSkipped: number;
  breaker: string;
  readsById: number;
  readsByEmail: number;
  usersRead: number;
  maxReadsPerUser: number;
  /** Redis commands the server sent since the last reset, by name (null: not counted). */
  redisCommands: Record<string, number> | null;
  memory: { rss: number; heapUsed: number; heapTotal: number };
  eventLoopDelayMs: { mean: number; p50: number; p99: number; max: number };
}

export interface ServerUnderTest {
  name: string;
  pid: number;
  baseUrl: string;
  stats(): Promise<ServerStats>;
  resetStats(): Promise<void>;
  stop(): Promise<void>;
}

/** Waits for a child's first IPC message of `type`, or fails if it exits first. */
function waitForMessage<T extends { type: string }>(
  child: ChildProcess,
  type: string,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${describe()}`));
    }, timeoutMs);
    const onMessage = (message: T) => {
      if (message?.type !== type) return;
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`${describe()} exited (${code}) before it was ready`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/**
 * Starts bench/server.ts pinned to the server core. Its request logs go to
 * /dev/null: the bench measures producing them, not shipping them.
 * `repoDir`: another checkout's bench server (compiled with `compileBench`).
 */
export async function startServerUnderTest(
  name: string,
  env: Record<string, string>,
  options: { nodeArgs?: string[]; repoDir?: string } = {},
): Promise<ServerUnderTest> {
  const devNull = openSync("/dev/null", "w");
  let stderr = "";
  const repoDir = options.repoDir ?? REPO_DIR;
  const child = spawnNode([...(options.nodeArgs ?? []), ...script("server", repoDir)], SERVER_CPU, {
    cwd: repoDir,
    env,
    stdio: ["ignore", devNull, "pipe", "ipc"],
  });
  closeSync(devNull);
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  const ready = await waitForMessage<{ type: "ready"; port: number; pid: number }>(
    child,
    "ready",
    60_000,
    () => `server "${name}"${stderr ? `: ${stderr}` : ""}`,
  );
  const baseUrl = `http://127.0.0.1:${ready.port}`;
  return {
    name,
    pid: ready.pid,
    baseUrl,
    async stats() {
      const response = await fetch(`${baseUrl}/bench/stats`);
      return (await response.json()) as ServerStats;
    },
    async resetStats() {
      await fetch(`${baseUrl}/bench/reset`, { method: "POST" });
    },
    stop: () => killGroup(child, 5000),
  };
}

export class LoadGenerator {
  private nextId = 0;
  private constructor(private readonly child: ChildProcess) {}

  /** One long-lived autocannon process pinned to the load core. */
  static async start(): Promise<LoadGenerator> {
    const child = spawnNode(script("load"), LOAD_CPU, {
      cwd: REPO_DIR,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    await waitForMessage(child, "ready", 60_000, () => "the load generator");
    return new LoadGenerator(child);
  }

  define(name: string, values: string[]): void {
    this.child.send({ type: "define", name, values });
  }

  run(options: LoadRunOptions): Promise<LoadResult> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromLoadGenerator) => {
        if (message.type === "ready" || message.id !== id) return;
        cleanup();
        if (message.type === "result") resolve(message.result);
        else reject(new Error(`load run failed: ${message.message}`));
      };
      const onExit = () => {
        cleanup();
        reject(new Error("the load generator exited"));
      };
      const cleanup = () => {
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
      };
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
      this.child.send({ type: "run", id, options });
    });
  }

  stop(): Promise<void> {
    return killGroup(this.child, 2000);
  }
}

export interface Measured extends LoadResult {
  /** Server CPU (user + system, all threads) per request, from /proc/<pid>/stat. */
  cpuUsPerRequest: number;
  /** Server peak RSS during the run (VmHWM after a reset, and polled VmRSS). */
  peakRssMb: number;
  /**
   * Share of the server's core busy with anything but the server process:
   * Postgres, Redis, kernel network work, other people's jobs. A noise gauge.
   */
  serverCoreOtherPercent: number;
}

/** One load run against one server, with the server's CPU and peak memory. */
export async function measure(
  server: ServerUnderTest,
  load: LoadGenerator,
  options: Omit<LoadRunOptions, "url"> & { path: string },
): Promise<Measured> {
  const { path, ...rest } = options;
  const peakResettable = resetPeakRss(server.pid);
  let polledPeakKb = rssKb(server.pid);
  const poll = setInterval(() => {
    try {
      polledPeakKb = Math.max(polledPeakKb, rssKb(server.pid));
    } catch {
      // the server died; the run will say so
    }
  }, 200);
  const cpuBefore = cpuMicros(server.pid);
  const coreBefore = cpuTimes(SERVER_CPU);
  let result: LoadResult;
  try {
    result = await load.run({ ...rest, url: `${server.baseUrl}${path}` });
  } finally {
    clearInterval(poll);
  }
  const cpuAfter = cpuMicros(server.pid);
  const coreAfter = cpuTimes(SERVER_CPU);
  const coreTotal = coreAfter.total - coreBefore.total;
  const coreOther = coreAfter.busy - coreBefore.busy - (cpuAfter - cpuBefore);
  const peakKb = Math.max(polledPeakKb, peakResettable ? peakRssKb(server.pid) : 0);
  return {
    ...result,
    cpuUsPerRequest: result.requests > 0 ? (cpuAfter - cpuBefore) / result.requests : 0,
    peakRssMb: peakKb / 1024,
    serverCoreOtherPercent:
      coreTotal > 0 ? Math.max(0, Math.round((coreOther / coreTotal) * 1000) / 10) : NaN,
  };
}
