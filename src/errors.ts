import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

// The closed list of machine codes, each with its default HTTP status.
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  SUBJECT_MISMATCH: 400,
  DUPLICATE_HIRING_STATUS: 400,
  NOT_AN_AI_COLUMN: 400,
  VALUE_TYPE_MISMATCH: 400,
  EMPTY_LEAD_SCOPE: 400,
  OUTPUT_TARGET_UNSUPPORTED: 400,
  FILTERED_SCOPE_UNSUPPORTED: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DISPATCH_FAILED: 500,
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

// The one place errors become responses. Anything that is not an AppError is a bug: it is logged
// with its stack and answered as a bare INTERNAL, never leaking the stack or SQL to the caller.
export function handleError(err: Error, c: Context): Response {
  if (err instanceof AppError) {
    for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
    return c.json(errorBody(c, err.code, err.message, err.extra), err.status);
  }
  const logger = c.get("services")?.logger ?? console;
  logger.error("unhandled error", { requestId: c.get("requestId"), error: err?.stack ?? String(err) });
  return c.json(errorBody(c, "INTERNAL", "Internal server error"), 500);
}
