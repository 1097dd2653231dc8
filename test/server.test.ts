/**
 * The standalone server as its own process (src/server/main.ts): it refuses
 * to start with one clear line when it cannot work, fails fast on a Postgres
 * that never answers, keeps metrics off the API port, and shuts down without
 * waiting on idle keep-alive connections.
 */
import { afterAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import { freePort } from "./helpers/free-port.js";
import { scanKeys } from "./helpers/shared-prefix-keys.js";
import {
  databaseUrlFor,
  dropDatabase,
  testDatabaseName,
  BASE_DATABASE_URL,
  SHARED_REDIS_URL,
} from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";
import { startServerProcess } from "./helpers/server-process.js";

const databases: string[] = [];
// The servers' key prefixes on the shared Redis, removed afterwards.
const keyPrefixes: string[] = [];
afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true });
  try {
    await redis.connect();
    for (const prefix of keyPrefixes) {
      const keys = await scanKeys(redis, `${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
});
function newDatabase(tag: string) {
  const name = testDatabaseName(tag);
  databases.push(name);
  return { name, url: databaseUrlFor(name) };
}

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: BASE_DATABASE_URL });
  await client.connect();
  try {
    return (
      (await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1
    );
  } finally {
    await client.end();
  }
}

/** A TCP listener that accepts connections and never says a word: a hung Postgres. */
async function blackHole(): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => sockets.push(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const secret = () => randomBytes(32).toString("hex");
const keyPrefix = (prefix: string) => (keyPrefixes.push(prefix), prefix);
const lines = (text: string) => text.split("\n").filter(Boolean);

describe("the standalone server refuses to start, with one line saying why", () => {
  it("with a JWT_SECRET under 32 bytes, without printing it", async () => {
    const server = startServerProcess({ JWT_SECRET: "too-short-secret" });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(/refusing to start.*\n.*JWT_SECRET must be at least 32 bytes/);
    expect(stdout + stderr).not.toContain("too-short-secret");
  });

  it("with a previous key under 32 bytes, without printing any secret", async () => {
    const current = secret();
    const server = startServerProcess({
      JWT_SECRET: current,
      JWT_KEY_ID: "k2",
      JWT_PREVIOUS_KEYS: "k1:short-previous-secret",
    });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(
      /refusing to start.*\n.*JWT_PREVIOUS_KEYS: the secret of key k1 must be at least 32 bytes/,
    );
    expect(stdout + stderr).not.toContain("short-previous-secret");
    expect(stdout + stderr).not.toContain(current);
  });

  it("in production with nothing configured, naming what is missing", async () => {
    const server = startServerProcess({ NODE_ENV: "production" });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(/DATABASE_URL/);
    expect(stderr).toMatch(/REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/);
    expect(stdout).toBe("");
  });

  it("in production without JWT_SECRET", async () => {
    const server = startServerProcess({
      NODE_ENV: "production",
      DATABASE_URL: "postgresql://postgres@127.0.0.1:1/x",
      REDIS_URL: "redis://127.0.0.1:1",
    });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toMatch(/JWT_SECRET is required/);
  });

  it("when its port is in use — before touching the database", async () => {
    const occupied = createServer().listen(0, "127.0.0.1");
    await once(occupied, "listening");
    const port = (occupied.address() as { port: number }).port;
    const database = newDatabase("portinuse");
    try {
      const server = startServerProcess({
        JWT_SECRET: secret(),
        DATABASE_URL: database.url,
        PORT: String(port),
        HOST: "127.0.0.1",
      });
      expect(await server.exited).toBe(1);
      const { stdout, stderr } = server.output();
      expect(lines(stderr)).toEqual([
        `refusing to start: PORT ${port} is in use by another process; set PORT to a free port`,
      ]);
      expect(stdout).toBe(""); // not even the mode line: nothing was chosen or opened
      expect(await databaseExists(database.name)).toBe(false); // no migration ran
    } finally {
      occupied.close();
    }
  });

  it("when Postgres is unreachable, without printing the password", async () => {
    const closedPort = await freePort();
    const server = startServerProcess({
      JWT_SECRET: secret(),
      DATABASE_URL: `postgresql://postgres:hunter2@127.0.0.1:${closedPort}/x`,
      REDIS_URL: "redis://127.0.0.1:6379",
      PORT: "0",
    });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(/refusing to start: cannot prepare the database/);
    expect(stdout + stderr).not.toContain("hunter2");
  });

  it("within seconds when Postgres accepts connections but never answers", async () => {
    const hole = await blackHole();
    try {
      const started = Date.now();
      const server = startServerProcess({
        JWT_SECRET: secret(),
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${hole.port}/x`,
        REDIS_URL: "redis://127.0.0.1:6379",
        DATABASE_CONNECT_TIMEOUT_MS: "1000",
        PORT: "0",
      });
      expect(await server.exited).toBe(1);
      const elapsed = Date.now() - started;
      // Where it waited, and which variable bounds the wait.
      expect(server.output().stderr).toContain(
        `refusing to start: cannot prepare the database postgresql://127.0.0.1:${hole.port}/x: `,
      );
      expect(server.output().stderr).toMatch(
        /timeout.*\(no answer within DATABASE_CONNECT_TIMEOUT_MS=1000\)$/im,
      );
      // Without a connection timeout this never ends; the bound is the timeout plus start-up.
      expect(elapsed).toBeLessThan(15_000);
    } finally {
      hole.close();
    }
  });
});

describe("a server still starting", () => {
  it("answers 503 meanwhile (but /healthz 200: alive, not ready), and on SIGTERM stops at once with exit 1, not after its connect timeout", async () => {
    const hole = await blackHole();
    const port = await freePort();
    const server = startServerProcess({
      JWT_SECRET: secret(),
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${hole.port}/x`,
      REDIS_URL: "redis://127.0.0.1:6379",
      DATABASE_CONNECT_TIMEOUT_MS: "60000",
      PORT: String(port),
    });
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/me`).catch(() => null))?.status === 503,
        { what: "the starting server's 503", timeoutMs: 20_000 },
      );
      // Alive, not ready.
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.headers.get("retry-after")).toBe("1");
      expect(await ready.json()).toMatchObject({
        error: { code: "service_unavailable" },
        checks: { postgres: "starting", redis: "starting" },
      });
      const signalled = Date.now();
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(1);
      expect(Date.now() - signalled).toBeLessThan(30_000); // the connect timeout is 60 s
      expect(server.output().stdout).toContain('"msg":"stopped during start-up"');
    } finally {
      server.child.kill("SIGKILL");
      hole.close();
    }
  });
});

describe("a running server", () => {
  it("says first which Postgres and which cache it uses, keeps metrics off the API port, and on SIGTERM finishes in-flight requests, closes idle connections at once and exits 0", async () => {
    const database = newDatabase("server");
    const port = await freePort();
    const metricsPort = await freePort();
    const server = startServerProcess({
      JWT_SECRET: secret(),
      DATABASE_URL: database.url,
      REDIS_URL: "redis://127.0.0.1:6379",
      CACHE_KEY_PREFIX: keyPrefix(`server-test-${port}:`),
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      RATE_LIMIT: "off",
    });
    try {
      await server.listening(port);
      const [first] = lines(server.output().stdout).map((line) => JSON.parse(line));
      expect(first).toMatchObject({
        postgres: `postgresql://127.0.0.1:5432/${database.name}`,
        schema: "auth",
        cache: "Redis redis://127.0.0.1:6379",
        keyPrefix: `server-test-${port}:`,
        dataDir: null,
      });
      expect(first.msg).toBe(
        `postgres: postgresql://127.0.0.1:5432/${database.name} (schema "auth"); ` +
          `cache: Redis redis://127.0.0.1:6379 (key prefix "server-test-${port}:")`,
      );
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

      // Metrics: on their own port, loopback only; the API port does not serve them.
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^auth_cache_breaker_open 0$/m);
      const onApi = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(onApi.status).toBe(404);
      expect(server.output().stdout).toContain(
        `"metrics":"http://127.0.0.1:${metricsPort}/metrics"`,
      );

      // An idle keep-alive connection, and a request in flight (headers read, body not yet).
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const idle = await new Promise<{ socket: Socket; keepAlive: string | undefined }>(
        (resolve, reject) => {
          const req = httpRequest({ port, host: "127.0.0.1", path: "/healthz", agent }, (res) => {
            res.resume();
            res.on("end", () =>
              resolve({ socket: req.socket as Socket, keepAlive: res.headers.connection }),
            );
          });
          req.on("error", reject);
          req.end();
        },
      );
      expect(idle.keepAlive).toBe("keep-alive");
      const idleClosed = once(idle.socket, "close");

      const body = JSON.stringify({ email: "nobody@example.com", password: "some password" });
      const inFlight = connect(port, "127.0.0.1");
      let response = "";
      inFlight.on("data", (chunk: Buffer) => (response += chunk));
      inFlight.write(
        `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
      );
      await waitFor(() => response.includes("100 Continue"), { what: "100 Continue" });

      const signalled = Date.now();
      server.child.kill("SIGTERM");
      await waitFor(() => server.output().stdout.includes("shutting down"), {
        what: "shutdown to begin",
      });
      await idleClosed;
      // Node's keep-alive timeout is 5 s: closing idle connections at once is what this shows.
      expect(Date.now() - signalled).toBeLessThan(4000);
      inFlight.write(body);
      await once(inFlight, "end");
      expect(response).toMatch(/HTTP\/1\.1 401 Unauthorized/);
      expect(response).toMatch(/\r\nConnection: close\r\n/i);
      expect(response).toContain('"code":"invalid_credentials"');
      expect(await server.exited).toBe(0);
      agent.destroy();
      const logs = lines(server.output().stdout);
      expect(logs.every((line) => JSON.parse(line).level !== undefined)).toBe(true);
    } finally {
      server.child.kill("SIGKILL");
    }
  });

  it("answers 503 within its statement timeout while Postgres is stuck, and serves again after", async () => {
    const database = newDatabase("stuck");
    const port = await freePort();
    const server = startServerProcess({
      JWT_SECRET: secret(),
      DATABASE_URL: database.url,
      REDIS_URL: "redis://127.0.0.1:6379",
      CACHE_KEY_PREFIX: keyPrefix(`stuck-${port}:`),
      DATABASE_STATEMENT_TIMEOUT_MS: "1000",
      PORT: String(port),
      RATE_LIMIT: "off",
    });
    const locker = new pg.Client({ connectionString: database.url });
    try {
      await server.listening(port);
      await locker.connect();
      // Every statement on the users table now waits for this transaction.
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE auth.users IN ACCESS EXCLUSIVE MODE");
      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${port}/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: "stuck@example.com", password: "some password" }),
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        "service_unavailable",
      );
      expect(Date.now() - started).toBeLessThan(10_000); // not the lock's lifetime
      await locker.query("ROLLBACK");
      const after = await fetch(`http://127.0.0.1:${port}/login`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ email: "stuck@example.com", password: "some password" }),
      });
      expect(after.status).toBe(401);
    } finally {
      await locker.end().catch(() => {});
      server.child.kill("SIGKILL");
    }
  });
});
