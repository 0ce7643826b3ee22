import fc from "fast-check";
import { expect } from "vitest";
import type { FieldReader } from "../../src/domain/filters/evaluate";
import { numberOf, plainDecimal, textOf, type Filter } from "../../src/domain/filters/language";
import { AppError } from "../../src/errors";
import { LIMITS } from "../../src/limits";

// Generators for the filter language's properties (test/filters.test.ts, test/run-conditions.test.ts):
// texts that stress case folding, LIKE and number parsing, and filters biased towards what the
// generated records hold.

// Mixed case, Unicode whose case mapping is context-dependent or multi-character in String#toLowerCase
// (Σ, İ), astral characters, LIKE's wildcards and escape, quotes, whitespace and digits.
export const CHARS = ["a", "A", "b", "B", "z", "Z", "é", "É", "ß", "ẞ", "σ", "Σ", "ς", "İ", "i", "I", "ı", "ǅ", "ж", "Ж", "中", "😀", "%", "_", "\\", "'", '"', " ", "\t", "\n", "-", ".", "+", ",", "@", "/", "0", "1", "2", "5", "9"];

export const word = (minLength = 0, maxLength = 5) => fc.array(fc.constantFrom(...CHARS), { minLength, maxLength }).map((chars) => chars.join(""));

/** Texts that are numbers, or look like them; `extra` adds fixed ones to the standard ones. */
export const numericText = (extra: readonly string[] = []) =>
  fc.oneof(
    fc.integer({ min: -1000, max: 1000 }).map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map(plainDecimal),
    fc.constantFrom("51-200", "1e3", "1,000", "007", " 42 ", "+5", "-0", "0.5", ".5", "5.", "120", "120.0", "\t7\n", ...extra, "1".repeat(101)),
  );

/** A field's text: null, blanks, a word or a numeric text. */
export const nullableText = (numeric: fc.Arbitrary<string> = numericText()) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom("", " ", "\t\n ") },
    { weight: 4, arbitrary: word() },
    { weight: 2, arbitrary: numeric },
  );

/** The texts each field holds in the generated records, so that filters often meet them. */
export function textsByField(fields: readonly string[], readers: FieldReader[]): Map<string, string[]> {
  return new Map(fields.map((field) => [field, [...new Set(readers.map((read) => textOf(read(field))).filter((t): t is string => t !== null && t !== ""))]]));
}

export type FilterArbOptions = {
  /** The fields conditions name. */
  fields: readonly string[];
  /** What the records hold, by field (see textsByField). */
  texts: Map<string, string[]>;
  /** Values unrelated to the records, for text operators. */
  fixedValues: readonly string[];
  /** Numbers for numeric operators beyond the standard ones. */
  extraNumbers?: readonly number[];
  /** The weight of `in` among the operators (text 5, emptiness 1, numeric 3). */
  inWeight?: number;
  /** Turns a generated input into the filter under test. */
  parse: (input: unknown) => Filter;
};

export function filterArbOver({ fields, texts, fixedValues, extraNumbers = [], inWeight = 1, parse }: FilterArbOptions): fc.Arbitrary<Filter> {
  // A field's own text as it is, recased, or a prefix of it; or an unrelated value.
  const valueFor = (field: string) => {
    const own = texts.get(field) ?? [];
    const variant = own.length
      ? [
          fc
            .tuple(fc.constantFrom(...own), fc.constantFrom("same", "upper", "lower", "prefix"))
            .map(([value, how]) => (how === "upper" ? value.toUpperCase() : how === "lower" ? value.toLowerCase() : how === "prefix" ? Array.from(value).slice(0, 2).join("") : value)),
        ]
      : [];
    return fc.oneof(word(1, 2), fc.constantFrom(...fixedValues), ...variant).filter((v) => v !== "" && Array.from(v).length <= LIMITS.filterText);
  };
  // A number the field's text holds, or one near such numbers.
  const numberFor = (field: string) => {
    const own = (texts.get(field) ?? []).map(numberOf).filter((n): n is number => n !== null);
    return fc.oneof(
      fc.integer({ min: -100, max: 1000 }),
      fc.constantFrom(0, -0, 3.5, 42, 120, 1e21, 1.5e-7, -1, 0.1, ...extraNumbers),
      ...(own.length ? [fc.constantFrom(...own)] : []),
    );
  };
  const conditionArb = fc.constantFrom(...fields).chain((field) =>
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ field: fc.constant(field), op: fc.constantFrom("eq", "neq", "contains", "not_contains", "starts_with"), value: valueFor(field) }) },
      { weight: inWeight, arbitrary: fc.record({ field: fc.constant(field), op: fc.constant("in"), value: fc.array(valueFor(field), { minLength: 1, maxLength: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ field: fc.constant(field), op: fc.constantFrom("is_empty", "is_not_empty") }) },
      { weight: 3, arbitrary: fc.record({ field: fc.constant(field), op: fc.constantFrom("gt", "gte", "lt", "lte"), value: numberFor(field) }) },
    ),
  );
  return fc.record({ all: fc.array(conditionArb, { maxLength: 3 }), any: fc.array(conditionArb, { maxLength: 3 }) }, { requiredKeys: [] }).map((input) => parse(input));
}

/** `parse` refuses its input with a 400 INVALID_FILTER whose first issue is at `path` (and reads like `message`). */
export function expectInvalidFilter(parse: () => unknown, path: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    parse();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(AppError);
  const error = thrown as AppError;
  expect(error.code).toBe("INVALID_FILTER");
  expect(error.status).toBe(400);
  const issues = error.extra.issues as { path: string; message: string }[];
  expect(issues[0]!.path).toBe(path);
  if (message) expect(issues[0]!.message).toMatch(message);
  expect(error.message).toBe(`Invalid filter: ${issues[0]!.path}: ${issues[0]!.message}`);
}

/** A person list row's filterable fields, each from `text`, and its attributes. */
export const personRowArb = <T>(text: fc.Arbitrary<string | null>, attributes: fc.Arbitrary<Record<string, unknown>>) =>
  fc.record({
    fullName: text,
    firstName: text,
    lastName: text,
    role: text,
    company: text,
    domain: text,
    location: text,
    email: text,
    linkedinUrl: text,
    attributes,
  }) as unknown as fc.Arbitrary<T>;
