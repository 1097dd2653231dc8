import { randomUUID } from "node:crypto";
import { EmailTakenError } from "../core/errors.js";
import {
  MAX_CACHED_REVOKED_SESSIONS,
  type AuthStore,
  type CachedUser,
  type SessionEndReason,
  type SessionRecord,
  type UserCredentials,
  type UserState,
  type VersionReason,
} from "../core/ports.js";

interface UserRow {
  id: string;
  email: string;
  passwordHash: string;
  name: string | null;
  jwtVersion: number;
  revision: number;
  disabledAt: number | null;
  versionReason: VersionReason | null;
  versionRevision: number;
}

interface SessionRow extends SessionRecord {
  acceptAccessUntil: number;
  revokedRevision: number | null;
}

interface RepairRow {
  revision: number;
  createdAt: number;
  applied: boolean;
}

/**
 * The `AuthStore` contract in memory: the reference the conformance suite
 * is written against, and a store for unit tests of the core. Not for
 * production: nothing survives the process, and nothing is shared.
 */
export function createMemoryAuthStore(options: { now?: () => number } = {}): AuthStore & {
  /** Test hook: every call fails while set (an outage). */
  failing: boolean;
} {
  const now = options.now ?? Date.now;
  const users = new Map<string, UserRow>();
  const sessions = new Map<string, SessionRow>();
  const repairs = new Map<string, RepairRow>();
  // Postgres's now() is the same for a whole statement; so is this, per call.
  let clock = 0;
  const tick = () => (clock = Math.max(clock + 1, now()));

  function state(row: UserRow): UserState {
    const at = now();
    const revoked = [...sessions.values()]
      .filter(
        (s) =>
          s.userId === row.id &&
          s.revokedAt !== null &&
          s.acceptAccessUntil * 1000 > at &&
          s.revokedRevision! > row.versionRevision,
      )
      .sort((a, b) => b.revokedRevision! - a.revokedRevision!);
    return {
      id: row.id,
      email: row.email,
      name: row.name,
      jwtVersion: row.jwtVersion,
      revision: row.revision,
      disabled: row.disabledAt !== null,
      versionReason: row.versionReason,
      revokedSessions: revoked.slice(0, MAX_CACHED_REVOKED_SESSIONS).map((s) => ({
        id: s.id,
        reason: s.revokeReason!,
        until: s.acceptAccessUntil,
      })),
      revokedSessionsOverflow: revoked.length > MAX_CACHED_REVOKED_SESSIONS,
    };
  }

  function recordRepair(userId: string, revision: number, at: number) {
    const existing = repairs.get(userId);
    repairs.set(userId, {
      revision: Math.max(existing?.revision ?? 0, revision),
      createdAt: at,
      applied: false,
    });
  }

  // Ends the matching sessions with the user's current revision (raised by
  // the caller first); `liveOnly` skips expired ones.
  function endSessions(
    row: UserRow,
    at: number,
    reason: SessionEndReason,
    which: (s: SessionRow) => boolean,
    liveOnly: boolean,
  ): number {
    let ended = 0;
    for (const s of sessions.values()) {
      if (s.userId !== row.id || s.revokedAt !== null || !which(s)) continue;
      if (liveOnly && s.expiresAt.getTime() <= at) continue;
      s.revokedAt = new Date(at);
      s.revokeReason = reason;
      s.revokedRevision = row.revision;
      ended++;
    }
    return ended;
  }

  const anyLive = (row: UserRow, at: number, which: (s: SessionRow) => boolean) =>
    [...sessions.values()].some(
      (s) => s.userId === row.id && s.revokedAt === null && s.expiresAt.getTime() > at && which(s),
    );

  function bumpVersion(row: UserRow, reason: VersionReason) {
    row.jwtVersion++;
    row.revision++;
    row.versionReason = reason;
    row.versionRevision = row.revision;
  }

  const copySession = (s: SessionRow): SessionRecord => ({
    id: s.id,
    userId: s.userId,
    refreshTokenHash: s.refreshTokenHash,
    previousRefreshTokenHash: s.previousRefreshTokenHash,
    rotatedAt: s.rotatedAt,
    createdAt: s.createdAt,
    lastUsedAt: s.lastUsedAt,
    expiresAt: s.expiresAt,
    userAgent: s.userAgent,
    revokedAt: s.revokedAt,
    revokeReason: s.revokeReason,
  });

  const store = {
    failing: false,

    async findUserById(id: string) {
      check();
      const row = users.get(id);
      return row ? state(row) : null;
    },

    async findUserByEmail(email: string) {
      check();
      for (const row of users.values()) {
        if (row.email === email)
          return { ...state(row), passwordHash: row.passwordHash } as UserCredentials;
      }
      return null;
    },

    async createUser(input: { email: string; passwordHash: string; name: string | null }) {
      check();
      for (const row of users.values()) if (row.email === input.email) throw new EmailTakenError();
      const row: UserRow = {
        id: randomUUID(),
        ...input,
        jwtVersion: 0,
        revision: 0,
        disabledAt: null,
        versionReason: null,
        versionRevision: 0,
      };
      users.set(row.id, row);
      return state(row);
    },

    async changeUser(userId, change) {
      check();
      const row = users.get(userId);
      if (!row) return null;
      const at = tick();
      let ended = 0;
      switch (change.type) {
        case "revoke-all":
          bumpVersion(row, change.reason);
          ended = endSessions(row, at, change.reason, () => true, false);
          break;
        case "revoke-sessions": {
          const ids = new Set(change.sessionIds);
          const which = (s: SessionRow) => ids.has(s.id);
          if (anyLive(row, at, which)) {
            row.revision++;
            ended = endSessions(row, at, change.reason, which, true);
          }
          break;
        }
        case "revoke-other-sessions": {
          const which = (s: SessionRow) => s.id !== change.keepSessionId;
          if (anyLive(row, at, which)) {
            row.revision++;
            ended = endSessions(row, at, change.reason, which, true);
          }
          break;
        }
        case "change-password": {
          const before = sessions.get(change.keep.id);
          if (before && (before.userId !== userId || before.revokedAt !== null)) {
            return { state: state(row), sessionsRevoked: 0, keptSessionEnded: true };
          }
          row.passwordHash = change.passwordHash;
          bumpVersion(row, "password_changed");
          ended = endSessions(row, at, "password_changed", (s) => s.id !== change.keep.id, false);
          const kept = sessions.get(change.keep.id);
          if (!kept) {
            sessions.set(change.keep.id, {
              ...change.keep,
              userId,
              previousRefreshTokenHash: null,
              rotatedAt: null,
              createdAt: new Date(at),
              lastUsedAt: new Date(at),
              revokedAt: null,
              revokeReason: null,
              revokedRevision: null,
            });
          } else {
            kept.refreshTokenHash = change.keep.refreshTokenHash;
            kept.previousRefreshTokenHash = null;
            kept.rotatedAt = null;
            kept.lastUsedAt = new Date(at);
            kept.expiresAt = change.keep.expiresAt;
            kept.acceptAccessUntil = Math.max(
              kept.acceptAccessUntil,
              change.keep.acceptAccessUntil,
            );
          }
          break;
        }
        case "disable":
          bumpVersion(row, "account_disabled");
          row.disabledAt = at;
          ended = endSessions(row, at, "account_disabled", () => true, false);
          break;
        case "enable":
          row.disabledAt = null;
          row.revision++;
          break;
      }
      const sessionsOnly =
        change.type === "revoke-sessions" || change.type === "revoke-other-sessions";
      if (!sessionsOnly || ended > 0) recordRepair(userId, row.revision, at);
      return { state: state(row), sessionsRevoked: ended };
    },

    async deleteUser(userId: string) {
      check();
      const row = users.get(userId);
      if (!row) return false;
      users.delete(userId);
      for (const [id, s] of sessions) if (s.userId === userId) sessions.delete(id);
      recordRepair(userId, row.revision + 1, tick());
      return true;
    },

    async createSession(session) {
      check();
      if (!users.has(session.userId)) throw new Error("foreign key violation: no such user");
      if (sessions.has(session.id)) throw new Error("unique violation: session id");
      const at = new Date(tick());
      const row: SessionRow = {
        ...session,
        previousRefreshTokenHash: null,
        rotatedAt: null,
        createdAt: at,
        lastUsedAt: at,
        revokedAt: null,
        revokeReason: null,
        revokedRevision: null,
      };
      sessions.set(session.id, row);
      return copySession(row);
    },

    async findSession(sessionId: string) {
      check();
      const s = sessions.get(sessionId);
      return s ? copySession(s) : null;
    },

    async rotateRefreshToken(input) {
      check();
      const s = sessions.get(input.sessionId);
      if (!s || s.refreshTokenHash !== input.expectedHash) return null;
      if (s.revokedAt !== null || s.expiresAt.getTime() <= input.now.getTime()) return null;
      s.previousRefreshTokenHash = s.refreshTokenHash;
      s.refreshTokenHash = input.nextHash;
      s.rotatedAt = input.now;
      s.lastUsedAt = input.now;
      s.acceptAccessUntil = Math.max(s.acceptAccessUntil, input.acceptAccessUntil);
      return copySession(s);
    },

    async touchSession(sessionId: string, at: Date, acceptAccessUntil: number) {
      check();
      const s = sessions.get(sessionId);
      if (!s) return;
      s.lastUsedAt = at;
      s.acceptAccessUntil = Math.max(s.acceptAccessUntil, acceptAccessUntil);
    },

    async listSessions(userId: string, at: Date) {
      check();
      return [...sessions.values()]
        .filter((s) => s.userId === userId && s.revokedAt === null && s.expiresAt > at)
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : 1))
        .map(copySession);
    },

    async listCacheRepairs({ includeApplied, after, limit }) {
      check();
      return [...repairs.entries()]
        .filter(([id, r]) => (includeApplied || !r.applied) && (after === null || id > after))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .slice(0, limit)
        .map(([id]): CachedUser => {
          const row = users.get(id);
          return row ? state(row) : { id, deleted: true };
        });
    },

    async markCacheRepairApplied(userId: string, revision: number) {
      check();
      const r = repairs.get(userId);
      if (r && r.revision <= revision) r.applied = true;
    },

    async pruneCacheRepairs(before: Date) {
      check();
      let pruned = 0;
      for (const [id, r] of repairs) {
        if (r.createdAt < before.getTime()) {
          repairs.delete(id);
          pruned++;
        }
      }
      return pruned;
    },

    async pruneSessions(before: Date) {
      check();
      let pruned = 0;
      for (const [id, s] of sessions) {
        const ended =
          s.revokedAt !== null &&
          s.revokedAt < before &&
          s.acceptAccessUntil * 1000 < before.getTime();
        if (s.expiresAt < before || ended) {
          sessions.delete(id);
          pruned++;
        }
      }
      return pruned;
    },

    async ping() {
      check();
    },
  } satisfies AuthStore & { failing: boolean };

  function check() {
    if (store.failing) throw new Error("store unavailable");
  }
  return store;
}
