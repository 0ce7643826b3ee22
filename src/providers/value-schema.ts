import type { ColumnSchema } from "../db/schema";
import type { ValueSchemaOf } from "./ai";

// A column's schema seen from both sides of a model call: the JSON Schema a structured answer is
// asked to follow (the strict subset OpenAI-style structured output accepts), and the check a value
// must pass before it is stored. The check is the database's cell_value_fits
// (drizzle/0002_cell_value_fits.sql) in JavaScript, rule for rule, so an answer that passes here is
// never refused by the database, and one that does not is a malformed answer instead of a stored misfit.

const URL_PATTERN = /^(https?:\/\/)?[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]{1,5})?([/?#][^\s]*)?$/i;
const EMAIL_PATTERN = /^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/i;
const PHONE_PATTERN = /^\+?[0-9 ().-]{5,32}$/;
const PHONE_DIGITS = /[0-9]{2}/;
const DATE_PATTERN = /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$/;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** `->>` of a jsonb object: absent and JSON null read as null; strings as themselves; anything else as its JSON text. */
function textField(schema: Json, key: string): string | null {
  const raw = schema[key];
  if (raw === undefined || raw === null) return null;
  return typeof raw === "string" ? raw : JSON.stringify(raw);
}

/** The schema's non-empty `options` array, or null (no restriction), as the database reads it. */
function optionsOf(schema: Json): unknown[] | null {
  return Array.isArray(schema.options) && schema.options.length > 0 ? schema.options : null;
}

/** `maxItems` when it is a JSON number, rounded as Postgres rounds numeric into int (half away from zero). */
function maxItemsOf(schema: Json): number | null {
  const raw = schema.maxItems;
  return typeof raw === "number" ? Math.sign(raw) * Math.round(Math.abs(raw)) : null;
}

const matches = (pattern: RegExp, value: unknown) => typeof value === "string" && pattern.test(value);

// Option lists hold JSON scalars; containment in jsonb compares them by value.
const optionIncludes = (options: readonly unknown[], value: unknown) => options.some((option) => option === value);

/**
 * Why `value` does not fit the column schema, or null when it fits. NULL fits every type (it is an
 * empty cell) and a column without a schema, or with a type the database does not know, takes anything.
 */
export function valueMisfit(schema: ColumnSchema | Json | null | undefined, value: unknown): string | null {
  if (value === null || value === undefined || !isObject(schema)) return null;
  const kind = textField(schema, "type");
  switch (kind) {
    case "text":
      return typeof value === "string" ? null : "expected text";
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? null : "expected a number";
    case "boolean":
      return typeof value === "boolean" ? null : "expected true or false";
    case "url":
      return matches(URL_PATTERN, value) ? null : "expected a URL";
    case "email":
      return matches(EMAIL_PATTERN, value) ? null : "expected an email address";
    case "phone":
      return matches(PHONE_PATTERN, value) && PHONE_DIGITS.test(value as string) ? null : "expected a phone number";
    case "date":
      return matches(DATE_PATTERN, value) ? null : "expected a date (YYYY-MM-DD)";
    case "enum": {
      const options = optionsOf(schema);
      if (typeof value !== "string") return "expected one of the options";
      return options === null || optionIncludes(options, value) ? null : `expected one of: ${options.join(", ")}`;
    }
    case "multiselect": {
      if (!Array.isArray(value)) return "expected a list of options";
      if (value.some((item) => typeof item !== "string")) return "expected every option to be text";
      const options = optionsOf(schema);
      const unknown = options === null ? undefined : value.find((item) => !optionIncludes(options, item));
      if (unknown !== undefined) return `"${unknown}" is not one of: ${options!.join(", ")}`;
      return tooMany(schema, value);
    }
    case "list": {
      if (!Array.isArray(value)) return "expected a list";
      const tooLong = tooMany(schema, value);
      if (tooLong) return tooLong;
      const itemType = textField(schema, "itemType");
      if (itemType === null || itemType === "list" || itemType === "multiselect") return null;
      for (const [index, item] of value.entries()) {
        const misfit = item === null ? "expected a value, got null" : valueMisfit({ type: itemType }, item);
        if (misfit) return `item ${index + 1}: ${misfit}`;
      }
      return null;
    }
    default:
      return null;
  }
}

function tooMany(schema: Json, value: readonly unknown[]): string | null {
  const maxItems = maxItemsOf(schema);
  return maxItems === null || value.length <= maxItems ? null : `expected at most ${maxItems} items, got ${value.length}`;
}

export function valueFits(schema: ColumnSchema | Json | null | undefined, value: unknown): boolean {
  return valueMisfit(schema, value) === null;
}

// ---- the JSON Schema a structured answer's value follows ----

const LIST_ITEM_TYPES = new Set(["text", "number", "boolean", "url", "email", "phone", "date", "enum"]);

function stringOptions(schema: Json): string[] {
  return (optionsOf(schema) ?? []).filter((option): option is string => typeof option === "string");
}

function withMaxItems(arraySchema: Json, schema: Json): Json {
  const maxItems = maxItemsOf(schema);
  return maxItems !== null && maxItems >= 0 ? { ...arraySchema, maxItems } : arraySchema;
}

function numberDescription(schema: Json): string {
  const parts = ["A plain number, no units or separators"];
  const currency = textField(schema, "currency");
  const format = textField(schema, "format");
  const scale = textField(schema, "scale");
  if (format === "percent") parts.push("a percentage, e.g. 12.5 for 12.5 %");
  if (currency) parts.push(`an amount in ${currency}`);
  else if (format === "currency") parts.push("an amount of money");
  if (scale) parts.push(`expressed in ${scale}`);
  return `${parts.join("; ")}.`;
}

/** The JSON Schema of one value of the given column schema (never null: the caller adds nullability). */
function jsonSchemaOf(schema: Json | null): Json {
  const kind = schema ? textField(schema, "type") : null;
  switch (kind) {
    case "number":
      return { type: "number", description: numberDescription(schema!) };
    case "boolean":
      return { type: "boolean" };
    case "url":
      return {
        type: "string",
        description: textField(schema!, "linkType") === "linkedin" ? "The absolute https URL of the LinkedIn page." : "An absolute URL, starting with https://.",
      };
    case "email":
      return { type: "string", format: "email", description: "One email address." };
    case "phone":
      return { type: "string", pattern: PHONE_PATTERN.source, description: "One phone number in international format, e.g. +1 415 555 0100." };
    case "date":
      return { type: "string", format: "date", description: "A calendar date, YYYY-MM-DD." };
    case "enum": {
      const options = stringOptions(schema!);
      return options.length > 0 ? { type: "string", enum: options } : { type: "string", description: "One short label." };
    }
    case "multiselect": {
      const options = stringOptions(schema!);
      const items = options.length > 0 ? { type: "string", enum: options } : { type: "string" };
      return withMaxItems({ type: "array", items, description: "Every option that applies." }, schema!);
    }
    case "list": {
      const itemType = textField(schema!, "itemType");
      const items = jsonSchemaOf(itemType && LIST_ITEM_TYPES.has(itemType) ? { type: itemType } : { type: "text" });
      return withMaxItems({ type: "array", items }, schema!);
    }
    default:
      return {
        type: "string",
        description: schema && textField(schema, "textFormat") === "long" ? "A few sentences." : "A short answer, at most one sentence.",
      };
  }
}

/** The JSON Schema of a cell value of the given column schema, for structured output. */
export const valueSchemaOf: ValueSchemaOf = (schema) => jsonSchemaOf(isObject(schema) ? schema : null);
