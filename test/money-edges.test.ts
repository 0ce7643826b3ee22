import { and, eq, isNull, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { creditHolds, enrichmentRunItems, enrichmentRuns, personCells, workspaces } from "../src/db/schema";
import type { InProcessDispatcher } from "../src/dispatch/in-process";
import { DispatchError, type Dispatcher } from "../src/dispatch/types";
import { writeResults } from "../src/domain/cell-store";
import { recoverExpiredWork } from "../src/domain/recovery";
import { addPeople } from "./helpers/fixtures";
import { useHarness, type Client } from "./helpers/harness";
import { switchableTasks } from "./helpers/switchable-tasks";

// Money at the edges of the credit-hold model, against real Postgres: a re-queue racing a failing
// dispatch, a manual value over a paid open cell, a late result for an ended cell, a cancelled run
// whose task died. Dispatches can be held back or failed by the test; tasks can be switched off so
// cells stay open as a lost dispatch leaves them.

/** When set, the next dispatch waits for the test and then does what it says. */
let nextDispatch: { release: Promise<"fail" | "pass"> } | null = null;
let tasks: ReturnType<typeof switchableTasks>;
let inProcess: InProcessDispatcher;

const h = useHarness({
  dispatcher: (services) => {
    tasks = switchableTasks(services);
    inProcess = tasks.dispatcher;
    const gate = async () => {
      const waiting = nextDispatch;
      nextDispatch = null;
      if (waiting && (await waiting.release) === "fail") throw new DispatchError("Trigger.dev answered 500");
    };
    const dispatcher: Dispatcher = {
      trigger: async (taskId, payload) => (await gate(), inProcess.trigger(taskId, payload)),
      batchTrigger: async (taskId, payloads) => (await gate(), inProcess.batchTrigger(taskId, payloads)),
      cancel: (ids) => inProcess.cancel(ids),
    };
    return dispatcher;
  },
});

async function listOf(client: Client, people: number): Promise<{ listId: string; rowIds: string[] }> {
  const listId = (await client.post("/api/lists", { name: "Edges" })).body.list.id as string;
  const rowIds = await addPeople(h.db, client.workspaceId, listId, Array.from({ length: people }, (_, i) => `Person ${i}`));
  return { listId, rowIds };
}

async function money(client: Client) {
  const [w] = await h.db.select({ balance: workspaces.creditBalance, held: workspaces.creditHeld }).from(workspaces).where(eq(workspaces.id, client.workspaceId));
  const open = await h.db.select().from(creditHolds).where(and(eq(creditHolds.workspaceId, client.workspaceId), isNull(creditHolds.settledAt)));
  const ledger = (await client.ledger()).filter((e) => e.kind !== "grant").map((e) => ({ kind: e.kind, units: e.units, delta: e.delta }));
  const { ledgerSum } = await client.ledgerConsistency();
  return { balance: w!.balance, held: w!.held, openHolds: open.length, ledger, ledgerSum };
}

const cellsOf = (columnId: string) => h.db.select().from(personCells).where(eq(personCells.columnId, columnId)).orderBy(personCells.id);

describe("a re-queue racing the dispatch that first queued the cells", () => {
  it("is charged by the re-queue when the first dispatch fails: the carried cells' share moved to its hold", async () => {
    tasks.setRunning(true);
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, 3);
    let fail!: (outcome: "fail" | "pass") => void;
    nextDispatch = { release: new Promise((resolve) => (fail = resolve)) };
    const creating = client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" });
    // Wait until the creation's cells are written (pending, held) and its dispatch is stuck.
    let columnId: string | undefined;
    for (let i = 0; i < 100 && !columnId; i++) {
      const [row] = await h.db.execute(sql`select column_id from list_cells c join list_columns col on col.id = c.column_id where col.list_id = ${listId} and col.name = 'Pitch' limit 1`) as unknown as Array<{ column_id: string }>;
      columnId = row?.column_id;
      if (!columnId) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(columnId).toBeDefined();
    const rowIds = (await cellsOf(columnId!)).map((c) => c.rowId);
    const generated = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds });
    expect(generated.status).toBe(200);
    expect(generated.body).toMatchObject({ success: true, rowCount: 3 });
    fail("fail");
    const created = await creating;
    expect(created.status).toBe(500);
    expect(created.body).toMatchObject({ code: "DISPATCH_FAILED" });
    await inProcess.idle();

    // The re-queue's dispatch did the work, so its hold (holding the moved shares) was charged once.
    expect((await cellsOf(columnId!)).map((c) => [c.status, c.paid])).toEqual([["completed", 1], ["completed", 1], ["completed", 1]]);
    expect(await money(client)).toMatchObject({ balance: 97, held: 0, openHolds: 0, ledger: [{ kind: "charge", units: 3, delta: -3 }], ledgerSum: 97 });
  });
});

describe("a manual value over a cell whose enrichment is still open and paid", () => {
  it("returns the cell's credits once, and the enrichment never lands on it afterwards", async () => {
    tasks.setRunning(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, 2);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await inProcess.idle();
    const [first, second] = await cellsOf(columnId);
    expect(await money(client)).toMatchObject({ balance: 98, ledger: [{ kind: "charge", units: 2, delta: -2 }] });

    const res = await client.put(`/api/lists/${listId}/cells`, { rowId: first!.rowId, columnId, value: "Written by hand" });
    expect(res.status).toBe(200);
    expect(res.body.cell).toMatchObject({ row_id: first!.rowId, value: "Written by hand", status: "completed", error: null });
    const [after] = await cellsOf(columnId);
    expect(after).toMatchObject({ value: "Written by hand", status: "completed", paid: 0 });
    expect(await money(client)).toMatchObject({ balance: 99, ledger: [{ kind: "charge", units: 2, delta: -2 }, { kind: "refund", units: 1, delta: 1 }], ledgerSum: 99 });

    // The run that was lost comes back with a result for the old token: it does not land.
    const refunds = { workspaceId: client.workspaceId, action: "CUSTOM_ENRICHMENT_WEB", columnId };
    const late = await writeResults(h.db, "person", columnId, [
      { cellId: first!.id, runToken: first!.runToken!, status: "completed", value: "Late", reasoning: null, error: null, metadata: {}, refund: false },
    ], refunds);
    expect(late.written).toBe(0);
    expect((await cellsOf(columnId))[0]).toMatchObject({ value: "Written by hand", status: "completed" });
    // A second manual write on the settled cell is the plain fast path: nothing moves.
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId: first!.rowId, columnId, value: "Again" })).status).toBe(200);
    expect((await money(client)).ledger).toHaveLength(2);
    expect(second!.status).toBe("pending");
  });
});

describe("a result for a cell that has ended", () => {
  it("changes nothing: an abandoned or failed cell stays as it ended, and is not refunded twice", async () => {
    tasks.setRunning(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, 1);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await inProcess.idle();
    const [cell] = await cellsOf(columnId);
    const refunds = { workspaceId: client.workspaceId, action: "CUSTOM_ENRICHMENT_WEB", columnId };
    const failed = await writeResults(h.db, "person", columnId, [
      { cellId: cell!.id, runToken: cell!.runToken!, status: "failed", value: null, reasoning: null, error: "provider down", metadata: {}, refund: true },
    ], refunds);
    expect(failed).toMatchObject({ written: 1, refunded: 1 });
    const revived = await writeResults(h.db, "person", columnId, [
      { cellId: cell!.id, runToken: cell!.runToken!, status: "completed", value: "Free value", reasoning: null, error: null, metadata: {}, refund: false },
    ], refunds);
    expect(revived.written).toBe(0);
    expect((await cellsOf(columnId))[0]).toMatchObject({ status: "failed", error: "provider down", value: null, paid: 0 });
    expect(await money(client)).toMatchObject({ balance: 100, ledger: [{ kind: "charge", units: 1, delta: -1 }, { kind: "refund", units: 1, delta: 1 }] });
  });
});

describe("a cancelled run whose task died with items running", () => {
  it("has those items skipped and refunded by recovery", async () => {
    tasks.setRunning(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const lead = await client.post("/api/leads", { type: "person", name: { full: `Lead ${i}` }, socials: [{ url: `https://www.linkedin.com/in/edge-${crypto.randomUUID()}` }] });
      leadIds.push(lead.body.lead.id);
    }
    const runId = (await client.post("/api/enrichment", { enrichmentId: "linkedin_posts", scope: { type: "explicit_leads", leadIds } })).body.enrichmentRunId as string;
    await inProcess.idle();
    // The task had claimed both items when the run was cancelled, and then its process died.
    await h.db.update(enrichmentRunItems).set({ status: "running", attempts: 1 }).where(eq(enrichmentRunItems.runId, runId));
    await h.db.execute(sql`update enrichment_runs set status = 'running' where id = ${runId}`);
    const cancelled = await client.post(`/api/enrichment/${runId}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ runsRedispatched: 0 });
    await h.db.execute(sql`update enrichment_runs set lease_expires_at = now() - interval '1 second' where id = ${runId}`);
    await recoverExpiredWork(h.services, { workspaceId: client.workspaceId });

    const items = await h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId));
    expect(items.map((i) => [i.status, i.skippedReason])).toEqual([["skipped", "run_cancelled"], ["skipped", "run_cancelled"]]);
    const [run] = await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.id, runId));
    expect(run).toMatchObject({ status: "cancelled", held: 0, costActual: 0 });
    expect(await money(client)).toMatchObject({
      balance: 100,
      held: 0,
      ledger: [{ kind: "charge", units: 2, delta: -2 }, { kind: "refund", units: 1, delta: 1 }, { kind: "refund", units: 1, delta: 1 }],
    });
  });
});
