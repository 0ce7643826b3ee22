// What a failed database call means for the caller, decided in one place. drizzle wraps the
// driver's error (DrizzleQueryError with `.cause`), so the whole cause chain is read.

export type DatabaseFailure =
  /** The database cannot be reached or refuses work for now: worth retrying after `retryAfterSeconds`. */
  | { kind: "unavailable"; retryAfterSeconds: number; reason: string }
  /** A row the statement refers to was deleted meanwhile (foreign-key violation). */
  | { kind: "gone" };

// Socket-level failures (Node's codes) and postgres.js's own connection codes.
const SOCKET_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
};
const DRIVER_CODES: Record<string, string> = {
  CONNECT_TIMEOUT: "connection timed out",
  CONNECTION_CLOSED: "connection closed",
  CONNECTION_ENDED: "connection ended",
  CONNECTION_DESTROYED: "connection destroyed",
};
// SQLSTATEs outside class 08 (connection exception) that mean "not now".
const UNAVAILABLE_STATES: Record<string, string> = {
  "57P01": "the database server is shutting down",
  "57P02": "the database server is shutting down",
  "57P03": "the database server is starting up",
  "53300": "too many connections",
};
// Transaction conflicts: the statement can simply be retried.
const CONFLICT_STATES = new Set(["40P01", "40001"]);
const FOREIGN_KEY_VIOLATION = "23503";

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The errors of the chain, outermost first (a cycle ends it). */
type Link = { code?: unknown; message?: unknown; query?: unknown; params?: unknown };

function chainOf(error: unknown): Link[] {
  const chain: Link[] = [];
  let current: unknown = error;
  while (current && typeof current === "object" && !chain.includes(current as object)) {
    chain.push(current as Link);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/**
 * Null when the error is not a database failure this module knows (a bug, a violated check: the
 * caller treats it as internal). Socket codes count only on the error itself or under a drizzle
 * query error, so an outside HTTP call that failed (fetch's TypeError over a socket error) is not
 * mistaken for the database.
 */
export function classifyDatabaseError(error: unknown): DatabaseFailure | null {
  let underQuery = false;
  for (const [depth, link] of chainOf(error).entries()) {
    // drizzle's DrizzleQueryError (its `name` is plain "Error"): the failed statement and its parameters.
    if (typeof link.query === "string" && "params" in link) underQuery = true;
    const code = typeof link.code === "string" ? link.code : "";
    if (DRIVER_CODES[code]) return { kind: "unavailable", retryAfterSeconds: 5, reason: DRIVER_CODES[code] };
    if (SOCKET_CODES[code] && (depth === 0 || underQuery)) return { kind: "unavailable", retryAfterSeconds: 5, reason: SOCKET_CODES[code] };
    if (!SQLSTATE.test(code)) continue;
    // The server's own words say more than a phrase of ours.
    const said = messageOf(link);
    if (code.startsWith("08")) return { kind: "unavailable", retryAfterSeconds: 5, reason: said ?? "connection failure" };
    if (UNAVAILABLE_STATES[code]) return { kind: "unavailable", retryAfterSeconds: 5, reason: said ?? UNAVAILABLE_STATES[code] };
    if (CONFLICT_STATES.has(code)) return { kind: "unavailable", retryAfterSeconds: 1, reason: said ?? "conflicting concurrent transaction" };
    if (code === FOREIGN_KEY_VIOLATION) return { kind: "gone" };
  }
  return null;
}

/**
 * A database error in one short line, without SQL or parameters: the phrase for a connection failure
 * ("connection refused"), else the server's own message (wrong password, unknown database, the
 * violated constraint).
 */
export function describeDatabaseError(error: unknown): string {
  const failure = classifyDatabaseError(error);
  if (failure?.kind === "unavailable") return failure.reason;
  const chain = chainOf(error);
  // The driver's error is the innermost one; drizzle's wrapper message repeats the whole query.
  const innermost = chain[chain.length - 1];
  return (innermost && messageOf(innermost)) ?? "unknown error";
}

function messageOf(link: { message?: unknown }): string | null {
  return typeof link.message === "string" && link.message ? link.message.split("\n")[0]! : null;
}

/** A connection string fit to print: the password replaced. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}
