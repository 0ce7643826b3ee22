import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { classifyDatabaseError, describeDatabaseError } from "./db/errors";

// The closed list of machine codes, each with its default HTTP status.
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  SUBJECT_MISMATCH: 400,
  DUPLICATE_HIRING_STATUS: 400,
  NOT_AN_AI_COLUMN: 400,
  VALUE_TYPE_MISMATCH: 400,
  EMPTY_LEAD_SCOPE: 400,
  OUTPUT_TARGET_UNSUPPORTED: 400,
  INVALID_FILTER: 400,
  PROVIDER_NOT_CONFIGURED: 400,
  UNKNOWN_REFERENCE: 400,
  DEPENDENCY_CYCLE: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  BUDGET_EXCEEDED: 402,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  CURSOR_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DISPATCH_FAILED: 500,
  UNAVAILABLE: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export type ValidationIssue = { path: string; message: string };

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { status?: ContentfulStatusCode; extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    this.extra = options.extra ?? {};
    this.headers = options.headers ?? {};
  }

  static notFound(what: string): AppError {
    return new AppError("NOT_FOUND", `${what} not found`);
  }

  static validation(issues: ValidationIssue[], message?: string): AppError {
    const first = issues[0];
    const summary = message ?? (first ? (first.path ? `${first.path}: ${first.message}` : first.message) : "Invalid request");
    return new AppError("VALIDATION_ERROR", summary, { extra: { issues } });
  }

  static insufficientCredits(required: number, balance: number): AppError {
    return new AppError("INSUFFICIENT_CREDITS", `Insufficient credits: ${required} required, ${balance} available`, {
      extra: { required, balance },
    });
  }
}

export function errorBody(c: Context, code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
  return { error: message, code, requestId: c.get("requestId") as string, ...extra };
}

// The one place errors become responses. A database failure is answered as what it means for the
// caller (databaseAppError); anything else that is not an AppError is a bug: it is logged with its
// stack and answered as a bare INTERNAL, never leaking the stack or SQL to the caller.
export function handleError(err: Error, c: Context): Response {
  if (err instanceof AppError) {
    for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
    return c.json(errorBody(c, err.code, err.message, err.extra), err.status);
  }
  const logger = c.get("services")?.logger ?? console;
  const database = databaseAppError(err);
  if (database) {
    logger.warn("database error", { requestId: c.get("requestId"), answered: database.code, error: describeDatabaseError(err) });
    return handleError(database, c);
  }
  logger.error("unhandled error", { requestId: c.get("requestId"), error: err?.stack ?? String(err) });
  return c.json(errorBody(c, "INTERNAL", "Internal server error"), 500);
}

/**
 * A database failure as the caller should see it: unreachable or busy → 503 UNAVAILABLE with
 * Retry-After; a row the request refers to deleted meanwhile → 404. Null for anything else.
 */
export function databaseAppError(err: unknown): AppError | null {
  const failure = classifyDatabaseError(err);
  if (!failure) return null;
  if (failure.kind === "gone") return new AppError("NOT_FOUND", "A resource this request refers to no longer exists");
  return new AppError("UNAVAILABLE", "The database is temporarily unavailable; retry shortly", {
    headers: { "Retry-After": String(failure.retryAfterSeconds) },
    extra: { retryAfter: failure.retryAfterSeconds },
  });
}
