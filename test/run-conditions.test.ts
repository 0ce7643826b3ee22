import { sql } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rowsOf, type Db } from "../src/db/client";
import { companyRows, leads, personRows } from "../src/db/schema";
import { uuidSet } from "../src/db/sql";
import type { Subject } from "../src/domain/column-kinds";
import { SUBJECT_TABLES } from "../src/domain/cell-store/tables";
import { compileRunIf, evaluateRunIf, parseRunIf, type ColumnRefs } from "../src/domain/engine/conditions";
import { columnKey } from "../src/domain/engine/placeholders";
import type { FieldReader } from "../src/domain/filters/evaluate";
import { STANDARD_FIELDS, type Filter } from "../src/domain/filters/language";
import { companyRowReader, rowReader } from "../src/domain/filters/targets";
import { LIMITS } from "../src/limits";
import { expectInvalidFilter, filterArbOver, nullableText, numericText, personRowArb, textsByField, word } from "./helpers/filter-arbitraries";
import { useHarness, type Client } from "./helpers/harness";

// Run conditions (src/domain/engine/conditions.ts): the SQL compileRunIf gives selects exactly the
// rows evaluateRunIf accepts on what a task claims (the row as stored, and the referenced cells by
// column id), over person rows and company rows, with `column:<name>` fields reading manual
// columns' cells of every JSON shape, and cells that are missing. Then the documented edge cases one
// by one, and parseRunIf's INVALID_FILTER paths.

const h = useHarness({ max: 8 });

const SUBJECTS: Subject[] = ["person", "company"];

// ---------------------------------------------------------------------------------------------
// Generators (those of test/helpers/filter-arbitraries.ts, plus company rows and cells)

const text = nullableText(numericText(["-3.5"]));
const json: fc.Arbitrary<unknown> = fc.oneof(
  text,
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(1e21, 1.5e-7, 5e-324, -0, 1e300, 123.456, 0.1, -42, -3.5, 2.25),
  fc.boolean(),
  fc.constantFrom([], {}, [1, "a"], { a: 1 }, { nested: { deep: ["x"] } }, [null], ["Acme"], { value: "Acme" }),
  fc.array(word(), { maxLength: 2 }),
  fc.dictionary(word(1, 2), word(), { maxKeys: 2, noNullPrototype: true }),
);
const ATTRIBUTE_KEYS = ["score", "tier", "a.b", "flag"];
const attributes = fc.dictionary(fc.constantFrom(...ATTRIBUTE_KEYS), json, { maxKeys: 3, noNullPrototype: true });

/** Strings a manual cell may hold: case and Unicode variants, blanks of every kind, numbers as text. */
const cellText = fc.constantFrom(
  "Acme",
  "ACME",
  "acme",
  " Acme",
  "Acme ",
  "ΟΔΥΣΣΕΥΣ",
  "οδυσσευσ",
  "İstanbul",
  "istanbul",
  "ǅemal",
  "Straße",
  "STRASSE",
  "",
  " ",
  "\t\n\r",
  "\u00a0",
  "51-200",
  "1e3",
  "-3.5",
  " 42 ",
  "0.50",
  "true",
  "null",
  "100%",
  "a_b",
);
const cellJson = fc.oneof({ weight: 3, arbitrary: json }, { weight: 2, arbitrary: cellText }, { weight: 1, arbitrary: fc.constantFrom(3.5, -2.25, 0, 120, -1000, 0.1, true, false, null) });

/** A cell of a manual column: no cell, a cell whose value is SQL NULL, or a cell holding a JSON value (JSON null included). */
type Cell = { kind: "missing" } | { kind: "sql-null" } | { kind: "value"; value: unknown };
const cellArb: fc.Arbitrary<Cell> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: "missing" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "sql-null" } as const) },
  { weight: 5, arbitrary: cellJson.map((value): Cell => ({ kind: "value", value })) },
);

type PersonInput = Partial<Pick<typeof personRows.$inferInsert, "fullName" | "firstName" | "lastName" | "role" | "company" | "domain" | "location" | "email" | "linkedinUrl">> & {
  attributes?: Record<string, unknown>;
};
type CompanyInput = Partial<Pick<typeof companyRows.$inferInsert, "domain" | "location" | "industry" | "employeeCount" | "linkedinUrl">> & {
  name: string;
  attributes?: Record<string, unknown>;
};

const personArb = personRowArb<PersonInput>(text, attributes);

const companyArb: fc.Arbitrary<CompanyInput> = fc.record({
  name: text.map((t) => t ?? ""),
  domain: text,
  location: text,
  industry: text,
  employeeCount: fc.oneof(fc.constant(null), fc.integer({ min: -1000, max: 100_000 }), fc.constantFrom(0, 51, 200, 120, 42)),
  linkedinUrl: text,
  attributes,
});

// The manual columns of the list: two that rows hold cells of, one without any cell, and a name no
// column has (it is in no ref). Conditions name them in any case, with blanks around.
const WRITTEN = ["Score", "Notes"] as const;
const UNUSED = "Unused";
const COLUMN_FIELDS = ["column:Score", "column:score", "column: SCORE ", "column:Notes", "column:NOTES", `column:${UNUSED}`, "column:Gone"];

type RowCase<T> = { record: T; cells: Record<(typeof WRITTEN)[number], Cell> };
const rowCase = <T,>(record: fc.Arbitrary<T>): fc.Arbitrary<RowCase<T>> => fc.record({ record, cells: fc.record({ Score: cellArb, Notes: cellArb }) });

const FIELDS = [...STANDARD_FIELDS, ...ATTRIBUTE_KEYS.map((key) => `attributes.${key}`), "attributes.missing", ...COLUMN_FIELDS];
const FIXED_VALUES = ["a", "A", "É", "é", "%", "_", "1", "σ", "Σ", "İ", "i", "120", "true", "0.1", "acme", "51-200", "1000000000000000000000"];

/** What a generated row holds in each field (before it is stored), to bias generated values towards it. */
function inputReader(subject: Subject, row: RowCase<PersonInput> | RowCase<CompanyInput>): FieldReader {
  const fields =
    subject === "person" ? rowReader(row.record as Parameters<typeof rowReader>[0]) : companyRowReader({ employeeCount: null, ...(row.record as CompanyInput) } as Parameters<typeof companyRowReader>[0]);
  return (field) => {
    if (!field.startsWith("column:")) return fields(field);
    const written = WRITTEN.find((name) => columnKey(name) === columnKey(field.slice("column:".length)));
    const cell = written ? row.cells[written] : undefined;
    return cell?.kind === "value" ? cell.value : undefined;
  };
}

/** The generated filters: `in` weighs twice what it does in test/filters.test.ts, and numbers include the cells' decimals. */
const FILTER_OPTIONS = { fields: FIELDS, fixedValues: FIXED_VALUES, extraNumbers: [-3.5, 0.5, -2.25], inWeight: 2, parse: (input: unknown) => parseRunIf(input, "runIf") };

/** Rows with their cells, and conditions over them: each generated filter, then each of its conditions alone. */
function casesOf(subject: Subject) {
  const rows = fc.array(subject === "person" ? rowCase(personArb) : rowCase(companyArb), { minLength: 1, maxLength: 15 }) as fc.Arbitrary<Array<RowCase<PersonInput> | RowCase<CompanyInput>>>;
  return rows.chain((generated) =>
    fc.tuple(
      fc.constant(generated),
      fc
        .array(filterArbOver({ ...FILTER_OPTIONS, texts: textsByField(FIELDS, generated.map((row) => inputReader(subject, row))) }), { minLength: 1, maxLength: 8 })
        .map((filters) => [...filters, ...filters.flatMap((f) => [...f.all, ...f.any].map((condition): Filter => ({ all: [condition], any: [] })))]),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// A list with manual columns, rows and cells written straight to their tables

type Fixture = { client: Client; subject: Subject; listId: string; columnIds: Record<string, string>; refs: ColumnRefs };

async function newFixture(client: Client, subject: Subject): Promise<Fixture> {
  const list = await client.post("/api/lists", { name: `Run conditions (${subject})` });
  expect(list.status).toBe(201);
  const listId = list.body.list.id as string;
  const columnIds: Record<string, string> = {};
  for (const name of [...WRITTEN, UNUSED]) {
    const res = await client.post(`/api/lists/${listId}/columns`, { name, isDynamic: false, subject, schema: { type: "text" } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    columnIds[name] = res.body.column.id as string;
  }
  // As a column's refs are stored when it is written: each name key → the column's id.
  const refs = Object.entries(columnIds).map(([name, columnId]) => ({ name: columnKey(name), columnId }));
  return { client, subject, listId, columnIds, refs };
}

/** Writes the rows (in order) and their cells; returns the row ids and the leads to remove after. */
async function writeRows(db: Db, fixture: Fixture, rows: Array<RowCase<PersonInput> | RowCase<CompanyInput>>): Promise<{ rowIds: string[]; leadIds: string[] }> {
  const { workspaceId } = fixture.client;
  const { listId, subject } = fixture;
  let rowIds: string[];
  let leadIds: string[];
  if (subject === "person") {
    const [lead] = await db.insert(leads).values({ workspaceId, type: "person", fullName: "Row owner" }).returning({ id: leads.id });
    const inserted = await db
      .insert(personRows)
      .values(rows.map((row) => ({ ...(row.record as PersonInput), attributes: row.record.attributes ?? {}, listId, workspaceId, leadId: lead!.id })))
      .returning({ id: personRows.id });
    rowIds = inserted.map((r) => r.id);
    leadIds = [lead!.id];
  } else {
    // A company row has a lead of its own, and a domain no other row of the list has.
    const owners = await db
      .insert(leads)
      .values(rows.map((_, i) => ({ workspaceId, type: "company" as const, companyName: `Company ${i}` })))
      .returning({ id: leads.id });
    const seen = new Set<string>();
    const records = rows.map((row, i) => {
      const record = row.record as CompanyInput;
      let domain = record.domain ?? null;
      // A suffix can make another row's domain, so suffix until it is free.
      for (let n = i; domain !== null && seen.has(domain); n += rows.length) domain = `${record.domain}-${n}`;
      if (domain !== null) seen.add(domain);
      return { ...record, domain, attributes: record.attributes ?? {}, listId, workspaceId, leadId: owners[i]!.id };
    });
    const inserted = await db.insert(companyRows).values(records).returning({ id: companyRows.id });
    rowIds = inserted.map((r) => r.id);
    leadIds = owners.map((lead) => lead.id);
  }
  const cells = rows.flatMap((row, i) =>
    WRITTEN.flatMap((name) => {
      const cell = row.cells[name];
      if (cell.kind === "missing") return [];
      const base = { column: fixture.columnIds[name]!, row: rowIds[i]! };
      // No `value` key: x -> 'value' is SQL NULL; a JSON null stays JSON null.
      return [cell.kind === "sql-null" ? base : { ...base, value: cell.value }];
    }),
  );
  if (cells.length > 0) {
    const { cells: table, rowKey } = SUBJECT_TABLES[subject];
    await db.execute(sql`
      insert into ${table} (list_id, column_id, ${rowKey}, value, status)
      select ${listId}::uuid, (x ->> 'column')::uuid, (x ->> 'row')::uuid, x -> 'value', 'completed'
      from jsonb_array_elements(${JSON.stringify(cells)}::jsonb) as x`);
  }
  return { rowIds, leadIds };
}

/** The rows as a task claims them: the row as stored, and the referenced columns' values by column id (a missing cell has no key). */
type Claimed = { id: string; stored: Record<string, unknown>; columns: Record<string, unknown> };

async function claimed(db: Db, fixture: Fixture): Promise<Claimed[]> {
  const { rows, cells, rowKey } = SUBJECT_TABLES[fixture.subject];
  const refIds = fixture.refs.map((ref) => ref.columnId);
  return rowsOf<{ id: string; stored: Record<string, unknown>; columns: Record<string, unknown> | null }>(
    await db.execute(sql`
      select r.id, to_jsonb(r) as stored,
             (select jsonb_object_agg(u.column_id, u.value) from ${cells} u where u.${rowKey} = r.id and u.column_id in ${uuidSet(refIds)}) as columns
      from ${rows} r where r.list_id = ${fixture.listId} order by r.position`),
  ).map((r) => ({ id: r.id, stored: r.stored, columns: r.columns ?? {} }));
}

/** The ids the compiled condition selects, and those the in-memory evaluation accepts, in row order. */
async function matches(db: Db, fixture: Fixture, rows: Claimed[], filter: Filter): Promise<{ sql: string[]; memory: string[] }> {
  const { rows: table } = SUBJECT_TABLES[fixture.subject];
  const selected = rowsOf<{ id: string }>(
    await db.execute(sql`select r.id from ${table} r where r.list_id = ${fixture.listId} and ${compileRunIf(filter, fixture.subject, fixture.refs)} order by r.position`),
  );
  return {
    sql: selected.map((r) => r.id),
    memory: rows.filter((row) => evaluateRunIf(filter, fixture.subject, fixture.refs, { row: row.stored, columns: row.columns })).map((row) => row.id),
  };
}

const FIELD_COLUMNS: Record<Subject, string[]> = {
  person: ["full_name", "first_name", "last_name", "role", "company", "domain", "location", "email", "linkedin_url", "attributes"],
  company: ["name", "domain", "location", "industry", "employee_count", "linkedin_url", "attributes"],
};

/** The rows the two evaluations disagree on, with what each said: the message of a failed comparison. */
function disagreement(fixture: Fixture, rows: Claimed[], filter: Filter, result: { sql: string[]; memory: string[] }): string {
  const names = new Map(fixture.refs.map((ref) => [ref.columnId, ref.name]));
  const differing = rows
    .filter((row) => result.sql.includes(row.id) !== result.memory.includes(row.id))
    .map((row) => ({
      row: Object.fromEntries(FIELD_COLUMNS[fixture.subject].map((key) => [key, row.stored[key]])),
      cells: Object.fromEntries(Object.entries(row.columns).map(([id, value]) => [names.get(id) ?? id, value])),
      sql: result.sql.includes(row.id),
      memory: result.memory.includes(row.id),
    }));
  return JSON.stringify({ subject: fixture.subject, filter, differing });
}

// ---------------------------------------------------------------------------------------------

const KINDS: Record<string, string> = { in: "in", is_empty: "emptiness", is_not_empty: "emptiness", gt: "numeric", gte: "numeric", lt: "numeric", lte: "numeric" };
const kindOf = (op: string) => KINDS[op] ?? "text";
const groupOf = (field: string) => (field.startsWith("column:") ? "column" : field.startsWith("attributes.") ? "attribute" : "standard");

/**
 * Which kinds of operator, and which kinds of field, alone in a filter told rows apart (selected
 * some but not all), so that a property passing because every filter selects nothing or everything
 * is caught.
 */
function discriminating() {
  const kinds = new Set<string>();
  const groups = new Set<string>();
  const columnKinds = new Set<string>();
  return {
    see(filter: Filter, selected: number, total: number) {
      if (selected === 0 || selected === total || filter.all.length + filter.any.length !== 1) return;
      const condition = [...filter.all, ...filter.any][0]!;
      kinds.add(kindOf(condition.op));
      groups.add(groupOf(condition.field));
      if (groupOf(condition.field) === "column") columnKinds.add(kindOf(condition.op));
    },
    seen: () => ({ kinds: [...kinds].sort(), groups: [...groups].sort(), columnKinds: [...columnKinds].sort() }),
  };
}

describe.each(SUBJECTS)("compiled and in-memory run conditions agree on %s rows", (subject) => {
  it("on generated rows, cells and conditions", async () => {
    const client = await h.seedWorkspace();
    const fixture = await newFixture(client, subject);
    const coverage = discriminating();
    const property = fc.asyncProperty(casesOf(subject), async ([rows, filters]) => {
      const { leadIds } = await writeRows(h.db, fixture, rows);
      try {
        const claimedRows = await claimed(h.db, fixture);
        expect(claimedRows).toHaveLength(rows.length);
        for (const filter of filters) {
          const result = await matches(h.db, fixture, claimedRows, filter);
          expect(result.sql, disagreement(fixture, claimedRows, filter, result)).toEqual(result.memory);
          coverage.see(filter, result.sql.length, rows.length);
        }
      } finally {
        // The rows (and with them their cells) go with their leads, so each run starts from an empty list.
        await h.db.execute(sql`delete from leads where id in ${uuidSet(leadIds)}`);
      }
    });
    const wanted = {
      kinds: ["emptiness", "in", "numeric", "text"],
      groups: ["attribute", "column", "standard"],
      columnKinds: ["emptiness", "in", "numeric", "text"],
    };
    // 40 runs, then more (20 at a time, at most 80) while some kind of condition has not yet split
    // rows, so that the coverage check does not hang on one unlucky draw.
    await fc.assert(property, { numRuns: 40 });
    for (let extra = 0; extra < 4 && JSON.stringify(coverage.seen()) !== JSON.stringify(wanted); extra++) await fc.assert(property, { numRuns: 20 });
    expect(coverage.seen()).toEqual(wanted);
  });
});

// ---------------------------------------------------------------------------------------------
// Documented cases, one list per case, each row checked both ways

const cond = (field: string, op: string, value?: unknown) => ({ all: [value === undefined ? { field, op } : { field, op, value }] });
const cells = (cells: Partial<Record<(typeof WRITTEN)[number], Cell>>): Record<(typeof WRITTEN)[number], Cell> => ({ Score: { kind: "missing" }, Notes: { kind: "missing" }, ...cells });
const holding = (value: unknown): Cell => ({ kind: "value", value });

type Example = [label: string, subject: Subject, rows: Array<RowCase<PersonInput> | RowCase<CompanyInput>>, filter: unknown, expected: boolean[]];

const person = (record: PersonInput, cellsOf: Partial<Record<(typeof WRITTEN)[number], Cell>> = {}): RowCase<PersonInput> => ({ record, cells: cells(cellsOf) });
const company = (record: Partial<CompanyInput>, cellsOf: Partial<Record<(typeof WRITTEN)[number], Cell>> = {}): RowCase<CompanyInput> => ({
  record: { name: "Acme", ...record },
  cells: cells(cellsOf),
});

const NUMERIC_ON_RANGE = (["gt", "gte", "lt", "lte"] as const).flatMap((op) => [-1e9, 0, 51, 100, 200, 1e9].map((bound) => ({ field: "column:Notes", op, value: bound })));

const EXAMPLES: Example[] = [
  ["a row without a cell of the column reads empty", "person", [person({}, { Notes: holding("x") }), person({})], cond("column:Notes", "is_empty"), [false, true]],
  ["a row without a cell of the column reads empty (company)", "company", [company({}, { Notes: holding("x") }), company({ domain: "b.test" })], cond("column:Notes", "is_empty"), [false, true]],
  ["a row without a cell never equals a text", "person", [person({}, { Notes: holding("x") }), person({})], cond("column:Notes", "eq", "X"), [true, false]],
  ["a column without any cell reads empty on every row", "person", [person({}, { Notes: holding("x") }), person({})], cond(`column:${UNUSED}`, "is_empty"), [true, true]],
  ["a name no column has reads empty", "company", [company({}, { Notes: holding("x") })], cond("column:Gone", "is_empty"), [true]],
  ["a cell whose value is SQL NULL reads empty", "person", [person({}, { Score: { kind: "sql-null" } }), person({}, { Score: holding(0) })], cond("column:Score", "is_empty"), [true, false]],
  ["a cell holding JSON null reads empty", "company", [company({}, { Score: holding(null) }), company({ domain: "b.test" }, { Score: holding(false) })], cond("column:Score", "is_empty"), [true, false]],
  ["a cell of blanks, [] or {} reads empty", "person", [person({}, { Notes: holding(" \t") }), person({}, { Notes: holding([]) }), person({}, { Notes: holding({}) }), person({}, { Notes: holding("\u00a0") })], cond("column:Notes", "is_empty"), [true, true, true, false]],
  ["the column is named in any case, with blanks around", "person", [person({}, { Notes: holding("Acme") })], cond("column:  nOTES ", "eq", "ACME"), [true]],
  ["neq matches a missing cell", "person", [person({}, { Notes: holding("acme") }), person({})], cond("column:Notes", "neq", "ACME"), [false, true]],
  ["neq matches a missing cell (company)", "company", [company({}, { Notes: holding("acme") }), company({ domain: "b.test" })], cond("column:Notes", "neq", "ACME"), [false, true]],
  ["neq matches a cell of SQL NULL and one of JSON null", "person", [person({}, { Notes: { kind: "sql-null" } }), person({}, { Notes: holding(null) })], cond("column:Notes", "neq", "x"), [true, true]],
  ["neq matches a cell without text (an object, an array)", "person", [person({}, { Notes: holding({ v: "x" }) }), person({}, { Notes: holding(["x"]) })], cond("column:Notes", "neq", "x"), [true, true]],
  ["neq matches a name no column has", "person", [person({})], cond("column:Gone", "neq", "x"), [true]],
  ["neq matches a missing attribute", "company", [company({ attributes: {} })], cond("attributes.tier", "neq", "gold"), [true]],
  ["neq matches a field company rows do not have", "company", [company({})], cond("title", "neq", "cto"), [true]],
  ["neq matches a null field", "person", [person({ company: null })], cond("company", "neq", "acme"), [true]],
  ["not_contains matches a missing cell", "company", [company({})], cond("column:Score", "not_contains", "1"), [true]],
  ["numeric ops never match a cell of 51-200", "person", [person({}, { Notes: holding("51-200") })], { any: NUMERIC_ON_RANGE }, [false]],
  ["numeric ops never match a cell of 51-200 (company)", "company", [company({}, { Notes: holding("51-200") })], { any: NUMERIC_ON_RANGE }, [false]],
  ["numeric ops never match an attribute of 51-200", "company", [company({ attributes: { size: "51-200" } })], { any: NUMERIC_ON_RANGE.map((c) => ({ ...c, field: "attributes.size" })) }, [false]],
  ["numeric ops never match a title of 51-200", "person", [person({ role: "51-200" })], { any: NUMERIC_ON_RANGE.map((c) => ({ ...c, field: "title" })) }, [false]],
  ["numeric ops never match a missing cell", "person", [person({})], { any: NUMERIC_ON_RANGE }, [false]],
  ["but 51-200 is text: eq and contains see it", "person", [person({}, { Notes: holding("51-200") })], { all: [{ field: "column:Notes", op: "eq", value: "51-200" }, { field: "column:Notes", op: "contains", value: "-" }] }, [true]],
  ["numeric ops on a numeric cell", "person", [person({}, { Score: holding(-3.5) }), person({}, { Score: holding(" 42 ") }), person({}, { Score: holding(true) })], cond("column:Score", "gt", -4), [true, true, false]],
  ["decimals compare as numbers", "company", [company({}, { Score: holding(0.1) }), company({ domain: "b.test" }, { Score: holding("0.50") })], cond("column:Score", "lte", 0.5), [true, true]],
  ["size is the employee count", "company", [company({ employeeCount: 120 }), company({ domain: "b.test", employeeCount: null })], cond("size", "gte", 120), [true, false]],
  ["in on a cell, case folded", "person", [person({}, { Notes: holding("ΟΔΥΣΣΕΥΣ") }), person({}, { Notes: holding("İstanbul") }), person({})], cond("column:Notes", "in", ["οδυσσευσ", "istanbul"]), [true, true, false]],
  ["a boolean cell's text", "company", [company({}, { Notes: holding(true) })], cond("column:Notes", "eq", "TRUE"), [true]],
  [
    "row fields and cells together",
    "person",
    [person({ role: "CTO" }, { Score: holding(7) }), person({ role: "CTO" }, { Score: holding(3) }), person({ role: "CEO" }, { Score: holding(9) })],
    { all: [{ field: "title", op: "eq", value: "cto" }], any: [{ field: "column:Score", op: "gt", value: 5 }, { field: "column:Notes", op: "is_not_empty" }] },
    [true, false, false],
  ],
];

describe("run conditions, case by case, both ways", () => {
  it.each(EXAMPLES.map((example, i) => [example[0], i] as const))("%s", async (_label, i) => {
    const [, subject, rows, input, expected] = EXAMPLES[i]!;
    const client = await h.seedWorkspace();
    const fixture = await newFixture(client, subject);
    await writeRows(h.db, fixture, rows);
    const claimedRows = await claimed(h.db, fixture);
    const result = await matches(h.db, fixture, claimedRows, parseRunIf(input, "runIf"));
    const ids = claimedRows.map((row) => row.id);
    expect({ sql: ids.map((id) => result.sql.includes(id)), memory: ids.map((id) => result.memory.includes(id)) }).toEqual({ sql: expected, memory: expected });
  });

  it("writes SQL NULL, JSON null and missing cells as the cases mean them", async () => {
    const client = await h.seedWorkspace();
    const fixture = await newFixture(client, "person");
    await writeRows(h.db, fixture, [person({}, { Score: { kind: "sql-null" }, Notes: holding(null) }), person({})]);
    const stored = rowsOf<{ column_id: string; sql_null: boolean; json: string | null }>(
      await h.db.execute(sql`select column_id, value is null as sql_null, value::text as json from list_cells where list_id = ${fixture.listId} order by column_id = ${fixture.columnIds.Score!} desc`),
    );
    expect(stored).toEqual([
      { column_id: fixture.columnIds.Score, sql_null: true, json: null },
      { column_id: fixture.columnIds.Notes, sql_null: false, json: "null" },
    ]);
    const claimedRows = await claimed(h.db, fixture);
    expect(claimedRows.map((row) => row.columns)).toEqual([{ [fixture.columnIds.Score!]: null, [fixture.columnIds.Notes!]: null }, {}]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("parseRunIf", () => {
  const ok = { field: "name", op: "eq", value: "a" };
  const faults: [label: string, input: unknown, path: string, message: RegExp][] = [
    ["an unknown field", { any: [{ field: "salary", op: "eq", value: "1" }] }, "runIf.any.0.field", /unknown field "salary"/],
    ["an unknown field after others", { all: [ok, ok], any: [ok, { field: "Title", op: "is_empty" }] }, "runIf.any.1.field", /unknown field "Title"/],
    ["a column reference without a name", { all: [{ field: "column:", op: "is_empty" }] }, "runIf.all.0.field", /unknown field "column:"/],
    ["a column reference of blanks", { all: [{ field: "column:   ", op: "is_empty" }] }, "runIf.all.0.field", /unknown field/],
    ["a too long column name", { all: [{ field: `column:${"x".repeat(LIMITS.text + 1)}`, op: "is_empty" }] }, "runIf.all.0.field", /at most/],
    ["an empty attribute key", { any: [{ field: "attributes.", op: "is_empty" }] }, "runIf.any.0.field", /unknown field/],
    ["a field that is not a string", { any: [{ field: 7, op: "is_empty" }] }, "runIf.any.0.field", /must be a string/],
    ["a numeric string for gt on a column", { all: [{ field: "column:Score", op: "gt", value: "3" }] }, "runIf.all.0.value", /must be a number/],
  ];

  it.each(faults)("refuses %s: INVALID_FILTER at %s", (_label, input, path, message) => {
    expectInvalidFilter(() => parseRunIf(input, "runIf"), path, message);
  });

  it("accepts standard fields, attributes and column references, as given", () => {
    const input = {
      all: [
        { field: "title", op: "contains", value: "eng" },
        { field: "attributes.a.b", op: "is_not_empty" },
      ],
      any: [
        { field: "column: Lead score ", op: "gte", value: 50 },
        { field: "column:Größe", op: "in", value: ["a"] },
      ],
    };
    expect(parseRunIf(input, "runIf")).toEqual(input);
    expect(parseRunIf({}, "runIf")).toEqual({ all: [], any: [] });
  });
});
