/**
 * Every client-facing failure has a stable `code`. This catalogue is the one
 * place their messages and HTTP statuses live; the HTTP edge maps an
 * `AuthError` to a response and nothing else does.
 */
export const ERROR_CATALOGUE = {
  invalid_request: { status: 400, message: "The request is malformed or has invalid fields." },
  missing_token: { status: 401, message: "An access token is required." },
  invalid_token: { status: 401, message: "The access token is invalid." },
  token_expired: { status: 401, message: "The access token has expired." },
  token_revoked: { status: 401, message: "The access token has been revoked." },
  invalid_refresh_token: { status: 401, message: "The refresh token is invalid or has expired." },
  refresh_token_reused: {
    status: 401,
    message: "The refresh token was already used; its session has been ended.",
  },
  account_disabled: { status: 401, message: "The account is disabled." },
  invalid_credentials: { status: 401, message: "Invalid email or password." },
  not_found: { status: 404, message: "Not found." },
  request_timeout: { status: 408, message: "The request took too long to arrive." },
  email_taken: { status: 409, message: "An account with this email already exists." },
  payload_too_large: { status: 413, message: "The request body is too large." },
  unsupported_media_type: { status: 415, message: "The request body must be application/json." },
  too_many_requests: { status: 429, message: "Too many attempts. Try again later." },
  headers_too_large: { status: 431, message: "The request headers are too large." },
  internal_error: { status: 500, message: "Internal server error." },
  service_unavailable: { status: 503, message: "The service is temporarily unavailable." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * `token_revoked` says why, in its message and `error_description`: only
 * what the token's holder already knows (they signed out, their session
 * ended, their password changed).
 */
export const TOKEN_REVOKED_MESSAGES = {
  signed_out: "The access token has been revoked: the user signed out.",
  session_ended: "The access token has been revoked: its session has ended.",
  password_changed: "The access token has been revoked: the password was changed.",
  revoked: ERROR_CATALOGUE.token_revoked.message,
} as const;

export type TokenRevokedReason = keyof typeof TOKEN_REVOKED_MESSAGES;

export class AuthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, options?: { cause?: unknown; message?: string; status?: number }) {
    super(options?.message ?? ERROR_CATALOGUE[code].message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options?.status ?? ERROR_CATALOGUE[code].status;
  }
}

/** Field-level detail is safe to return: it names fields, never echoes values. */
export class InvalidRequestError extends AuthError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(issues: readonly { path: string; message: string }[] = [], cause?: unknown) {
    super("invalid_request", { cause });
    this.issues = issues;
  }
}

/** A token that fails verification; `reason` is for logs, never for clients. */
export class TokenError extends AuthError {
  readonly reason: string;
  constructor(
    code:
      "missing_token" | "invalid_token" | "token_expired" | "token_revoked" | "account_disabled",
    reason: string,
    options?: { cause?: unknown; message?: string },
  ) {
    super(code, options);
    this.reason = reason;
  }
}

/** A token whose version or session is no longer current; the message says why. */
export class TokenRevokedError extends TokenError {
  readonly why: TokenRevokedReason;
  constructor(why: TokenRevokedReason) {
    super("token_revoked", why, { message: TOKEN_REVOKED_MESSAGES[why] });
    this.why = why;
  }
}

/** 401 at login; 403 where a signed-in user re-enters a password (`POST /password`). */
export class InvalidCredentialsError extends AuthError {
  constructor(status: 401 | 403 = 401) {
    super("invalid_credentials", { status });
  }
}

/** 401 for its tokens and refresh tokens; 403 for a login with the right password. */
export class AccountDisabledError extends AuthError {
  constructor(status: 401 | 403 = 401) {
    super("account_disabled", { status });
  }
}

export class RefreshTokenError extends AuthError {
  readonly reason: string;
  constructor(code: "invalid_refresh_token" | "refresh_token_reused", reason: string) {
    super(code);
    this.reason = reason;
  }
}

export class EmailTakenError extends AuthError {
  constructor() {
    super("email_taken");
  }
}

export class TooManyRequestsError extends AuthError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super("too_many_requests");
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }
}

/** A dependency (Postgres, or Redis where it matters for correctness) failed. */
export class ServiceUnavailableError extends AuthError {
  constructor(cause?: unknown) {
    super("service_unavailable", { cause });
  }
}

/**
 * The store is reachable but not set up: its tables are missing or behind
 * the code (migrations not applied). Not a client error: it answers 503, and
 * is logged at error level with this message, which says what to do.
 */
export class StoreNotReadyError extends Error {}
