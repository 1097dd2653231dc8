import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import request from "supertest";
import { createRequestLog } from "../src/server/request-log.js";
import { captureLogs } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";

interface Line {
  level: number;
  msg: string;
  reqId: number;
  req: { method: string; url: string };
  res: { statusCode: number };
  responseTime: number;
}

function testApp() {
  const { lines, logger } = captureLogs();
  const app = express();
  app.use(createRequestLog(logger));
  app.get("/ok", (_req, res) => {
    res.json({ ok: true });
  });
  app.get("/broken", (_req, res) => {
    res.status(503).json({ error: "down" });
  });
  app.get("/slow", (_req, res) => {
    setTimeout(() => res.json({ late: true }), 200);
  });
  const parsed = () => lines.map((line) => JSON.parse(line) as Line);
  return { app, parsed };
}

describe("request log", () => {
  it("writes one info line per request: method, path (no query string), status, duration and nothing else", async () => {
    const { app, parsed } = testApp();
    const token = "eyJhbGciOiJIUzI1NiJ9.e30.secret-signature";
    await request(app).get("/ok?x=1").set("Authorization", `Bearer ${token}`).expect(200);
    const [line] = await waitFor(() => (parsed().length === 1 ? parsed() : null));
    expect(line).toMatchObject({
      level: 30,
      msg: "request completed",
      reqId: expect.any(Number),
      req: { method: "GET", url: "/ok" },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
    expect(Object.keys(line!.req)).toEqual(["method", "url"]);
    expect(JSON.stringify(parsed())).not.toContain("secret-signature");
  });

  it("numbers requests in order", async () => {
    const { app, parsed } = testApp();
    await request(app).get("/ok").expect(200);
    await request(app).get("/ok").expect(200);
    const lines = await waitFor(() => (parsed().length === 2 ? parsed() : null));
    expect(lines[1]!.reqId).toBe(lines[0]!.reqId + 1);
  });

  it("logs a 5xx response at error level", async () => {
    const { app, parsed } = testApp();
    await request(app).get("/broken").expect(503);
    const [line] = await waitFor(() => (parsed().length === 1 ? parsed() : null));
    expect(line).toMatchObject({ level: 50, msg: "request errored", res: { statusCode: 503 } });
  });

  describe("when the client goes away before the response", () => {
    let server: ReturnType<express.Express["listen"]>;
    let parsed: () => Line[];

    beforeAll(async () => {
      const t = testApp();
      parsed = t.parsed;
      server = t.app.listen(0, "127.0.0.1");
      await new Promise((resolve) => server.once("listening", resolve));
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it("logs the request as aborted, once", async () => {
      const { port } = server.address() as AddressInfo;
      const req = httpRequest({ host: "127.0.0.1", port, path: "/slow" });
      req.on("error", () => {});
      req.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      req.destroy();
      const [line] = await waitFor(() => (parsed().length > 0 ? parsed() : null));
      expect(line).toMatchObject({ level: 30, msg: "request aborted", req: { url: "/slow" } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(parsed()).toHaveLength(1);
    });
  });
});
