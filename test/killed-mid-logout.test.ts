/**
 * Issue 3, failure mode 8: the process dies between the Postgres commit of a
 * logout and its Redis write. Real processes: the server is SIGKILLed while
 * its write-through is stuck (Redis paused for writes), then restarted.
 */
import { describe, expect, it } from "vitest";
import { randomBytes, randomUUID } from "node:crypto";
import { redisCacheKeys } from "../src/adapters/redis-user-cache.js";
import { PASSWORD, uniqueEmail } from "./helpers/api.js";
import { freePort } from "./helpers/free-port.js";
import { startServerProcess } from "./helpers/server-process.js";
import { createPrisma, createTestApp, usePrivateRedisAndDatabase } from "./helpers/test-app.js";
import { waitFor } from "./helpers/wait-for.js";
import request from "supertest";

const faults = usePrivateRedisAndDatabase();
const prisma = () => createPrisma(faults.database.url);

describe("a process killed mid-logout", () => {
  async function scenario(kind: "everywhere" | "one session") {
    const secret = randomBytes(32).toString("hex");
    const keyPrefix = `t:${randomUUID()}:`;
    const port = await freePort();
    const serverEnv = {
      JWT_SECRET: secret,
      JWT_ISSUER: "test-issuer",
      JWT_AUDIENCE: "test-audience",
      DATABASE_URL: faults.database.url,
      REDIS_URL: faults.redis.url,
      CACHE_KEY_PREFIX: keyPrefix,
      PORT: String(port),
      RATE_LIMIT: "off",
      DB_MIGRATE_ON_START: "off",
      // Long enough that the stuck write is still pending when the process dies.
      REDIS_COMMAND_TIMEOUT_MS: "10000",
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_ITERATIONS: "1",
    };
    const base = `http://127.0.0.1:${port}`;
    const post = (path: string, body?: object, token?: string) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: {
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    const me = (token: string) =>
      fetch(`${base}/me`, { headers: { Authorization: `Bearer ${token}` } });

    // Another instance that runs throughout and never sees the crash.
    const bystander = await createTestApp({
      databaseUrl: faults.database.url,
      redisUrl: faults.redis.url,
      keyPrefix,
      secret,
      overrides: { cache: { repairIntervalMs: 60_000 } }, // passes run only when the test says
    });
    const db = prisma();
    const first = startServerProcess(serverEnv);
    let second: ReturnType<typeof startServerProcess> | undefined;
    try {
      await first.listening(port);
      const email = uniqueEmail("killed");
      expect((await post("/register", { email, password: PASSWORD })).status).toBe(201);
      const token = (
        (await (await post("/login", { email, password: PASSWORD })).json()) as {
          accessToken: string;
        }
      ).accessToken;
      expect((await me(token)).status).toBe(200); // cached at version 0
      const user = await db.user.findUniqueOrThrow({ where: { email } });
      expect(
        (await request(bystander.app).get("/me").set("Authorization", `Bearer ${token}`)).status,
      ).toBe(200);

      await faults.redis.command("CLIENT", "PAUSE", 30_000, "WRITE");
      const stuckLogout = post(
        "/logout",
        kind === "everywhere" ? undefined : { scope: "local" },
        token,
      ).then(
        (res) => res.status,
        () => "connection lost",
      );
      // The commit is in Postgres; the write-through is stuck behind the pause.
      await waitFor(
        async () => (await db.cacheRepair.count({ where: { userId: user.id } })) === 1,
        {
          what: "the logout's commit",
        },
      );
      if (kind === "everywhere") {
        expect((await db.user.findUniqueOrThrow({ where: { id: user.id } })).jwtVersion).toBe(1);
      } else {
        expect(
          await db.session.count({ where: { userId: user.id, revokedAt: { not: null } } }),
        ).toBe(1);
      }
      first.child.kill("SIGKILL");
      await first.exited;
      const stuck = await stuckLogout;
      expect(stuck).toBe("connection lost"); // never answered 2xx
      await faults.redis.command("CLIENT", "KILL", "TYPE", "normal"); // its queued write dies with it
      await faults.redis.command("CLIENT", "UNPAUSE");
      const raw = await faults.redis.command("GET", redisCacheKeys(keyPrefix, user.id).entry);
      expect(JSON.parse(String(raw))).toMatchObject({ jwtVersion: 0, revokedSessions: [] }); // stale

      // Restart: the new process rejects the old token from its first request.
      second = startServerProcess(serverEnv);
      await second.listening(port);
      const atRestarted = await me(token);
      expect(atRestarted.status).toBe(401);
      await waitFor(
        async () =>
          (await db.cacheRepair.count({ where: { userId: user.id, appliedAt: null } })) === 0,
        { what: "the restarted process to apply the repair" },
      );
      await waitFor(() => bystander.redis.status === "ready", { what: "bystander reconnect" });
      await waitFor(() => bystander.auth.checkCache(), { what: "bystander repair pass" });
      const entry = JSON.parse(
        String(await faults.redis.command("GET", redisCacheKeys(keyPrefix, user.id).entry)),
      ) as { jwtVersion: number; revokedSessions: unknown[] };
      return {
        atRestarted: atRestarted.status,
        cached: kind === "everywhere" ? entry.jwtVersion : entry.revokedSessions.length,
        atBystander: (
          await request(bystander.app).get("/me").set("Authorization", `Bearer ${token}`)
        ).status,
      };
    } finally {
      first.child.kill("SIGKILL");
      second?.child.kill("SIGKILL");
      await faults.redis.command("CLIENT", "UNPAUSE").catch(() => {});
      await db.$disconnect();
      await bystander.close();
    }
  }

  for (const kind of ["everywhere", "one session"] as const) {
    it(`leaves a repair in Postgres that the restarted process applies before trusting Redis (revoked ${kind})`, async () => {
      expect(await scenario(kind)).toEqual({ atRestarted: 401, cached: 1, atBystander: 401 });
    });
  }
});
