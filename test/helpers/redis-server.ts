import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { ephemeralServerArgs, redisCommand, redisProcess } from "./redis-process.js";

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
  const server = redisProcess({
    port,
    args: ephemeralServerArgs(port, dir),
    logFile: join(dir, "redis.log"),
    what: "private redis-server",
  });
  await server.start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: server.kill,
    pause: server.pause,
    resume: server.resume,
    start: server.start,
    command: (...args) => redisCommand(port, ...args),
    async stop() {
      server.resume();
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
