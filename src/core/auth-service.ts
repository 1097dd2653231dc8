import {
  InvalidCredentialsError,
  InvalidRequestError,
  ServiceUnavailableError,
  TokenError,
  AuthError,
} from "./errors.js";
import { isPrintableAscii, normalizeEmail } from "./email.js";
import { isAcceptableName, isAcceptablePassword } from "./input-policy.js";
import type { AccessTokenClaims, TokenService } from "./token-service.js";
import type {
  AttemptLimiter,
  Logger,
  PasswordHasher,
  PublicUser,
  UserCache,
  UserRecord,
  UserStore,
} from "./ports.js";
import type { UserLookup } from "./user-lookup.js";

export interface LoginResult {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  user: PublicUser;
}

export interface Authenticated {
  user: PublicUser;
  claims: AccessTokenClaims;
}

export interface Readiness {
  ready: boolean;
  postgres: "up" | "down";
  redis: "up" | "down";
}

export interface Limiters {
  /** Keyed by account alone, across every client address (distributed guessing). */
  loginAccount: AttemptLimiter;
  /** Keyed by account and client address together. */
  loginAccountClient: AttemptLimiter;
  /** Keyed by client address alone (one client trying many accounts). */
  loginClient: AttemptLimiter;
  registerClient: AttemptLimiter;
}

export interface AuthService {
  register(
    input: { email: string; password: string; name: string | null },
    clientKey: string,
  ): Promise<PublicUser>;
  login(input: { email: string; password: string }, clientKey: string): Promise<LoginResult>;
  /** Revokes every token of the user. Resolves only once no instance can accept an older version. */
  logout(userId: string): Promise<void>;
  authenticate(token: string): Promise<Authenticated>;
  readiness(): Promise<Readiness>;
}

export function toPublicUser(user: PublicUser): PublicUser {
  return { id: user.id, email: user.email, name: user.name };
}

export function createAuthService(deps: {
  store: UserStore;
  cache: UserCache;
  lookup: UserLookup;
  tokens: TokenService;
  hasher: PasswordHasher;
  limiters: Limiters | null;
  logger: Logger;
}): AuthService {
  const { store, cache, lookup, tokens, hasher, limiters, logger } = deps;
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

  return {
    async register(input, clientKey) {
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
      await limiters?.registerClient.consume(clientKey);
      const passwordHash = await hasher.hash(input.password);
      const user = await fromStore(() => store.create({ email, passwordHash, name: input.name }));
      return toPublicUser(user);
    },

    async login(input, clientKey) {
      if (!isAcceptablePassword(input.password, 1)) {
        throw new InvalidRequestError([{ path: "password", message: "input policy" }]);
      }
      const email = normalizeEmail(input.email);
      // Keyed by the email whether or not an account has it, so a 429 says
      // nothing about which emails exist.
      const accountClient = `${email}|${clientKey}`;
      if (limiters) {
        await limiters.loginClient.consume(clientKey);
        await limiters.loginAccountClient.consume(accountClient);
        await limiters.loginAccount.consume(email);
      }
      const user = await fromStore(() => store.findByEmail(email));
      if (!user) {
        // Same work as a wrong password, so timing does not reveal which emails exist.
        dummyHash ??= hasher.hash("not-a-real-password-but-same-cost");
        await hasher.verify(await dummyHash, input.password);
        throw new InvalidCredentialsError();
      }
      if (!(await hasher.verify(user.passwordHash, input.password))) {
        throw new InvalidCredentialsError();
      }
      // Only failures count: a successful login gives its attempts back.
      if (limiters) {
        await Promise.all([
          limiters.loginClient.refund(clientKey),
          limiters.loginAccount.refund(email),
          limiters.loginAccountClient.reset(accountClient),
        ]).catch((error: unknown) => {
          logger.warn({ err: error }, "could not give back login attempts");
        });
      }
      const issued = tokens.issue(user);
      return {
        accessToken: issued.token,
        tokenType: "Bearer",
        expiresIn: issued.expiresIn,
        user: toPublicUser(user),
      };
    },

    async logout(userId) {
      const updated: UserRecord | null = await fromStore(() => store.incrementJwtVersion(userId));
      if (!updated) throw new TokenError("invalid_token", "subject no longer exists");
      await lookup.writeThrough(updated);
    },

    async authenticate(token) {
      const claims = tokens.verify(token);
      const user = await lookup.get(claims.sub);
      if (!user) throw new TokenError("invalid_token", "unknown subject");
      if (user.jwtVersion !== claims.jwtVersion) {
        throw new TokenError("token_revoked", "version mismatch");
      }
      return { user: toPublicUser(user), claims };
    },

    async readiness() {
      const [postgres, redis] = await Promise.all([
        store.ping().then(
          () => "up" as const,
          () => "down" as const,
        ),
        cache.ping().then(
          () => "up" as const,
          () => "down" as const,
        ),
      ]);
      return { ready: postgres === "up", postgres, redis };
    },
  };
}
