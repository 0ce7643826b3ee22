import { and, asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { columns, creditLedger, personCells, personRows } from "../src/db/schema";
import { createInProcessDispatcher, type InProcessDispatcher } from "../src/dispatch/in-process";
import type { Dispatcher } from "../src/dispatch/types";
import { createAiColumnProvider } from "../src/providers/ai-column";
import { createLogger } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { countingApp } from "./helpers/counting";
import { REQUEST_ID, useHarness, type Client, type Json } from "./helpers/harness";
import { echoModel } from "./helpers/scripted-model";

// The spreadsheet engine end to end, through the routes and the real tasks (in-process executor)
// over real Postgres: references and dependencies, upstream failures, auto-run on every insert path
// and on field changes, run conditions and budgets. The AI provider is the real AI column adapter
// over a scripted model: it answers the rendered question, so a dependent cell's value shows what it
// read; a question mentioning "FAIL" fails.

/** Every question the model was asked, in order. */
const asked: string[] = [];

const scriptedModel = echoModel({ asked, failOn: "FAIL" });

let inProcess: InProcessDispatcher;
/** batchTrigger calls by task id, and the rows they carried. */
const dispatches: Array<{ taskId: string; rows: number }> = [];

const h = useHarness({
  providers: { ai: createAiColumnProvider(scriptedModel) },
  dispatcher: (services) => {
    inProcess = createInProcessDispatcher({ registry: createTaskRegistry(services), logger: createLogger("silent"), retryDelay: { minMs: 10, maxMs: 50 } });
    const dispatcher: Dispatcher = {
      trigger: (taskId, payload) => inProcess.trigger(taskId, payload),
      async batchTrigger(taskId, payloads) {
        dispatches.push({ taskId, rows: payloads.reduce((n, p) => n + ("rowIds" in p ? p.rowIds.length : 1), 0) });
        return inProcess.batchTrigger(taskId, payloads);
      },
      cancel: (ids) => inProcess.cancel(ids),
    };
    return dispatcher;
  },
});

const settle = () => inProcess.idle();

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Engine" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

async function addRows(client: Client, listId: string, names: string[]): Promise<string[]> {
  const res = await client.post(`/api/lists/${listId}/rows/bulk`, { rows: names.map((name) => ({ firstName: name.split(" ")[0], lastName: name.split(" ")[1] ?? "Row", company: "Acme" })) });
  expect(res.status).toBe(200);
  return res.body.rowIds;
}

async function aiColumn(client: Client, listId: string, body: Record<string, unknown>): Promise<Json> {
  const res = await client.post(`/api/lists/${listId}/columns`, { isDynamic: true, dataSource: "profile", ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.column;
}

type Cell = { rowId: string; status: string; value: unknown; reasoning: string | null; error: string | null; paid: number; waitingOn: string[] };

/** A column's cells by row position. */
async function cellsOf(columnId: string): Promise<Cell[]> {
  return h.db
    .select({ rowId: personCells.rowId, status: personCells.status, value: personCells.value, reasoning: personCells.reasoning, error: personCells.error, paid: personCells.paid, waitingOn: personCells.waitingOn })
    .from(personCells)
    .innerJoin(personRows, eq(personRows.id, personCells.rowId))
    .where(eq(personCells.columnId, columnId))
    .orderBy(asc(personRows.position));
}

async function balanceAndLedger(client: Client): Promise<{ balance: number; ledgerSum: number }> {
  const [row] = rowsOf<{ balance: number; ledger: number }>(
    await h.db.execute(sql`
      select w.credit_balance as balance, (select coalesce(sum(delta), 0) from credit_ledger l where l.workspace_id = w.id)::int as ledger
      from workspaces w where w.id = ${client.workspaceId}`),
  );
  return { balance: Number(row!.balance), ledgerSum: Number(row!.ledger) };
}

/** What the column was charged, net of refunds. */
async function netCharged(columnId: string): Promise<number> {
  const [row] = await h.db
    .select({ net: sql<number>`coalesce(-sum(${creditLedger.delta}), 0)::int` })
    .from(creditLedger)
    .where(and(eq(creditLedger.referenceType, "column"), eq(creditLedger.referenceId, columnId)));
  return Number(row!.net);
}

describe("column references", () => {
  it("runs a chain of three columns in order on every row: each cell after its inputs, with their values in its prompt", async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const listId = await newList(client);
    const names = Array.from({ length: 30 }, (_, i) => `Person${i} Row`);
    await addRows(client, listId, names);
    dispatches.length = 0;
    const industry = await aiColumn(client, listId, { name: "Industry", prompt: "Industry of {{name}}" });
    const pitch = await aiColumn(client, listId, { name: "Pitch", prompt: "Pitch for {{Industry}}" });
    const subject = await aiColumn(client, listId, { name: "Subject line", prompt: "Subject from {{ pitch }}" });
    expect(pitch.dependsOn).toEqual([industry.id]);
    expect(subject.dependsOn).toEqual([pitch.id]);
    await settle();

    const [a, b, c] = await Promise.all([cellsOf(industry.id), cellsOf(pitch.id), cellsOf(subject.id)]);
    expect(a.map((cell) => cell.value)).toEqual(names.map((name) => `<Industry of ${name}>`));
    expect(b.map((cell) => cell.value)).toEqual(names.map((name) => `<Pitch for <Industry of ${name}>>`));
    expect(c.map((cell) => cell.value)).toEqual(names.map((name) => `<Subject from <Pitch for <Industry of ${name}>>>`));
    for (const cell of [...a, ...b, ...c]) expect(cell).toMatchObject({ status: "completed", error: null, waitingOn: [] });
    // One dispatch per creation at most, and the dependents' releases batched by flush, never one per cell.
    // The creations dispatch what is ready at once; the dependents released by flushes are gathered into one dispatch per column.
    expect(dispatches.length).toBeLessThanOrEqual(5);
    const ledger = await balanceAndLedger(client);
    expect(ledger).toEqual({ balance: 1000 - 90, ledgerSum: 1000 - 90 });
    for (const id of [industry.id, pitch.id, subject.id]) expect(await netCharged(id)).toBe(30);
  });

  it("refuses a reference to nothing (UNKNOWN_REFERENCE) and a reference to itself (DEPENDENCY_CYCLE), writing nothing", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addRows(client, listId, ["Ada Lovelace"]);
    const unknown = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch for {{Nope}} and {{name}}" });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({
      error: 'Unknown reference: prompt {{Nope}}: "Nope" is no column of this list and no person field',
      code: "UNKNOWN_REFERENCE",
      requestId: REQUEST_ID,
      issues: [{ path: "prompt {{Nope}}", message: '"Nope" is no column of this list and no person field' }],
    });
    const self = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Improve {{Pitch}}" });
    expect(self.status).toBe(400);
    expect(self.body.code).toBe("DEPENDENCY_CYCLE");
    const cols = await h.db.select({ id: columns.id }).from(columns).where(and(eq(columns.listId, listId), sql`${columns.builtInKey} is null`));
    expect(cols).toEqual([]);
    expect(await balanceAndLedger(client)).toEqual({ balance: 100, ledgerSum: 100 });
  });

  it("refuses a condition that closes a loop (DEPENDENCY_CYCLE naming it)", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const a = await aiColumn(client, listId, { name: "A", prompt: "First {{name}}" });
    const b = await aiColumn(client, listId, { name: "B", prompt: "Then {{A}}" });
    const res = await client.patch(`/api/lists/${listId}/columns/${a.id}`, { runIf: { all: [{ field: "column:B", op: "is_not_empty" }] } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'The column\'s references lead back to it: "A" → "B" → "A"', code: "DEPENDENCY_CYCLE", requestId: REQUEST_ID, cycle: ["A", "B", "A"] });
    const [stored] = await h.db.select({ runIf: columns.runIf, dependsOn: columns.dependsOn }).from(columns).where(eq(columns.id, a.id));
    expect(stored).toEqual({ runIf: null, dependsOn: [] });
    expect(b.dependsOn).toEqual([a.id]);
  });

  it("lets only one of two concurrent changes that would close a loop through", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const a = await aiColumn(client, listId, { name: "A", prompt: "First {{name}}", autoRun: true });
    const b = await aiColumn(client, listId, { name: "B", prompt: "Second {{name}}", autoRun: true });
    const answers = await Promise.all([
      client.patch(`/api/lists/${listId}/columns/${a.id}`, { runIf: { all: [{ field: "column:B", op: "is_not_empty" }] } }),
      client.patch(`/api/lists/${listId}/columns/${b.id}`, { runIf: { all: [{ field: "column:A", op: "is_not_empty" }] } }),
    ]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400]);
    expect(answers.find((answer) => answer.status === 400)!.body.code).toBe("DEPENDENCY_CYCLE");
    const stored = await h.db.select({ id: columns.id, dependsOn: columns.dependsOn }).from(columns).where(sql`${columns.id} in (${a.id}, ${b.id})`);
    expect(stored.filter((column) => column.dependsOn.length > 0)).toHaveLength(1);
    await addRows(client, listId, ["Ada Lovelace"]);
    await settle();
    expect([...(await cellsOf(a.id)), ...(await cellsOf(b.id))].map((cell) => cell.status)).toEqual(["completed", "completed"]);
  });

  it("keeps what a column's names meant when a column it reads is renamed, also across later changes", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const score = (await client.post(`/api/lists/${listId}/columns`, { name: "Score", isDynamic: false })).body.column;
    const reader = await aiColumn(client, listId, { name: "Verdict", prompt: "Judge {{Score}}" });
    expect((await client.patch(`/api/lists/${listId}/columns/${score.id}`, { name: "Rating" })).status).toBe(200);
    const changed = await client.patch(`/api/lists/${listId}/columns/${reader.id}`, { autoRun: true });
    expect(changed.status).toBe(200);
    await client.post(`/api/lists/${listId}/columns`, { name: "Score", isDynamic: false });
    expect((await client.patch(`/api/lists/${listId}/columns/${reader.id}`, { maxCredits: 50 })).status).toBe(200);
    const [stored] = await h.db.select({ refs: columns.refs }).from(columns).where(eq(columns.id, reader.id));
    expect(stored!.refs).toEqual([{ name: "score", columnId: score.id }]);
    const [rowId] = await addRows(client, listId, ["Ada Lovelace"]);
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId, columnId: score.id, value: "nine" })).status).toBe(200);
    await settle();
    expect((await cellsOf(reader.id)).map((cell) => cell.value)).toEqual(["<Judge nine>"]);
  });

  it("fails the dependent cells of a row whose upstream cell failed, UPSTREAM_FAILED, refunded", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addRows(client, listId, ["Good One", "FAIL Two", "Good Three"]);
    const a = await aiColumn(client, listId, { name: "A", prompt: "About {{name}}" });
    const b = await aiColumn(client, listId, { name: "B", prompt: "More on {{A}}" });
    const c = await aiColumn(client, listId, { name: "C", prompt: "Even more on {{B}}" });
    await settle();
    const [ca, cb, cc] = await Promise.all([cellsOf(a.id), cellsOf(b.id), cellsOf(c.id)]);
    expect(ca.map((cell) => cell.status)).toEqual(["completed", "failed", "completed"]);
    expect(cb[1]).toEqual({ rowId: ca[1]!.rowId, status: "failed", value: null, reasoning: 'Upstream column "A" failed for this row', error: "UPSTREAM_FAILED", paid: 0, waitingOn: [] });
    expect(cc[1]).toEqual({ rowId: ca[1]!.rowId, status: "failed", value: null, reasoning: 'Upstream column "B" failed for this row', error: "UPSTREAM_FAILED", paid: 0, waitingOn: [] });
    for (const id of [a.id, b.id, c.id]) expect(await netCharged(id)).toBe(2);
    expect(await balanceAndLedger(client)).toEqual({ balance: 94, ledgerSum: 94 });
  });
});

describe("auto-run", () => {
  it("queues and fills auto-run cells for rows added one by one, in bulk, by a lead joining the list, and for new company rows", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const person = await aiColumn(client, listId, { name: "Summary", prompt: "Summarise {{name}}", autoRun: true });
    const company = await aiColumn(client, listId, { name: "Sector", prompt: "Sector of {{name}}", subject: "company", autoRun: true });
    const manual = await aiColumn(client, listId, { name: "Later", prompt: "Not auto {{name}}" });
    expect(person).toMatchObject({ autoRun: true, runIf: null, maxCredits: null, budgetLeft: null, dependsOn: [] });
    const single = await client.post(`/api/lists/${listId}/rows`, { firstName: "Ada", lastName: "Lovelace", company: "Analytical" });
    expect(single.status).toBe(200);
    // The auto-run column has its cell now; only the other one is still to enrich.
    expect(single.body.columnsToEnrich).toEqual([manual.id]);
    await addRows(client, listId, ["Grace Hopper", "Alan Turing"]);
    const lead = await client.post("/api/leads", { type: "person", name: { first: "Edsger", last: "Dijkstra" }, listIds: [listId] });
    expect([200, 201]).toContain(lead.status);
    await settle();

    const cells = await cellsOf(person.id);
    expect(cells.map((c) => [c.status, c.value])).toEqual([
      ["completed", "<Summarise Ada Lovelace>"],
      ["completed", "<Summarise Grace Hopper>"],
      ["completed", "<Summarise Alan Turing>"],
      ["completed", "<Summarise Edsger Dijkstra>"],
    ]);
    expect(await cellsOf(manual.id)).toEqual([]);
    const companyCells = rowsOf<{ status: string; value: unknown }>(
      await h.db.execute(sql`select status, value from list_company_cells where column_id = ${company.id} order by id`),
    );
    expect(companyCells).toEqual([{ status: "completed", value: "<Sector of Analytical>" }, { status: "completed", value: "<Sector of Acme>" }]);
    expect(await netCharged(person.id)).toBe(4);
    expect(await netCharged(company.id)).toBe(2);
    expect(await balanceAndLedger(client)).toEqual({ balance: 94, ledgerSum: 94 });
  });

  it("adds the rows either way and fails the auto-run cells the balance cannot cover with INSUFFICIENT_CREDITS, uncharged", async () => {
    const client = await h.seedWorkspace({ credits: 2 });
    const listId = await newList(client);
    const column = await aiColumn(client, listId, { name: "Summary", prompt: "Summarise {{name}}", autoRun: true });
    const rowIds = await addRows(client, listId, ["One A", "Two B", "Three C", "Four D"]);
    expect(rowIds).toHaveLength(4);
    await settle();
    const cells = await cellsOf(column.id);
    expect(cells.map((c) => [c.status, c.error, c.paid])).toEqual([
      ["completed", null, 1],
      ["completed", null, 1],
      ["failed", "INSUFFICIENT_CREDITS", 0],
      ["failed", "INSUFFICIENT_CREDITS", 0],
    ]);
    expect(await balanceAndLedger(client)).toEqual({ balance: 0, ledgerSum: 0 });
  });

  it("runs an auto-run cell again when a field it reads changes, and leaves it alone for other fields", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const column = await aiColumn(client, listId, { name: "Pitch", prompt: "Pitch {{company}}", autoRun: true });
    const [rowId] = await addRows(client, listId, ["Ada Lovelace"]);
    await settle();
    expect((await cellsOf(column.id)).map((c) => c.value)).toEqual(["<Pitch Acme>"]);
    const other = await client.patch(`/api/lists/${listId}/rows/${rowId}`, { field: "location", value: "London" });
    expect(other.status).toBe(200);
    await settle();
    expect((await cellsOf(column.id)).map((c) => c.value)).toEqual(["<Pitch Acme>"]);
    const changed = await client.patch(`/api/lists/${listId}/rows/${rowId}`, { field: "company", value: "Globex" });
    expect(changed.status).toBe(200);
    await settle();
    expect((await cellsOf(column.id)).map((c) => [c.status, c.value])).toEqual([["completed", "<Pitch Globex>"]]);
    expect(await netCharged(column.id)).toBe(2);
    expect(await balanceAndLedger(client)).toEqual({ balance: 98, ledgerSum: 98 });
  });
});

describe("auto-run statements", () => {
  const counted = countingApp(h);

  async function bulkInsert(columnsOfList: Array<Record<string, unknown>>, rows: number): Promise<{ statements: number; listId: string; ids: string[] }> {
    const client = await h.seedWorkspace({ credits: 100_000 });
    const listId = await newList(client);
    const ids: string[] = [];
    for (const body of columnsOfList) ids.push((await aiColumn(client, listId, body)).id);
    const statements = await counted.count(async () => {
      const res = await counted.as(client).post(`/api/lists/${listId}/rows/bulk`, {
        rows: Array.from({ length: rows }, (_, i) => ({ firstName: `P${i}`, lastName: "Row", company: "Acme" })),
      });
      expect(res.status).toBe(200);
    });
    await settle();
    return { statements, listId, ids };
  }

  it("sends as many statements for 400 rows as for 10, and as many for three auto-run columns as for one", async () => {
    const chain = [
      { name: "A", prompt: "A {{name}}", autoRun: true },
      { name: "B", prompt: "B {{A}}", autoRun: true },
      { name: "C", prompt: "C {{name}}", autoRun: true, runIf: { all: [{ field: "firstName", op: "starts_with", value: "P1" }] } },
    ];
    const ten = await bulkInsert(chain, 10);
    const many = await bulkInsert(chain, 400);
    expect(many.statements).toBe(ten.statements);
    for (const id of many.ids) expect((await cellsOf(id)).filter((c) => c.status !== "completed")).toEqual([]);
    const one = await bulkInsert([{ name: "A", prompt: "A {{name}}", autoRun: true }], 50);
    const three = await bulkInsert(["A", "B", "C"].map((name) => ({ name, prompt: `${name} {{name}}`, autoRun: true })), 50);
    expect(three.statements).toBe(one.statements);
  });
});

describe("run conditions", () => {
  it("completes the rows that do not match empty, 'Run condition not met', uncharged; runs the others", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addRows(client, listId, ["Ada Lovelace", "Grace Hopper", "Alan Turing"]);
    const column = await aiColumn(client, listId, { name: "Pitch", prompt: "Pitch {{name}}", runIf: { any: [{ field: "firstName", op: "in", value: ["ada", "alan"] }] } });
    expect(column.runIf).toEqual({ all: [], any: [{ field: "firstName", op: "in", value: ["ada", "alan"] }] });
    await settle();
    expect((await cellsOf(column.id)).map((c) => [c.status, c.value, c.reasoning, c.paid])).toEqual([
      ["completed", "<Pitch Ada Lovelace>", "echoed", 1],
      ["completed", null, "Run condition not met", 0],
      ["completed", "<Pitch Alan Turing>", "echoed", 1],
    ]);
    expect(await netCharged(column.id)).toBe(2);
    expect(await balanceAndLedger(client)).toEqual({ balance: 98, ledgerSum: 98 });
  });

  it("waits for a column its condition reads, then decides on its value", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addRows(client, listId, ["Ada Lovelace", "FAIL Hopper", "Alan Turing"]);
    const first = await aiColumn(client, listId, { name: "Bio", prompt: "Bio of {{name}}" });
    const gated = await aiColumn(client, listId, { name: "Gated", prompt: "Gate {{name}}", runIf: { all: [{ field: "column:Bio", op: "contains", value: "ada" }] } });
    expect(gated.dependsOn).toEqual([first.id]);
    await settle();
    expect((await cellsOf(gated.id)).map((c) => [c.status, c.value, c.error])).toEqual([
      ["completed", "<Gate Ada Lovelace>", null],
      ["failed", null, "UPSTREAM_FAILED"],
      ["completed", null, null],
    ]);
    expect(await netCharged(gated.id)).toBe(1);
  });

  it("refuses a malformed condition (INVALID_FILTER with the path) and one naming no column (UNKNOWN_REFERENCE)", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const bad = await client.post(`/api/lists/${listId}/columns`, { name: "P", isDynamic: true, prompt: "x", runIf: { all: [{ field: "title", op: "like", value: "x" }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("INVALID_FILTER");
    expect(bad.body.issues[0].path).toBe("runIf.all.0.op");
    const unknown = await client.post(`/api/lists/${listId}/columns`, { name: "P", isDynamic: true, prompt: "x", runIf: { all: [{ field: "column:Nope", op: "is_empty" }] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe("UNKNOWN_REFERENCE");
    expect(unknown.body.issues).toEqual([{ path: "runIf.all.0.field", message: '"Nope" is no column of this list and no person field' }]);
  });
});

describe("budgets", () => {
  it("answers 402 BUDGET_EXCEEDED with budgetLeft before writing anything, and reports what is left", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addRows(client, listId, ["A One", "B Two", "C Three"]);
    const refused = await client.post(`/api/lists/${listId}/columns`, { name: "P", isDynamic: true, dataSource: "profile", prompt: "x {{name}}", maxCredits: 2 });
    expect(refused.status).toBe(402);
    expect(refused.body).toEqual({
      error: "The column's budget does not cover this: 3 required, 2 left of its maxCredits",
      code: "BUDGET_EXCEEDED",
      requestId: REQUEST_ID,
      required: 3,
      balance: 100,
      budgetLeft: 2,
    });
    const column = await aiColumn(client, listId, { name: "P", prompt: "x {{name}}", maxCredits: 4 });
    await settle();
    const read = await client.get(`/api/lists/${listId}/columns/${column.id}`);
    expect(read.body.column).toMatchObject({ maxCredits: 4, budgetLeft: 1, credits: { charged: 3, refunded: 0, held: 0 } });
  });

  it("never spends past the budget under 50 concurrent re-runs, and fails auto-run cells past it with BUDGET_EXCEEDED", async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const listId = await newList(client);
    const rowIds = await addRows(client, listId, ["A One", "B Two"]);
    const column = await aiColumn(client, listId, { name: "P", prompt: "x {{name}}", maxCredits: 10, autoRun: true });
    await settle();
    const answers = await Promise.all(Array.from({ length: 50 }, () => client.post(`/api/lists/${listId}/columns/${column.id}/generate`, { rowIds })));
    await settle();
    const statuses = answers.map((a) => a.status);
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);
    expect(await netCharged(column.id)).toBeLessThanOrEqual(10);
    await addRows(client, listId, Array.from({ length: 12 }, (_, i) => `New${i} Person`));
    await settle();
    expect(await netCharged(column.id)).toBeLessThanOrEqual(10);
    const cells = await cellsOf(column.id);
    expect(cells.filter((c) => c.error === "BUDGET_EXCEEDED").length).toBeGreaterThan(0);
    expect(cells.filter((c) => c.status === "pending" || c.status === "processing")).toEqual([]);
    const ledger = await balanceAndLedger(client);
    expect(ledger.balance).toBe(ledger.ledgerSum);
    expect(ledger.balance).toBe(1000 - (await netCharged(column.id)));
  });
});

describe("re-runs and deletion", () => {
  it("re-runs the dependents of a re-generated upstream cell after it, and refuses to delete a column others read", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [rowId] = await addRows(client, listId, ["Ada Lovelace", "Grace Hopper"]);
    const a = await aiColumn(client, listId, { name: "A", prompt: "About {{name}}" });
    const b = await aiColumn(client, listId, { name: "B", prompt: "More {{A}}" });
    await settle();
    asked.length = 0;
    const rerun = await client.post(`/api/lists/${listId}/columns/${a.id}/generate`, { rowIds: [rowId] });
    expect(rerun.status).toBe(200);
    await settle();
    expect(asked).toEqual(["About Ada Lovelace", "More <About Ada Lovelace>"]);
    expect(await netCharged(b.id)).toBe(3);
    const refused = await client.delete(`/api/lists/${listId}/columns/${a.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: 'Column "A" is read by "B"; change or delete those first', code: "CONFLICT", requestId: REQUEST_ID, readers: [{ id: b.id, name: "B" }] });
    expect((await client.delete(`/api/lists/${listId}/columns/${b.id}`)).status).toBe(200);
    expect((await client.delete(`/api/lists/${listId}/columns/${a.id}`)).status).toBe(200);
  });
});
