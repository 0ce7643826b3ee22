import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { columns, companyCells, personCells } from "../src/db/schema";
import { addColumn, addCompanies, addPeople, cellsByPosition, type CellState } from "./helpers/fixtures";
import { useHarnessOverFakeTrigger } from "./helpers/fake-trigger-harness";
import { REQUEST_ID, UUID, type Client } from "./helpers/harness";

// Dispatch goes through the real Trigger.dev SDK to a fake Trigger.dev whose tasks finish at once
// without touching the database, so the cells stay as the route left them.
const { fake, h } = await useHarnessOverFakeTrigger();

const RUN_ID = expect.stringMatching(/^run_[0-9a-z]+$/);
const BATCH_ID = expect.stringMatching(/^batch_[0-9a-z]+$/);
const PEOPLE = ["A One", "B Two", "C Three", "D Four", "E Five", "F Six"];

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Prospects" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

const cellsOf = (columnId: string, subject?: "person" | "company") => cellsByPosition(h.db, columnId, subject);

async function charges(client: Client) {
  return (await client.ledger())
    .filter((entry) => entry.kind === "charge")
    .map((entry) => ({ action: entry.action, units: entry.units, delta: entry.delta, reference: { type: entry.referenceType, id: entry.referenceId } }));
}

async function triggerRunIds(columnId: string): Promise<string[]> {
  const [column] = await h.db.select({ ids: columns.triggerRunIds }).from(columns).where(eq(columns.id, columnId));
  return column!.ids;
}

/**
 * A workspace with `credits` left after an AI column over six people was created and answered:
 * every cell completed with a value and reasoning, except the last row's, which failed.
 */
async function answeredColumn(credits: number, dataSource: "web" | "profile" = "web") {
  const client = await h.seedWorkspace({ credits: credits + PEOPLE.length });
  const listId = await newList(client);
  const rowIds = await addPeople(h.db, client.workspaceId, listId, PEOPLE);
  const created = await client.post(`/api/lists/${listId}/columns`, { name: "Offering", isDynamic: true, prompt: "What do they sell?", dataSource });
  expect(created.status).toBe(201);
  const columnId: string = created.body.column.id;
  await h.db.update(personCells).set({ status: "completed", value: "Widgets", reasoning: "From the website" }).where(eq(personCells.columnId, columnId));
  await h.db
    .update(personCells)
    .set({ status: "failed", value: null, reasoning: null, error: "PROVIDER_ERROR" })
    .where(and(eq(personCells.columnId, columnId), eq(personCells.rowId, rowIds.at(-1)!)));
  const before = await cellsOf(columnId);
  fake.clearRecords();
  return { client, listId, rowIds, columnId, before, creationRunIds: await triggerRunIds(columnId) };
}

const pending = (rowId: string): CellState => ({ rowId, status: "pending", value: null, reasoning: null, error: null, runToken: UUID });
const dispatchFailed = (rowId: string): CellState => ({ rowId, status: "failed", value: null, reasoning: null, error: "DISPATCH_FAILED", runToken: UUID });

const generate = (client: Client, listId: string, columnId: string, body: unknown) =>
  client.post(`/api/lists/${listId}/columns/${columnId}/generate`, body);

describe("POST /api/lists/{id}/columns/{colId}/generate", () => {
  it("re-runs 5 rows: their cells reset to pending with new run tokens, one dispatch, a charge of 5", async () => {
    const { client, listId, rowIds, columnId, before, creationRunIds } = await answeredColumn(10);
    const chosen = rowIds.slice(0, 5);

    // Out of order and with a repeat: the rows are queued once each, by position.
    const res = await generate(client, listId, columnId, { rowIds: [chosen[3], chosen[0], chosen[4], chosen[1], chosen[2], chosen[0]] });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, taskId: RUN_ID, rowCount: 5 });
    expect(fake.runs).toEqual([{ runId: res.body.taskId, taskId: "sheet-ai-enrich", batchId: BATCH_ID, payload: { columnId, rowIds: chosen } }]);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /api/v3/batches",
      `POST /api/v3/batches/${fake.runs[0]!.batchId}/items`,
      `GET /api/v2/batches/${fake.runs[0]!.batchId}`,
    ]);

    const after = await cellsOf(columnId);
    expect(after).toEqual([...chosen.map(pending), before.at(-1)]);
    for (let i = 0; i < 5; i++) expect(after[i]!.runToken).not.toBe(before[i]!.runToken);

    expect(await triggerRunIds(columnId)).toEqual([...creationRunIds, fake.runs[0]!.batchId, res.body.taskId]);
    expect(await charges(client)).toEqual([
      { action: "CUSTOM_ENRICHMENT_WEB", units: 6, delta: -6, reference: { type: "column", id: columnId } },
      { action: "CUSTOM_ENRICHMENT_WEB", units: 5, delta: -5, reference: { type: "column", id: columnId } },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 5, ledgerSum: 5, entries: 3 });
  });

  it("charges CUSTOM_ENRICHMENT_AI on a reasoning column", async () => {
    const { client, listId, rowIds, columnId } = await answeredColumn(10, "profile");

    const res = await generate(client, listId, columnId, { rowIds: [rowIds[5]] });

    expect(res.body).toEqual({ success: true, taskId: RUN_ID, rowCount: 1 });
    expect((await charges(client)).at(-1)).toEqual({ action: "CUSTOM_ENRICHMENT_AI", units: 1, delta: -1, reference: { type: "column", id: columnId } });
    expect((await cellsOf(columnId)).at(-1)).toEqual(pending(rowIds[5]!));
  });

  it("skips ids that are not rows of this list or of the column's subject, and queues rows that had no cell yet", async () => {
    const { client, listId, rowIds, columnId, before } = await answeredColumn(10);
    const [lateRow] = await addPeople(h.db, client.workspaceId, listId, ["G Seven"]);
    const otherList = await newList(client);
    const [otherListRow] = await addPeople(h.db, client.workspaceId, otherList, ["Elsewhere"]);
    const [companyRow] = await addCompanies(h.db, client.workspaceId, listId, ["Acme"]);

    const res = await generate(client, listId, columnId, { rowIds: [crypto.randomUUID(), otherListRow, rowIds[1], companyRow, lateRow] });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, taskId: RUN_ID, rowCount: 2 });
    expect(fake.runs.map((run) => run.payload)).toEqual([{ columnId, rowIds: [rowIds[1], lateRow] }]);
    expect(await cellsOf(columnId)).toEqual([before[0], pending(rowIds[1]!), ...before.slice(2), pending(lateRow!)]);
    expect(await cellsOf(columnId, "company")).toEqual([]);
    expect((await charges(client)).at(-1)).toEqual({ action: "CUSTOM_ENRICHMENT_WEB", units: 2, delta: -2, reference: { type: "column", id: columnId } });
  });

  it("answers rowCount 0 and taskId null without dispatching or charging when no id is a row of the list", async () => {
    const { client, listId, columnId, before, creationRunIds } = await answeredColumn(0);

    const res = await generate(client, listId, columnId, { rowIds: [crypto.randomUUID(), crypto.randomUUID()] });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, taskId: null, rowCount: 0 });
    expect(fake.requests).toEqual([]);
    expect(await cellsOf(columnId)).toEqual(before);
    expect(await triggerRunIds(columnId)).toEqual(creationRunIds);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 2 });
  });

  it("re-runs a company AI column on company rows", async () => {
    const client = await h.seedWorkspace({ credits: 10 });
    const listId = await newList(client);
    const companyIds = await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Offering", isDynamic: true, prompt: "What do they sell?", subject: "company" });
    const columnId = created.body.column.id;
    await h.db.update(companyCells).set({ status: "completed", value: "Widgets" }).where(eq(companyCells.columnId, columnId));
    fake.clearRecords();

    const res = await generate(client, listId, columnId, { rowIds: [companyIds[1]] });

    expect(res.body).toEqual({ success: true, taskId: RUN_ID, rowCount: 1 });
    expect(await cellsOf(columnId, "company")).toEqual([
      { rowId: companyIds[0], status: "completed", value: "Widgets", reasoning: null, error: null, runToken: UUID },
      pending(companyIds[1]!),
    ]);
    expect(fake.runs.map((run) => run.payload)).toEqual([{ columnId, rowIds: [companyIds[1]] }]);
    expect(await client.balance()).toBe(7);
  });

  it("answers the batch id as taskId when Trigger.dev has not listed the batch's runs yet", async () => {
    const { client, listId, rowIds, columnId, creationRunIds } = await answeredColumn(10);
    fake.failAlways({ status: 500 }, { path: /^\/api\/v2\/batches\// });

    const res = await generate(client, listId, columnId, { rowIds: [rowIds[0]] });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, taskId: BATCH_ID, rowCount: 1 });
    expect(res.body.taskId).toBe(fake.runs[0]!.batchId);
    expect(await triggerRunIds(columnId)).toEqual([...creationRunIds, res.body.taskId]);
    expect(await client.balance()).toBe(9);
  });

  it.each([
    ["a static column", { name: "Notes", isDynamic: false }, "profile"],
    ["a typed column", { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" }, "profile"],
  ])("rejects %s with NOT_AN_AI_COLUMN and writes nothing", async (_, body, source) => {
    const client = await h.seedWorkspace({ credits: 10 });
    const listId = await newList(client);
    const [rowId] = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const created = await client.post(`/api/lists/${listId}/columns`, body);
    const balance = await client.balance();
    fake.clearRecords();

    const res = await generate(client, listId, created.body.column.id, { rowIds: [rowId] });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: `Column "${body.name}" is not an AI column (source ${source}); only web and reasoning columns can generate values`,
      code: "NOT_AN_AI_COLUMN",
      requestId: REQUEST_ID,
    });
    expect(await cellsOf(created.body.column.id)).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(await client.balance()).toBe(balance);
  });

  it("rejects a built-in column with NOT_AN_AI_COLUMN", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const [rowId] = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const [name] = await h.db.select().from(columns).where(and(eq(columns.listId, listId), eq(columns.builtInKey, "name")));

    const res = await generate(client, listId, name!.id, { rowIds: [rowId] });

    expect(res.status).toBe(400);
    expect(res.body.code).toBe("NOT_AN_AI_COLUMN");
    expect(await cellsOf(name!.id)).toEqual([{ rowId, status: "completed", value: "Ada Lovelace", reasoning: null, error: null, runToken: null }]);
  });

  it("answers 402 with the exact required and balance before any cell write", async () => {
    const { client, listId, rowIds, columnId, before, creationRunIds } = await answeredColumn(3);

    const res = await generate(client, listId, columnId, { rowIds: rowIds.slice(0, 5) });

    expect(res.status).toBe(402);
    expect(res.body).toEqual({
      error: "Insufficient credits: 5 required, 3 available",
      code: "INSUFFICIENT_CREDITS",
      requestId: REQUEST_ID,
      required: 5,
      balance: 3,
    });
    expect(await cellsOf(columnId)).toEqual(before);
    expect(await triggerRunIds(columnId)).toEqual(creationRunIds);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 3, ledgerSum: 3, entries: 2 });
  });

  it.each([
    ["the fake answering 500", { status: 500 }],
    ["the fake hanging", { hang: true as const }],
  ])("answers 500 DISPATCH_FAILED with %s: no charge, the cells failed", async (_, fault) => {
    const { client, listId, rowIds, columnId, before, creationRunIds } = await answeredColumn(10);
    fake.failAlways(fault);

    const res = await generate(client, listId, columnId, { rowIds: rowIds.slice(0, 2) });

    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: expect.any(String), code: "DISPATCH_FAILED", requestId: REQUEST_ID });
    expect(await cellsOf(columnId)).toEqual([...rowIds.slice(0, 2).map(dispatchFailed), ...before.slice(2)]);
    expect(await triggerRunIds(columnId)).toEqual(creationRunIds);
    expect(fake.runs).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 10, ledgerSum: 10, entries: 2 });
  });

  it.each<[unknown, string]>([
    [{}, "rowIds"],
    [{ rowIds: [] }, "rowIds"],
    [{ rowIds: "all" }, "rowIds"],
    [{ rowIds: ["not-a-uuid"] }, "rowIds.0"],
  ])("rejects %j with VALIDATION_ERROR at %s", async (body, path) => {
    const { client, listId, columnId, before } = await answeredColumn(10);

    const res = await generate(client, listId, columnId, body);

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] });
    expect(await cellsOf(columnId)).toEqual(before);
    expect(await client.balance()).toBe(10);
  });

  it("rejects malformed list and column ids", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const badColumn = await generate(client, listId, "nope", { rowIds: [crypto.randomUUID()] });
    const badList = await generate(client, "nope", crypto.randomUUID(), { rowIds: [crypto.randomUUID()] });
    expect(badColumn.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "colId", message: "Invalid UUID" }] });
    expect(badList.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "id", message: "Invalid UUID" }] });
  });

  it("answers 404 for unknown, sibling and foreign columns and lists", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const listId = await newList(client);
    const [rowId] = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const siblingList = await newList(client);
    const sibling = await client.post(`/api/lists/${siblingList}/columns`, { name: "AI", isDynamic: true, prompt: "What do they sell?" });
    const foreignList = await newList(other);
    const foreignColumn = await addColumn(h.db, other.workspaceId, foreignList, { name: "Foreign" });
    const cases = [
      { listId, columnId: crypto.randomUUID(), error: "Column not found" },
      { listId, columnId: sibling.body.column.id, error: "Column not found" },
      { listId, columnId: foreignColumn, error: "Column not found" },
      { listId: foreignList, columnId: foreignColumn, error: "List not found" },
      { listId: crypto.randomUUID(), columnId: sibling.body.column.id, error: "List not found" },
    ];
    fake.clearRecords();

    for (const { listId: list, columnId, error } of cases) {
      const res = await generate(client, list, columnId, { rowIds: [rowId] });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect(fake.requests).toEqual([]);
    expect(await cellsOf(sibling.body.column.id)).toEqual([]);
    expect(await client.balance()).toBe(1000);
  });
});
