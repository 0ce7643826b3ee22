import { describeDatabaseError } from "./db/errors";

// How the command-line entries (`npm start`, `npm run admin`) report a failure: one line on stderr,
// no stack trace, a non-zero exit.

const INVALID_ENVIRONMENT = "Invalid environment:";

/**
 * An error as one line. Settings errors ("Invalid environment:" followed by one `  NAME: message`
 * line per issue, the format every settings parser of the project throws) become
 * `Invalid setting NAME: message; OTHER: message`; a failed statement is the database's own words
 * (never the SQL); anything else is its message's first line.
 */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith(INVALID_ENVIRONMENT)) {
    const issues = message
      .slice(INVALID_ENVIRONMENT.length)
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean);
    return `Invalid setting${issues.length > 1 ? "s" : ""} ${issues.join("; ")}`;
  }
  if (message.startsWith("Failed query:")) return `Database error: ${describeDatabaseError(error)}`;
  const first = message.split("\n").find((line) => line.trim()) ?? "";
  return first.trim() || (error instanceof Error ? error.name : "Unknown error");
}

export function failAndExit(line: string, exitCode = 1): never {
  console.error(line);
  process.exit(exitCode);
}

export const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
