import { and, eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { columns } from "../src/db/schema";
import { createInProcessDispatcher, friendlyId, type InProcessDispatcher } from "../src/dispatch/in-process";
import { DispatchError, type Dispatcher } from "../src/dispatch/types";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { createLogger } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { credits, creditsFromLedger, progress, progressFromCells, type Progress } from "./helpers/column-stats";
import { addColumn, addCompanies, addPeople } from "./helpers/fixtures";
import { REQUEST_ID, useHarness, type Client, type Json } from "./helpers/harness";

// A column's `progress` and `credits`, and a list's `enrichmentStatus`, against the real tasks over
// the sandbox providers. The dispatcher runs the tasks in-process (`run`), keeps them back until the
// test lets them go (`park`: accepted, not started, so the cells stay pending), or refuses them
// (`refuse`: DISPATCH_FAILED).

type Mode = "run" | "park" | "refuse";
let mode: Mode = "run";
let inProcess: InProcessDispatcher;
let parked: Array<() => Promise<unknown>> = [];

const h = useHarness({
  dispatcher: (services) => {
    inProcess = createInProcessDispatcher({ registry: createTaskRegistry(services), logger: createLogger("silent"), retryDelay: { minMs: 10, maxMs: 50 } });
    const dispatcher: Dispatcher = {
      async trigger(taskId, payload) {
        if (mode === "refuse") throw new DispatchError("Trigger.dev answered 500");
        if (mode === "run") return inProcess.trigger(taskId, payload);
        parked.push(() => inProcess.trigger(taskId, payload));
        return { runId: friendlyId("run") };
      },
      async batchTrigger(taskId, payloads) {
        if (mode === "refuse") throw new DispatchError("Trigger.dev answered 500");
        if (mode === "run") return inProcess.batchTrigger(taskId, payloads);
        parked.push(() => inProcess.batchTrigger(taskId, payloads));
        return { batchId: friendlyId("batch"), runIds: payloads.map(() => friendlyId("run")) };
      },
      cancel: (ids) => inProcess.cancel(ids),
    };
    return dispatcher;
  },
});

/** Every task started so far has finished. */
const settle = () => inProcess.idle();

/** Starts the parked tasks, for real, and waits for them. */
async function release() {
  const waiting = parked;
  parked = [];
  mode = "run";
  for (const start of waiting) await start();
  await settle();
}

/** Each test starts with tasks running and nothing parked. */
function useMode(next: Mode) {
  mode = next;
  parked = [];
}

async function newList(client: Client, name = "Prospects"): Promise<string> {
  const res = await client.post("/api/lists", { name });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

async function getColumn(client: Client, listId: string, columnId: string): Promise<Json> {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}`);
  expect(res.status).toBe(200);
  return res.body.column;
}

/** The column as GET column answers it, checked against its cells and ledger rows, and as every other route lists it. */
async function expectStatsFromDatabase(client: Client, listId: string, columnId: string): Promise<{ progress: Progress; credits: { charged: number; refunded: number; held: number } }> {
  const column = await getColumn(client, listId, columnId);
  expect(column.progress).toEqual(await progressFromCells(h.db, columnId));
  expect(column.credits).toEqual(await creditsFromLedger(h.db, columnId));
  if (!column.isPreview) {
    const listed = await client.get(`/api/lists/${listId}/columns`);
    expect(listed.body.columns.find((c: Json) => c.id === columnId)).toEqual(column);
    const sheet = await client.get(`/api/lists/${listId}${column.subject === "company" ? "?segment=companies" : ""}`);
    expect(sheet.body.columns.find((c: Json) => c.id === columnId)).toEqual(column);
  }
  return { progress: column.progress, credits: column.credits };
}

const price = (action: string) => DEFAULT_CREDIT_COSTS[action]!;

describe("GET /api/lists/{id}/columns/{colId} after the column's tasks settle", () => {
  it("a person AI column: every cell completed with a value, each row charged once", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]);

    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?" });
    expect(created.status).toBe(201);
    await settle();

    expect(await expectStatsFromDatabase(client, listId, created.body.column.id)).toEqual({
      progress: progress({ completed: 4 }),
      credits: credits(4 * price("CUSTOM_ENRICHMENT_WEB")),
    });
  });

  it("a company column: companies without a website complete empty and are refunded", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    for (const company of [{ name: "Acme", domain: "acme.example" }, { name: "Globex" }, { name: "Initech", domain: "initech.example" }, { name: "Umbrella" }]) {
      expect((await client.post(`/api/lists/${listId}/companies`, company)).status).toBe(201);
    }

    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" });
    expect(created.status).toBe(201);
    await settle();

    const cost = price("HIRING_STATUS");
    expect(await expectStatsFromDatabase(client, listId, created.body.column.id)).toEqual({
      progress: progress({ completed: 2, empty: 2 }),
      credits: credits(4 * cost, 2 * cost),
    });
    expect(await client.balance()).toBe(100 - 2 * cost);
  });

  it("a contact column: people the sandbox finds no email for complete empty and get their charge back", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    // The sandbox looks a work email up at the person's company domain: without one, no match.
    const people = [
      { firstName: "Ada", lastName: "Lovelace", company: "Analytical", domain: "analytical.example" },
      { firstName: "Alan", lastName: "Turing", company: "Bletchley" },
      { firstName: "Grace", lastName: "Hopper", company: "Navy", domain: "navy.example" },
    ];
    for (const person of people) expect((await client.post(`/api/lists/${listId}/rows`, person)).status).toBe(200);

    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: true, enrichmentType: "work_email" });
    expect(created.status).toBe(201);
    expect(created.body.column.credits).toEqual(credits());
    await settle();

    const cost = price("EMAIL_LOOKUP");
    expect(await expectStatsFromDatabase(client, listId, created.body.column.id)).toEqual({
      progress: progress({ completed: 2, empty: 1 }),
      credits: credits(3 * cost, cost),
    });
  });

  it("a column whose dispatch was refused: its cells failed, nothing charged", async () => {
    useMode("refuse");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper"]);

    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?" });
    expect(created.status).toBe(500);
    expect(created.body.code).toBe("DISPATCH_FAILED");
    const [column] = await h.db.select().from(columns).where(and(eq(columns.listId, listId), eq(columns.name, "Pitch")));

    expect(await expectStatsFromDatabase(client, listId, column!.id)).toEqual({ progress: progress({ failed: 3 }), credits: credits() });
    expect((await client.get(`/api/lists/${listId}`)).body.sheet.enrichmentStatus).toBe("idle");
  });

  it("a column re-run on some rows whose dispatch was refused: those cells failed, the first charge kept", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?" });
    const columnId = created.body.column.id;
    await settle();

    mode = "refuse";
    const generated = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds: rowIds.slice(0, 2) });
    expect(generated.status).toBe(500);
    expect(generated.body.code).toBe("DISPATCH_FAILED");

    expect(await expectStatsFromDatabase(client, listId, columnId)).toEqual({
      progress: progress({ completed: 2, failed: 2 }),
      credits: credits(4 * price("CUSTOM_ENRICHMENT_WEB")),
    });
  });

  it("a preview column: only the rows the preview covers", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["A One", "B Two", "C Three", "D Four", "E Five"]);

    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?", isPreview: true });
    expect(created.status).toBe(201);
    await settle();

    const column = await getColumn(client, listId, created.body.column.id);
    expect(column).toEqual({ ...created.body.column, progress: progress({ completed: 3 }), credits: credits(3 * price("CUSTOM_ENRICHMENT_WEB")) });
    expect(await expectStatsFromDatabase(client, listId, column.id)).toEqual({ progress: column.progress, credits: column.credits });
  });

  it("a manual column: the cells written by hand, nothing charged", async () => {
    useMode("run");
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper"]);
    const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes" });
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[0], columnId, value: "Met at the meetup" })).status).toBe(200);
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[1], columnId, value: null })).status).toBe(200);

    expect(await expectStatsFromDatabase(client, listId, columnId)).toEqual({ progress: progress({ completed: 1, empty: 1 }), credits: credits() });
  });
});

describe("a list's enrichmentStatus", () => {
  it("is running on GET /api/lists and GET /api/lists/{id} while cells are pending, idle once they are done", async () => {
    useMode("park");
    const client = await h.seedWorkspace({ credits: 100 });
    await newList(client, "Quiet");
    const busy = await newList(client, "Busy");
    await addPeople(h.db, client.workspaceId, busy, ["Ada Lovelace", "Alan Turing"]);
    await addCompanies(h.db, client.workspaceId, busy, ["Acme"]);
    const statuses = async () => {
      const listed = (await client.get("/api/lists")).body.lists as Json[];
      return {
        listed: Object.fromEntries(listed.map((list) => [list.name, list.enrichmentStatus])),
        sheet: (await client.get(`/api/lists/${busy}`)).body.sheet.enrichmentStatus,
        companies: (await client.get(`/api/lists/${busy}?segment=companies`)).body.sheet.enrichmentStatus,
      };
    };
    expect(await statuses()).toEqual({ listed: { Quiet: "idle", Busy: "idle" }, sheet: "idle", companies: "idle" });

    const created = await client.post(`/api/lists/${busy}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?" });
    expect(created.status).toBe(201);
    expect(created.body.column.progress).toEqual(progress({ pending: 2 }));
    expect(await getColumn(client, busy, created.body.column.id)).toEqual(created.body.column);
    expect(await statuses()).toEqual({ listed: { Quiet: "idle", Busy: "running" }, sheet: "running", companies: "running" });

    await release();
    expect(await getColumn(client, busy, created.body.column.id)).toEqual({ ...created.body.column, progress: progress({ completed: 2 }) });
    expect(await statuses()).toEqual({ listed: { Quiet: "idle", Busy: "idle" }, sheet: "idle", companies: "idle" });

    // A company column's open cells count too.
    useMode("park");
    const company = await client.post(`/api/lists/${busy}/columns`, { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" });
    expect(company.status).toBe(201);
    expect(await statuses()).toEqual({ listed: { Quiet: "idle", Busy: "running" }, sheet: "running", companies: "running" });
    await release();
    expect(await statuses()).toEqual({ listed: { Quiet: "idle", Busy: "idle" }, sheet: "idle", companies: "idle" });
  });

  it("is running while a cell is processing", async () => {
    useMode("run");
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{name}} work on?" });
    await settle();
    expect((await client.get(`/api/lists/${listId}`)).body.sheet.enrichmentStatus).toBe("idle");

    await h.db.execute(sql`update list_cells set status = 'processing', value = null where column_id = ${created.body.column.id}`);

    expect((await client.get(`/api/lists/${listId}`)).body.sheet.enrichmentStatus).toBe("running");
    expect((await client.get("/api/lists")).body.lists.map((list: Json) => list.enrichmentStatus)).toEqual(["running"]);
    expect((await getColumn(client, listId, created.body.column.id)).progress).toEqual(progress({ processing: 1 }));
  });
});

describe("GET /api/lists/{id}/columns/{colId} not found", () => {
  it("answers 404 for an unknown column, another list's column, and another workspace's list or column", async () => {
    useMode("run");
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const listId = await newList(client);
    const sibling = await addColumn(h.db, client.workspaceId, await newList(client), { name: "Sibling" });
    const foreignList = await newList(other);
    const foreignColumn = await addColumn(h.db, other.workspaceId, foreignList, { name: "Foreign" });

    for (const [list, column, error] of [
      [listId, crypto.randomUUID(), "Column not found"],
      [listId, sibling, "Column not found"],
      [listId, foreignColumn, "Column not found"],
      [foreignList, foreignColumn, "List not found"],
      [crypto.randomUUID(), sibling, "List not found"],
    ] as const) {
      const res = await client.get(`/api/lists/${list}/columns/${column}`);
      expect({ status: res.status, body: res.body }).toEqual({ status: 404, body: { error, code: "NOT_FOUND", requestId: REQUEST_ID } });
    }
  });
});

describe("progress over any cell states", () => {
  const STATES = ["pending", "processing", "completed", "completed-empty", "failed"] as const;
  type State = (typeof STATES)[number];

  /** Writes the states straight into the column's cells, one row each, `completed-empty` as a completed cell without a value. */
  async function writeStates(subject: "person" | "company", listId: string, columnId: string, rowIds: string[], states: State[]) {
    const table = subject === "person" ? sql.raw("list_cells") : sql.raw("list_company_cells");
    const rowKey = subject === "person" ? sql.raw("row_id") : sql.raw("company_row_id");
    const done = subject === "person" ? "completed" : "complete";
    await h.db.execute(sql`delete from ${table} where column_id = ${columnId}`);
    for (const [i, state] of states.entries()) {
      const status = state === "completed" || state === "completed-empty" ? done : state;
      // A completed cell's empty value is stored either as SQL null or as JSON null.
      const value = state === "completed" ? sql`to_jsonb(${`value ${i}`}::text)` : i % 2 === 0 ? sql`null` : sql`'null'::jsonb`;
      await h.db.execute(sql`insert into ${table} (list_id, column_id, ${rowKey}, status, value) values (${listId}, ${columnId}, ${rowIds[i]}, ${status}, ${value})`);
    }
  }

  it("always adds up to total and matches the cells, for either subject", async () => {
    useMode("run");
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const personRows = await addPeople(h.db, client.workspaceId, listId, Array.from({ length: 8 }, (_, i) => `Person ${i}`));
    const companyRows = await addCompanies(h.db, client.workspaceId, listId, Array.from({ length: 8 }, (_, i) => `Company${i}`));
    const personColumn = await addColumn(h.db, client.workspaceId, listId, { name: "Person notes", schema: null });
    const companyColumn = await addColumn(h.db, client.workspaceId, listId, { name: "Company notes", subject: "company", schema: null });

    await fc.assert(
      fc.asyncProperty(fc.constantFrom("person" as const, "company" as const), fc.array(fc.constantFrom(...STATES), { maxLength: 8 }), async (subject, states) => {
        const columnId = subject === "person" ? personColumn : companyColumn;
        await writeStates(subject, listId, columnId, subject === "person" ? personRows : companyRows, states);
        const count = (state: State) => states.filter((s) => s === state).length;

        const answered = (await getColumn(client, listId, columnId)).progress;

        expect(answered).toEqual(
          progress({ pending: count("pending"), processing: count("processing"), completed: count("completed"), empty: count("completed-empty"), failed: count("failed") }),
        );
        expect(answered.pending + answered.processing + answered.completed + answered.empty + answered.failed).toBe(answered.total);
        expect(answered).toEqual(await progressFromCells(h.db, columnId));
      }),
      { numRuns: 60 },
    );
  });
});
