import { z } from "zod";
import { splitName } from "../domain/normalize";
import type { ColumnSchema } from "../db/schema";
import { failedOutcome, ProviderRequestError, type HttpResponse } from "./http";
import type { ProviderMetadata, ProviderResult } from "./types";
import { valueMisfit } from "./value-schema";
import type { PersonData } from "./types";

// Small pieces every adapter needs alike: reading its settings, and saying an answer was malformed.

/** A setting left blank counts as not set (so its default applies). */
export const blankAsUnset = <T extends z.ZodType>(schema: T) =>
  z.preprocess((raw) => (typeof raw === "string" && raw.trim() === "" ? undefined : raw), schema);

/**
 * An adapter's settings from the environment; malformed values throw at start-up, naming each
 * variable and what it held, except `secrets`, which are never echoed.
 */
export function parseProviderEnv<Schema extends z.ZodType>(schema: Schema, env: Readonly<Record<string, unknown>>, secrets: readonly string[]): z.infer<Schema> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = issue.path.join(".");
    return `  ${name}: ${issue.message}${secrets.includes(name) ? "" : ` (got ${JSON.stringify(env[name])})`}`;
  });
  throw new Error(`Invalid environment:\n${lines.join("\n")}`);
}

/** An answer that does not follow the provider's wire format; never retried, asking again gets the same. */
export function malformed(detail: string): ProviderRequestError {
  return new ProviderRequestError(`malformed answer: ${detail}`, "malformed", false, 200);
}

/** zod issues as "path: message", the first few. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], limit = 3, root = "body"): string {
  return issues
    .slice(0, limit)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join(".") : root}: ${issue.message}`)
    .join("; ");
}

export function personName(row: PersonData): string | null {
  return row.fullName?.trim() || [row.firstName, row.lastName].filter(Boolean).join(" ").trim() || null;
}

/** A person's first and last name, from the row's own fields or else split from its full name. */
export function personNames(row: PersonData): { first: string | null; last: string | null } {
  const first = row.firstName?.trim() || null;
  const last = row.lastName?.trim() || null;
  if (first && last) return { first, last };
  const split = splitName(row.fullName);
  return { first: first ?? split.first, last: last ?? split.last };
}

/** The body as the wire format promises it, or a `malformed` failure (never retried: asking again gets the same). */
export function readBody<T>(response: HttpResponse, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch {
    throw malformed(`the body is not JSON: ${JSON.stringify(response.text.slice(0, 120))}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw malformed(describeIssues(parsed.error.issues));
  return parsed.data;
}

/** A value that does not fit the column's schema as the malformed answer it is (never kept); null when it fits. */
export function misfitFailure(schema: ColumnSchema | null, value: unknown, metadata: ProviderMetadata): ProviderResult | null {
  const misfit = valueMisfit(schema, value);
  return misfit ? failedOutcome(malformed(`the value does not fit the column's type ${schema?.type ?? "text"} (${misfit})`), metadata) : null;
}
