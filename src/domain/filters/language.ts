import { z } from "zod";
import { AppError, type ValidationIssue } from "../../errors";
import { LIMITS } from "../../limits";
import { unstorableStrings } from "../../validation";

/*
 * The filter language of filtered scopes (`scope.filter`, `GET /api/lists/{id}/rows?filter=`), built
 * to serve run conditions as well: one parser (here), one in-memory evaluator (evaluate.ts) and one
 * compiler to a parameterised SQL condition (sql.ts). The two evaluations agree on every row; each
 * rule below says how, and the property test in test/filters.test.ts holds them to it.
 *
 *   filter: { all?: [cond, ...], any?: [cond, ...] }      cond: { field, op, value? }
 *
 * Groups. `all` holds when every condition holds, `any` when at least one does; given both, both must
 * hold. An absent or empty group constrains nothing, so `{}` matches every row. Conditions do not
 * nest: an item of a group is always a condition. At most LIMITS.filterConditions (50) conditions in
 * both groups together; the filter's JSON text at most LIMITS.filterBytes (16,384) bytes.
 *
 * Fields. name, firstName, lastName, title, company, domain, location, industry, size, email,
 * linkedinUrl, and `attributes.<key>`: the one top-level attribute named by everything after
 * "attributes." (dots included: there are no paths into nested values; a key of 1 to 100 characters
 * without line breaks). Each target maps a field to what it holds (targets.ts); a field a target
 * does not have reads as empty.
 *
 * Values of fields. A field holds text, a JSON value (attributes), or nothing. Its *text*: a string
 * as it is; a JSON number in plain decimal notation, as PostgreSQL prints it (1e21 →
 * "1000000000000000000000", 1.5e-7 → "0.00000015"); a boolean as "true" or "false"; nothing for
 * null, an object or an array. (For numbers the two sides agree because every jsonb number is
 * written by JSON.stringify, with the shortest digits; see plainDecimal.)
 *
 * Empty. A field is empty when it holds nothing or JSON null, a string of only ASCII whitespace
 * (space, tab, line feed, carriage return; "" included), `[]` or `{}`. `is_empty` / `is_not_empty`
 * take no value.
 *
 * Text operators: `eq` (the whole text), `contains` (a substring: `%` and `_` are plain
 * characters), `starts_with` (a prefix): `value` is a string of 1 to LIMITS.filterText (500)
 * characters; `in`: `value` is an array of 1 to LIMITS.filterValues (100) such strings, and the text
 * equals one of them. A field without text matches none of these. `neq` and `not_contains` are the
 * exact negations of `eq` and `contains`, so they match a field without text (a row with no company
 * is "not Acme"). Text is compared as it is stored (no trimming).
 *
 * Case. Both sides are lowercased character by character with Unicode's simple lowercase mapping:
 * what PostgreSQL's lower() does under a UTF-8 locale (C.UTF-8, en_US.UTF-8, PGlite), and what
 * foldCase does here. So "Σ" is "σ" wherever it stands and "İ" is "i", unlike String#toLowerCase.
 * (A database whose LC_CTYPE is plain C lowercases ASCII only.)
 *
 * Numeric operators: `gt`, `gte`, `lt`, `lte` take a JSON number (a numeric string is refused). They
 * compare when the field's text is a plain decimal: optional ASCII whitespace around an optional
 * sign, 1 to 100 digits, optionally a point and 1 to 100 digits ("120", " -3.5 ", "007"). Anything
 * else ("51-200", "1e3", "1,000", "", nothing) does not match any of them. Both sides are compared
 * as IEEE doubles (correctly rounded on both sides). `eq` stays a text comparison: "120.0" is not
 * "120"; use gte and lte together for numeric equality.
 *
 * A bad filter is a 400 INVALID_FILTER carrying `issues: [{ path, message }]`, each path the dotted
 * path of the fault in the request (e.g. `filter.all.2.op`, `scope.filter.any.0.value`).
 */

export const TEXT_OPS = ["eq", "neq", "contains", "not_contains", "starts_with"] as const;
export const EMPTINESS_OPS = ["is_empty", "is_not_empty"] as const;
export const NUMERIC_OPS = ["gt", "gte", "lt", "lte"] as const;
export const FILTER_OPS = [...TEXT_OPS, "in", ...EMPTINESS_OPS, ...NUMERIC_OPS] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export const STANDARD_FIELDS = [
  "name",
  "firstName",
  "lastName",
  "title",
  "company",
  "domain",
  "location",
  "industry",
  "size",
  "email",
  "linkedinUrl",
] as const;
export type StandardField = (typeof STANDARD_FIELDS)[number];

export const ATTRIBUTE_PREFIX = "attributes.";

export type Condition =
  | { field: string; op: (typeof TEXT_OPS)[number]; value: string }
  | { field: string; op: "in"; value: string[] }
  | { field: string; op: (typeof EMPTINESS_OPS)[number] }
  | { field: string; op: (typeof NUMERIC_OPS)[number]; value: number };

/** A parsed filter: both groups present, possibly empty. */
export type Filter = { all: Condition[]; any: Condition[] };

/** The filter that matches everything. */
export const MATCH_ALL: Filter = { all: [], any: [] };

/**
 * The fields a filter may name: the standard ones here; run conditions add their own (column
 * references) by passing another vocabulary to filterSchema and parseFilter.
 */
export type FieldVocabulary = { pattern: RegExp; maxLength: number; describe: string };

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export const STANDARD_VOCABULARY: FieldVocabulary = {
  pattern: new RegExp(`^(?:${STANDARD_FIELDS.join("|")}|${escapeRegex(ATTRIBUTE_PREFIX)}.+)$`),
  maxLength: ATTRIBUTE_PREFIX.length + LIMITS.token,
  describe: `one of ${STANDARD_FIELDS.join(", ")}, or attributes.<key>`,
};

// ---------------------------------------------------------------------------------------------
// The semantics both evaluations share. The patterns are used as they are by JS and by PostgreSQL's
// regular expressions (as parameters), which read them the same way.

/** ASCII whitespace only, or nothing. */
export const BLANK_PATTERN = "^[ \t\n\r]*$";
/** A plain decimal number, as the numeric operators read a field's text. */
export const NUMBER_PATTERN = "^[ \t\n\r]*[+-]?[0-9]{1,100}([.][0-9]{1,100})?[ \t\n\r]*$";
export const WHITESPACE = " \t\n\r";

const BLANK = new RegExp(BLANK_PATTERN);
const NUMBER = new RegExp(NUMBER_PATTERN);
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Lowercases `text` with Unicode's simple lowercase mapping, one character at a time, as
 * PostgreSQL's lower() does. String#toLowerCase applies the full mapping instead, which differs for
 * "İ" (two characters) and for a final "Σ" (ς); the simple mapping of a character is the first
 * character of its full mapping.
 */
export function foldCase(text: string): string {
  if (ASCII.test(text)) return text.toLowerCase();
  let folded = "";
  for (const char of text) folded += String.fromCodePoint(char.toLowerCase().codePointAt(0)!);
  return folded;
}

/**
 * A number in plain decimal notation, as PostgreSQL prints a jsonb number JavaScript wrote: String()
 * gives the shortest digits that read back as the same number (which is what JSON.stringify sent),
 * with an exponent outside [1e-7, 1e21); PostgreSQL keeps those digits and prints them without one.
 */
export function plainDecimal(n: number): string {
  const text = String(n);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, head, tail = "", exponent] = match;
  const digits = head! + tail;
  const point = 1 + Number(exponent);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** The text of a field's value (see the rules above), or null when it has none. */
export function textOf(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number") return plainDecimal(value);
  if (typeof value === "boolean") return String(value);
  return null;
}

export function isEmptyValue(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === "string") return BLANK.test(value);
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}

/** The number a field's text reads as for the numeric operators, or null. */
export function numberOf(text: string | null): number | null {
  return text !== null && NUMBER.test(text) ? Number(text) : null;
}

// ---------------------------------------------------------------------------------------------
// The schema. It is the parser, and its JSON Schema (filterJsonSchema) is what the API documents.

const describeOps = (ops: readonly string[]) => ops.join(", ");

const textValue = (ops: string) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `is required for ${ops}` : `must be a string for ${ops}`) })
    .min(1, "must not be empty (is_empty tests for an empty field)")
    .max(LIMITS.filterText, `must be at most ${LIMITS.filterText} characters`);

function conditionSchema(vocabulary: FieldVocabulary) {
  const field = z
    .string({ error: (issue) => (issue.input === undefined ? `is required: ${vocabulary.describe}` : `must be a string: ${vocabulary.describe}`) })
    .max(vocabulary.maxLength, `must be at most ${vocabulary.maxLength} characters`)
    .regex(vocabulary.pattern, { error: (issue) => `unknown field ${JSON.stringify(issue.input)}: ${vocabulary.describe}` })
    .meta({ description: `The field to test: ${vocabulary.describe}.` });
  const shape = <Op extends z.ZodType, Value extends z.ZodType>(op: Op, value: Value) =>
    z.strictObject({ field, op, value }, { error: (issue) => (issue.code === "unrecognized_keys" ? "is not a key of a condition (field, op, value)" : undefined) });
  return z
    .discriminatedUnion(
      "op",
      [
        shape(z.enum(TEXT_OPS), textValue(describeOps(TEXT_OPS))),
        shape(
          z.literal("in"),
          z
            .array(textValue("in"), { error: (issue) => (issue.input === undefined ? "is required for in" : "must be an array of strings for in") })
            .min(1, "must hold at least one value")
            .max(LIMITS.filterValues, `must hold at most ${LIMITS.filterValues} values`),
        ),
        shape(z.enum(EMPTINESS_OPS), z.never({ error: "is not taken by is_empty and is_not_empty" }).optional()),
        shape(
          z.enum(NUMERIC_OPS),
          z.number({ error: (issue) => (issue.input === undefined ? `is required for ${describeOps(NUMERIC_OPS)}` : `must be a number for ${describeOps(NUMERIC_OPS)}`) }),
        ),
      ],
      { error: (issue) => conditionError(issue.input) },
    )
    .meta({ description: "One test of one field." });
}

function conditionError(input: unknown): string {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return "must be a condition: an object { field, op, value? }";
  if ("all" in input || "any" in input) return NOT_NESTED;
  const op = (input as { op?: unknown }).op;
  if (op === undefined) return `is required: one of ${FILTER_OPS.join(", ")}`;
  return `unknown op ${JSON.stringify(op)}: one of ${FILTER_OPS.join(", ")}`;
}

const NOT_NESTED = "conditions do not nest: each item of all and any is a condition { field, op, value? }";

function groupSchema(vocabulary: FieldVocabulary, name: "all" | "any") {
  const what = name === "all" ? "every one must hold" : "at least one must hold";
  return z
    .array(conditionSchema(vocabulary), { error: `must be an array of conditions` })
    .max(LIMITS.filterConditions, `must hold at most ${LIMITS.filterConditions} conditions`)
    .optional()
    .meta({ description: `Conditions of which ${what}; absent or empty, no constraint.` });
}

/** The filter schema over a vocabulary of fields. */
export function filterSchema(vocabulary: FieldVocabulary = STANDARD_VOCABULARY) {
  return z
    .strictObject(
      { all: groupSchema(vocabulary, "all"), any: groupSchema(vocabulary, "any") },
      {
        error: (issue) =>
          issue.code === "unrecognized_keys" ? "is not a key of a filter (all, any)" : issue.code === "invalid_type" ? "must be a filter: an object { all?, any? }" : undefined,
      },
    )
    .superRefine((filter, ctx) => {
      const count = (filter.all?.length ?? 0) + (filter.any?.length ?? 0);
      if (count > LIMITS.filterConditions) {
        ctx.addIssue({ code: "custom", message: `must hold at most ${LIMITS.filterConditions} conditions in all and any together (has ${count})` });
      }
    })
    .meta({
      description:
        "Rows match when every condition of `all` and at least one of `any` hold (an absent or empty group constrains nothing). Text is compared case-insensitively; `contains` treats % and _ literally; `neq` and `not_contains` match an empty field; gt/gte/lt/lte compare a field whose text is a plain decimal number with a JSON number, and never match other text. Empty: missing, null, blank text, [] or {}.",
    });
}

const standardSchema = filterSchema();

const utf8 = new TextEncoder();

export function invalidFilter(issues: ValidationIssue[]): AppError {
  const first = issues[0]!;
  return new AppError("INVALID_FILTER", `Invalid filter: ${first.path}: ${first.message}`, { extra: { issues } });
}

const joinPath = (base: string, segments: readonly PropertyKey[]) => [base, ...segments.map(String)].filter(Boolean).join(".");

/**
 * Parses a filter found at `path` of the request; anything but a valid filter throws INVALID_FILTER
 * with the path of each fault (`filter.all.2.op`).
 */
export function parseFilter(input: unknown, path: string, vocabulary: FieldVocabulary = STANDARD_VOCABULARY): Filter {
  if (input !== undefined && utf8.encode(JSON.stringify(input) ?? "").length > LIMITS.filterBytes) {
    throw invalidFilter([{ path, message: `must be at most ${LIMITS.filterBytes} bytes of JSON` }]);
  }
  const unstorable = unstorableStrings(input);
  if (unstorable.length > 0) throw invalidFilter(unstorable.map((issue) => ({ path: joinPath(path, issue.path ? issue.path.split(".") : []), message: issue.message })));
  const schema = vocabulary === STANDARD_VOCABULARY ? standardSchema : filterSchema(vocabulary);
  const result = schema.safeParse(input, { reportInput: true });
  if (!result.success) throw invalidFilter(result.error.issues.map((issue) => issueOf(issue, path)));
  return { all: (result.data.all ?? []) as Condition[], any: (result.data.any ?? []) as Condition[] };
}

function issueOf(issue: z.core.$ZodIssue, base: string): ValidationIssue {
  let segments: PropertyKey[] = issue.path;
  // A nested group is reported where it stands, not at the `op` it lacks; an unknown key at itself.
  if (issue.message === NOT_NESTED && segments.at(-1) === "op") segments = segments.slice(0, -1);
  if (issue.code === "unrecognized_keys") segments = [...segments, issue.keys[0]!];
  return { path: joinPath(base, segments), message: issue.message };
}

/**
 * The `filter` query parameter: the filter as JSON text, or no filter when absent. Text that is not
 * JSON is an INVALID_FILTER at `path`.
 */
export function parseFilterParam(text: string | undefined, path: string, vocabulary?: FieldVocabulary): Filter | null {
  if (text === undefined) return null;
  if (utf8.encode(text).length > LIMITS.filterBytes) throw invalidFilter([{ path, message: `must be at most ${LIMITS.filterBytes} bytes of JSON` }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidFilter([{ path, message: "must be JSON text: a filter object { all?, any? }" }]);
  }
  return parseFilter(parsed, path, vocabulary);
}

/** The filter's JSON Schema, as the OpenAPI document describes it. */
export function filterJsonSchema(vocabulary: FieldVocabulary = STANDARD_VOCABULARY): Record<string, unknown> {
  const parser = vocabulary === STANDARD_VOCABULARY ? standardSchema : filterSchema(vocabulary);
  const { $schema: _, ...schema } = z.toJSONSchema(parser, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return schema;
}

/** A filter as the documentation shows it. */
export const FILTER_EXAMPLE = {
  all: [
    { field: "title", op: "contains", value: "engineer" },
    { field: "email", op: "is_empty" },
  ],
  any: [
    { field: "location", op: "starts_with", value: "Berlin" },
    { field: "size", op: "gte", value: 200 },
  ],
};
