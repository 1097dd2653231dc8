/** What a client may see of a user: never the hash, never the version. */
export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
}

/** What the cache holds and the version check needs. */
export interface UserRecord extends PublicUser {
  jwtVersion: number;
}

export interface UserWithPasswordHash extends UserRecord {
  passwordHash: string;
}

/** The source of truth (Postgres). Errors mean "unavailable", not "no". */
export interface UserStore {
  findById(id: string): Promise<UserRecord | null>;
  findByEmail(email: string): Promise<UserWithPasswordHash | null>;
  /** Throws `EmailTakenError` when the email is already registered. */
  create(input: { email: string; passwordHash: string; name: string | null }): Promise<UserRecord>;
  /**
   * One atomic statement: `jwtVersion = jwtVersion + 1`, and a cache repair
   * recorded for the new version. Null when the user is gone.
   */
  incrementJwtVersion(id: string): Promise<UserRecord | null>;
  /** Current records of users whose new version may not have reached the cache yet. */
  pendingCacheRepairs(limit: number): Promise<UserRecord[]>;
  /** The cache holds `jwtVersion` (or newer) for this user: forget the repair. */
  clearCacheRepair(id: string, jwtVersion: number): Promise<void>;
  ping(): Promise<void>;
}

/**
 * What a cache read saw: the entry (null for a miss or an unreadable value)
 * and a fence naming the cache's current generation. A fill must present the
 * fence, so it cannot land in a cache that was emptied after the read.
 */
export interface CacheRead {
  user: UserRecord | null;
  fence: string;
}

/** The Redis cache. Every method may throw when Redis is slow or down. */
export interface UserCache {
  read(id: string): Promise<CacheRead>;
  /**
   * Cache-aside fill after a miss. Skipped (false) when the cache holds a
   * higher version or its generation is no longer `fence`.
   */
  fill(user: UserRecord, fence: string): Promise<boolean>;
  /** Write-through of a committed version; never lowers a cached version. */
  write(user: UserRecord): Promise<void>;
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
