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
  /** One atomic `jwtVersion = jwtVersion + 1`; null when the user is gone. */
  incrementJwtVersion(id: string): Promise<UserRecord | null>;
  ping(): Promise<void>;
}

/** The Redis cache. Every method may throw when Redis is slow or down. */
export interface UserCache {
  /** A valid entry, or null for a miss (absent or unreadable). */
  get(id: string): Promise<UserRecord | null>;
  /** Stores the user unless the cache already holds a higher version. */
  put(user: UserRecord): Promise<void>;
  remove(id: string): Promise<void>;
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
