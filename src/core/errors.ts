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

export class AuthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? ERROR_CATALOGUE[code].message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
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
    code: "missing_token" | "invalid_token" | "token_expired" | "token_revoked",
    reason: string,
    cause?: unknown,
  ) {
    super(code, { cause });
    this.reason = reason;
  }
}

export class InvalidCredentialsError extends AuthError {
  constructor() {
    super("invalid_credentials");
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
