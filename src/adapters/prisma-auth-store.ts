import { EmailTakenError, StoreNotReadyError } from "../core/errors.js";
import {
  MAX_CACHED_REVOKED_SESSIONS,
  type AuthStore,
  type CachedUser,
  type RevokedSession,
  type SessionEndReason,
  type SessionRecord,
  type UserCredentials,
  type UserState,
  type VersionReason,
} from "../core/ports.js";

/**
 * The part of a Prisma client this store uses: raw SQL only, so any client
 * fits, whatever models its schema has (the auth tables live in their own
 * Postgres schema and are named in every statement).
 */
export interface PrismaSqlClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

export interface PrismaAuthStoreOptions {
  /** The Postgres schema holding the auth tables (default "auth"). */
  schema?: string;
}

export const DEFAULT_DATABASE_SCHEMA = "auth";
/** Lower-case letters, digits and `_`, starting with a letter or `_`: no quoting surprises. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type StateRow = {
  id: string;
  email: string;
  name: string | null;
  jwtVersion: number;
  revision: number;
  disabled: boolean;
  versionReason: string | null;
  revoked: unknown;
};

type SessionRow = {
  id: string;
  userId: string;
  refreshTokenHash: string;
  previousRefreshTokenHash: string | null;
  rotatedAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  revokedAt: Date | null;
  revokeReason: string | null;
};

/** The built-in store: Postgres through a Prisma client, in schema `auth` by default. */
export function createPrismaAuthStore(
  prisma: PrismaSqlClient,
  options: PrismaAuthStoreOptions = {},
): AuthStore {
  const schema = options.schema ?? DEFAULT_DATABASE_SCHEMA;
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new TypeError(`database schema must match ${SCHEMA_NAME_PATTERN}`);
  }
  const sql = buildStatements(`"${schema}"`);
  const explain = (error: unknown): never => {
    const problem = schemaProblem(error);
    if (problem === null) throw error;
    throw new StoreNotReadyError(
      `the auth tables in Postgres schema "${schema}" are missing or older than this version (${problem}): ` +
        `apply the migrations with migrateDatabase() from "versioned-jwt-auth/migrate", ` +
        `\`npx versioned-jwt-auth migrate\`, or \`prisma migrate deploy\` (README, "Use it as a library")`,
      { cause: error },
    );
  };
  const query = <T>(text: string, ...values: unknown[]) =>
    (prisma.$queryRawUnsafe<T>(text, ...values) as Promise<T>).then(undefined, explain);
  const execute = (text: string, ...values: unknown[]) =>
    (prisma.$executeRawUnsafe(text, ...values) as Promise<number>).then(undefined, explain);

  async function stateOf(id: string): Promise<UserState | null> {
    const rows = await query<StateRow[]>(sql.stateById, id);
    return rows[0] ? toState(rows[0]) : null;
  }

  return {
    async findUserById(id) {
      // Ids are UUIDs; anything else names no user and must not reach Postgres as a cast error.
      if (!UUID.test(id)) return null;
      return stateOf(id);
    },

    async findUserByEmail(email) {
      const rows = await query<(StateRow & { passwordHash: string })[]>(sql.stateByEmail, email);
      const row = rows[0];
      return row ? ({ ...toState(row), passwordHash: row.passwordHash } as UserCredentials) : null;
    },

    async createUser(input) {
      try {
        const rows = await query<StateRow[]>(
          sql.createUser,
          input.email,
          input.passwordHash,
          input.name,
        );
        return toState(rows[0]!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError();
        throw error;
      }
    },

    async changeUser(userId, change) {
      if (!UUID.test(userId)) return null;
      let rows: {
        found: boolean;
        sessionsRevoked: number;
        unchanged?: boolean;
        keptEnded?: boolean;
      }[] = [];
      switch (change.type) {
        case "revoke-all":
          rows = await query(sql.revokeAll, userId, change.reason);
          break;
        case "revoke-sessions":
          rows = await query(
            sql.revokeSessions,
            userId,
            change.sessionIds.filter((id) => UUID.test(id)),
            change.reason,
          );
          break;
        case "revoke-other-sessions":
          if (!UUID.test(change.keepSessionId)) throw new TypeError("session ids are UUIDs");
          rows = await query(sql.revokeOtherSessions, userId, change.keepSessionId, change.reason);
          break;
        case "change-password": {
          const keep = change.keep;
          if (!UUID.test(keep.id)) throw new TypeError("session ids are UUIDs");
          for (let attempt = 1; ; attempt++) {
            rows = await query(
              sql.changePassword,
              userId,
              change.passwordHash,
              keep.id,
              keep.refreshTokenHash,
              keep.userAgent,
              keep.expiresAt,
              keep.acceptAccessUntil,
            );
            const [row] = rows;
            if (!row?.found || !row.unchanged || row.keptEnded) break;
            // The user changed while the statement ran (its compare-and-set
            // failed): run it again on what is committed now.
            if (attempt === 5) throw new Error("change-password: the user kept changing");
          }
          break;
        }
        case "disable":
          rows = await query(sql.disable, userId);
          break;
        case "enable":
          rows = await query(sql.enable, userId);
          break;
      }
      const outcome = rows[0];
      if (!outcome?.found) return null;
      // Read after the change: the same revision or a newer one, either of
      // which is safe to write to the cache.
      const state = await stateOf(userId);
      if (!state) return null;
      if (outcome.unchanged) return { state, sessionsRevoked: 0, keptSessionEnded: true };
      return { state, sessionsRevoked: outcome.sessionsRevoked };
    },

    async deleteUser(userId) {
      if (!UUID.test(userId)) return false;
      const rows = await query<{ deleted: number }[]>(sql.deleteUser, userId);
      return (rows[0]?.deleted ?? 0) > 0;
    },

    async createSession(session) {
      const rows = await query<SessionRow[]>(
        sql.createSession,
        session.id,
        session.userId,
        session.refreshTokenHash,
        session.userAgent,
        session.expiresAt,
        session.acceptAccessUntil,
      );
      return toSession(rows[0]!);
    },

    async findSession(sessionId) {
      if (!UUID.test(sessionId)) return null;
      const rows = await query<SessionRow[]>(sql.findSession, sessionId);
      return rows[0] ? toSession(rows[0]) : null;
    },

    async rotateRefreshToken(input) {
      if (!UUID.test(input.sessionId)) return null;
      const rows = await query<SessionRow[]>(
        sql.rotate,
        input.sessionId,
        input.expectedHash,
        input.nextHash,
        input.now,
        input.acceptAccessUntil,
      );
      return rows[0] ? toSession(rows[0]) : null;
    },

    async touchSession(sessionId, now, acceptAccessUntil) {
      if (!UUID.test(sessionId)) return;
      await execute(sql.touch, sessionId, now, acceptAccessUntil);
    },

    async listSessions(userId, now) {
      if (!UUID.test(userId)) return [];
      const rows = await query<SessionRow[]>(sql.listSessions, userId, now);
      return rows.map(toSession);
    },

    async listCacheRepairs({ includeApplied, after, limit }) {
      const rows = await query<(StateRow & { repairUserId: string; present: boolean })[]>(
        sql.listRepairs,
        includeApplied,
        after !== null && UUID.test(after) ? after : null,
        limit,
      );
      return rows.map((row): CachedUser =>
        row.present ? toState(row) : { id: row.repairUserId, deleted: true },
      );
    },

    async markCacheRepairApplied(userId, revision) {
      if (!UUID.test(userId)) return;
      await execute(sql.markApplied, userId, Math.min(revision, 2147483647));
    },

    async pruneCacheRepairs(before) {
      return execute(sql.pruneRepairs, before);
    },

    async pruneSessions(before) {
      return execute(sql.pruneSessions, before);
    },

    async ping() {
      await query("SELECT 1");
    },
  };
}

function toState(row: StateRow): UserState {
  const revoked = (typeof row.revoked === "string" ? JSON.parse(row.revoked) : row.revoked) as [
    string,
    string,
    number | string,
  ][];
  const revokedSessions: RevokedSession[] = revoked
    .slice(0, MAX_CACHED_REVOKED_SESSIONS)
    .map(([id, reason, until]) => ({
      id,
      reason: reason as SessionEndReason,
      until: Number(until),
    }));
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    jwtVersion: Number(row.jwtVersion),
    revision: Number(row.revision),
    disabled: row.disabled,
    versionReason: row.versionReason as VersionReason | null,
    revokedSessions,
    revokedSessionsOverflow: revoked.length > MAX_CACHED_REVOKED_SESSIONS,
  };
}

function toSession(row: SessionRow): SessionRecord {
  return { ...row, revokeReason: row.revokeReason as SessionEndReason | null };
}

// A unique violation reaches us as Prisma's P2002, or as a raw-query failure
// (P2010) carrying Postgres' SQLSTATE 23505, depending on the Prisma version.
function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; meta?: { code?: unknown; driverAdapterError?: unknown } };
  if (e.code === "P2002" || e.code === "23505") return true;
  if (e.meta?.code === "23505") return true;
  const adapterError = e.meta?.driverAdapterError as { cause?: { kind?: unknown } } | undefined;
  return adapterError?.cause?.kind === "UniqueConstraintViolation";
}

// Postgres' SQLSTATE for a missing table or column, as Prisma passes it on.
function schemaProblem(error: unknown): string | null {
  const cause = (error as { meta?: { driverAdapterError?: { cause?: Record<string, unknown> } } })
    ?.meta?.driverAdapterError?.cause;
  const code = cause?.originalCode ?? (error as { code?: unknown })?.code;
  if (code !== "42P01" && code !== "42703" && code !== "3F000") return null;
  return typeof cause?.originalMessage === "string" ? cause.originalMessage : String(code);
}

/** Every statement, with the schema named in it (validated, then quoted). */
function buildStatements(s: string) {
  // Revoked sessions whose access tokens may still be unexpired and that the
  // version does not already cover; one more than an entry holds, to tell overflow.
  const revoked = (u: string) => `(
    SELECT COALESCE(json_agg(json_build_array(r.id::text, r.revoke_reason,
             floor(extract(epoch FROM r.access_expires_at))::bigint) ORDER BY r.revoked_at DESC), '[]'::json)
    FROM (SELECT id, revoke_reason, access_expires_at, revoked_at FROM ${s}."sessions"
          WHERE user_id = ${u}.id AND revoked_at IS NOT NULL AND access_expires_at > now()
            AND revoked_revision > ${u}.version_revision
          ORDER BY revoked_at DESC LIMIT ${MAX_CACHED_REVOKED_SESSIONS + 1}) r)`;
  const stateColumns = (
    u: string,
  ) => `${u}.id::text AS "id", ${u}.email AS "email", ${u}.name AS "name",
    ${u}.jwt_version AS "jwtVersion", ${u}.revision AS "revision",
    ${u}.disabled_at IS NOT NULL AS "disabled", ${u}.version_reason AS "versionReason",
    ${revoked(u)} AS "revoked"`;
  // The outbox row of a change, written in the change's own statement.
  const repair = (from: string) => `repair AS (
    INSERT INTO ${s}."cache_repairs" (user_id, revision, created_at, applied_at)
    SELECT id, revision, now(), NULL FROM ${from}
    ON CONFLICT (user_id) DO UPDATE
      SET revision = GREATEST(${s}."cache_repairs".revision, EXCLUDED.revision),
          created_at = EXCLUDED.created_at, applied_at = NULL)`;
  const outcome = (endedCount: string) =>
    `SELECT EXISTS (SELECT 1 FROM ${s}."users" WHERE id = $1::uuid) AS "found", ${endedCount} AS "sessionsRevoked"`;
  // Version change: every live session ends with it.
  const bumpVersion = (set: string, reason: string) => `
    WITH u AS (
      UPDATE ${s}."users"
      SET jwt_version = jwt_version + 1, revision = revision + 1, version_reason = ${reason},
          version_revision = revision + 1, updated_at = now()${set}
      WHERE id = $1::uuid RETURNING id, revision
    ), ended AS (
      UPDATE ${s}."sessions"
      SET revoked_at = now(), revoke_reason = ${reason}, revoked_revision = (SELECT revision FROM u)
      WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL RETURNING id
    ), ${repair("u")}
    ${outcome("(SELECT count(*) FROM ended)::int")}`;
  // Sessions only. The user's row is locked (and its revision raised) first,
  // and only if a live session is to end; the ended sessions carry that revision.
  const endSessions = (which: string) => `
    WITH u AS (
      UPDATE ${s}."users" SET revision = revision + 1, updated_at = now()
      WHERE id = $1::uuid AND EXISTS (
        SELECT 1 FROM ${s}."sessions"
        WHERE user_id = $1::uuid AND ${which} AND revoked_at IS NULL AND expires_at > now())
      RETURNING id, revision
    ), ended AS (
      UPDATE ${s}."sessions"
      SET revoked_at = now(), revoke_reason = $3, revoked_revision = (SELECT revision FROM u)
      WHERE user_id IN (SELECT id FROM u) AND ${which} AND revoked_at IS NULL AND expires_at > now()
      RETURNING id
    ), ${repair("u")}
    ${outcome("(SELECT count(*) FROM ended)::int")}`;
  // change-password's kept session ($3) was revoked, or is another user's.
  const keptEnded = `EXISTS (SELECT 1 FROM ${s}."sessions"
    WHERE id = $3::uuid AND (user_id <> $1::uuid OR revoked_at IS NOT NULL))`;
  const sessionColumns = `id::text AS "id", user_id::text AS "userId",
    refresh_token_hash AS "refreshTokenHash", previous_token_hash AS "previousRefreshTokenHash",
    rotated_at AS "rotatedAt", created_at AS "createdAt", last_used_at AS "lastUsedAt",
    expires_at AS "expiresAt", user_agent AS "userAgent", revoked_at AS "revokedAt",
    revoke_reason AS "revokeReason"`;

  return {
    stateById: `SELECT ${stateColumns("u")} FROM ${s}."users" u WHERE u.id = $1::uuid`,
    stateByEmail: `SELECT ${stateColumns("u")}, u.password_hash AS "passwordHash"
      FROM ${s}."users" u WHERE u.email = $1`,
    createUser: `
      WITH u AS (
        INSERT INTO ${s}."users" (id, email, password_hash, name, updated_at)
        VALUES (gen_random_uuid(), $1, $2, $3, now())
        RETURNING *
      )
      SELECT u.id::text AS "id", u.email, u.name, u.jwt_version AS "jwtVersion",
        u.revision, false AS "disabled", NULL::text AS "versionReason", '[]'::json AS "revoked"
      FROM u`,
    revokeAll: bumpVersion("", "$2"),
    revokeSessions: endSessions("id = ANY($2::uuid[])"),
    revokeOtherSessions: endSessions("id <> $2::uuid"),
    changePassword: `
      WITH u AS (
        UPDATE ${s}."users"
        SET password_hash = $2, jwt_version = jwt_version + 1, revision = revision + 1,
            version_reason = 'password_changed', version_revision = revision + 1, updated_at = now()
        WHERE id = $1::uuid AND NOT ${keptEnded}
          -- Compare-and-set: a revocation that commits while this statement
          -- waits for the row changes the revision, and the kept session's
          -- state read above would be stale; the caller then runs it again.
          AND revision = (SELECT revision FROM ${s}."users" WHERE id = $1::uuid)
        RETURNING id, revision
      ), ended AS (
        UPDATE ${s}."sessions"
        SET revoked_at = now(), revoke_reason = 'password_changed', revoked_revision = (SELECT revision FROM u)
        WHERE user_id IN (SELECT id FROM u) AND id <> $3::uuid AND revoked_at IS NULL RETURNING id
      ), kept AS (
        INSERT INTO ${s}."sessions" (id, user_id, refresh_token_hash, created_at, last_used_at,
          expires_at, access_expires_at, user_agent)
        SELECT $3::uuid, id, $4, now(), now(), $6, to_timestamp($7), $5 FROM u
        ON CONFLICT (id) DO UPDATE
          SET refresh_token_hash = EXCLUDED.refresh_token_hash, previous_token_hash = NULL,
              rotated_at = NULL, last_used_at = now(), expires_at = EXCLUDED.expires_at,
              access_expires_at = GREATEST(${s}."sessions".access_expires_at, EXCLUDED.access_expires_at)
          WHERE ${s}."sessions".user_id = EXCLUDED.user_id AND ${s}."sessions".revoked_at IS NULL
        RETURNING id
      ), ${repair("u")}
      ${outcome("(SELECT count(*) FROM ended)::int")},
        NOT EXISTS (SELECT 1 FROM u) AS "unchanged", ${keptEnded} AS "keptEnded"`,
    disable: bumpVersion(", disabled_at = now()", "'account_disabled'"),
    enable: `
      WITH u AS (
        UPDATE ${s}."users" SET disabled_at = NULL, revision = revision + 1, updated_at = now()
        WHERE id = $1::uuid RETURNING id, revision
      ), ${repair("u")}
      ${outcome("0")}`,
    deleteUser: `
      WITH gone AS (
        DELETE FROM ${s}."users" WHERE id = $1::uuid RETURNING id, revision + 1 AS revision
      ), ${repair("gone")}
      SELECT count(*)::int AS "deleted" FROM gone`,
    createSession: `
      INSERT INTO ${s}."sessions" (id, user_id, refresh_token_hash, user_agent, expires_at,
        access_expires_at, created_at, last_used_at)
      VALUES ($1::uuid, $2::uuid, $3, $4, $5, to_timestamp($6), now(), now())
      RETURNING ${sessionColumns}`,
    findSession: `SELECT ${sessionColumns} FROM ${s}."sessions" WHERE id = $1::uuid`,
    rotate: `
      UPDATE ${s}."sessions"
      SET previous_token_hash = refresh_token_hash, refresh_token_hash = $3, rotated_at = $4,
          last_used_at = $4, access_expires_at = GREATEST(access_expires_at, to_timestamp($5))
      WHERE id = $1::uuid AND refresh_token_hash = $2 AND revoked_at IS NULL AND expires_at > $4
      RETURNING ${sessionColumns}`,
    touch: `
      UPDATE ${s}."sessions"
      SET last_used_at = $2, access_expires_at = GREATEST(access_expires_at, to_timestamp($3))
      WHERE id = $1::uuid`,
    listSessions: `
      SELECT ${sessionColumns} FROM ${s}."sessions"
      WHERE user_id = $1::uuid AND revoked_at IS NULL AND expires_at > $2
      ORDER BY created_at DESC, id`,
    listRepairs: `
      SELECT r.user_id::text AS "repairUserId", u.id IS NOT NULL AS "present", ${stateColumns("u")}
      FROM ${s}."cache_repairs" r LEFT JOIN ${s}."users" u ON u.id = r.user_id
      WHERE ($1 OR r.applied_at IS NULL) AND ($2::uuid IS NULL OR r.user_id > $2::uuid)
      ORDER BY r.user_id LIMIT $3`,
    markApplied: `
      UPDATE ${s}."cache_repairs" SET applied_at = now()
      WHERE user_id = $1::uuid AND revision <= $2 AND applied_at IS NULL`,
    pruneRepairs: `
      DELETE FROM ${s}."cache_repairs" WHERE ctid IN (
        SELECT ctid FROM ${s}."cache_repairs" WHERE created_at < $1 LIMIT 10000)`,
    pruneSessions: `
      DELETE FROM ${s}."sessions" WHERE ctid IN (
        SELECT ctid FROM ${s}."sessions"
        WHERE expires_at < $1 OR (revoked_at < $1 AND access_expires_at < $1) LIMIT 10000)`,
  };
}
