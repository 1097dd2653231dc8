import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_CACHED_REVOKED_SESSIONS,
  type AuthStore,
  type NewSession,
  type UserChange,
  type UserState,
} from "../core/ports.js";

export interface AuthStoreSuiteOptions {
  /** Shown in the test names. */
  name: string;
  /** A store on empty (or at least private) storage; called once for the suite. */
  create(): Promise<AuthStore> | AuthStore;
  /** Called once after the suite. */
  destroy?(): Promise<void> | void;
}

const HOUR = 3600 * 1000;

/**
 * The contract every `AuthStore` must keep, as tests: the built-in Prisma
 * store and the in-memory reference store pass it in this repository; run it
 * against your own with vitest:
 *
 *   import { testAuthStore } from "versioned-jwt-auth/testing";
 *   testAuthStore({ name: "my store", create: () => createMyStore(db) });
 */
export function testAuthStore(options: AuthStoreSuiteOptions): void {
  describe(`AuthStore conformance: ${options.name}`, () => {
    let store: AuthStore;
    beforeAll(async () => {
      store = await options.create();
    });
    afterAll(async () => {
      await options.destroy?.();
    });

    const email = () => `store-${randomUUID()}@example.com`;
    const newUser = () => store.createUser({ email: email(), passwordHash: "hash-1", name: "N" });
    const newSession = async (userId: string, patch: Partial<NewSession> = {}) => {
      const input: NewSession = {
        id: randomUUID(),
        userId,
        refreshTokenHash: `rt-${randomUUID()}`,
        userAgent: "suite",
        expiresAt: new Date(Date.now() + 24 * HOUR),
        acceptAccessUntil: Math.floor(Date.now() / 1000) + 900,
        ...patch,
      };
      return store.createSession(input);
    };
    // A change-password that keeps session `keep.id` (by default: an hour to live).
    const passwordChange = (
      passwordHash: string,
      keep: Pick<NewSession, "id" | "refreshTokenHash"> & Partial<Omit<NewSession, "userId">>,
    ): UserChange => ({
      type: "change-password",
      passwordHash,
      keep: {
        userAgent: "suite",
        expiresAt: new Date(Date.now() + HOUR),
        acceptAccessUntil: 2_000_000_000,
        ...keep,
      },
    });
    const pending = async () =>
      store.listCacheRepairs({ includeApplied: false, after: null, limit: 100_000 });
    const pendingFor = async (id: string) => (await pending()).filter((u) => u.id === id);

    describe("users", () => {
      it("creates a user at version 0, revision 0, enabled, with nothing revoked", async () => {
        const address = email();
        const user = await store.createUser({ email: address, passwordHash: "h", name: null });
        expect(user).toEqual({
          id: expect.any(String),
          email: address,
          name: null,
          jwtVersion: 0,
          revision: 0,
          disabled: false,
          versionReason: null,
          revokedSessions: [],
          revokedSessionsOverflow: false,
        } satisfies UserState);
        expect(await store.findUserById(user.id)).toEqual(user);
        expect(await store.findUserByEmail(address)).toEqual({ ...user, passwordHash: "h" });
      });

      it("refuses a second user with the same email with EmailTakenError", async () => {
        const address = email();
        await store.createUser({ email: address, passwordHash: "h", name: null });
        await expect(
          store.createUser({ email: address, passwordHash: "h2", name: null }),
        ).rejects.toMatchObject({ code: "email_taken" });
      });

      it("answers null, not an error, for unknown or malformed ids and emails", async () => {
        expect(await store.findUserById(randomUUID())).toBeNull();
        expect(await store.findUserById("not-a-uuid")).toBeNull();
        expect(await store.findUserById("")).toBeNull();
        expect(await store.findUserByEmail(email())).toBeNull();
        expect(await store.changeUser("not-a-uuid", { type: "enable" })).toBeNull();
        expect(await store.changeUser(randomUUID(), { type: "enable" })).toBeNull();
        expect(await store.deleteUser(randomUUID())).toBe(false);
        expect(await store.findSession("not-a-uuid")).toBeNull();
        expect(await store.findSession(randomUUID())).toBeNull();
      });

      it("compares emails exactly (normalising is the caller's job)", async () => {
        const user = await newUser();
        expect(await store.findUserByEmail(user.email.toUpperCase())).toBeNull();
      });
    });

    describe("changeUser", () => {
      it("revoke-all raises the version and the revision, ends every live session, and records a repair", async () => {
        const user = await newUser();
        const a = await newSession(user.id);
        await newSession(user.id);
        const result = await store.changeUser(user.id, {
          type: "revoke-all",
          reason: "signed_out",
        });
        expect(result).toMatchObject({
          sessionsRevoked: 2,
          state: { jwtVersion: 1, revision: 1, versionReason: "signed_out", revokedSessions: [] },
        });
        expect(await store.listSessions(user.id, new Date())).toEqual([]);
        expect(await store.findSession(a.id)).toMatchObject({ revokeReason: "signed_out" });
        expect(await pendingFor(user.id)).toEqual([result!.state]);
      });

      it("is atomic under concurrency: 20 revocations raise the version by exactly 20", async () => {
        const user = await newUser();
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.changeUser(user.id, { type: "revoke-all", reason: "revoked" }),
          ),
        );
        expect(await store.findUserById(user.id)).toMatchObject({ jwtVersion: 20, revision: 20 });
        expect(await pendingFor(user.id)).toMatchObject([{ revision: 20 }]);
      });

      it("revoke-sessions ends only the named live sessions of this user and lists them as revoked", async () => {
        const user = await newUser();
        const other = await newUser();
        const mine = await newSession(user.id, { acceptAccessUntil: 2_000_000_000 });
        const kept = await newSession(user.id);
        const foreign = await newSession(other.id);
        const result = await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [mine.id, foreign.id, "not-a-uuid"],
          reason: "signed_out",
        });
        expect(result).toMatchObject({
          sessionsRevoked: 1,
          state: {
            jwtVersion: 0,
            revision: 1,
            revokedSessions: [{ id: mine.id, reason: "signed_out", until: 2_000_000_000 }],
          },
        });
        expect((await store.listSessions(user.id, new Date())).map((s) => s.id)).toEqual([kept.id]);
        expect(await store.findSession(foreign.id)).toMatchObject({ revokedAt: null });
      });

      it("revoke-sessions that ends nothing changes nothing: no revision, no repair", async () => {
        const user = await newUser();
        const other = await newUser();
        const foreign = await newSession(other.id);
        const result = await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [foreign.id, randomUUID()],
          reason: "signed_out",
        });
        expect(result).toMatchObject({ sessionsRevoked: 0, state: { revision: 0 } });
        expect(await pendingFor(user.id)).toEqual([]);
        // Ending an already ended session ends nothing either.
        const mine = await newSession(user.id);
        const ids = [mine.id];
        await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: ids,
          reason: "signed_out",
        });
        expect(
          await store.changeUser(user.id, {
            type: "revoke-sessions",
            sessionIds: ids,
            reason: "signed_out",
          }),
        ).toMatchObject({ sessionsRevoked: 0, state: { revision: 1 } });
      });

      it("revoke-other-sessions keeps one and ends the rest", async () => {
        const user = await newUser();
        const keep = await newSession(user.id);
        const others = [await newSession(user.id), await newSession(user.id)];
        const result = await store.changeUser(user.id, {
          type: "revoke-other-sessions",
          keepSessionId: keep.id,
          reason: "signed_out_elsewhere",
        });
        expect(result!.sessionsRevoked).toBe(2);
        expect(result!.state.revokedSessions.map((s) => s.id).sort()).toEqual(
          others.map((s) => s.id).sort(),
        );
        expect((await store.listSessions(user.id, new Date())).map((s) => s.id)).toEqual([keep.id]);
      });

      it("a version change covers sessions revoked before it: they are no longer listed", async () => {
        const user = await newUser();
        const s = await newSession(user.id);
        await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [s.id],
          reason: "signed_out",
        });
        const result = await store.changeUser(user.id, {
          type: "revoke-all",
          reason: "signed_out",
        });
        expect(result!.state.revokedSessions).toEqual([]);
        // A session revoked after the version change is listed again.
        const later = await newSession(user.id);
        const again = await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [later.id],
          reason: "signed_out",
        });
        expect(again!.state.revokedSessions.map((r) => r.id)).toEqual([later.id]);
      });

      it("lists revoked sessions only while their access tokens may be unexpired", async () => {
        const user = await newUser();
        const past = await newSession(user.id, {
          acceptAccessUntil: Math.floor(Date.now() / 1000) - 10,
        });
        const result = await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [past.id],
          reason: "signed_out",
        });
        expect(result).toMatchObject({ sessionsRevoked: 1, state: { revokedSessions: [] } });
      });

      it(`carries at most ${MAX_CACHED_REVOKED_SESSIONS} revoked sessions, newest first, and says when there are more`, async () => {
        const user = await newUser();
        const sessions = [];
        for (let i = 0; i <= MAX_CACHED_REVOKED_SESSIONS; i++)
          sessions.push(await newSession(user.id));
        let state: UserState | undefined;
        for (const s of sessions) {
          state = (await store.changeUser(user.id, {
            type: "revoke-sessions",
            sessionIds: [s.id],
            reason: "signed_out",
          }))!.state;
        }
        expect(state!.revokedSessions).toHaveLength(MAX_CACHED_REVOKED_SESSIONS);
        expect(state!.revokedSessions[0]!.id).toBe(sessions.at(-1)!.id);
        expect(state!.revokedSessionsOverflow).toBe(true);
        expect(await store.findUserById(user.id)).toEqual(state);
      });

      it("change-password replaces the hash, raises the version, ends the other sessions and renews the kept one", async () => {
        const user = await newUser();
        const keep = await newSession(user.id);
        const other = await newSession(user.id);
        const expiresAt = new Date(Date.now() + 48 * HOUR);
        const result = await store.changeUser(
          user.id,
          passwordChange("hash-2", { id: keep.id, refreshTokenHash: "rt-new", expiresAt }),
        );
        expect(result).toMatchObject({
          sessionsRevoked: 1,
          state: { jwtVersion: 1, versionReason: "password_changed", revokedSessions: [] },
        });
        expect((await store.findUserByEmail(user.email))!.passwordHash).toBe("hash-2");
        expect(await store.findSession(other.id)).toMatchObject({
          revokeReason: "password_changed",
        });
        expect(await store.findSession(keep.id)).toMatchObject({
          refreshTokenHash: "rt-new",
          previousRefreshTokenHash: null,
          revokedAt: null,
          expiresAt,
        });
      });

      it("change-password creates the kept session when it does not exist", async () => {
        const user = await newUser();
        const id = randomUUID();
        await store.changeUser(
          user.id,
          passwordChange("hash-3", { id, refreshTokenHash: "rt-created", userAgent: null }),
        );
        expect(await store.findSession(id)).toMatchObject({
          userId: user.id,
          refreshTokenHash: "rt-created",
        });
      });

      it("change-password changes nothing when the kept session was revoked or is another user's", async () => {
        const user = await newUser();
        const stranger = await newUser();
        const ended = await newSession(user.id);
        await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [ended.id],
          reason: "signed_out",
        });
        const foreign = await newSession(stranger.id);
        const live = await newSession(user.id);
        for (const keep of [ended, foreign]) {
          const before = await store.findUserById(user.id);
          const result = await store.changeUser(
            user.id,
            passwordChange("hash-refused", {
              id: keep.id,
              refreshTokenHash: "rt-refused",
              userAgent: null,
            }),
          );
          expect(result).toEqual({ state: before, sessionsRevoked: 0, keptSessionEnded: true });
          expect(await store.findUserById(user.id)).toEqual(before);
          expect((await store.findUserByEmail(user.email))!.passwordHash).not.toBe("hash-refused");
          expect((await store.findSession(keep.id))!.refreshTokenHash).not.toBe("rt-refused");
          expect((await store.findSession(live.id))!.revokedAt).toBeNull();
        }
      });

      it("disable raises the version and ends every session; enable lets the account in again", async () => {
        const user = await newUser();
        await newSession(user.id);
        const disabled = await store.changeUser(user.id, { type: "disable" });
        expect(disabled).toMatchObject({
          sessionsRevoked: 1,
          state: { disabled: true, jwtVersion: 1, versionReason: "account_disabled" },
        });
        expect((await store.findUserByEmail(user.email))!.disabled).toBe(true);
        const enabled = await store.changeUser(user.id, { type: "enable" });
        expect(enabled!.state).toMatchObject({ disabled: false, jwtVersion: 1 });
        expect(enabled!.state.revision).toBeGreaterThan(disabled!.state.revision);
        expect(await pendingFor(user.id)).toEqual([enabled!.state]);
      });
    });

    describe("deleteUser", () => {
      it("deletes the user and its sessions and records a repair that names the deletion", async () => {
        const user = await newUser();
        const s = await newSession(user.id);
        expect(await store.deleteUser(user.id)).toBe(true);
        expect(await store.deleteUser(user.id)).toBe(false);
        expect(await store.findUserById(user.id)).toBeNull();
        expect(await store.findUserByEmail(user.email)).toBeNull();
        expect(await store.findSession(s.id)).toBeNull();
        expect(await pendingFor(user.id)).toEqual([{ id: user.id, deleted: true }]);
        // The email is free again.
        await store.createUser({ email: user.email, passwordHash: "h", name: null });
      });
    });

    describe("sessions", () => {
      it("creates and finds a session", async () => {
        const user = await newUser();
        const expiresAt = new Date(Date.now() + HOUR);
        const s = await newSession(user.id, {
          refreshTokenHash: "rt-a",
          userAgent: "curl/8",
          expiresAt,
        });
        expect(s).toMatchObject({
          userId: user.id,
          refreshTokenHash: "rt-a",
          previousRefreshTokenHash: null,
          rotatedAt: null,
          userAgent: "curl/8",
          expiresAt,
          revokedAt: null,
          revokeReason: null,
        });
        expect(s.createdAt).toBeInstanceOf(Date);
        expect(await store.findSession(s.id)).toEqual(s);
      });

      it("rotates a refresh token only from the expected hash (compare-and-set)", async () => {
        const user = await newUser();
        const s = await newSession(user.id, { refreshTokenHash: "rt-1" });
        const now = new Date();
        const until = Math.floor(now.getTime() / 1000) + 900;
        expect(
          await store.rotateRefreshToken({
            sessionId: s.id,
            expectedHash: "wrong",
            nextHash: "x",
            now,
            acceptAccessUntil: until,
          }),
        ).toBeNull();
        const rotated = await store.rotateRefreshToken({
          sessionId: s.id,
          expectedHash: "rt-1",
          nextHash: "rt-2",
          now,
          acceptAccessUntil: until,
        });
        expect(rotated).toMatchObject({
          refreshTokenHash: "rt-2",
          previousRefreshTokenHash: "rt-1",
        });
        expect(rotated!.rotatedAt!.getTime()).toBe(now.getTime());
        expect(
          await store.rotateRefreshToken({
            sessionId: s.id,
            expectedHash: "rt-1",
            nextHash: "rt-3",
            now,
            acceptAccessUntil: until,
          }),
        ).toBeNull();
      });

      it("lets exactly one of 20 concurrent rotations from the same hash win", async () => {
        const user = await newUser();
        const s = await newSession(user.id, { refreshTokenHash: "rt-race" });
        const now = new Date();
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.rotateRefreshToken({
              sessionId: s.id,
              expectedHash: "rt-race",
              nextHash: `rt-next-${i}`,
              now,
              acceptAccessUntil: Math.floor(now.getTime() / 1000) + 900,
            }),
          ),
        );
        expect(results.filter((r) => r !== null)).toHaveLength(1);
      });

      it("does not rotate a revoked or expired session", async () => {
        const user = await newUser();
        const revoked = await newSession(user.id, { refreshTokenHash: "rt-r" });
        await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [revoked.id],
          reason: "signed_out",
        });
        const expired = await newSession(user.id, {
          refreshTokenHash: "rt-e",
          expiresAt: new Date(Date.now() + 1000),
        });
        const later = new Date(Date.now() + 2000);
        const rotate = (sessionId: string, expectedHash: string, now: Date) =>
          store.rotateRefreshToken({
            sessionId,
            expectedHash,
            nextHash: "n",
            now,
            acceptAccessUntil: 2_000_000_000,
          });
        expect(await rotate(revoked.id, "rt-r", new Date())).toBeNull();
        expect(await rotate(expired.id, "rt-e", later)).toBeNull();
      });

      it("touches a session", async () => {
        const user = await newUser();
        const s = await newSession(user.id);
        const at = new Date(Date.now() + 60_000);
        await store.touchSession(s.id, at, 2_000_000_000);
        expect((await store.findSession(s.id))!.lastUsedAt.getTime()).toBe(at.getTime());
      });

      it("lists the live sessions of one user, newest first", async () => {
        const user = await newUser();
        const other = await newUser();
        const first = await newSession(user.id);
        const second = await newSession(user.id);
        const ended = await newSession(user.id);
        await newSession(user.id, { expiresAt: new Date(Date.now() + 500) });
        await newSession(other.id);
        await store.changeUser(user.id, {
          type: "revoke-sessions",
          sessionIds: [ended.id],
          reason: "signed_out",
        });
        const listed = await store.listSessions(user.id, new Date(Date.now() + 1000));
        expect(listed.map((s) => s.id).sort()).toEqual([first.id, second.id].sort());
        const times = listed.map((s) => s.createdAt.getTime());
        expect(times).toEqual([...times].sort((a, b) => b - a));
        expect(await store.listSessions("not-a-uuid", new Date())).toEqual([]);
      });

      it("prunes sessions that expired before a time", async () => {
        const user = await newUser();
        const old = await newSession(user.id, { expiresAt: new Date(Date.now() + 100) });
        const live = await newSession(user.id);
        expect(await store.pruneSessions(new Date(Date.now() + HOUR))).toBeGreaterThanOrEqual(1);
        expect(await store.findSession(old.id)).toBeNull();
        expect(await store.findSession(live.id)).not.toBeNull();
      });
    });

    describe("the repair outbox", () => {
      it("keeps a repair after it is applied: pending no more, but listed for replays", async () => {
        const user = await newUser();
        const result = await store.changeUser(user.id, {
          type: "revoke-all",
          reason: "signed_out",
        });
        await store.markCacheRepairApplied(user.id, result!.state.revision - 1); // too old: not applied
        expect(await pendingFor(user.id)).toHaveLength(1);
        await store.markCacheRepairApplied(user.id, result!.state.revision);
        expect(await pendingFor(user.id)).toEqual([]);
        const all = await store.listCacheRepairs({
          includeApplied: true,
          after: null,
          limit: 100_000,
        });
        expect(all.filter((u) => u.id === user.id)).toEqual([result!.state]);
        // A later change makes it pending again.
        await store.changeUser(user.id, { type: "revoke-all", reason: "signed_out" });
        expect(await pendingFor(user.id)).toHaveLength(1);
      });

      it("pages in a stable order after a cursor", async () => {
        const users = [await newUser(), await newUser(), await newUser()];
        for (const u of users)
          await store.changeUser(u.id, { type: "revoke-all", reason: "revoked" });
        const seen: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page = await store.listCacheRepairs({ includeApplied: true, after, limit: 2 });
          seen.push(...page.map((u) => u.id));
          if (page.length < 2) break;
          after = page[page.length - 1]!.id;
        }
        expect(new Set(seen).size).toBe(seen.length);
        for (const u of users) expect(seen).toContain(u.id);
        expect([...seen].sort()).toEqual(seen);
      });

      it("prunes repairs recorded before a time", async () => {
        const user = await newUser();
        await store.changeUser(user.id, { type: "revoke-all", reason: "revoked" });
        expect(await store.pruneCacheRepairs(new Date(Date.now() - HOUR))).toBe(0);
        expect(await pendingFor(user.id)).toHaveLength(1);
        expect(await store.pruneCacheRepairs(new Date(Date.now() + HOUR))).toBeGreaterThanOrEqual(
          1,
        );
        expect(await pendingFor(user.id)).toEqual([]);
      });
    });

    it("pings", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
