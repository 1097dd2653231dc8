import { afterAll, describe, expect, it } from "vitest";
import { once } from "node:events";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { freePort } from "./helpers/free-port.js";
import { databaseUrlFor, dropDatabase, testDatabaseName } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";
import { startServerProcess } from "./helpers/server-process.js";

const databaseName = testDatabaseName("server");

afterAll(() => dropDatabase(databaseName));

describe("the standalone server", () => {
  it("refuses to start with a JWT_SECRET under 32 bytes, saying why but not printing it", async () => {
    const server = startServerProcess({ JWT_SECRET: "too-short-secret" });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(/refusing to start.*\n.*JWT_SECRET must be at least 32 bytes/);
    expect(stdout + stderr).not.toContain("too-short-secret");
  });

  it("refuses to start with a previous key under 32 bytes, without printing any secret", async () => {
    const secret = randomBytes(32).toString("hex");
    const server = startServerProcess({
      JWT_SECRET: secret,
      JWT_KEY_ID: "k2",
      JWT_PREVIOUS_KEYS: "k1:short-previous-secret",
    });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(
      /refusing to start.*\n.*JWT_PREVIOUS_KEYS: the secret of key k1 must be at least 32 bytes/,
    );
    expect(stdout + stderr).not.toContain("short-previous-secret");
    expect(stdout + stderr).not.toContain(secret);
  });

  it("refuses to start without a JWT_SECRET", async () => {
    const server = startServerProcess({});
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toMatch(/JWT_SECRET is required/);
  });

  it("refuses to start when Postgres is unreachable", async () => {
    const closedPort = await freePort();
    const server = startServerProcess({
      JWT_SECRET: randomBytes(32).toString("hex"),
      DATABASE_URL: `postgresql://postgres:hunter2@127.0.0.1:${closedPort}/x`,
      PORT: "0",
    });
    expect(await server.exited).toBe(1);
    const { stdout, stderr } = server.output();
    expect(stderr).toMatch(/refusing to start: cannot prepare the database/);
    expect(stdout + stderr).not.toContain("hunter2");
  });

  it("creates its database, serves requests, and on SIGTERM finishes the in-flight request before exiting 0", async () => {
    const port = await freePort();
    const server = startServerProcess({
      JWT_SECRET: randomBytes(32).toString("hex"),
      DATABASE_URL: databaseUrlFor(databaseName),
      PORT: String(port),
      RATE_LIMIT: "off",
    });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, {
        what: "the server to listen",
        timeoutMs: 20_000,
      });
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

      // A request whose headers the server has read (it answered 100 Continue)
      // but whose body has not arrived yet: in flight when SIGTERM lands.
      const body = JSON.stringify({ email: "nobody@example.com", password: "some password" });
      const socket = connect(port, "127.0.0.1");
      let response = "";
      socket.on("data", (chunk: Buffer) => (response += chunk));
      socket.write(
        `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      await waitFor(() => response.includes("100 Continue"), { what: "100 Continue" });
      server.child.kill("SIGTERM");
      await waitFor(() => server.output().stdout.includes("shutting down"), {
        what: "shutdown to begin",
      });
      socket.write(body);
      await once(socket, "end");
      expect(response).toMatch(/HTTP\/1\.1 401 Unauthorized/);
      expect(response).toContain('"code":"invalid_credentials"');
      expect(await server.exited).toBe(0);
      const logs = server.output().stdout.split("\n").filter(Boolean);
      expect(logs.every((line) => JSON.parse(line).level !== undefined)).toBe(true);
    } finally {
      server.child.kill("SIGKILL");
    }
  });
});
