import { randomUUID } from "node:crypto";
import type { AccessTokenClaims } from "./access-token-claims.js";
import { isPrintableAscii, normalizeEmail } from "./email.js";
import {
  AccountDisabledError,
  AuthError,
  InvalidCredentialsError,
  InvalidRequestError,
  RefreshTokenError,
  ServiceUnavailableError,
  TokenError,
  TokenRevokedError,
  type TokenRevokedReason,
} from "./errors.js";
import { isAcceptableName, isAcceptablePassword } from "./input-policy.js";
import {
  isDeleted,
  type AttemptLimiter,
  type AuthStore,
  type CachedUser,
  type Logger,
  type PasswordHasher,
  type PublicUser,
  type SessionEndReason,
  type SessionRecord,
  type UserChange,
  type UserState,
  type VersionReason,
} from "./ports.js";
import type { RefreshTokenCodec } from "./refresh-token.js";
import type { TokenService } from "./token-service.js";
import type { UserLookup } from "./user-lookup.js";

export interface TokenPair {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
  user: PublicUser;
}

/** @deprecated The login answer is a `TokenPair`. */
export type LoginResult = TokenPair;

export interface Authenticated {
  user: PublicUser;
  claims: AccessTokenClaims;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  /** The session of the token that asked. */
  current: boolean;
}

export interface Readiness {
  ready: boolean;
  postgres: "up" | "down";
  /** "unused" when the cache is in this process (embedded mode). */
  redis: "up" | "down" | "unused";
}

/** Who is asking: the throttling key (client address) and what it calls itself. */
export interface ClientInfo {
  key: string;
  userAgent?: string | null;
}

export type SignOutScope = "global" | "local" | "others";

export interface Limiters {
  /** Keyed by account alone, across every client address (distributed guessing). */
  loginAccount: AttemptLimiter;
  /** Keyed by account and client address together. */
  loginAccountClient: AttemptLimiter;
  /** Keyed by client address alone (one client trying many accounts). */
  loginClient: AttemptLimiter;
  registerClient: AttemptLimiter;
  /** Failed refreshes per client address. */
  refreshClient: AttemptLimiter;
}

export interface SessionPolicy {
  /** Absolute lifetime of a session and its refresh tokens. */
  refreshTokenTtlSeconds: number;
  /**
   * How long after a rotation a repeat of the spent refresh token is taken
   * for a race of the same client (it gets the same successor) rather than
   * for theft. 0: every repeat is theft.
   */
  refreshReuseGraceSeconds: number;
}

export interface AuthService {
  /** `onRegister` failing undoes the registration (the account is deleted again). */
  register(
    input: { email: string; password: string; name: string | null },
    client: ClientInfo,
  ): Promise<PublicUser>;
  /** Starts a session: an access token and a refresh token. */
  login(input: { email: string; password: string }, client: ClientInfo): Promise<TokenPair>;
  /** Spends a refresh token for a new pair (rotation with reuse detection). */
  refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair>;
  /**
   * `global` (default): every token and session of the user. `local`: the
   * session of this token. `others`: every session but this one. Resolves
   * only once no instance can accept what it revoked.
   */
  logout(claims: AccessTokenClaims, scope?: SignOutScope): Promise<void>;
  listSessions(claims: AccessTokenClaims): Promise<SessionInfo[]>;
  /** Ends one session of the caller; false when it has no such live session. */
  revokeSession(claims: AccessTokenClaims, sessionId: string): Promise<boolean>;
  /** Ends every other session and token; answers a fresh pair for this device. */
  changePassword(
    claims: AccessTokenClaims,
    input: { currentPassword: string; newPassword: string },
    client: ClientInfo,
  ): Promise<TokenPair>;
  authenticate(token: string): Promise<Authenticated>;
  /** Operators: every token and session of the user; false when there is no such user. */
  revokeAll(userId: string): Promise<boolean>;
  disableUser(userId: string): Promise<boolean>;
  enableUser(userId: string): Promise<boolean>;
  deleteUser(userId: string): Promise<boolean>;
  /** Operators (CLI): the id of the account with this email, or null. */
  findUserIdByEmail(email: string): Promise<string | null>;
  readiness(): Promise<Readiness>;
}

export interface AuthServiceDeps {
  store: AuthStore;
  /** `cache` is null when the cache is in this process (readiness reports it "unused"). */
  ping: { store(): Promise<void>; cache: (() => Promise<void>) | null };
  lookup: UserLookup;
  tokens: TokenService;
  refreshTokens: RefreshTokenCodec;
  hasher: PasswordHasher;
  limiters: Limiters | null;
  sessions: SessionPolicy;
  logger: Logger;
  now: () => number;
  onRegister?: (user: PublicUser) => Promise<void> | void;
}

export function toPublicUser(user: PublicUser): PublicUser {
  return { id: user.id, email: user.email, name: user.name };
}

const SESSION_REASON_MESSAGE: Record<SessionEndReason, TokenRevokedReason> = {
  signed_out: "session_ended",
  signed_out_elsewhere: "session_ended",
  refresh_token_reused: "session_ended",
  revoked: "session_ended",
  password_changed: "password_changed",
  account_disabled: "session_ended",
};

const VERSION_REASON_MESSAGE: Record<VersionReason, TokenRevokedReason> = {
  signed_out: "signed_out",
  password_changed: "password_changed",
  account_disabled: "revoked",
  revoked: "revoked",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function createAuthService(deps: AuthServiceDeps): AuthService {
  const { store, lookup, tokens, refreshTokens, hasher, limiters, logger, now } = deps;
  let dummyHash: Promise<string> | undefined;

  // Store failures are outages, not client errors; known AuthErrors pass through.
  async function fromStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof AuthError) throw error;
      throw new ServiceUnavailableError(error);
    }
  }

  /** Applies a change and waits until every instance sees it (else 503). */
  async function change(userId: string, userChange: UserChange) {
    const result = await fromStore(() => store.changeUser(userId, userChange));
    if (result) await lookup.writeThrough(result.state, result.state.revision);
    return result;
  }

  // An access token may be accepted until its expiry plus the clock tolerance.
  const acceptUntil = (exp: number) => exp + tokens.clockToleranceSeconds;

  function pair(
    user: PublicUser,
    access: ReturnType<TokenService["issue"]>,
    refreshToken: string,
    expiresAt: Date,
  ): TokenPair {
    return {
      accessToken: access.token,
      tokenType: "Bearer",
      expiresIn: access.expiresIn,
      refreshToken,
      refreshExpiresIn: Math.max(0, Math.floor((expiresAt.getTime() - now()) / 1000)),
      user: toPublicUser(user),
    };
  }

  async function startSession(user: UserState, client: ClientInfo): Promise<TokenPair> {
    const sessionId = randomUUID();
    const access = tokens.issue({ id: user.id, jwtVersion: user.jwtVersion, sessionId });
    const refreshToken = refreshTokens.issue(sessionId);
    const expiresAt = new Date(now() + deps.sessions.refreshTokenTtlSeconds * 1000);
    await fromStore(() =>
      store.createSession({
        id: sessionId,
        userId: user.id,
        refreshTokenHash: refreshTokens.hash(refreshToken),
        userAgent: truncateUserAgent(client.userAgent),
        expiresAt,
        acceptAccessUntil: acceptUntil(access.claims.exp),
      }),
    );
    return pair(user, access, refreshToken, expiresAt);
  }

  /** Verifies a password against an account, with the same cost when there is none. */
  async function checkPassword(
    email: string,
    password: string,
  ): Promise<Awaited<ReturnType<AuthStore["findUserByEmail"]>>> {
    const user = await fromStore(() => store.findUserByEmail(email));
    if (!user) {
      // Same work as a wrong password, so timing does not reveal which emails exist.
      dummyHash ??= hasher.hash("not-a-real-password-but-same-cost");
      await hasher.verify(await dummyHash, password);
      return null;
    }
    return (await hasher.verify(user.passwordHash, password)) ? user : null;
  }

  async function throttleAccount(email: string, clientKey: string) {
    if (!limiters) return;
    await limiters.loginClient.consume(clientKey);
    await limiters.loginAccountClient.consume(`${email}|${clientKey}`);
    await limiters.loginAccount.consume(email);
  }

  // Only failures count: a success gives its attempts back.
  async function giveBackAccount(email: string, clientKey: string) {
    if (!limiters) return;
    await Promise.all([
      limiters.loginClient.refund(clientKey),
      limiters.loginAccount.refund(email),
      limiters.loginAccountClient.reset(`${email}|${clientKey}`),
    ]).catch((error: unknown) => logger.warn({ err: error }, "could not give back attempts"));
  }

  function requireSession(claims: AccessTokenClaims): string {
    if (claims.sid === undefined) {
      throw new InvalidRequestError([{ path: "scope", message: "the token has no session" }]);
    }
    return claims.sid;
  }

  async function userFor(claims: AccessTokenClaims): Promise<UserState> {
    const user = await lookup.get(claims.sub);
    if (!user || isDeleted(user)) throw new TokenError("invalid_token", "unknown subject");
    return user;
  }

  async function theft(session: SessionRecord): Promise<never> {
    logger.warn(
      { sessionId: session.id, userId: session.userId },
      "refresh token reused: session revoked",
    );
    try {
      await change(session.userId, {
        type: "revoke-sessions",
        sessionIds: [session.id],
        reason: "refresh_token_reused",
      });
    } catch (error) {
      // The session is ended in the store either way; its repair follows.
      logger.error({ err: error }, "could not confirm the revocation of a reused session");
    }
    throw new RefreshTokenError("refresh_token_reused", "spent token presented");
  }

  async function refreshSession(refreshToken: string): Promise<TokenPair> {
    const parsed = refreshTokens.parse(refreshToken);
    if (!parsed) throw new RefreshTokenError("invalid_refresh_token", "malformed or forged");
    let session = await fromStore(() => store.findSession(parsed.sessionId));
    if (!session) throw new RefreshTokenError("invalid_refresh_token", "no such session");
    const user = await fromStore(() => store.findUserById(session!.userId));
    if (!user) throw new RefreshTokenError("invalid_refresh_token", "no such user");
    if (user.disabled) throw new AccountDisabledError();
    const at = new Date(now());
    if (session.revokedAt !== null || session.expiresAt <= at) {
      throw new RefreshTokenError("invalid_refresh_token", "session ended");
    }

    if (parsed.hash === session.refreshTokenHash) {
      const next = refreshTokens.successor(refreshToken);
      const access = tokens.issue({
        id: user.id,
        jwtVersion: user.jwtVersion,
        sessionId: session.id,
      });
      const rotated = await fromStore(() =>
        store.rotateRefreshToken({
          sessionId: session!.id,
          expectedHash: parsed.hash,
          nextHash: refreshTokens.hash(next),
          now: at,
          acceptAccessUntil: acceptUntil(access.claims.exp),
        }),
      );
      if (rotated) return pair(user, access, next, rotated.expiresAt);
      // Another request rotated it first: this one is a repeat.
      session = await fromStore(() => store.findSession(parsed.sessionId));
      if (!session || session.revokedAt !== null) {
        throw new RefreshTokenError("invalid_refresh_token", "session ended");
      }
    }

    if (parsed.hash === session.previousRefreshTokenHash && session.rotatedAt) {
      const grace = deps.sessions.refreshReuseGraceSeconds * 1000;
      const successor = refreshTokens.successor(refreshToken);
      const sameSuccessor = refreshTokens.hash(successor) === session.refreshTokenHash;
      if (grace > 0 && at.getTime() - session.rotatedAt.getTime() <= grace && sameSuccessor) {
        const access = tokens.issue({
          id: user.id,
          jwtVersion: user.jwtVersion,
          sessionId: session.id,
        });
        await fromStore(() => store.touchSession(session!.id, at, acceptUntil(access.claims.exp)));
        return pair(user, access, successor, session.expiresAt);
      }
    }
    return theft(session);
  }

  return {
    async register(input, client) {
      // The HTTP layer checks these too; library callers get the same policy before any hashing.
      const email = normalizeEmail(input.email);
      const invalid = [
        ...(isPrintableAscii(email) ? [] : ["email"]),
        ...(isAcceptablePassword(input.password) ? [] : ["password"]),
        ...(input.name === null || isAcceptableName(input.name) ? [] : ["name"]),
      ];
      if (invalid.length > 0) {
        throw new InvalidRequestError(invalid.map((path) => ({ path, message: "input policy" })));
      }
      await limiters?.registerClient.consume(client.key);
      const passwordHash = await hasher.hash(input.password);
      const user = toPublicUser(
        await fromStore(() => store.createUser({ email, passwordHash, name: input.name })),
      );
      if (deps.onRegister) {
        try {
          await deps.onRegister(user);
        } catch (error) {
          await fromStore(() => store.deleteUser(user.id)).catch((undo: unknown) =>
            logger.error({ err: undo }, "could not undo a registration after onRegister failed"),
          );
          throw error;
        }
      }
      return user;
    },

    async login(input, client) {
      if (!isAcceptablePassword(input.password, 1)) {
        throw new InvalidRequestError([{ path: "password", message: "input policy" }]);
      }
      // Keyed by the email whether or not an account has it, so a 429 says
      // nothing about which emails exist.
      const email = normalizeEmail(input.email);
      await throttleAccount(email, client.key);
      const user = await checkPassword(email, input.password);
      if (!user) throw new InvalidCredentialsError();
      await giveBackAccount(email, client.key);
      if (user.disabled) throw new AccountDisabledError(403);
      return startSession(user, client);
    },

    async refresh(refreshToken, client) {
      await limiters?.refreshClient.consume(client.key);
      const result = await refreshSession(refreshToken);
      await limiters?.refreshClient
        .refund(client.key)
        .catch((error: unknown) => logger.warn({ err: error }, "could not give back an attempt"));
      return result;
    },

    async logout(claims, scope = "global") {
      let result;
      if (scope === "global") {
        result = await change(claims.sub, { type: "revoke-all", reason: "signed_out" });
      } else if (scope === "local") {
        result = await change(claims.sub, {
          type: "revoke-sessions",
          sessionIds: [requireSession(claims)],
          reason: "signed_out",
        });
      } else {
        result = await change(claims.sub, {
          type: "revoke-other-sessions",
          keepSessionId: requireSession(claims),
          reason: "signed_out_elsewhere",
        });
      }
      if (!result) throw new TokenError("invalid_token", "subject no longer exists");
    },

    async listSessions(claims) {
      const sessions = await fromStore(() => store.listSessions(claims.sub, new Date(now())));
      return sessions.map((s) => ({
        id: s.id,
        createdAt: s.createdAt.toISOString(),
        lastUsedAt: s.lastUsedAt.toISOString(),
        expiresAt: s.expiresAt.toISOString(),
        userAgent: s.userAgent,
        current: s.id === claims.sid,
      }));
    },

    async revokeSession(claims, sessionId) {
      if (!UUID.test(sessionId)) return false;
      const result = await fromStore(() =>
        store.changeUser(claims.sub, {
          type: "revoke-sessions",
          sessionIds: [sessionId],
          reason: "signed_out",
        }),
      );
      if (!result || result.sessionsRevoked === 0) return false;
      await lookup.writeThrough(result.state, result.state.revision);
      return true;
    },

    async changePassword(claims, input, client) {
      const current = await userFor(claims);
      if (!isAcceptablePassword(input.currentPassword, 1)) {
        throw new InvalidRequestError([{ path: "currentPassword", message: "input policy" }]);
      }
      if (!isAcceptablePassword(input.newPassword)) {
        throw new InvalidRequestError([{ path: "newPassword", message: "input policy" }]);
      }
      await throttleAccount(current.email, client.key);
      const credentials = await checkPassword(current.email, input.currentPassword);
      if (!credentials || credentials.id !== claims.sub) throw new InvalidCredentialsError(403);
      await giveBackAccount(current.email, client.key);
      const passwordHash = await hasher.hash(input.newPassword);
      const sessionId = claims.sid ?? randomUUID();
      // The token is signed after the change (it needs the new version) but
      // dated now, so the session knows its expiry beforehand.
      const issuedAt = now();
      const refreshToken = refreshTokens.issue(sessionId);
      const expiresAt = new Date(now() + deps.sessions.refreshTokenTtlSeconds * 1000);
      const result = await change(claims.sub, {
        type: "change-password",
        passwordHash,
        keep: {
          id: sessionId,
          refreshTokenHash: refreshTokens.hash(refreshToken),
          userAgent: truncateUserAgent(client.userAgent),
          expiresAt,
          acceptAccessUntil: acceptUntil(Math.floor(issuedAt / 1000) + tokens.expiresInSeconds),
        },
      });
      if (!result) throw new TokenError("invalid_token", "subject no longer exists");
      if (result.keptSessionEnded) {
        // Revoked after this request was let in (e.g. signed out from another
        // device while the new password was hashed): the password stays as it
        // was (and `change` has written the store's state to the cache).
        const ended = result.state.revokedSessions.find((s) => s.id === sessionId);
        throw new TokenRevokedError(ended ? SESSION_REASON_MESSAGE[ended.reason] : "session_ended");
      }
      const access = tokens.issue(
        { id: result.state.id, jwtVersion: result.state.jwtVersion, sessionId },
        issuedAt,
      );
      return pair(result.state, access, refreshToken, expiresAt);
    },

    async authenticate(token) {
      const claims = tokens.verify(token);
      let user: CachedUser | null = await lookup.get(claims.sub);
      if (user && !isDeleted(user) && claims.jwtVersion > user.jwtVersion) {
        // Versions only grow: a token newer than the entry proves the entry stale.
        user = await lookup.reload(claims.sub);
      }
      if (!user || isDeleted(user)) throw new TokenError("invalid_token", "unknown subject");
      if (user.disabled) throw new TokenError("account_disabled", "account disabled");
      if (claims.jwtVersion !== user.jwtVersion) {
        // Ahead even of the store (a database restored from a backup): not current either.
        if (claims.jwtVersion > user.jwtVersion) throw new TokenRevokedError("revoked");
        throw new TokenRevokedError(
          user.versionReason ? VERSION_REASON_MESSAGE[user.versionReason] : "revoked",
        );
      }
      if (claims.sid !== undefined) {
        const sid = claims.sid;
        const revoked = user.revokedSessions.find((s) => s.id === sid);
        if (revoked) throw new TokenRevokedError(SESSION_REASON_MESSAGE[revoked.reason]);
        if (user.revokedSessionsOverflow) {
          // Rare: more sessions revoked recently than an entry carries.
          const session = await fromStore(() => store.findSession(sid));
          if (!session || session.userId !== user.id) {
            throw new TokenError("invalid_token", "unknown session");
          }
          if (session.revokedAt !== null) {
            throw new TokenRevokedError(SESSION_REASON_MESSAGE[session.revokeReason ?? "revoked"]);
          }
        }
      }
      return { user: toPublicUser(user), claims };
    },

    async revokeAll(userId) {
      return (await change(userId, { type: "revoke-all", reason: "revoked" })) !== null;
    },

    async disableUser(userId) {
      return (await change(userId, { type: "disable" })) !== null;
    },

    async enableUser(userId) {
      return (await change(userId, { type: "enable" })) !== null;
    },

    async deleteUser(userId) {
      const deleted = await fromStore(() => store.deleteUser(userId));
      if (deleted)
        await lookup.writeThrough({ id: userId, deleted: true }, Number.MAX_SAFE_INTEGER);
      return deleted;
    },

    async findUserIdByEmail(email) {
      const user = await fromStore(() => store.findUserByEmail(normalizeEmail(email)));
      return user?.id ?? null;
    },

    async readiness() {
      const [postgres, redis] = await Promise.all([
        deps.ping.store().then(
          () => "up" as const,
          () => "down" as const,
        ),
        deps.ping.cache
          ? deps.ping.cache().then(
              () => "up" as const,
              () => "down" as const,
            )
          : ("unused" as const),
      ]);
      return { ready: postgres === "up", postgres, redis };
    },
  };
}

// What a client calls itself is informational; it is kept short and printable.
function truncateUserAgent(userAgent: string | null | undefined): string | null {
  if (!userAgent) return null;
  const printable = userAgent.replace(/[^\x20-\x7e]/g, "").slice(0, 256);
  return printable === "" ? null : printable;
}
