import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { companyCells, personCells } from "../src/db/schema";
import { revokeApiKey } from "../src/domain/accounts";
import { createList } from "../src/domain/lists";
import { addColumn, addCompanies, addPeople } from "./helpers/fixtures";
import { countingApp } from "./helpers/counting";
import { Client, REQUEST_ID, useHarness } from "./helpers/harness";

const h = useHarness();

const SNAKE_CELL_DATES = { created_at: expect.stringMatching(/Z$/), updated_at: expect.stringMatching(/Z$/) };

async function sheet(client: Client, schema: Parameters<typeof addColumn>[3]["schema"] = { type: "text" }) {
  const list = await createList(h.db, client.workspaceId, { name: "Cells" });
  const [rowId] = await addPeople(h.db, client.workspaceId, list.id, ["Ada Lovelace"]);
  const columnId = await addColumn(h.db, client.workspaceId, list.id, { schema });
  return { listId: list.id, rowId: rowId!, columnId };
}

async function storedCell(columnId: string, rowId: string) {
  const [cell] = await h.db.select().from(personCells).where(and(eq(personCells.columnId, columnId), eq(personCells.rowId, rowId)));
  return cell;
}

describe("PUT /api/lists/{id}/cells (seed 001)", () => {
  it("inserts a cell as completed and answers in snake_case", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(client);
    const res = await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "Met at PyCon" });
    expect(res.status).toBe(200);
    const stored = await storedCell(columnId, rowId);
    expect(res.body).toEqual({
      cell: { id: stored!.id, list_id: listId, column_id: columnId, row_id: rowId, value: "Met at PyCon", status: "completed", reasoning: null, error: null, ...SNAKE_CELL_DATES },
    });
    expect(stored).toMatchObject({ value: "Met at PyCon", status: "completed", reasoning: null, error: null });
  });

  it("overwrites an enrichment result, clearing reasoning and error", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(client);
    await h.db.insert(personCells).values({ listId, columnId, rowId, value: "old", status: "failed", reasoning: "because", error: "timeout" });
    const before = await storedCell(columnId, rowId);
    const res = await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "new" });
    expect(res.status).toBe(200);
    expect(res.body.cell).toMatchObject({ id: before!.id, value: "new", status: "completed", reasoning: null, error: null });
    const after = await storedCell(columnId, rowId);
    expect(after).toMatchObject({ id: before!.id, value: "new", status: "completed", reasoning: null, error: null });
    expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(before!.updatedAt.getTime());
  });

  it.each([
    [{ type: "number" }, 42.5],
    [{ type: "boolean" }, false],
    [{ type: "url" }, "https://acme.com/team"],
    [{ type: "email" }, "ada@acme.com"],
    [{ type: "phone" }, "+44 20 7946 0958"],
    [{ type: "date" }, "2024-05-01"],
    [{ type: "enum", options: ["hot", "cold"] }, "hot"],
    [{ type: "multiselect", options: ["a", "b", "c"] }, ["a", "c"]],
    [{ type: "list", itemType: "number", maxItems: 3 }, [1, 2, 3]],
    [{ type: "text" }, null],
    [null, { anything: ["goes"] }],
  ] as const)("stores a value that fits %j", async (schema, value) => {
    const client = await h.seedWorkspace();
    const fixture = await sheet(client, schema as never);
    const res = await client.put(`/api/lists/${fixture.listId}/cells`, { rowId: fixture.rowId, columnId: fixture.columnId, value });
    expect(res.status).toBe(200);
    expect(res.body.cell.value).toEqual(value);
    expect((await storedCell(fixture.columnId, fixture.rowId))!.value).toEqual(value);
  });

  it.each([
    [{ type: "number" }, "42", "number"],
    [{ type: "boolean" }, "yes", "boolean"],
    [{ type: "text" }, 7, "text"],
    [{ type: "url" }, "not a url", "url"],
    [{ type: "email" }, "ada-at-acme", "email"],
    [{ type: "phone" }, "call me", "phone"],
    [{ type: "date" }, "2024-13-01", "date"],
    [{ type: "enum", options: ["hot", "cold"] }, "warm", "enum"],
    [{ type: "multiselect", options: ["a", "b"] }, ["a", "z"], "multiselect"],
    [{ type: "list", itemType: "number", maxItems: 2 }, [1, 2, 3], "list"],
    [{ type: "list", itemType: "number" }, [1, "2"], "list"],
  ] as const)("rejects a value that does not fit %j with VALUE_TYPE_MISMATCH and writes nothing", async (schema, value, type) => {
    const client = await h.seedWorkspace();
    const fixture = await sheet(client, schema as never);
    const res = await client.put(`/api/lists/${fixture.listId}/cells`, { rowId: fixture.rowId, columnId: fixture.columnId, value });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: `Value does not fit the column's type (${type})`,
      code: "VALUE_TYPE_MISMATCH",
      requestId: REQUEST_ID,
      expectedType: type,
    });
    expect(await storedCell(fixture.columnId, fixture.rowId)).toBeUndefined();
  });

  it("checks list, then row, then column: 404s in the documented order", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const mine = await sheet(client);
    const second = await sheet(client); // another list of the same workspace
    const theirs = await sheet(other);
    const unknown = crypto.randomUUID();
    const cases: Array<[string, { rowId: string; columnId: string }, string]> = [
      [unknown, { rowId: mine.rowId, columnId: mine.columnId }, "List not found"],
      [theirs.listId, { rowId: theirs.rowId, columnId: theirs.columnId }, "List not found"],
      [mine.listId, { rowId: unknown, columnId: unknown }, "Row not found"],
      [mine.listId, { rowId: second.rowId, columnId: mine.columnId }, "Row not found"],
      [mine.listId, { rowId: mine.rowId, columnId: unknown }, "Column not found"],
      [mine.listId, { rowId: mine.rowId, columnId: second.columnId }, "Column not found"],
    ];
    for (const [listId, body, message] of cases) {
      const res = await client.put(`/api/lists/${listId}/cells`, { ...body, value: "x" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: message, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect(await h.db.select().from(personCells).where(eq(personCells.columnId, mine.columnId))).toEqual([]);
    expect(await h.db.select().from(personCells).where(eq(personCells.columnId, second.columnId))).toEqual([]);
  });

  it("answers 404 for a company-subject column", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId } = await sheet(client);
    const companyColumn = await addColumn(h.db, client.workspaceId, listId, { subject: "company" });
    const res = await client.put(`/api/lists/${listId}/cells`, { rowId, columnId: companyColumn, value: "x" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "Column not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });

  it.each([
    [{ columnId: "00000000-0000-0000-0000-000000000000" }, "rowId"],
    [{ rowId: "nope", columnId: "00000000-0000-0000-0000-000000000000" }, "rowId"],
    [{ rowId: "00000000-0000-0000-0000-000000000000", columnId: "zzz" }, "columnId"],
  ])("answers 400 for %j", async (body, path) => {
    const client = await h.seedWorkspace();
    const { listId } = await sheet(client);
    const res = await client.put(`/api/lists/${listId}/cells`, { ...body, value: 1 });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path }] });
  });

  it("answers 400 for a malformed list id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.put(`/api/lists/xyz/cells`, { rowId: crypto.randomUUID(), columnId: crypto.randomUUID(), value: 1 });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "id", message: "Invalid UUID" }] });
  });
});

describe("PATCH /api/lists/{id}/companies/{cid}/cells (seed 002)", () => {
  async function companySheet(client: Client) {
    const list = await createList(h.db, client.workspaceId, { name: "Companies" });
    const [companyRowId] = await addCompanies(h.db, client.workspaceId, list.id, ["Acme"]);
    const columnId = await addColumn(h.db, client.workspaceId, list.id, { subject: "company", schema: { type: "number" } });
    return { listId: list.id, companyRowId: companyRowId!, columnId };
  }
  async function stored(columnId: string, companyRowId: string) {
    const [cell] = await h.db
      .select()
      .from(companyCells)
      .where(and(eq(companyCells.columnId, columnId), eq(companyCells.companyRowId, companyRowId)));
    return cell;
  }

  it("stores the value as given, status complete, no type coercion", async () => {
    const client = await h.seedWorkspace();
    const { listId, companyRowId, columnId } = await companySheet(client);
    const res = await client.patch(`/api/lists/${listId}/companies/${companyRowId}/cells`, { columnId, value: "about 250" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await stored(columnId, companyRowId)).toMatchObject({ value: "about 250", status: "complete", reasoning: null, error: null });
  });

  it.each([[""], [undefined], [null]])("stores %j as NULL and leaves reasoning and error as they were", async (value) => {
    const client = await h.seedWorkspace();
    const { listId, companyRowId, columnId } = await companySheet(client);
    await h.db.insert(companyCells).values({ listId, columnId, companyRowId, value: 12, status: "failed", reasoning: "from site", error: "partial" });
    const res = await client.patch(`/api/lists/${listId}/companies/${companyRowId}/cells`, value === undefined ? { columnId } : { columnId, value });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    const cell = await stored(columnId, companyRowId);
    expect(cell).toMatchObject({ value: null, status: "complete", reasoning: "from site", error: "partial" });
  });

  it("answers 404 for a foreign list, an unknown company, and a column that is not a company column of this list", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const mine = await companySheet(client);
    const second = await companySheet(client);
    const theirs = await companySheet(other);
    const personColumn = await addColumn(h.db, client.workspaceId, mine.listId, { subject: "person" });
    const cases: Array<[string, string, string, string]> = [
      [theirs.listId, theirs.companyRowId, theirs.columnId, "List not found"],
      [mine.listId, crypto.randomUUID(), mine.columnId, "Company not found"],
      [mine.listId, second.companyRowId, mine.columnId, "Company not found"],
      [mine.listId, mine.companyRowId, second.columnId, "Column not found"],
      [mine.listId, mine.companyRowId, personColumn, "Column not found"],
      [mine.listId, mine.companyRowId, crypto.randomUUID(), "Column not found"],
    ];
    for (const [listId, cid, columnId, message] of cases) {
      const res = await client.patch(`/api/lists/${listId}/companies/${cid}/cells`, { columnId, value: "x" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: message, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    for (const fixture of [mine, second, theirs]) {
      expect(await h.db.select().from(companyCells).where(eq(companyCells.listId, fixture.listId))).toEqual([]);
    }
  });

  it("answers 400 for malformed ids", async () => {
    const client = await h.seedWorkspace();
    const { listId, companyRowId } = await companySheet(client);
    expect((await client.patch(`/api/lists/${listId}/companies/${companyRowId}/cells`, { columnId: "x" })).body).toMatchObject({
      code: "VALIDATION_ERROR",
      issues: [{ path: "columnId" }],
    });
    expect((await client.patch(`/api/lists/${listId}/companies/abc/cells`, { columnId: crypto.randomUUID() })).body).toMatchObject({
      code: "VALIDATION_ERROR",
      issues: [{ path: "cid" }],
    });
  });
});

describe("the cell writes check the key in their own statement", () => {
  const counting = countingApp(h);
  const UNKNOWN_KEY = `pk_live_${"u".repeat(43)}`;
  const UNAUTHORIZED = { error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID };

  async function companySheet(client: Client) {
    const list = await createList(h.db, client.workspaceId, { name: "Company cells" });
    const [companyRowId] = await addCompanies(h.db, client.workspaceId, list.id, ["Analytical Engines"]);
    const columnId = await addColumn(h.db, client.workspaceId, list.id, { subject: "company", schema: { type: "text" } });
    return { listId: list.id, companyRowId: companyRowId!, columnId };
  }

  it("one statement for a person or company cell write, its key check included", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(client);
    const counted = counting.as(client);
    let res: Awaited<ReturnType<Client["put"]>> | undefined;
    expect(await counting.count(async () => (res = await counted.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "one trip" })))).toBe(1);
    expect(res!.status).toBe(200);
    expect(await storedCell(columnId, rowId)).toMatchObject({ value: "one trip", status: "completed" });
    const company = await companySheet(client);
    let patched: Awaited<ReturnType<Client["patch"]>> | undefined;
    expect(
      await counting.count(async () => (patched = await counted.patch(`/api/lists/${company.listId}/companies/${company.companyRowId}/cells`, { columnId: company.columnId, value: "one trip" }))),
    ).toBe(1);
    expect(patched!.status).toBe(200);
  });

  it("answers 401 for an unknown key and writes nothing", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(client);
    const stranger = new Client(h.app, h.db, { ...client.account, apiKey: UNKNOWN_KEY });
    const res = await stranger.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "intruder" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(UNAUTHORIZED);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(await storedCell(columnId, rowId)).toBeUndefined();
    const company = await companySheet(client);
    const patched = await stranger.patch(`/api/lists/${company.listId}/companies/${company.companyRowId}/cells`, { columnId: company.columnId, value: "intruder" });
    expect(patched.status).toBe(401);
    expect(patched.body).toEqual(UNAUTHORIZED);
  });

  it("refuses a key the moment it is revoked", async () => {
    const client = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(client);
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "before" })).status).toBe(200);
    await revokeApiKey(h.db, { accountId: client.account.accountId });
    const res = await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "after" });
    expect(res.status).toBe(401);
    expect(res.body).toEqual(UNAUTHORIZED);
    expect(await storedCell(columnId, rowId)).toMatchObject({ value: "before" });
  });

  it("tells a wrong key before a bad body, and a right key the body's fault", async () => {
    const client = await h.seedWorkspace();
    const { listId, columnId } = await sheet(client);
    const stranger = new Client(h.app, h.db, { ...client.account, apiKey: UNKNOWN_KEY });
    const wrongKey = await stranger.put(`/api/lists/${listId}/cells`, { rowId: "not-a-uuid", columnId });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body).toEqual(UNAUTHORIZED);
    const malformedKey = new Client(h.app, h.db, { ...client.account, apiKey: "not-a-key" });
    expect((await malformedKey.put(`/api/lists/${listId}/cells`, { rowId: "not-a-uuid", columnId })).status).toBe(401);
    const rightKey = await client.put(`/api/lists/${listId}/cells`, { rowId: "not-a-uuid", columnId });
    expect(rightKey.status).toBe(400);
    expect(rightKey.body.code).toBe("VALIDATION_ERROR");
  });

  it("answers 404, not 401, for another workspace's list with a valid key", async () => {
    const owner = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const { listId, rowId, columnId } = await sheet(owner);
    const res = await other.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "x" });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe("NOT_FOUND");
    expect(await storedCell(columnId, rowId)).toBeUndefined();
  });
});
