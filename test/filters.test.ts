import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, asc, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import fc from "fast-check";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { rowsOf, type Db } from "../src/db/client";
import { openDatabase } from "../src/db/open";
import * as schema from "../src/db/schema";
import { creditLedger, enrichmentRunItems, enrichmentRuns, leads, lists, personRows, workspaces } from "../src/db/schema";
import { createAccount } from "../src/domain/accounts";
import { evaluateFilter, type FieldReader } from "../src/domain/filters/evaluate";
import { FILTER_OPS, foldCase, parseFilter, parseFilterParam, STANDARD_FIELDS, type Filter } from "../src/domain/filters/language";
import { compileFilter } from "../src/domain/filters/sql";
import { leadFieldTable, leadReader, rowFieldTable, rowReader } from "../src/domain/filters/targets";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { personRowPage } from "../src/domain/row-page";
import { LIMITS } from "../src/limits";
import { CHARS, expectInvalidFilter, filterArbOver, nullableText, personRowArb, textsByField, word } from "./helpers/filter-arbitraries";
import { REQUEST_ID, useHarness, type Client } from "./helpers/harness";

// The filter language (src/domain/filters): the SQL it compiles to selects exactly the rows the
// in-memory evaluator accepts, over list rows and over leads, on both database drivers; every
// documented rule; INVALID_FILTER paths; and its two users, GET /api/lists/{id}/rows?filter= and
// filtered_list enrichment scopes.

const h = useHarness({ max: 8 });

type Driver = { name: string; db: () => Db };

/** An embedded PGlite database, migrated, as `npm start` uses without DATABASE_URL. */
function usePglite(): () => Db {
  let db: Db | undefined;
  let close = async () => {};
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "filters-"));
    const opened = await openDatabase({ DATA_DIR: dataDir, DATABASE_POOL_MAX: 1 });
    db = opened.db;
    close = async () => {
      await opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    };
  });
  afterAll(() => close());
  return () => db!;
}

const pglite = usePglite();
const DRIVERS: Driver[] = [
  { name: "postgres.js", db: () => h.db },
  { name: "PGlite", db: pglite },
];

const parsed = (input: unknown): Filter => parseFilter(input, "filter");

// ---------------------------------------------------------------------------------------------
// Writing targets straight to their tables

type RowInput = Partial<Pick<typeof personRows.$inferInsert, "fullName" | "firstName" | "lastName" | "role" | "company" | "domain" | "location" | "email" | "linkedinUrl">> & {
  attributes?: Record<string, unknown>;
};
type LeadInput = Partial<
  Pick<
    typeof leads.$inferInsert,
    "fullName" | "firstName" | "lastName" | "title" | "companyName" | "companyDomain" | "domain" | "industry" | "size" | "emailKey" | "linkedinKey"
  >
> & { type: "person" | "company"; location?: Record<string, unknown>; attributes?: Record<string, unknown> };

async function newWorkspace(db: Db): Promise<string> {
  return (await createAccount(db, { email: `user-${crypto.randomUUID()}@example.test`, fullName: "Filter User", credits: 0 })).workspaceId;
}

/** A list of the workspace holding these rows (all of one lead), in order. */
async function insertRows(db: Db, workspaceId: string, rows: RowInput[]) {
  const [list] = await db.insert(lists).values({ workspaceId, name: "Filters" }).returning();
  const [lead] = await db.insert(leads).values({ workspaceId, type: "person", fullName: "Row owner" }).returning();
  const inserted = await db
    .insert(personRows)
    .values(rows.map((row) => ({ ...row, attributes: row.attributes ?? {}, listId: list!.id, workspaceId, leadId: lead!.id })))
    .returning();
  return { listId: list!.id, rows: inserted };
}

async function insertLeads(db: Db, workspaceId: string, input: LeadInput[]) {
  return db
    .insert(leads)
    .values(input.map((lead) => ({ ...lead, location: lead.location ?? {}, attributes: lead.attributes ?? {}, workspaceId })))
    .returning();
}

/** The ids SQL selects, and those the evaluator accepts over the rows as read back. */
async function rowMatches(db: Db, listId: string, filter: Filter) {
  const selected = await db
    .select({ id: personRows.id })
    .from(personRows)
    .where(and(eq(personRows.listId, listId), compileFilter(filter, rowFieldTable("list_rows"))))
    .orderBy(asc(personRows.position));
  const all = await db.select().from(personRows).where(eq(personRows.listId, listId)).orderBy(asc(personRows.position));
  return { sql: selected.map((r) => r.id), js: all.filter((row) => evaluateFilter(filter, rowReader(row))).map((r) => r.id) };
}

async function leadMatches(db: Db, workspaceId: string, ids: string[], filter: Filter) {
  const selected = rowsOf<{ id: string }>(
    await db.execute(sql`select l.id from leads l where l.workspace_id = ${workspaceId} and ${compileFilter(filter, leadFieldTable("l"))} order by l.id`),
  );
  const all = await db.select().from(leads).where(eq(leads.workspaceId, workspaceId)).orderBy(asc(leads.id));
  const wanted = new Set(ids);
  return {
    sql: selected.map((r) => r.id).filter((id) => wanted.has(id)),
    js: all.filter((lead) => wanted.has(lead.id) && evaluateFilter(filter, leadReader(lead))).map((l) => l.id),
  };
}

// ---------------------------------------------------------------------------------------------
// Generators

const text = nullableText();
const json: fc.Arbitrary<unknown> = fc.oneof(
  text,
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e21, 1.5e-7, 5e-324, -0, 1e300, 123.456, 0.1, -42),
  fc.boolean(),
  fc.constantFrom([], {}, [1, "a"], { a: 1 }, { nested: { deep: ["x"] } }),
  fc.array(word(), { maxLength: 2 }),
  fc.dictionary(word(1, 2), word(), { maxKeys: 2, noNullPrototype: true }),
);
const ATTRIBUTE_KEYS = ["score", "tier", "a.b", "flag", "nested"];
const attributes = fc.dictionary(fc.constantFrom(...ATTRIBUTE_KEYS), json, { maxKeys: 4, noNullPrototype: true });

const rowArb = personRowArb<RowInput>(text, attributes);

const locationArb = fc.dictionary(fc.constantFrom("raw", "city", "state", "country"), fc.oneof(word(), fc.constant(null), fc.integer({ min: 0, max: 9 })), { maxKeys: 4, noNullPrototype: true });

const leadArb: fc.Arbitrary<LeadInput> = fc.record({
  type: fc.constantFrom("person" as const, "company" as const),
  fullName: text,
  firstName: text,
  lastName: text,
  title: text,
  companyName: text,
  companyDomain: text,
  domain: text,
  industry: text,
  size: text,
  emailKey: text,
  linkedinKey: text,
  location: locationArb,
  attributes,
});

const FIELDS = [...STANDARD_FIELDS, ...ATTRIBUTE_KEYS.map((key) => `attributes.${key}`), "attributes.missing"];
const FIXED_VALUES = ["a", "A", "É", "é", "%", "_", "1", "σ", "Σ", "İ", "i", "120", "true", "0.1", "1000000000000000000000"];

/** Records, and filters over them: each generated filter, then each of its conditions alone. */
const withFilters = <T,>(records: fc.Arbitrary<T[]>, reader: (record: T) => FieldReader) =>
  records.chain((rows) =>
    fc.tuple(
      fc.constant(rows),
      fc
        .array(filterArbOver({ fields: FIELDS, texts: textsByField(FIELDS, rows.map(reader)), fixedValues: FIXED_VALUES, parse: parsed }), { minLength: 1, maxLength: 8 })
        .map((filters) => [...filters, ...filters.flatMap((f) => [...f.all, ...f.any].map((condition): Filter => ({ all: [condition], any: [] })))]),
    ),
  );

// ---------------------------------------------------------------------------------------------

const KINDS: Record<string, string> = { in: "in", is_empty: "emptiness", is_not_empty: "emptiness", gt: "numeric", gte: "numeric", lt: "numeric", lte: "numeric" };
const kindOf = (op: string) => KINDS[op] ?? "text";

/**
 * Which kinds of operator (text, in, emptiness, numeric), alone in a filter, told rows apart
 * (selected some but not all), so a property that passes because every filter selects nothing or
 * everything is caught. (The unit cases below take every operator both ways.)
 */
function discriminating(): { see: (filter: Filter, selected: number, total: number) => void; kinds: () => string[] } {
  const seen = new Set<string>();
  return {
    see: (filter, selected, total) => {
      if (selected === 0 || selected === total || filter.all.length + filter.any.length !== 1) return;
      seen.add(kindOf([...filter.all, ...filter.any][0]!.op));
    },
    kinds: () => [...seen].sort(),
  };
}

describe.each(DRIVERS)("SQL and the evaluator agree over $name", ({ db }) => {
  it("lowercases every character the generators use the same way", async () => {
    const folded = rowsOf<{ c: string; lowered: string }>(
      await db().execute(sql`select c, lower(c) as lowered from jsonb_array_elements_text(${JSON.stringify(CHARS)}::jsonb) as chars(c)`),
    );
    expect(folded.map((r) => [r.c, r.lowered])).toEqual(CHARS.map((c) => [c, foldCase(c)]));
    expect(foldCase("ΟΔΥΣΣΕΥΣ İSTANBUL")).toBe("οδυσσευσ istanbul");
  });

  it("on generated list rows and filters", async () => {
    const workspaceId = await newWorkspace(db());
    const coverage = discriminating();
    await fc.assert(
      fc.asyncProperty(withFilters(fc.array(rowArb, { minLength: 1, maxLength: 20 }), (row) => rowReader(row as Parameters<typeof rowReader>[0])), async ([rows, filters]) => {
        const { listId } = await insertRows(db(), workspaceId, rows);
        for (const filter of filters) {
          const { sql: selected, js } = await rowMatches(db(), listId, filter);
          expect(selected, JSON.stringify(filter)).toEqual(js);
          coverage.see(filter, selected.length, rows.length);
        }
      }),
      { numRuns: 50 },
    );
    expect(coverage.kinds()).toEqual(["emptiness", "in", "numeric", "text"]);
  });

  it("on generated leads and filters", async () => {
    const workspaceId = await newWorkspace(db());
    const coverage = discriminating();
    await fc.assert(
      fc.asyncProperty(withFilters(fc.array(leadArb, { minLength: 1, maxLength: 20 }), (lead) => leadReader(lead as Parameters<typeof leadReader>[0])), async ([input, filters]) => {
        // The lead's email and LinkedIn keys are unique in a workspace.
        const unique = input.map((lead, i) => ({
          ...lead,
          emailKey: lead.emailKey == null ? null : `${lead.emailKey}${crypto.randomUUID()}`,
          linkedinKey: lead.linkedinKey == null ? null : `${lead.linkedinKey}${crypto.randomUUID()}${i}`,
        }));
        const ids = (await insertLeads(db(), workspaceId, unique)).map((lead) => lead.id);
        for (const filter of filters) {
          const { sql: selected, js } = await leadMatches(db(), workspaceId, ids, filter);
          expect(selected, JSON.stringify(filter)).toEqual(js);
          coverage.see(filter, selected.length, ids.length);
        }
      }),
      { numRuns: 50 },
    );
    expect(coverage.kinds()).toEqual(["emptiness", "in", "numeric", "text"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Every operator and every documented decision, on one row each, both ways, both drivers

type Case = [label: string, row: RowInput, filter: unknown, expected: boolean];

const cond = (field: string, op: string, value?: unknown) => ({ all: [value === undefined ? { field, op } : { field, op, value }] });

const CASES: Case[] = [
  ["eq ignores case", { company: "Acme" }, cond("company", "eq", "ACME"), true],
  ["eq ignores case beyond ASCII", { fullName: "ÉLODIE" }, cond("name", "eq", "élodie"), true],
  ["eq folds a final sigma as any sigma", { fullName: "ΟΔΥΣΣΕΥΣ" }, cond("name", "eq", "οδυσσευσ"), true],
  ["eq folds İ to i", { location: "İstanbul" }, cond("location", "eq", "istanbul"), true],
  ["eq compares the whole text", { company: "Acme Corp" }, cond("company", "eq", "acme"), false],
  ["eq does not trim", { company: " Acme" }, cond("company", "eq", "acme"), false],
  ["eq never matches an empty field", { company: null }, cond("company", "eq", "acme"), false],
  ["neq of a different text", { company: "Beta" }, cond("company", "neq", "acme"), true],
  ["neq of the same text", { company: "acme" }, cond("company", "neq", "ACME"), false],
  ["neq matches an empty field", { company: null }, cond("company", "neq", "acme"), true],
  ["contains a substring", { role: "Senior Engineer" }, cond("title", "contains", "ENGINE"), true],
  ["contains treats % literally", { company: "100% Pure" }, cond("company", "contains", "%"), true],
  ["contains: % is not a wildcard", { company: "Acme" }, cond("company", "contains", "a%e"), false],
  ["contains treats _ literally", { company: "a_b" }, cond("company", "contains", "_"), true],
  ["contains: _ is not a wildcard", { company: "ab" }, cond("company", "contains", "_"), false],
  ["contains: backslash is plain", { company: "a\\b" }, cond("company", "contains", "\\"), true],
  ["contains never matches an empty field", { company: null }, cond("company", "contains", "a"), false],
  ["not_contains", { company: "Acme" }, cond("company", "not_contains", "beta"), true],
  ["not_contains of a substring", { company: "Acme" }, cond("company", "not_contains", "CM"), false],
  ["not_contains matches an empty field", { company: null }, cond("company", "not_contains", "a"), true],
  ["starts_with a prefix", { company: "Acme Corp" }, cond("company", "starts_with", "acme"), true],
  ["starts_with: not a prefix", { company: "The Acme" }, cond("company", "starts_with", "acme"), false],
  ["starts_with: % is plain", { company: "Acme" }, cond("company", "starts_with", "%"), false],
  ["in: one of the values", { role: "CTO" }, cond("title", "in", ["ceo", "cto"]), true],
  ["in: none of the values", { role: "CFO" }, cond("title", "in", ["ceo", "cto"]), false],
  ["in never matches an empty field", { role: null }, cond("title", "in", ["ceo"]), false],
  ["is_empty: null", { email: null }, cond("email", "is_empty"), true],
  ["is_empty: empty text", { email: "" }, cond("email", "is_empty"), true],
  ["is_empty: ASCII whitespace only", { email: " \t\n\r" }, cond("email", "is_empty"), true],
  ["is_empty: text", { email: "a@b.c" }, cond("email", "is_empty"), false],
  ["is_empty: a missing attribute", { attributes: {} }, cond("attributes.score", "is_empty"), true],
  ["is_empty: a JSON null attribute", { attributes: { score: null } }, cond("attributes.score", "is_empty"), true],
  ["is_empty: []", { attributes: { score: [] } }, cond("attributes.score", "is_empty"), true],
  ["is_empty: {}", { attributes: { score: {} } }, cond("attributes.score", "is_empty"), true],
  ["is_empty: 0 is a value", { attributes: { score: 0 } }, cond("attributes.score", "is_empty"), false],
  ["is_empty: false is a value", { attributes: { score: false } }, cond("attributes.score", "is_empty"), false],
  ["is_empty: a blank attribute string", { attributes: { score: "  " } }, cond("attributes.score", "is_empty"), true],
  ["is_not_empty: a nested object", { attributes: { score: { a: 1 } } }, cond("attributes.score", "is_not_empty"), true],
  ["is_not_empty: null", { email: null }, cond("email", "is_not_empty"), false],
  ["rows have no industry: empty", { company: "Acme" }, cond("industry", "is_empty"), true],
  ["rows have no size: eq never matches", {}, cond("size", "eq", "10"), false],
  ["rows have no size: neq always matches", {}, cond("size", "neq", "10"), true],
  ["gt on a numeric text", { attributes: { size: "120" } }, cond("attributes.size", "gt", 100), true],
  ["gt on a range is not numeric", { attributes: { size: "51-200" } }, cond("attributes.size", "gt", 10), false],
  ["lt on a range is not numeric either", { attributes: { size: "51-200" } }, cond("attributes.size", "lt", 1000), false],
  ["gte with surrounding whitespace", { attributes: { size: " 42 " } }, cond("attributes.size", "gte", 42), true],
  ["lte with a sign and decimals", { attributes: { size: "-3.5" } }, cond("attributes.size", "lte", -3.5), true],
  ["gt: leading zeros", { attributes: { size: "007" } }, cond("attributes.size", "gt", 6), true],
  ["gt: exponents are not plain decimals", { attributes: { size: "1e3" } }, cond("attributes.size", "gt", 1), false],
  ["gt: thousands separators are not", { attributes: { size: "1,000" } }, cond("attributes.size", "gt", 1), false],
  ["gt: more than 100 digits is not a number", { attributes: { size: "1".repeat(101) } }, cond("attributes.size", "gt", 1), false],
  ["lt never matches an empty field", { attributes: {} }, cond("attributes.size", "lt", 1e9), false],
  ["gt on a JSON number", { attributes: { score: 7 } }, cond("attributes.score", "gt", 5), true],
  ["gte on a large JSON number", { attributes: { score: 1e21 } }, cond("attributes.score", "gte", 1e21), true],
  ["lt on a tiny JSON number", { attributes: { score: 1.5e-7 } }, cond("attributes.score", "lt", 1e-6), true],
  ["gt on a boolean is not numeric", { attributes: { score: true } }, cond("attributes.score", "gt", 0), false],
  ["gt on an object is not numeric", { attributes: { score: { a: 1 } } }, cond("attributes.score", "gt", 0), false],
  ["a JSON number's text is its plain decimal", { attributes: { score: 1e21 } }, cond("attributes.score", "eq", "1000000000000000000000"), true],
  ["a tiny JSON number's text is its plain decimal", { attributes: { score: 1.5e-7 } }, cond("attributes.score", "eq", "0.00000015"), true],
  ["eq stays textual: 120.0 is not 120", { attributes: { size: "120.0" } }, cond("attributes.size", "eq", "120"), false],
  ["a boolean's text", { attributes: { flag: true } }, cond("attributes.flag", "eq", "TRUE"), true],
  ["an object has no text: eq", { attributes: { tier: { name: "gold" } } }, cond("attributes.tier", "contains", "gold"), false],
  ["an object has no text: neq", { attributes: { tier: { name: "gold" } } }, cond("attributes.tier", "neq", "gold"), true],
  ["an array has no text", { attributes: { tier: ["gold"] } }, cond("attributes.tier", "in", ["gold"]), false],
  ["an attribute key may hold dots", { attributes: { "a.b": "x", a: { b: "y" } } }, cond("attributes.a.b", "eq", "x"), true],
  ["{} matches everything", {}, {}, true],
  ["empty groups match everything", {}, { all: [], any: [] }, true],
  ["all: every condition", { company: "Acme", role: "CTO" }, { all: [{ field: "company", op: "eq", value: "acme" }, { field: "title", op: "eq", value: "cfo" }] }, false],
  ["any: one condition", { company: "Acme", role: "CTO" }, { any: [{ field: "company", op: "eq", value: "beta" }, { field: "title", op: "eq", value: "cto" }] }, true],
  ["any: no condition", { company: "Acme" }, { any: [{ field: "company", op: "eq", value: "beta" }, { field: "title", op: "is_not_empty" }] }, false],
  [
    "all and any: both must hold",
    { company: "Acme", role: "CTO" },
    { all: [{ field: "company", op: "eq", value: "acme" }], any: [{ field: "title", op: "eq", value: "ceo" }] },
    false,
  ],
  ["an empty any beside all constrains nothing", { company: "Acme" }, { all: [{ field: "company", op: "eq", value: "acme" }], any: [] }, true],
  ["name is the row's full name", { fullName: "Ada Lovelace", firstName: "Ada" }, cond("name", "starts_with", "ada l"), true],
  ["linkedinUrl is the row's URL", { linkedinUrl: "https://www.linkedin.com/in/ada" }, cond("linkedinUrl", "starts_with", "HTTPS://www.linkedin"), true],
];

describe.each(DRIVERS)("every rule, on list rows, over $name", ({ db }) => {
  let workspaceId: string;
  let listId: string;
  let ids: string[];
  beforeAll(async () => {
    workspaceId = await newWorkspace(db());
    const inserted = await insertRows(db(), workspaceId, CASES.map(([, row]) => row));
    listId = inserted.listId;
    ids = inserted.rows.map((r) => r.id);
  });

  it.each(CASES.map((c, i) => [c[0], i] as const))("%s", async (_label, i) => {
    const [, , input, expected] = CASES[i]!;
    const { sql: selected, js } = await rowMatches(db(), listId, parsed(input));
    expect({ sql: selected.includes(ids[i]!), js: js.includes(ids[i]!) }).toEqual({ sql: expected, js: expected });
  });
});

describe("the lead fields of a filtered scope", () => {
  const LEAD_CASES: [label: string, lead: LeadInput, filter: unknown, expected: boolean][] = [
    ["name is the full name", { type: "person", fullName: "Ada Lovelace" }, cond("name", "eq", "ada lovelace"), true],
    ["title", { type: "person", title: "CTO" }, cond("title", "eq", "cto"), true],
    ["company is the company's name", { type: "person", companyName: "Acme" }, cond("company", "eq", "acme"), true],
    ["a company lead's company is its own name", { type: "company", fullName: "Acme" }, cond("company", "eq", "acme"), true],
    ["a person without a company has none", { type: "person", fullName: "Acme" }, cond("company", "is_empty"), true],
    ["domain is the lead's domain", { type: "company", domain: "acme.com", companyDomain: "other.com" }, cond("domain", "eq", "acme.com"), true],
    ["domain falls back to the company's domain", { type: "person", companyDomain: "acme.com" }, cond("domain", "eq", "ACME.com"), true],
    ["location is raw when given", { type: "person", location: { raw: "Berlin, DE", city: "Munich" } }, cond("location", "eq", "berlin, de"), true],
    ["location joins the parts given", { type: "person", location: { city: "Berlin", country: "Germany" } }, cond("location", "eq", "Berlin, Germany"), true],
    ["location without parts is empty", { type: "person", location: {} }, cond("location", "is_empty"), true],
    ["industry", { type: "company", industry: "Software" }, cond("industry", "in", ["software"]), true],
    ["size compares numerically", { type: "company", size: "250" }, cond("size", "gte", 200), true],
    ["size as a range is not a number", { type: "company", size: "201-500" }, cond("size", "gte", 200), false],
    ["email is the lead's email", { type: "person", emailKey: `ada-${crypto.randomUUID()}@acme.com` }, cond("email", "contains", "@ACME.COM"), true],
    ["linkedinUrl is the normalised profile", { type: "person", linkedinKey: `linkedin.com/in/ada-${crypto.randomUUID()}` }, cond("linkedinUrl", "starts_with", "linkedin.com/in/ada"), true],
    ["attributes are the lead's", { type: "person", attributes: { work_email: { email: "a@b.c" } } }, cond("attributes.work_email", "is_not_empty"), true],
  ];

  it.each(DRIVERS.flatMap((driver) => LEAD_CASES.map((c, i) => [driver.name, c[0], driver, i] as const)))("%s: %s", async (_name, _label, driver, i) => {
    const [, lead, input, expected] = LEAD_CASES[i]!;
    const workspaceId = await newWorkspace(driver.db());
    const [inserted] = await insertLeads(driver.db(), workspaceId, [lead]);
    const { sql: selected, js } = await leadMatches(driver.db(), workspaceId, [inserted!.id], parsed(input));
    expect({ sql: selected.length === 1, js: js.length === 1 }).toEqual({ sql: expected, js: expected });
  });
});

// ---------------------------------------------------------------------------------------------

describe("INVALID_FILTER", () => {
  const ok = { field: "name", op: "eq", value: "a" };
  const faults: [label: string, input: unknown, path: string, message?: RegExp][] = [
    ["a string", "name = a", "filter", /must be a filter/],
    ["null", null, "filter", /must be a filter/],
    ["an array", [ok], "filter", /must be a filter/],
    ["a group that is not an array", { all: ok }, "filter.all", /array of conditions/],
    ["an unknown key", { all: [ok], none: [] }, "filter.none", /not a key of a filter/],
    ["a condition that is not an object", { any: [ok, 1] }, "filter.any.1", /must be a condition/],
    ["a nested group", { all: [{ any: [ok] }] }, "filter.all.0", /do not nest/],
    ["an unknown field", { all: [{ field: "salary", op: "eq", value: "1" }] }, "filter.all.0.field", /unknown field "salary"/],
    ["a field that is not a string", { all: [{ field: 3, op: "eq", value: "1" }] }, "filter.all.0.field", /must be a string/],
    ["a missing field", { all: [{ op: "eq", value: "1" }] }, "filter.all.0.field", /is required/],
    ["an empty attribute key", { all: [{ field: "attributes.", op: "is_empty" }] }, "filter.all.0.field", /unknown field/],
    ["a too long attribute key", { all: [{ field: `attributes.${"k".repeat(LIMITS.token + 1)}`, op: "is_empty" }] }, "filter.all.0.field", /at most/],
    ["an unknown op", { all: [ok, ok, { field: "name", op: "like", value: "a" }] }, "filter.all.2.op", /unknown op "like"/],
    ["a missing op", { any: [{ field: "name", value: "a" }] }, "filter.any.0.op", /is required/],
    ["a missing value", { all: [{ field: "name", op: "eq" }] }, "filter.all.0.value", /is required for eq/],
    ["a number for a text op", { all: [{ field: "name", op: "contains", value: 3 }] }, "filter.all.0.value", /must be a string/],
    ["an empty text value", { all: [{ field: "name", op: "eq", value: "" }] }, "filter.all.0.value", /must not be empty/],
    ["a too long text value", { all: [{ field: "name", op: "eq", value: "x".repeat(LIMITS.filterText + 1) }] }, "filter.all.0.value", /at most 500/],
    ["a string for in", { all: [{ field: "name", op: "in", value: "a" }] }, "filter.all.0.value", /array of strings/],
    ["an empty in", { all: [{ field: "name", op: "in", value: [] }] }, "filter.all.0.value", /at least one/],
    ["a number in an in", { all: [{ field: "name", op: "in", value: ["a", 1] }] }, "filter.all.0.value.1", /must be a string/],
    ["too many in values", { all: [{ field: "name", op: "in", value: Array.from({ length: LIMITS.filterValues + 1 }, (_, i) => `v${i}`) }] }, "filter.all.0.value", /at most 100/],
    ["a numeric string for gt", { all: [{ field: "size", op: "gt", value: "3" }] }, "filter.all.0.value", /must be a number/],
    ["a missing number", { all: [{ field: "size", op: "lte" }] }, "filter.all.0.value", /is required/],
    ["a value for is_empty", { all: [{ field: "size", op: "is_empty", value: "x" }] }, "filter.all.0.value", /is not taken/],
    ["an extra key of a condition", { all: [{ ...ok, negate: true }] }, "filter.all.0.negate", /not a key of a condition/],
    ["too many conditions in a group", { all: Array.from({ length: LIMITS.filterConditions + 1 }, () => ok) }, "filter.all", /at most 50/],
    ["too many conditions together", { all: Array.from({ length: 30 }, () => ok), any: Array.from({ length: 30 }, () => ok) }, "filter", /together/],
    ["a filter of too many bytes", { all: [{ field: "name", op: "in", value: Array.from({ length: 40 }, () => "x".repeat(490)) }] }, "filter", /bytes/],
    ["a NUL in a value", { all: [{ field: "name", op: "eq", value: "a\u0000" }] }, "filter.all.0.value", /NUL/],
  ];

  it.each(faults)("%s: at %s", (_label, input, path, message) => {
    expectInvalidFilter(() => parseFilter(input, "filter"), path, message);
  });

  it("prefixes paths with where the filter is, and refuses text that is not JSON", () => {
    expect(() => parseFilter({ any: [{ field: "x", op: "eq", value: "a" }] }, "scope.filter")).toThrow(/scope\.filter\.any\.0\.field/);
    expect(() => parseFilterParam("{nope", "filter")).toThrow(/filter: must be JSON text/);
    expect(parseFilterParam(undefined, "filter")).toBeNull();
    expect(parseFilterParam('{"all":[{"field":"name","op":"eq","value":"a"}]}', "filter")).toEqual({ all: [{ field: "name", op: "eq", value: "a" }], any: [] });
  });

  it("accepts every operator", () => {
    for (const op of FILTER_OPS) {
      const value = op === "in" ? ["a"] : op.startsWith("is_") ? undefined : ["gt", "gte", "lt", "lte"].includes(op) ? 1 : "a";
      expect(() => parsed(cond("name", op, value))).not.toThrow();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const invalidFilter = (path: string) => ({ error: expect.any(String), code: "INVALID_FILTER", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] });
const q = (filter: unknown) => encodeURIComponent(typeof filter === "string" ? filter : JSON.stringify(filter));

async function listWithPeople(client: Client, people: Record<string, unknown>[]): Promise<string> {
  const listId = (await client.post("/api/lists", { name: "Filtered" })).body.list.id as string;
  const res = await client.post(`/api/lists/${listId}/rows/bulk`, { rows: people });
  expect(res.status).toBe(200);
  return listId;
}

const PEOPLE = [
  { firstName: "Ada", lastName: "Lovelace", role: "Software Engineer", company: "Analytical", location: "London" },
  { firstName: "Alan", lastName: "Turing", role: "Engineer", company: "Bletchley", location: "Manchester" },
  { firstName: "Grace", lastName: "Hopper", role: "Admiral", company: "Navy", location: "Arlington" },
  { firstName: "Edsger", lastName: "Dijkstra", role: "Professor of Engineering", company: "UT Austin" },
  { firstName: "Barbara", lastName: "Liskov", role: "Professor", company: "MIT", location: "Cambridge" },
  { firstName: "Linus", lastName: "Torvalds", role: "Kernel engineer", company: "Linux Foundation", location: "Portland" },
];
const ENGINEERS = ["Ada", "Alan", "Edsger", "Linus"];

describe("GET /api/lists/{id}/rows?filter=", () => {
  const engineers = { all: [{ field: "title", op: "contains", value: "ENGINEER" }] };

  it("pages through the rows that match, with total and hasMore counting them", async () => {
    const client = await h.seedWorkspace();
    const listId = await listWithPeople(client, PEOPLE);
    const first = await client.get(`/api/lists/${listId}/rows?limit=3&filter=${q(engineers)}`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ total: 4, limit: 3, offset: 0, hasMore: true });
    expect(first.body.rows.map((r: { firstName: string }) => r.firstName)).toEqual(ENGINEERS.slice(0, 3));
    expect(first.body.rows[0].cells.length).toBeGreaterThan(0);
    const second = await client.get(`/api/lists/${listId}/rows?limit=3&offset=3&filter=${q(engineers)}`);
    expect(second.body).toMatchObject({ total: 4, limit: 3, offset: 3, hasMore: false });
    expect(second.body.rows.map((r: { firstName: string }) => r.firstName)).toEqual(["Linus"]);

    const either = { any: [{ field: "location", op: "is_empty" }, { field: "company", op: "in", value: ["mit", "navy"] }] };
    const res = await client.get(`/api/lists/${listId}/rows?filter=${q(either)}`);
    expect(res.body.rows.map((r: { firstName: string }) => r.firstName)).toEqual(["Grace", "Edsger", "Barbara"]);
    expect(res.body.total).toBe(3);

    const none = await client.get(`/api/lists/${listId}/rows?filter=${q({ all: [{ field: "name", op: "eq", value: "nobody" }] })}`);
    expect(none.body).toMatchObject({ rows: [], total: 0, hasMore: false });
    const everyone = await client.get(`/api/lists/${listId}/rows?filter=${q({})}`);
    expect(everyone.body.total).toBe(6);
    const unfiltered = await client.get(`/api/lists/${listId}/rows`);
    expect(unfiltered.body.total).toBe(6);
  });

  it("is a 400 INVALID_FILTER with the path for text that is not JSON or not a filter", async () => {
    const client = await h.seedWorkspace();
    const listId = await listWithPeople(client, PEOPLE.slice(0, 1));
    for (const [filter, path] of [
      ["{nope", "filter"],
      ["", "filter"],
      ["[]", "filter"],
      [{ all: [{ field: "title", op: "matches", value: "x" }] }, "filter.all.0.op"],
      [{ any: [{ field: "title", op: "eq" }] }, "filter.any.0.value"],
      [{ all: [{ field: "salary", op: "gt", value: 1 }] }, "filter.all.0.field"],
      [{ all: [{ all: [] }] }, "filter.all.0"],
    ] as const) {
      const res = await client.get(`/api/lists/${listId}/rows?filter=${q(filter)}`);
      expect(res.status, JSON.stringify(filter)).toBe(400);
      expect(res.body).toEqual(invalidFilter(path));
    }
  });

  it("is a 404 for another workspace's list, filter or not", async () => {
    const owner = await h.seedWorkspace();
    const listId = await listWithPeople(owner, PEOPLE.slice(0, 2));
    const stranger = await h.seedWorkspace();
    const res = await stranger.get(`/api/lists/${listId}/rows?filter=${q(engineers)}`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });

  it("sends as many statements with a filter as without", async () => {
    const raw = postgres(inject("databaseUrl"), { max: 1, fetch_types: false, onnotice: () => {} });
    try {
      let statements = 0;
      const logged = drizzle(raw, { schema, logger: { logQuery: () => void (statements += 1) } }) as unknown as Db;
      const client = await h.seedWorkspace();
      const listId = await listWithPeople(client, PEOPLE);
      const count = async (filter: Filter | null) => {
        const before = statements;
        await personRowPage(logged, client.workspaceId, listId, { limit: 100, offset: 0 }, filter);
        return statements - before;
      };
      const big = parsed({ all: Array.from({ length: 20 }, (_, i) => ({ field: "name", op: "neq", value: `x${i}` })), any: [{ field: "title", op: "is_not_empty" }] });
      expect(await count(big)).toBe(await count(null));
    } finally {
      await raw.end({ timeout: 5 });
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("POST /api/enrichment with a filtered_list scope", () => {
  const PRICE = DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!;
  const engineers = { all: [{ field: "title", op: "contains", value: "engineer" }] };

  async function leadsNamed(listId: string, firstNames: string[]): Promise<string[]> {
    const rows = await h.db.select({ leadId: personRows.leadId, firstName: personRows.firstName }).from(personRows).where(eq(personRows.listId, listId));
    return firstNames.map((name) => rows.find((r) => r.firstName === name)!.leadId).sort();
  }

  it("previews the resolved count and cost without writing anything", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, PEOPLE);
    const res = await client.post("/api/enrichment", { enrichmentId: "work_email", mode: "preview", scope: { type: "filtered_list", listId, filter: engineers } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ mode: "preview", leadCount: 4, cost: { creditAction: "EMAIL_LOOKUP", required: 4 * PRICE, balance: 100, sufficient: true } });
    const runs = await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, client.workspaceId));
    expect(runs).toEqual([]);
  });

  it("runs only the matching leads through the in-process runner, charged for exactly those", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, PEOPLE);
    const res = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "filtered_list", listId, filter: engineers } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ leadCount: 4, reusedExistingRun: false });
    await h.settle();

    const runId = res.body.enrichmentRunId as string;
    const run = await client.get(`/api/enrichment/${runId}`);
    expect(run.body.run).toMatchObject({ status: "completed", scope: { type: "filtered_list", listId, requested: 4, resolvedCount: 4 } });
    const items = await h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId));
    expect(items.map((item) => item.leadId).sort()).toEqual(await leadsNamed(listId, ENGINEERS));
    expect(items.every((item) => item.membershipId !== null)).toBe(true);

    const ledger = await h.db.select().from(creditLedger).where(eq(creditLedger.workspaceId, client.workspaceId));
    const charges = ledger.filter((entry) => entry.kind === "charge");
    expect(charges.map((c) => c.delta)).toEqual([-4 * PRICE]);
    const unfilled = items.filter((item) => item.status !== "completed").length;
    const [workspace] = await h.db.select().from(workspaces).where(eq(workspaces.id, client.workspaceId));
    expect(workspace!.creditBalance).toBe(100 - 4 * PRICE + unfilled * PRICE);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: workspace!.creditBalance, ledgerSum: workspace!.creditBalance });
  });

  it("enriches the whole list without a filter", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, PEOPLE);
    const res = await client.post("/api/enrichment", { enrichmentId: "work_email", mode: "preview", scope: { type: "filtered_list", listId } });
    expect(res.body.leadCount).toBe(6);
  });

  it("is EMPTY_LEAD_SCOPE when nothing matches, in both modes", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, PEOPLE);
    for (const mode of ["preview", "persisted"]) {
      const res = await client.post("/api/enrichment", {
        enrichmentId: "work_email",
        mode,
        scope: { type: "filtered_list", listId, filter: { all: [{ field: "company", op: "eq", value: "nobody" }] } },
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: "The scope resolved to no leads", code: "EMPTY_LEAD_SCOPE", requestId: REQUEST_ID });
    }
    expect(await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, client.workspaceId))).toEqual([]);
  });

  it("is a 400 INVALID_FILTER at the path in the body, before anything else", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, PEOPLE);
    for (const [filter, path] of [
      [{ all: [{ field: "title", op: "like", value: "x" }] }, "scope.filter.all.0.op"],
      [{ title: "CTO" }, "scope.filter.title"],
      [{ any: [{ field: "size", op: "gt", value: "10" }] }, "scope.filter.any.0.value"],
      ["title = CTO", "scope.filter"],
    ] as const) {
      const res = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "filtered_list", listId, filter } });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(invalidFilter(path));
    }
    expect(await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, client.workspaceId))).toEqual([]);
    expect(await client.balance()).toBe(100);
  });

  it("is a 404 for another workspace's list", async () => {
    const owner = await h.seedWorkspace();
    const listId = await listWithPeople(owner, PEOPLE.slice(0, 2));
    const stranger = await h.seedWorkspace();
    const res = await stranger.post("/api/enrichment", { enrichmentId: "work_email", mode: "preview", scope: { type: "filtered_list", listId, filter: engineers } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });
});
