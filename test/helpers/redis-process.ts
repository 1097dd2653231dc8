import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { Redis } from "ioredis";
import { waitFor } from "./wait-for.js";

/**
 * One redis-server (or sentinel) process a topology helper owns. Every
 * process started here is also SIGKILLed when the test process exits, so a
 * crashed test file does not leave servers behind.
 */
export interface RedisProcess {
  port: number;
  logFile: string;
  child(): ChildProcess | undefined;
  alive(): boolean;
  /** Start (or start again) with the same arguments, and wait until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: sockets stay open, nothing answers. */
  pause(): void;
  resume(): void;
  /** The last lines of its log, for failure messages. */
  logTail(lines?: number): Promise<string>;
}

/** A redis-server on loopback that keeps nothing on disk, its working files in `dir`. */
export function ephemeralServerArgs(port: number, dir: string): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
  ];
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

/**
 * `args` are redis-server arguments (a config file first for a sentinel);
 * `--logfile` is added.
 */
export function redisProcess(options: {
  port: number;
  args: string[];
  logFile: string;
  what: string;
}): RedisProcess {
  installExitHook();
  let child: ChildProcess | undefined;
  const alive = () => !!child && child.exitCode === null && child.signalCode === null;

  async function kill() {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, "exit");
    // Not SIGCONT first: a paused server must die without handling what is queued.
    current.kill("SIGKILL");
    await exited;
  }

  return {
    port: options.port,
    logFile: options.logFile,
    child: () => child,
    alive,
    async start() {
      if (alive()) throw new Error(`${options.what} is already running`);
      const started = spawn("redis-server", [...options.args, "--logfile", options.logFile], {
        stdio: "ignore",
      });
      child = started;
      running.add(started);
      started.once("exit", () => running.delete(started));
      await waitFor(
        async () => {
          if (started.exitCode !== null) {
            throw new Error(`${options.what} exited with ${started.exitCode}`);
          }
          return (await redisCommand(options.port, "PING")) === "PONG";
        },
        { what: `${options.what} on port ${options.port}`, timeoutMs: 20_000 },
      );
    },
    kill,
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    async logTail(lines = 30) {
      const text = await readFile(options.logFile, "utf8").catch(() => "");
      return text.split("\n").slice(-lines).join("\n");
    },
  };
}

/** One command on a short-lived connection that neither retries nor queues. */
export async function redisCommand(port: number, ...args: (string | number)[]): Promise<unknown> {
  const admin = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
    connectTimeout: 2000,
    commandTimeout: 5000,
    retryStrategy: () => null,
  });
  admin.on("error", () => {});
  try {
    await admin.connect();
    const [name, ...rest] = args;
    return await admin.call(String(name), ...rest.map(String));
  } finally {
    admin.disconnect();
  }
}

/** What a topology's handle offers about its processes, by port. */
export function processAccess(processes: Map<number, RedisProcess>, what: string) {
  return {
    command: (port: number, ...args: (string | number)[]) => redisCommand(port, ...args),
    process(port: number): RedisProcess {
      const p = processes.get(port);
      if (!p) throw new Error(`no ${what} on port ${port}`);
      return p;
    },
    /** The last lines of every process's log, for a failing test's message. */
    async logs(): Promise<string> {
      const parts: string[] = [];
      for (const [port, p] of processes) parts.push(`--- ${port}\n${await p.logTail(15)}`);
      return parts.join("\n");
    },
  };
}
