import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import { z } from "zod";
import { AppError, type ValidationIssue } from "./errors";
import { UUID_PATTERN } from "./ids";

export function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/** zod validation for a request part; failures become the one VALIDATION_ERROR envelope. */
export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw AppError.validation(issuesOf(result.error as unknown as z.ZodError));
  });
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
