import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import { z } from "zod";
import { AppError, type ValidationIssue } from "./errors";
import { UUID_PATTERN } from "./ids";
import { LIMITS } from "./limits";

export function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/**
 * zod validation for a request part; failures become the one VALIDATION_ERROR envelope. Every route
 * goes through here, so here is where a JSON body must be labelled JSON (415 otherwise: a body
 * read as `{}` would silently lose what the caller sent) and where a string PostgreSQL cannot store
 * (NUL, unpaired surrogates) is refused before any schema or handler sees it.
 */
export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  const validator = zValidator(
    target,
    schema,
    (result) => {
      if (!result.success) throw AppError.validation(issuesOf(result.error as unknown as z.ZodError));
    },
    {
      validationFunction: (schema, value) => {
        const issues = unstorableStrings(value);
        if (issues.length > 0) throw AppError.validation(issues);
        // What zValidator itself would call; its result type is conditional on the schema's zod version.
        return schema.safeParseAsync(value) as never;
      },
    },
  );
  if (target !== "json") return validator;
  const jsonOnly: typeof validator = async (c, next) => {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The request body must be JSON, sent with Content-Type: application/json");
    }
    return validator(c, next);
  };
  return jsonOnly;
}

// What Hono's JSON validator reads as JSON: application/json and application/<anything>+json.
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_REPORTED_ISSUES = 20;

/** What in `text` PostgreSQL cannot store, if anything. */
function unstorable(text: string): string | null {
  if (text.includes("\u0000")) return "a NUL character (U+0000)";
  if (UNPAIRED_SURROGATE.test(text)) return "an unpaired UTF-16 surrogate";
  return null;
}

/**
 * Every string of a parsed body or query, keys included, that PostgreSQL would refuse (text and
 * jsonb hold no NUL; UTF-8 has no lone surrogates), by path. Stops descending past LIMITS.bodyDepth,
 * which also keeps the schemas and the handlers from meeting pathologically deep input.
 */
export function unstorableStrings(value: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (issues.length >= MAX_REPORTED_ISSUES) return;
    if (typeof node === "string") {
      const problem = unstorable(node);
      if (problem) issues.push({ path: path.join("."), message: `must not contain ${problem}` });
      return;
    }
    if (node === null || typeof node !== "object") return;
    if (path.length >= LIMITS.bodyDepth) {
      issues.push({ path: path.join("."), message: `must not nest more than ${LIMITS.bodyDepth} levels deep` });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, index) => visit(item, [...path, String(index)]));
      return;
    }
    for (const [key, item] of Object.entries(node)) {
      const problem = unstorable(key);
      // The key itself cannot be shown in the path, so the issue names the object holding it.
      if (problem) issues.push({ path: path.join("."), message: `keys must not contain ${problem}` });
      else visit(item, [...path, key]);
    }
  };
  visit(value, []);
  return issues.slice(0, MAX_REPORTED_ISSUES);
}

export const uuid = () => z.string().regex(UUID_PATTERN, "Invalid UUID");

/** Limit query parameter: a 400 outside [min, max], never clamped. */
export const limitParam = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ message: `limit must be an integer from ${min} to ${max}` })
    .int(`limit must be an integer from ${min} to ${max}`)
    .min(min, `limit must be an integer from ${min} to ${max}`)
    .max(max, `limit must be an integer from ${min} to ${max}`)
    .default(fallback);

/** Parses an untrusted value against a schema outside the request validators. */
export function parseOrThrow<Schema extends z.ZodType>(schema: Schema, value: unknown, pathPrefix = ""): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw AppError.validation(
    issuesOf(result.error).map((issue) => ({ ...issue, path: [pathPrefix, issue.path].filter(Boolean).join(".") })),
  );
}

export const atMost = (max: number) => `must be at most ${max} characters`;

/** Text of at most `max` characters. */
export const text = (max: number) => z.string().max(max, atMost(max));

/** An integer that fits an int4 column, from `min`. */
export const int4 = (min: number) =>
  z
    .number()
    .int("must be an integer")
    .min(min, `must be an integer from ${min} to ${LIMITS.int}`)
    .max(LIMITS.int, `must be an integer from ${min} to ${LIMITS.int}`);

function depthOf(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

const utf8 = new TextEncoder();

/**
 * Free-form JSON stored as given (attributes, cell values, enrichment input): bounded in depth and
 * in size of its JSON text, so one field cannot fill a row or overflow a serializer.
 */
export const freeForm = <Schema extends z.ZodType>(schema: Schema) =>
  schema.superRefine((value, ctx) => {
    if (value === undefined) return;
    if (depthOf(value) > LIMITS.jsonDepth) {
      ctx.addIssue({ code: "custom", message: `must not nest more than ${LIMITS.jsonDepth} levels deep` });
    } else if (utf8.encode(JSON.stringify(value)).length > LIMITS.jsonBytes) {
      ctx.addIssue({ code: "custom", message: `must be at most ${LIMITS.jsonBytes} bytes of JSON` });
    }
  });
