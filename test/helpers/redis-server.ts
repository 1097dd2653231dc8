import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./free-port.js";
import { waitFor } from "./wait-for.js";

/**
 * A private redis-server this test owns, so it can kill, pause (SIGSTOP) or
 * restart it without touching the shared one.
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the socket stays open but nothing answers. */
  pause(): void;
  resume(): void;
  /** Start again on the same port, empty. */
  start(): Promise<void>;
  /** Run a command on a short-lived admin connection. */
  command(...args: (string | number)[]): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "auth-redis-"));
  let child: ChildProcess | undefined;

  async function start() {
    child = spawn(
      "redis-server",
      [
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
      ],
      { stdio: "ignore" },
    );
    await waitFor(() => command("PING").then((reply) => reply === "PONG"), {
      what: `redis-server on ${port}`,
    });
  }

  async function command(...args: (string | number)[]) {
    const admin = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
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

  async function kill() {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, "exit");
    current.kill("SIGKILL");
    await exited;
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
    start,
    command,
    async stop() {
      child?.kill("SIGCONT");
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
