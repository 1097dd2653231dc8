/**
 * The Prisma store under a concurrent revocation that commits while its
 * statement waits for the user's row: a password change must not keep (and
 * hand a new-version token to) a session that was signed out meanwhile.
 * Deterministic: the revocation is held open in a transaction of its own
 * until Postgres shows the password change waiting for its lock.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { createPrismaAuthStore } from "../../src/adapters/prisma-auth-store.js";
import type { AuthStore } from "../../src/core/ports.js";
import { createPrisma, createTestDatabase } from "../helpers/test-app.js";
import { waitFor } from "../helpers/wait-for.js";

const HOUR = 3600_000;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let prisma: ReturnType<typeof createPrisma>;
let store: AuthStore;

beforeAll(async () => {
  database = await createTestDatabase();
  prisma = createPrisma(database.url);
  store = createPrismaAuthStore(prisma);
});
afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

async function userWithSessions(count: number) {
  const user = await store.createUser({
    email: `race-${randomUUID()}@example.com`,
    passwordHash: "hash-before",
    name: null,
  });
  const sessions = [];
  for (let i = 0; i < count; i++) {
    sessions.push(
      await store.createSession({
        id: randomUUID(),
        userId: user.id,
        refreshTokenHash: `rt-${randomUUID()}`,
        userAgent: null,
        expiresAt: new Date(Date.now() + HOUR),
        acceptAccessUntil: Math.floor(Date.now() / 1000) + 900,
      }),
    );
  }
  return { user, sessions };
}

/**
 * Ends `sessionId` the way every revocation does (the user's row first, then
 * the session), in a transaction left open until `commit` is called.
 */
async function openRevocation(userId: string, sessionId: string) {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query("BEGIN");
  await client.query(`UPDATE auth.users SET revision = revision + 1 WHERE id = $1::uuid`, [userId]);
  await client.query(
    `UPDATE auth.sessions SET revoked_at = now(), revoke_reason = 'signed_out',
       revoked_revision = (SELECT revision FROM auth.users WHERE id = $1::uuid)
     WHERE id = $2::uuid`,
    [userId, sessionId],
  );
  return {
    async commit() {
      await client.query("COMMIT");
      await client.end();
    },
  };
}

async function untilWaitingForLock() {
  const probe = new pg.Client({ connectionString: database.url });
  await probe.connect();
  try {
    await waitFor(
      async () => {
        const { rows } = await probe.query(
          `SELECT 1 FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE '%password_hash = $2%'`,
        );
        return rows.length > 0;
      },
      { what: "the password change waiting for the user's row", timeoutMs: 10_000 },
    );
  } finally {
    await probe.end();
  }
}

function changePassword(userId: string, keepId: string) {
  return store.changeUser(userId, {
    type: "change-password",
    passwordHash: "hash-after",
    keep: {
      id: keepId,
      refreshTokenHash: "rt-after",
      userAgent: null,
      expiresAt: new Date(Date.now() + HOUR),
      acceptAccessUntil: Math.floor(Date.now() / 1000) + 900,
    },
  });
}

describe("change-password racing a revocation that commits while it waits", () => {
  it("of the kept session changes nothing and says the session ended", async () => {
    const { user, sessions } = await userWithSessions(2);
    const [kept, other] = sessions as [(typeof sessions)[0], (typeof sessions)[0]];
    const revocation = await openRevocation(user.id, kept.id);
    const change = changePassword(user.id, kept.id);
    await untilWaitingForLock();
    await revocation.commit();
    const result = await change;

    expect(result).toMatchObject({ sessionsRevoked: 0, keptSessionEnded: true });
    expect(result!.state.jwtVersion).toBe(0);
    expect((await store.findUserByEmail(user.email))!.passwordHash).toBe("hash-before");
    expect(await store.findSession(kept.id)).toMatchObject({ revokeReason: "signed_out" });
    expect((await store.findSession(kept.id))!.refreshTokenHash).not.toBe("rt-after");
    expect((await store.findSession(other.id))!.revokedAt).toBeNull();
  });

  it("of another session goes ahead on what is committed then", async () => {
    const { user, sessions } = await userWithSessions(3);
    const [kept, signedOut, other] = sessions as [
      (typeof sessions)[0],
      (typeof sessions)[0],
      (typeof sessions)[0],
    ];
    const revocation = await openRevocation(user.id, signedOut.id);
    const change = changePassword(user.id, kept.id);
    await untilWaitingForLock();
    await revocation.commit();
    const result = await change;

    expect(result?.keptSessionEnded).toBeUndefined();
    expect(result).toMatchObject({ sessionsRevoked: 1, state: { jwtVersion: 1 } });
    expect((await store.findUserByEmail(user.email))!.passwordHash).toBe("hash-after");
    expect(await store.findSession(kept.id)).toMatchObject({
      revokedAt: null,
      refreshTokenHash: "rt-after",
    });
    expect(await store.findSession(signedOut.id)).toMatchObject({ revokeReason: "signed_out" });
    expect(await store.findSession(other.id)).toMatchObject({ revokeReason: "password_changed" });
  });
});
