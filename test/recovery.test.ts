import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { enrichmentRunItems, enrichmentRuns, personCells, workspaces } from "../src/db/schema";
import { createInProcessDispatcher, type InProcessDispatcher } from "../src/dispatch/in-process";
import { refusingDispatcher } from "../src/dispatch/refusing";
import type { Dispatcher, TaskRegistry } from "../src/dispatch/types";
import { queueCells } from "../src/domain/cell-store";
import { lockWorkspace } from "../src/domain/credits";
import { ABANDONED, expireAllLeases, recoverExpiredWork, renewWaitingLeases } from "../src/domain/recovery";
import { createLogger, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { addPeople } from "./helpers/fixtures";
import { useHarness, type Client } from "./helpers/harness";
import { switchableTasks } from "./helpers/switchable-tasks";

// Recovery in one process, against real Postgres: work whose lease ran out is dispatched again (and
// what it still holds captured), work recovered too often ends ABANDONED and refunded. A "lost"
// dispatch is simulated by tasks that return at once without working, as a dispatch swallowed by a
// process that died; then the tasks come back to life and recovery hands the work to them. Sweeps
// are scoped to the test's workspace, so the other test files' work is never touched.

let tasks: ReturnType<typeof switchableTasks>;
let inProcess: InProcessDispatcher;
const h = useHarness({
  dispatcher: (services) => {
    tasks = switchableTasks(services);
    inProcess = tasks.dispatcher;
    return inProcess;
  },
});
/** Whether the tasks do their work; off, a dispatch is lost as with a dead process. */
const setAlive = (on: boolean) => tasks.setRunning(on);

const withDispatcher = (dispatcher: Dispatcher): Services => ({ ...h.services, dispatcher });

async function listOf(client: Client, people: number): Promise<string> {
  const listId = (await client.post("/api/lists", { name: "Recovery" })).body.list.id as string;
  await addPeople(h.db, client.workspaceId, listId, Array.from({ length: people }, (_, i) => `Person ${i}`));
  return listId;
}

async function cellsOf(columnId: string) {
  return h.db.select().from(personCells).where(eq(personCells.columnId, columnId)).orderBy(personCells.id);
}

/** Makes every lease of the column run out now, as if its worker had died long ago. */
async function expireColumn(columnId: string) {
  await h.db.execute(sql`update list_cells set lease_expires_at = now() - interval '1 second' where column_id = ${columnId}`);
}

/** Makes the workspace's open credit holds look abandoned by their requests. */
async function expireHolds(workspaceId: string) {
  await h.db.execute(sql`update credit_holds set lease_expires_at = now() - interval '1 second' where workspace_id = ${workspaceId} and settled_at is null`);
}

async function held(workspaceId: string): Promise<number> {
  const [row] = await h.db.select({ held: workspaces.creditHeld }).from(workspaces).where(eq(workspaces.id, workspaceId));
  return row!.held;
}

async function movements(client: Client) {
  return (await client.ledger()).filter((e) => e.kind !== "grant").map((e) => ({ kind: e.kind, action: e.action, units: e.units, delta: e.delta }));
}

async function drain() {
  await inProcess.idle();
}

describe("cells whose lease ran out", () => {
  it("are dispatched again and completed, charged once", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listOf(client, 4);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" });
    expect(created.status).toBe(201);
    const columnId = created.body.column.id as string;
    await drain();
    // The dispatch was accepted and charged, but nothing worked on the cells.
    expect((await cellsOf(columnId)).map((c) => [c.status, c.paid])).toEqual(Array(4).fill(["pending", 1]));
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0 }); // leases still live

    await expireColumn(columnId);
    setAlive(true);
    const summary = await recoverExpiredWork(h.services, { workspaceId: client.workspaceId });
    expect(summary).toEqual({ cellsRedispatched: 4, cellsAbandoned: 0, creditsCaptured: 0, runsRedispatched: 0, runsAbandoned: 0, dispatchFailures: 0 });
    await drain();

    const cells = await cellsOf(columnId);
    expect(cells.map((c) => [c.status, c.recoveries, c.paid, c.leaseOwner])).toEqual(Array(4).fill(["completed", 1, 1, null]));
    expect(cells.every((c) => c.value !== null)).toBe(true);
    expect(await movements(client)).toEqual([{ kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 4, delta: -4 }]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 96, ledgerSum: 96 });
  });

  it("that were written but never dispatched (the request died) are dispatched and charged once, by recovery", async () => {
    setAlive(true);
    const client = await h.seedWorkspace({ credits: 6 });
    const listId = await listOf(client, 3);
    // A preview's cells queued again the way a request queues them, and then the request died.
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Later", isDynamic: true, prompt: "Later?", isPreview: true });
    await drain();
    const columnId = created.body.column.id as string;
    const column = { id: columnId, listId, workspaceId: client.workspaceId, subject: "person" as const };
    const rowIds = (await cellsOf(columnId)).map((c) => c.rowId);
    await h.db.transaction(async (tx) => {
      await lockWorkspace(tx, client.workspaceId);
      await queueCells(tx, column, rowIds, { hold: { price: 1, action: "CUSTOM_ENRICHMENT_WEB" }, leaseMs: 60_000 });
    });
    expect(await held(client.workspaceId)).toBe(3);
    // What the workspace may spend excludes the hold: a 402 names what is left.
    const refused = await client.post(`/api/lists/${listId}/columns`, { name: "Too much", isDynamic: true, prompt: "More?" });
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ code: "INSUFFICIENT_CREDITS", required: 3, balance: 0 });

    await expireColumn(columnId);
    await expireHolds(client.workspaceId);
    const first = await recoverExpiredWork(h.services, { workspaceId: client.workspaceId });
    expect(first).toMatchObject({ cellsRedispatched: 3, dispatchFailures: 0 });
    await drain();
    // The hold is captured once an attempt claimed its cells: in the same sweep if the tasks were
    // that quick, else in the next one; either way exactly once.
    const second = await recoverExpiredWork(h.services, { workspaceId: client.workspaceId });
    expect(second).toMatchObject({ cellsRedispatched: 0 });
    expect(first.creditsCaptured + second.creditsCaptured).toBe(3);
    expect((await cellsOf(columnId)).map((c) => [c.status, c.paid])).toEqual(Array(3).fill(["completed", 1]));
    expect(await held(client.workspaceId)).toBe(0);
    // The preview's own charge (3) and the recovered queue's capture (3): each cell paid once per enrichment.
    expect(await movements(client)).toEqual([
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3 },
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3 },
    ]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 0, ledgerSum: 0 });
  });

  it("stay pending under a longer lease when recovery cannot dispatch them, and are counted", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listOf(client, 2);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await drain();
    await expireColumn(columnId);
    const summary = await recoverExpiredWork(withDispatcher(refusingDispatcher("Trigger.dev is down")), { workspaceId: client.workspaceId });
    expect(summary).toMatchObject({ cellsRedispatched: 0, dispatchFailures: 1 });
    const cells = await cellsOf(columnId);
    expect(cells.map((c) => [c.status, c.recoveries])).toEqual([["pending", 1], ["pending", 1]]);
    // lease × 2^0 from now: in the future, so the next sweep leaves them alone until then.
    expect(cells.every((c) => c.leaseExpiresAt!.getTime() > Date.now())).toBe(true);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0 });
  });

  it("end failed with ABANDONED after too many recoveries, refunded exactly once", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listOf(client, 3);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await drain();
    const max = h.services.work.maxRecoveries;
    for (let round = 1; round <= max; round++) {
      await expireColumn(columnId);
      expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 3, cellsAbandoned: 0 });
      await drain();
    }
    await expireColumn(columnId);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0, cellsAbandoned: 3 });
    expect((await cellsOf(columnId)).map((c) => [c.status, c.error, c.paid, c.recoveries])).toEqual(Array(3).fill(["failed", ABANDONED, 0, max]));
    // Swept again: nothing more happens, nothing is refunded twice.
    await expireColumn(columnId);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0, cellsAbandoned: 0 });
    expect(await movements(client)).toEqual([
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3 },
      { kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: 1 },
      { kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: 1 },
      { kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: 1 },
    ]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 100, ledgerSum: 100 });
  });

  it("settled while their request still held the credits are captured: the work was done", async () => {
    setAlive(true);
    const client = await h.seedWorkspace({ credits: 10 });
    const listId = await listOf(client, 2);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Fact", isDynamic: false })).body.column.id as string;
    await h.db.execute(sql`update list_columns set is_dynamic = true, prompt = 'Fact?', source = 'web' where id = ${columnId}`);
    const ids = rowsOf<{ id: string }>(await h.db.execute(sql`select id from list_rows where list_id = ${listId}`)).map((r) => r.id);
    await h.db.transaction(async (tx) => {
      await lockWorkspace(tx, client.workspaceId);
      await queueCells(tx, { id: columnId, listId, workspaceId: client.workspaceId, subject: "person" }, ids, { hold: { price: 1, action: "CUSTOM_ENRICHMENT_WEB" }, leaseMs: 60_000 });
    });
    // A task finished them (values landed) before the request could capture, and then it died.
    await h.db.execute(sql`update list_cells set status = 'completed', value = '"done"'::jsonb where column_id = ${columnId}`);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ creditsCaptured: 0 }); // hold still leased
    await expireHolds(client.workspaceId);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0, creditsCaptured: 2 });
    expect((await cellsOf(columnId)).map((c) => c.paid)).toEqual([1, 1]);
    expect(await held(client.workspaceId)).toBe(0);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 8, ledgerSum: 8 });
  });

  it("all become recoverable at once when the process that owns the database says every lease is dead", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listOf(client, 2);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await drain();
    setAlive(true);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 0 });
    await expireAllLeases(h.db);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ cellsRedispatched: 2 });
    await drain();
    expect((await cellsOf(columnId)).map((c) => c.status)).toEqual(["completed", "completed"]);
  });
});

describe("work waiting in this process's own queue", () => {
  it("keeps its leases while it waits, so a long queue is not taken for a dead process", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listOf(client, 3);
    const columnId = (await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id as string;
    await drain();
    const rowIds = (await cellsOf(columnId)).map((c) => c.rowId);
    await expireColumn(columnId);
    // Two of the three rows still wait in the queue; the third's run was lost.
    await renewWaitingLeases(h.db, [{ taskId: "sheet-ai-enrich", payload: { columnId, rowIds: rowIds.slice(0, 2) } }], 60_000);
    expect(await recoverExpiredWork(withDispatcher(refusingDispatcher("not now")), { workspaceId: client.workspaceId })).toMatchObject({ dispatchFailures: 1 });
    const cells = await cellsOf(columnId);
    expect(cells.map((c) => [c.rowId, c.recoveries])).toEqual(rowIds.map((rowId, i) => [rowId, i < 2 ? 0 : 1]));
  });

  it("is what the executor reports as waiting: queued runs and runs waiting for a retry, not running ones", async () => {
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const registry = { ...createTaskRegistry(() => h.services), "sheet-ai-enrich": () => blocked } as TaskRegistry;
    const executor = createInProcessDispatcher({ registry, concurrency: 1, logger: createLogger("silent") });
    const first = { columnId: crypto.randomUUID(), rowIds: [crypto.randomUUID()] };
    const second = { columnId: crypto.randomUUID(), rowIds: [crypto.randomUUID()] };
    await executor.trigger("sheet-ai-enrich", first);
    await executor.trigger("sheet-ai-enrich", second);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(executor.executor.waitingPayloads()).toEqual([{ taskId: "sheet-ai-enrich", payload: second }]);
    release();
    await executor.idle();
    expect(executor.executor.waitingPayloads()).toEqual([]);
  });
});

describe("enrichment runs whose lease ran out", () => {
  async function people(client: Client, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await client.post("/api/leads", { type: "person", name: { full: `Lead ${i}` }, socials: [{ url: `https://www.linkedin.com/in/lead-${crypto.randomUUID()}` }] });
      ids.push(res.body.lead.id);
    }
    return ids;
  }

  const expireRun = (runId: string) => h.db.execute(sql`update enrichment_runs set lease_expires_at = now() - interval '1 second' where id = ${runId}`);

  it("are dispatched again and complete, charged once", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 3);
    const res = await client.post("/api/enrichment", { enrichmentId: "linkedin_posts", scope: { type: "explicit_leads", leadIds } });
    expect(res.status).toBe(202);
    const runId = res.body.enrichmentRunId as string;
    await drain();
    await expireRun(runId);
    setAlive(true);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ runsRedispatched: 1, runsAbandoned: 0 });
    await drain();
    const [run] = await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.id, runId));
    expect(run).toMatchObject({ status: "completed", recoveries: 1, held: 0, leaseOwner: null });
    const items = await h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId));
    expect(items.every((i) => i.status === "completed" || i.status === "skipped")).toBe(true);
    const charges = (await movements(client)).filter((m) => m.kind === "charge");
    expect(charges).toEqual([{ kind: "charge", action: "LINKEDIN_POSTS", units: 3, delta: -3 }]);
    expect(await client.ledgerConsistency()).toMatchObject({ ledgerSum: await client.balance() });
  });

  it("fail with ABANDONED after too many recoveries, every item refunded once", async () => {
    setAlive(false);
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 2);
    const runId = (await client.post("/api/enrichment", { enrichmentId: "linkedin_posts", scope: { type: "explicit_leads", leadIds } })).body.enrichmentRunId as string;
    await drain();
    for (let round = 1; round <= h.services.work.maxRecoveries; round++) {
      await expireRun(runId);
      expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ runsRedispatched: 1 });
      await drain();
    }
    await expireRun(runId);
    expect(await recoverExpiredWork(h.services, { workspaceId: client.workspaceId })).toMatchObject({ runsRedispatched: 0, runsAbandoned: 1 });
    const view = await client.get(`/api/enrichment/${runId}`);
    expect(view.body.run).toMatchObject({ status: "failed", error: ABANDONED, scope: { counts: { pending: 0, running: 0, completed: 0, skipped: 0, failed: 2 } }, cost: { actual: 0 } });
    expect(await movements(client)).toEqual([
      { kind: "charge", action: "LINKEDIN_POSTS", units: 2, delta: -2 },
      { kind: "refund", action: "LINKEDIN_POSTS", units: 1, delta: 1 },
      { kind: "refund", action: "LINKEDIN_POSTS", units: 1, delta: 1 },
    ]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 100, ledgerSum: 100 });
  });
});
