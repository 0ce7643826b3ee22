import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { rowsOf, type Db } from "../src/db/client";
import { openDatabase } from "../src/db/open";
import { companyCells, companyRows, personCells, personRows, type ColumnSchema } from "../src/db/schema";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import { createAccount } from "../src/domain/accounts";
import { createList } from "../src/domain/lists";
import { LIMITS } from "../src/limits";
import { createLogger, createServiceKit, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { addColumn, addCompanies, addPeople } from "./helpers/fixtures";
import { Client, ISO_DATE, UUID, useHarness } from "./helpers/harness";

// Every JSON value a caller writes must read back as written, under both database drivers: the
// drivers parse jsonb themselves, and nothing after them may parse a JSON string a second time.

type Driver = { db: Db; seedWorkspace: () => Promise<Client> };

const postgresJs = useHarness();
const pglite = usePglite();

/** The app the harness builds, over an embedded PGlite database (migrated) in a folder of its own. */
function usePglite(): () => Driver {
  let driver: Driver | undefined;
  let close = async () => {};
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "json-roundtrip-"));
    const opened = await openDatabase({ DATA_DIR: dataDir, DATABASE_POOL_MAX: 1 });
    const logger = createLogger("silent");
    const inProcess = createInProcessDispatcher({ registry: createTaskRegistry(() => services), logger, retryDelay: { minMs: 10, maxMs: 50 } });
    const services: Services = createServiceKit({}, { logger, requestsPerMinute: null }).services({ db: opened.db, dispatcher: inProcess });
    const app = createApp(() => ({ services }));
    expect(opened.driver).toBe("pglite");
    driver = {
      db: opened.db,
      seedWorkspace: async () => {
        const account = await createAccount(opened.db, { email: `user-${crypto.randomUUID()}@example.test`, fullName: "Test User", credits: 1000 });
        return new Client(app, opened.db, account);
      },
    };
    close = async () => {
      await inProcess.idle();
      await opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    };
  });
  afterAll(() => close());
  return () => driver!;
}

// ---------------------------------------------------------------------------------------------
// Values

const utf8Bytes = (text: string) => new TextEncoder().encode(text).length;

/** Awkward text repeated to close under a byte budget of JSON text. */
function longText(budget: number) {
  const unit = 'Zoë 東京 🚀 {"a":1} [1,2] "42" ';
  return unit.repeat(Math.floor(budget / (utf8Bytes(JSON.stringify(unit)) - 2)));
}

// As long as one free-form value may be, with room for the array a list cell wraps it in.
const LONG = longText(LIMITS.jsonBytes - 16);

/** Strings whose content looks like JSON, or is otherwise easy to mangle. */
const AWKWARD_TEXT = [
  "42",
  "true",
  "false",
  "null",
  '{"a":1}',
  "[1,2]",
  '"quoted"',
  " 7 ",
  "",
  "Zoë 東京 🚀",
  "\\u0000 is six characters here",
  "line\nbreak\ttab\\backslash",
  LONG,
];

const OPTIONS = ["42", "true", "null", '{"a":1}', "[1,2]", " 7 ", "Zoë 東京 🚀"];

const CASES: { schema: ColumnSchema; values: unknown[] }[] = [
  { schema: { type: "text" }, values: [...AWKWARD_TEXT, null] },
  { schema: { type: "number" }, values: [42, 0, -7.25, 0.1, 1e21, 123456789.123456, null] },
  { schema: { type: "boolean" }, values: [true, false, null] },
  { schema: { type: "url" }, values: ["acme.com", 'https://acme.com/q?x=[1,2]&y={"a":1}', "http://42.io/true", "https://acme.com/Zoë/東京/🚀"] },
  { schema: { type: "enum", options: OPTIONS }, values: OPTIONS },
  { schema: { type: "multiselect", options: OPTIONS }, values: [["42", "true"], ["null", '{"a":1}', "[1,2]", " 7 "], [], ["Zoë 東京 🚀"]] },
  {
    schema: { type: "list" },
    values: [[1, "1", true, "true", null, "null", { a: { b: ["42", { c: "[1,2]" }] }, "": "" }, [["deep", "{}"]]], [], ['{"a":1}'], [LONG]],
  },
  { schema: { type: "list", itemType: "text", maxItems: 4 }, values: [["42", "true", "null", "Zoë 東京 🚀"]] },
  { schema: { type: "list", itemType: "number" }, values: [[1, 2.5, -3, 1e21]] },
  { schema: { type: "date" }, values: ["2024-05-01", "2024-05-01T10:00:00Z", "2024-02-29T23:59:59.123+05:30"] },
  { schema: { type: "email" }, values: ['"42"@acme.com', "zoë+🚀@acme.com", '{"a":1}@acme.com', "true@acme.com"] },
  { schema: { type: "phone" }, values: ["+44 20 7946 0958", "42 42 42", "(555) 123-4567", " 4242 "] },
];

// One code point: JSON punctuation and literals' letters often, any other code point but NUL (which
// jsonb cannot hold in a string) otherwise.
const codePoint = fc
  .oneof(fc.constantFrom(...'{}[]":,\\ 0123456789.-etrufalsn'), fc.string({ unit: "binary", minLength: 1, maxLength: 1 }))
  .filter((c) => c !== "\u0000");
const anyJson = fc.jsonValue({ stringUnit: codePoint, maxDepth: 3 });
const anyCellValue = fc.oneof(anyJson, anyJson.map((v) => JSON.stringify(v)), fc.string({ unit: codePoint, maxLength: 40 }));

// ---------------------------------------------------------------------------------------------
// Reads

const personCellView = (listId: string, columnId: string, rowId: string, value: unknown) => ({
  id: UUID,
  listId,
  columnId,
  rowId,
  value,
  status: "completed",
  reasoning: null,
  error: null,
  createdAt: ISO_DATE,
  updatedAt: ISO_DATE,
});

const companyCellView = (listId: string, columnId: string, companyRowId: string, value: unknown) => ({
  id: UUID,
  listId,
  columnId,
  companyRowId,
  value,
  status: "complete",
  reasoning: null,
  error: null,
  createdAt: ISO_DATE,
  updatedAt: ISO_DATE,
});

/** A column's cells in GET /rows, by row id. */
async function cellsInRowsPage(client: Client, listId: string, columnId: string) {
  const res = await client.get(`/api/lists/${listId}/rows?limit=500`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ rows: expect.any(Array), total: res.body.rows.length, limit: 500, offset: 0, hasMore: false });
  return new Map(res.body.rows.map((r: { id: string; cells: { columnId: string }[] }) => [r.id, r.cells.filter((c) => c.columnId === columnId)]));
}

/** A column's cells in the sheet (GET /lists/{id}), by row id. */
async function cellsInSheet(client: Client, listId: string, columnId: string, segment: "people" | "companies") {
  const res = await client.get(`/api/lists/${listId}?segment=${segment}`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ sheet: expect.any(Object), rows: expect.any(Array), columns: expect.any(Array), cells: expect.any(Array), truncated: false });
  const mine = res.body.cells.filter((c: { columnId: string }) => c.columnId === columnId);
  return new Map(mine.map((c: { rowId?: string; companyRowId?: string }) => [c.rowId ?? c.companyRowId, c]));
}

async function previewCells(client: Client, listId: string, columnId: string) {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
  expect(res.status).toBe(200);
  expect(Object.keys(res.body)).toEqual(["cells"]);
  return new Map(res.body.cells.map((c: { rowId: string }) => [c.rowId, c]));
}

type Stored = { sql_null: boolean; same: boolean | null };

/**
 * How the database holds a cell: SQL NULL or not, and whether it equals the JSON text of the
 * expected value, compared by the database itself so no driver parsing is involved.
 */
async function stored(db: Db, subject: "person" | "company", columnId: string, rowId: string, expected: unknown): Promise<Stored> {
  const query =
    subject === "person"
      ? sql`select value is null as sql_null, value = ${JSON.stringify(expected)}::jsonb as same from list_cells where column_id = ${columnId} and row_id = ${rowId}`
      : sql`select value is null as sql_null, value = ${JSON.stringify(expected)}::jsonb as same from list_company_cells where column_id = ${columnId} and company_row_id = ${rowId}`;
  const rows = rowsOf<Stored>(await db.execute(query));
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

// A person cell written as null holds JSON null; a company cell written as null or "" holds SQL NULL.
const PERSON_STORED: Stored = { sql_null: false, same: true };
const companyStored = (value: unknown): Stored => (value === null || value === "" ? { sql_null: true, same: null } : { sql_null: false, same: true });
const companyRead = (value: unknown) => (value === "" ? null : value);

// ---------------------------------------------------------------------------------------------

describe.each([
  ["postgres.js", () => postgresJs as Driver],
  ["PGlite", pglite],
] as const)("JSON values round-trip exactly over %s", (_name, driver) => {
  it.each(CASES)("person cells of a $schema.type column: PUT /cells, then every read", async ({ schema, values }) => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const columnId = await addColumn(db, client.workspaceId, list.id, { name: schema.type, schema });
    const rowIds = await addPeople(db, client.workspaceId, list.id, values.map((_, i) => `Person ${i}`));

    for (const [i, value] of values.entries()) {
      const res = await client.put(`/api/lists/${list.id}/cells`, { rowId: rowIds[i], columnId, value });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        cell: { id: UUID, list_id: list.id, column_id: columnId, row_id: rowIds[i], value, status: "completed", reasoning: null, error: null, created_at: ISO_DATE, updated_at: ISO_DATE },
      });
    }

    const page = await cellsInRowsPage(client, list.id, columnId);
    const sheet = await cellsInSheet(client, list.id, columnId, "people");
    const preview = await previewCells(client, list.id, columnId);
    const selected = new Map((await db.select().from(personCells).where(eq(personCells.columnId, columnId))).map((c) => [c.rowId, c.value]));
    for (const [i, value] of values.entries()) {
      const rowId = rowIds[i]!;
      expect(page.get(rowId)).toEqual([personCellView(list.id, columnId, rowId, value)]);
      expect(sheet.get(rowId)).toEqual(personCellView(list.id, columnId, rowId, value));
      expect(preview.get(rowId)).toEqual({ rowId, name: `Person ${i}`, value, status: "completed", error: null });
      expect(selected.get(rowId)).toEqual(value);
      expect(await stored(db, "person", columnId, rowId, value)).toEqual(PERSON_STORED);
    }
  });

  it("company cells: PATCH /companies/{cid}/cells, then every read", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const columnId = await addColumn(db, client.workspaceId, list.id, { name: "Anything", subject: "company", schema: null });
    const values = CASES.flatMap((c) => c.values);
    const companyIds = await addCompanies(db, client.workspaceId, list.id, values.map((_, i) => `Company${i}`));

    for (const [i, value] of values.entries()) {
      const res = await client.patch(`/api/lists/${list.id}/companies/${companyIds[i]}/cells`, { columnId, value });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true });
    }

    const companies = await client.get(`/api/lists/${list.id}/companies`);
    expect(companies.status).toBe(200);
    expect(companies.body).toEqual({ companies: expect.any(Array), columns: [expect.objectContaining({ id: columnId })], cells: expect.any(Array) });
    const listed = new Map(companies.body.cells.map((c: { companyRowId: string }) => [c.companyRowId, c]));
    const sheet = await cellsInSheet(client, list.id, columnId, "companies");
    const preview = await previewCells(client, list.id, columnId);
    const selected = new Map((await db.select().from(companyCells).where(eq(companyCells.columnId, columnId))).map((c) => [c.companyRowId, c.value]));
    for (const [i, value] of values.entries()) {
      const rowId = companyIds[i]!;
      const read = companyRead(value);
      expect(listed.get(rowId)).toEqual(companyCellView(list.id, columnId, rowId, read));
      expect(sheet.get(rowId)).toEqual(companyCellView(list.id, columnId, rowId, read));
      expect(preview.get(rowId)).toEqual({ rowId, name: `Company${i}`, value: read, status: "complete", error: null });
      expect(selected.get(rowId)).toEqual(read);
      expect(await stored(db, "company", columnId, rowId, value)).toEqual(companyStored(value));
    }
  });

  it("cells written through the query builder read back exactly; a null there is SQL NULL", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const columnId = await addColumn(db, client.workspaceId, list.id, { schema: null });
    const values: unknown[] = [...AWKWARD_TEXT, 42, true, { a: "1", b: ["null", null] }, ["[1,2]"], null];
    const rowIds = await addPeople(db, client.workspaceId, list.id, values.map((_, i) => `Person ${i}`));
    await db.insert(personCells).values(values.map((value, i) => ({ listId: list.id, columnId, rowId: rowIds[i]!, value, status: "completed" as const })));

    const page = await cellsInRowsPage(client, list.id, columnId);
    const returned = await db
      .update(personCells)
      .set({ reasoning: "checked" })
      .where(eq(personCells.columnId, columnId))
      .returning({ rowId: personCells.rowId, value: personCells.value });
    const returnedOf = new Map(returned.map((r) => [r.rowId, r.value]));
    for (const [i, value] of values.entries()) {
      const rowId = rowIds[i]!;
      expect(page.get(rowId)).toEqual([personCellView(list.id, columnId, rowId, value)]);
      expect(returnedOf.get(rowId)).toEqual(value);
      expect(await stored(db, "person", columnId, rowId, value)).toEqual(value === null ? { sql_null: true, same: null } : PERSON_STORED);
    }
  });

  it("customColumns of POST /rows and /rows/bulk are cells that read back exactly; a null one is SQL NULL", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const text = await addColumn(db, client.workspaceId, list.id, { name: "Text", schema: { type: "text" } });
    const free = await addColumn(db, client.workspaceId, list.id, { name: "Free", schema: null });
    // customColumns is one free-form value, so its long string leaves room for the other column's.
    const texts = AWKWARD_TEXT.map((value) => (value === LONG ? longText(LIMITS.jsonBytes / 2) : value));
    const nested = { a: '{"a":1}', b: ["42", "true", null, 1.5, { c: "null" }], "Zoë 東京 🚀": "" };

    const one = await client.post(`/api/lists/${list.id}/rows`, { firstName: "Ada", customColumns: { [text]: "42", [free]: nested } });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ row: expect.objectContaining({ firstName: "Ada", attributes: {} }), columnsToEnrich: [], merged: false });
    const bulk = await client.post(`/api/lists/${list.id}/rows/bulk`, {
      rows: texts.map((value, i) => ({ firstName: `Bulk${i}`, customColumns: { [text]: value, [free]: i % 2 ? null : { of: [Array.from(value).slice(0, 40).join("")] } } })),
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body).toEqual({ inserted: texts.length, merged: 0, rowIds: texts.map(() => UUID) });

    const textCells = await cellsInRowsPage(client, list.id, text);
    const freeCells = await cellsInRowsPage(client, list.id, free);
    const rowId = one.body.row.id as string;
    expect(textCells.get(rowId)).toEqual([personCellView(list.id, text, rowId, "42")]);
    expect(freeCells.get(rowId)).toEqual([personCellView(list.id, free, rowId, nested)]);
    expect(await stored(db, "person", free, rowId, nested)).toEqual(PERSON_STORED);
    for (const [i, value] of texts.entries()) {
      const id = bulk.body.rowIds[i] as string;
      const freeValue = i % 2 ? null : { of: [Array.from(value).slice(0, 40).join("")] };
      expect(textCells.get(id)).toEqual([personCellView(list.id, text, id, value)]);
      expect(freeCells.get(id)).toEqual([personCellView(list.id, free, id, freeValue)]);
      expect(await stored(db, "person", text, id, value)).toEqual(PERSON_STORED);
      expect(await stored(db, "person", free, id, freeValue)).toEqual(freeValue === null ? { sql_null: true, same: null } : PERSON_STORED);
    }
  });

  it("row and company-row attributes read back exactly in GET /rows, GET /lists/{id} and GET /companies", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const [rowId] = await addPeople(db, client.workspaceId, list.id, ["Ada Lovelace"]);
    const [companyId] = await addCompanies(db, client.workspaceId, list.id, ["Acme"]);
    const attributes = Object.fromEntries(AWKWARD_TEXT.map((value, i) => [`k${i}`, value]));
    const withNested = { ...attributes, nested: { list: ["42", null, { x: "[1,2]" }], n: 7, t: false, none: null } };
    await db.update(personRows).set({ attributes: withNested }).where(eq(personRows.id, rowId!));
    await db.update(companyRows).set({ attributes }).where(eq(companyRows.id, companyId!));

    const page = await client.get(`/api/lists/${list.id}/rows`);
    expect(page.status).toBe(200);
    expect(page.body.rows.map((r: { attributes: unknown }) => r.attributes)).toEqual([withNested]);
    const people = await client.get(`/api/lists/${list.id}`);
    expect(people.status).toBe(200);
    expect(people.body.rows.map((r: { attributes: unknown }) => r.attributes)).toEqual([withNested]);
    const companies = await client.get(`/api/lists/${list.id}/companies`);
    expect(companies.status).toBe(200);
    expect(companies.body.companies.map((r: { attributes: unknown }) => r.attributes)).toEqual([attributes]);
    const sheet = await client.get(`/api/lists/${list.id}?segment=companies`);
    expect(sheet.status).toBe(200);
    expect(sheet.body.rows.map((r: { attributes: unknown }) => r.attributes)).toEqual([attributes]);
    const [held] = rowsOf<{ same: boolean }>(
      await db.execute(sql`select attributes = ${JSON.stringify(withNested)}::jsonb as same from list_rows where id = ${rowId}`),
    );
    expect(held).toEqual({ same: true });
  });

  it("lead attributes and raw: POST, GET and PATCH /api/leads", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    // The whole of attributes is one free-form value, so its long string leaves room for the rest.
    const short = AWKWARD_TEXT.filter((value) => value !== LONG);
    const attributes = {
      ...Object.fromEntries(short.map((value, i) => [`k${i}`, value])),
      long: longText(LIMITS.jsonBytes / 2),
      nested: { a: ["42", { b: "null" }, null] },
      none: null,
    };
    const raw = { source: '{"a":1}', score: "42", flags: ["true", false], empty: "" };
    const created = await client.post("/api/leads", {
      type: "person",
      name: { first: "Zoë", last: "東京" },
      location: { raw: "null" },
      contacts: [{ value: "42" }],
      attributes,
      raw,
    });
    expect(created.status).toBe(201);
    const lead = {
      id: UUID,
      type: "person",
      name: { full: "Zoë 東京", short: "Zoë", first: "Zoë", last: "東京" },
      title: null,
      company: { name: null, id: null, domain: null },
      location: { city: null, state: null, country: null, raw: "null" },
      socials: [],
      contacts: [{ value: "42" }],
      domain: null,
      industry: null,
      size: null,
      attributes,
      lists: [],
      createdAt: ISO_DATE,
      updatedAt: ISO_DATE,
    };
    expect(created.body).toEqual({ lead });
    const id = created.body.lead.id as string;

    const read = await client.get(`/api/leads?id=${id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ leads: [lead], nextCursor: null });

    const more = { later: "[1,2]", flag: "false" };
    const patched = await client.patch("/api/leads", { id, attributes: more, raw: { extra: "true" } });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ lead: { ...lead, attributes: { ...attributes, ...more } } });

    const [held] = rowsOf<{ attributes_same: boolean; raw_same: boolean }>(
      await db.execute(sql`
        select attributes = ${JSON.stringify({ ...attributes, ...more })}::jsonb as attributes_same,
               raw = ${JSON.stringify({ ...raw, extra: "true" })}::jsonb as raw_same
        from leads where id = ${id}`),
    );
    expect(held).toEqual({ attributes_same: true, raw_same: true });
  });

  it("any JSON value, and any string (JSON-looking or not), round-trips through a person cell and a company cell", async () => {
    const { db, seedWorkspace } = driver();
    const client = await seedWorkspace();
    const list = await createList(db, client.workspaceId, { name: "Round trip" });
    const [rowId] = await addPeople(db, client.workspaceId, list.id, ["Ada Lovelace"]);
    const [companyId] = await addCompanies(db, client.workspaceId, list.id, ["Acme"]);
    const personColumn = await addColumn(db, client.workspaceId, list.id, { name: "Free", schema: null });
    const companyColumn = await addColumn(db, client.workspaceId, list.id, { name: "Free", subject: "company", schema: null });

    await fc.assert(
      fc.asyncProperty(anyCellValue, async (generated) => {
        // What the caller sends: JSON has no -0 and no undefined.
        const value = JSON.parse(JSON.stringify(generated)) as unknown;

        const put = await client.put(`/api/lists/${list.id}/cells`, { rowId, columnId: personColumn, value });
        expect(put.status).toBe(200);
        expect(put.body.cell.value).toEqual(value);
        const page = await cellsInRowsPage(client, list.id, personColumn);
        expect(page.get(rowId!)).toEqual([personCellView(list.id, personColumn, rowId!, value)]);
        expect(await stored(db, "person", personColumn, rowId!, value)).toEqual(PERSON_STORED);

        const patch = await client.patch(`/api/lists/${list.id}/companies/${companyId}/cells`, { columnId: companyColumn, value });
        expect(patch.status).toBe(200);
        const companies = await client.get(`/api/lists/${list.id}/companies`);
        expect(companies.status).toBe(200);
        expect(companies.body.cells).toEqual([companyCellView(list.id, companyColumn, companyId!, companyRead(value))]);
        expect(await stored(db, "company", companyColumn, companyId!, value)).toEqual(companyStored(value));
      }),
      { numRuns: 60 },
    );
  });
});
