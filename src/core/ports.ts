/** What a client may see of a user: never the hash, never the version. */
export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
}

/** Why every token of a user stopped working (the last version change). */
export type VersionReason = "signed_out" | "password_changed" | "account_disabled" | "revoked";

/** Why one session ended. */
export type SessionEndReason =
  | "signed_out"
  | "signed_out_elsewhere"
  | "refresh_token_reused"
  | "password_changed"
  | "account_disabled"
  | "revoked";

/** A session revoked recently enough that access tokens naming it may still be unexpired. */
export interface RevokedSession {
  id: string;
  reason: SessionEndReason;
  /** Epoch seconds after which no access token of this session can be accepted anyway. */
  until: number;
}

/**
 * Everything the per-request check needs about a user, as the cache holds it.
 * Every change of any of it raises `revision`, so a cache can keep the newest
 * of two copies without knowing what changed.
 */
export interface UserState extends PublicUser {
  /** Tokens are valid only while their `jwtVersion` equals this. */
  jwtVersion: number;
  /** Raised by every change of this state; never lowered. */
  revision: number;
  disabled: boolean;
  /** Why `jwtVersion` last changed; null before the first change. */
  versionReason: VersionReason | null;
  /**
   * Sessions revoked since the last version change whose access tokens may
   * still be unexpired, newest first, at most `MAX_CACHED_REVOKED_SESSIONS`.
   */
  revokedSessions: RevokedSession[];
  /** More revoked sessions exist than the list holds: check sessions in the store. */
  revokedSessionsOverflow: boolean;
}

/** What a cache holds for a user that no longer exists: it outranks any revision. */
export interface DeletedUser {
  id: string;
  deleted: true;
}

export type CachedUser = UserState | DeletedUser;

export const isDeleted = (user: CachedUser): user is DeletedUser => "deleted" in user;

/** How many revoked sessions a state carries before it says "overflow". */
export const MAX_CACHED_REVOKED_SESSIONS = 20;

export interface UserCredentials extends UserState {
  passwordHash: string;
}

export interface SessionRecord {
  id: string;
  userId: string;
  /** SHA-256 (base64url) of the current refresh token. */
  refreshTokenHash: string;
  /** SHA-256 of the refresh token it replaced, while a repeat of it may be a race. */
  previousRefreshTokenHash: string | null;
  /** When the current refresh token replaced the previous one. */
  rotatedAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date;
  /** Absolute end: no refresh after it. */
  expiresAt: Date;
  userAgent: string | null;
  revokedAt: Date | null;
  revokeReason: SessionEndReason | null;
}

export interface NewSession {
  id: string;
  userId: string;
  refreshTokenHash: string;
  userAgent: string | null;
  expiresAt: Date;
  /** Latest epoch second at which an access token of this session may still be accepted. */
  acceptAccessUntil: number;
}

/**
 * A change of what the per-request check sees. Each is applied atomically
 * together with a cache repair record for the user (see `AuthStore`).
 */
export type UserChange =
  /** `jwtVersion + 1` and every live session revoked. */
  | { type: "revoke-all"; reason: VersionReason }
  /** The named live sessions of this user are revoked; unknown or foreign ids are ignored. */
  | { type: "revoke-sessions"; sessionIds: string[]; reason: SessionEndReason }
  /** Every live session except `keepSessionId` is revoked (no version change). */
  | { type: "revoke-other-sessions"; keepSessionId: string; reason: SessionEndReason }
  /**
   * New password hash, `jwtVersion + 1`, every live session except `keep.id`
   * revoked; the kept session gets a new refresh token (or is created). When
   * `keep.id` names a revoked session, or another user's, nothing changes and
   * the result says `keptSessionEnded` — decided atomically with the change:
   * a sign-out of that session committed meanwhile must not be kept alive.
   */
  | {
      type: "change-password";
      passwordHash: string;
      keep: Omit<NewSession, "userId">;
    }
  /** Disabled: `jwtVersion + 1` and every live session revoked. */
  | { type: "disable" }
  | { type: "enable" };

export interface ChangeResult {
  /** The user's state after the change (or newer). */
  state: UserState;
  /** How many live sessions the change revoked. */
  sessionsRevoked: number;
  /** change-password only: the kept session had ended, so nothing changed. */
  keptSessionEnded?: true;
}

/**
 * The source of truth. Every method either does what it says or throws (an
 * error means "unavailable", never "no"). Expected "no" answers are values:
 * `null`, `false`, or an empty list.
 *
 * The cache repair outbox: every `changeUser` and `deleteUser` records, in the
 * same transaction as the change, a repair for the user (its new revision, a
 * timestamp, not yet applied). A repair stays listed by `listCacheRepairs`
 * until pruned, so that after a Redis failover that lost writes every instance
 * can replay the recent ones. `versioned-jwt-auth/testing` holds the
 * conformance suite every implementation must pass.
 */
export interface AuthStore {
  findUserById(id: string): Promise<UserState | null>;
  findUserByEmail(email: string): Promise<UserCredentials | null>;
  /** Throws `EmailTakenError` when the email is taken. */
  createUser(input: {
    email: string;
    passwordHash: string;
    name: string | null;
  }): Promise<UserState>;
  /** Null when the user does not exist. */
  changeUser(userId: string, change: UserChange): Promise<ChangeResult | null>;
  /** Deletes the user and its sessions, recording a repair; false when there was none. */
  deleteUser(userId: string): Promise<boolean>;

  createSession(session: NewSession): Promise<SessionRecord>;
  findSession(sessionId: string): Promise<SessionRecord | null>;
  /**
   * Compare-and-set of the refresh token: only when the session's current hash
   * is `expectedHash` and it is neither revoked nor expired at `now`. The old
   * hash becomes `previousRefreshTokenHash`. Null when the condition failed.
   */
  rotateRefreshToken(input: {
    sessionId: string;
    expectedHash: string;
    nextHash: string;
    now: Date;
    acceptAccessUntil: number;
  }): Promise<SessionRecord | null>;
  /** Marks a session used (a repeated refresh within the grace period). */
  touchSession(sessionId: string, now: Date, acceptAccessUntil: number): Promise<void>;
  /** Live sessions of the user (not revoked, not expired at `now`), newest first. */
  listSessions(userId: string, now: Date): Promise<SessionRecord[]>;

  /**
   * Current states of users with repairs: only those not yet applied, or all
   * of them (a replay), in a stable order after the `after` cursor (a user id).
   * A deleted user's repair comes back as `{ id, deleted: true }`.
   */
  listCacheRepairs(options: {
    includeApplied: boolean;
    after: string | null;
    limit: number;
  }): Promise<CachedUser[]>;
  /** The cache holds `revision` (or newer) for this user. */
  markCacheRepairApplied(userId: string, revision: number): Promise<void>;
  /** Forgets repairs recorded before `before`; returns how many. */
  pruneCacheRepairs(before: Date): Promise<number>;
  /** Deletes sessions that expired before `before`; returns how many. */
  pruneSessions(before: Date): Promise<number>;
  ping(): Promise<void>;
}

/**
 * What a cache read saw: the entry (null for a miss or an unreadable value)
 * and a fence naming the cache's current generation for that user. A fill
 * must present the fence, so it cannot land in a cache emptied after the read.
 */
export interface CacheRead {
  user: CachedUser | null;
  fence: string;
}

/**
 * The shared cache (Redis). Every method may throw when it is slow or down.
 * It is trusted shard by shard: a Redis Cluster primary is a shard, a single
 * server is the one shard. A lost connection or another data set behind a
 * shard makes only that shard's users read the store until it is repaired.
 */
export interface UserCache {
  read(id: string): Promise<CacheRead>;
  /**
   * Cache-aside fill after a miss. Skipped (false) when the cache holds a
   * higher revision or the generation is no longer `fence`.
   */
  fill(user: UserState, fence: string): Promise<boolean>;
  /**
   * Write of a committed state; never lowers a cached revision, never
   * replaces a deletion. Resolves once the cache (and, when configured, its
   * replicas) hold it; otherwise throws.
   */
  write(user: CachedUser): Promise<void>;
  /** The shard a user's entry is in (stable until `identities()` sees the layout change). */
  shardOf(id: string): string;
  /**
   * Every shard there is now, and the data set behind each (for Redis, a
   * primary's address, replication id and slots). Another name for a shard
   * means a failover or a restart: its entries may have gone back in time.
   * `null`: the shard answers but will not say (a managed Redis that refuses
   * INFO; only lost connections then reveal a failover). `undefined`: it is
   * a shard but cannot be asked now (it stays untrusted). A shard missing
   * from the map is no shard any more (a primary demoted to a replica).
   */
  identities(): Promise<Map<string, string | null | undefined>>;
  /**
   * Calls `listener` synchronously whenever a connection to a shard is lost
   * (null: possibly to every shard): whatever answers next may be another
   * server. Returns an unsubscribe.
   */
  onConnectionLost(listener: (shard: string | null) => void): () => void;
  /** Optional: calls `listener` when a connection is (re)established, a good moment for a repair pass. */
  onConnectionReady?(listener: () => void): () => void;
  /**
   * Optional. The identity of a shard's data set on which an instance last
   * completed a replay of every retained change (null: none known), and the
   * recording of one. An instance that finds its shard's current identity
   * there skips its own replay: every retained change is in that data set
   * already, or still pending. The mark lives in the cache, so a failover that
   * loses writes loses it too (or leaves an older identity).
   */
  lastReplayedOn?(shard: string): Promise<string | null>;
  markReplayed?(shard: string, identity: string): Promise<void>;
  /** Optional: true for a cache held by this process alone, with no server to be up or down. */
  readonly inProcess?: boolean;
  ping(): Promise<void>;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

/** Throws `TooManyRequestsError` once a key has used up its attempts. */
export interface AttemptLimiter {
  consume(key: string): Promise<void>;
  /** Gives back one consumed attempt (a login that turned out to succeed). */
  refund(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export interface AttemptLimit {
  /** Attempts allowed per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
}

/** Builds one limiter per counter (`name` is unique per counter). */
export type AttemptLimiterFactory = (name: string, limit: AttemptLimit) => AttemptLimiter;

/** The subset of pino's API the library uses; pass a pino logger or anything shaped like it. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
};

/**
 * The default when no logger is given: warnings and errors on stderr, one
 * line each with the error's message (never the objects themselves), so a
 * misconfiguration such as missing tables is seen rather than a silent 503.
 */
export const consoleLogger: Logger = {
  info() {},
  warn: (obj, msg) => console.error(consoleLine("warn", obj, msg)),
  error: (obj, msg) => console.error(consoleLine("error", obj, msg)),
};

function consoleLine(level: string, obj: object, msg?: string): string {
  const err = (obj as { err?: unknown }).err;
  let why = "";
  if (err instanceof Error) {
    why = `: ${err.message}`;
    if (err.cause instanceof Error && err.cause.message !== err.message)
      why += ` (${err.cause.message})`;
  }
  return `versioned-jwt-auth ${level}: ${msg ?? ""}${why}`;
}
