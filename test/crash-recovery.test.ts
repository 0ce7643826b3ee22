import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rowsOf, type Db } from "../src/db/client";
import { createAccount } from "../src/domain/accounts";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import {
  apiClient,
  forgetChildren,
  freePort,
  killAndConfirm,
  reportChildrenOnFailure,
  scratchDatabase,
  startRunner,
  startServer,
  stopChildren,
  waitUntil,
  type ApiClient,
  type Json,
} from "./helpers/child-server";
import { startFakeTrigger, type FakeTrigger } from "./helpers/fake-trigger";
import { creditHoldsOf, type HoldMoney } from "./helpers/money-audit";

// Spec section 10 with real processes: the server (or the local runner) runs in a child process, is
// killed with SIGKILL while work is in flight, and is started again on the same database. Whatever
// moment the kill hits, every cell and item must end terminal, charged at most once, refunded at
// most once when it failed, and never charged when it was never dispatched; the ledger must equal
// the balance. Postgres cases read the database directly; the embedded case sees only the API.

const LEASE_MS = 2_000;
const INTERVAL_MS = 500;
/** How late recovery may pick work up beyond lease + interval on a busy two-core machine. */
const PICKUP_SLACK_MS = 2_500;
/** What the work left at the kill may take once recovered (sandbox answers take SANDBOX_DELAY_MS each). */
const WORK_BUDGET_MS = 20_000;
const WORK_SETTINGS = { WORK_LEASE_MS: String(LEASE_MS), RECOVERY_INTERVAL_MS: String(INTERVAL_MS), SANDBOX_DELAY_MS: "200" };

const PRICE = {
  web: DEFAULT_CREDIT_COSTS.CUSTOM_ENRICHMENT_WEB!,
  reasoning: DEFAULT_CREDIT_COSTS.CUSTOM_ENRICHMENT_AI!,
  email: DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!,
  phone: DEFAULT_CREDIT_COSTS.PHONE_LOOKUP!,
};

beforeEach(forgetChildren);
afterEach(stopChildren);


// ---- work through the API ----

/** People for a list; every fourth has no company domain, so contact lookups miss some and refunds happen. */
function people(count: number) {
  return Array.from({ length: count }, (_, i) =>
    i % 4 === 3
      ? { firstName: `Nia${i}`, lastName: "Moss", company: "Nowhere Inc" }
      : { firstName: `Ada${i}`, lastName: `Lane${i}`, company: `Company ${i % 10}`, domain: `company${i % 10}.example` },
  );
}

async function listWithPeople(api: ApiClient, count: number): Promise<string> {
  const list = await api.post("/api/lists", { name: "Crash" });
  expect(list.status).toBe(201);
  const rows = await api.post(`/api/lists/${list.body.list.id}/rows/bulk`, { rows: people(count) });
  expect(rows.status).toBe(200);
  expect([rows.body.inserted, rows.body.merged]).toEqual([count, 0]);
  return list.body.list.id;
}

type ColumnKind = "web" | "reasoning" | "email";

const COLUMN_BODIES: Record<ColumnKind, Record<string, unknown>> = {
  web: { name: "B2B?", isDynamic: true, prompt: "Is this company B2B?" },
  reasoning: { name: "Seniority", isDynamic: true, prompt: "How senior is this person?", dataSource: "profile" },
  email: { name: "Work email", isDynamic: false, enrichmentType: "work_email" },
};

async function addColumn(api: ApiClient, listId: string, kind: ColumnKind): Promise<string> {
  const res = await api.post(`/api/lists/${listId}/columns`, COLUMN_BODIES[kind]);
  expect(res.status).toBe(201);
  return res.body.column.id;
}

async function startRun(api: ApiClient, listId: string, enrichmentId: "mobile_phone" | "work_email"): Promise<string> {
  const res = await api.post("/api/enrichment", { enrichmentId, scope: { type: "list", listId } });
  expect(res.status).toBe(202);
  return res.body.enrichmentRunId;
}

// ---- the database as the tests read it ----

/** `hold`: the credit hold the cell was queued under, as it is now (`none` for a cell charged in the task, or never charged). */
type CellRow = { columnId: string; status: string; error: string | null; value: unknown; paid: number; hold: "none" | "open" | "settled" | "missing"; holdId: string | null; token: string; recoveries: number };
type RunRow = { id: string; status: string; error: string | null; held: number; costPreview: number; costActual: number; recoveries: number };
type ItemRow = { id: string; runId: string; status: string; errorMessage: string | null };
type LedgerRow = { kind: string; action: string; units: number; delta: number; referenceType: string | null; referenceId: string | null; dedupeKey: string | null };
type State = { cells: CellRow[]; runs: RunRow[]; items: ItemRow[]; holds: HoldMoney[]; balance: number; held: number; ledger: LedgerRow[] };

async function readState(db: Db, workspaceId: string, listId: string): Promise<State> {
  // Built-in columns show the rows' own fields; only the columns the test added are enriched.
  const cells = rowsOf<CellRow>(
    await db.execute(sql`
      select c.column_id as "columnId", c.status, c.error, c.value, c.paid,
             case when c.hold_id is null then 'none' when h.id is null then 'missing' when h.settled_at is null then 'open' else 'settled' end as hold,
             c.hold_id as "holdId", c.run_token as token, c.recoveries
      from list_cells c join list_columns col on col.id = c.column_id left join credit_holds h on h.id = c.hold_id
      where c.list_id = ${listId} and col.built_in_key is null
      order by c.column_id, c.id`),
  );
  const runs = rowsOf<RunRow>(
    await db.execute(sql`
      select id, status, error, held, cost_preview as "costPreview", cost_actual as "costActual", recoveries
      from enrichment_runs where workspace_id = ${workspaceId} order by id`),
  );
  const items = rowsOf<ItemRow>(
    await db.execute(sql`
      select id, run_id as "runId", status, error_message as "errorMessage"
      from enrichment_run_items where workspace_id = ${workspaceId} order by id`),
  );
  const [workspace] = rowsOf<{ balance: number; held: number }>(
    await db.execute(sql`select credit_balance::int as balance, credit_held::int as held from workspaces where id = ${workspaceId}`),
  );
  const ledger = rowsOf<LedgerRow>(
    await db.execute(sql`
      select kind, action, units, delta::int as delta, reference_type as "referenceType", reference_id as "referenceId", dedupe_key as "dedupeKey"
      from credit_ledger where workspace_id = ${workspaceId} order by id`),
  );
  const holds = await creditHoldsOf(db, workspaceId);
  return { cells, runs, items, holds, balance: workspace!.balance, held: workspace!.held, ledger };
}

const OPEN_CELL = new Set(["pending", "processing"]);
const OPEN_ITEM = new Set(["pending", "running"]);
const OPEN_RUN = new Set(["pending", "running"]);

function tally<T>(rows: readonly T[], key: (row: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) counts[key(row)] = (counts[key(row)] ?? 0) + 1;
  return counts;
}

function describeState(state: State): string {
  return JSON.stringify({
    cells: tally(state.cells, (c) => `${c.columnId.slice(-6)}:${c.status}${c.error ? `:${c.error}` : ""}`),
    runs: state.runs.map((r) => ({ status: r.status, error: r.error, recoveries: r.recoveries })),
    items: tally(state.items, (i) => i.status),
    openHolds: state.holds.filter((h) => h.open).length,
    balance: state.balance,
    held: state.held,
  });
}

/** Nothing left open: cells, items, runs, and the credit holds recovery captures once their cells were claimed. */
function settled(state: State): boolean {
  return (
    !state.cells.some((c) => OPEN_CELL.has(c.status)) &&
    !state.items.some((i) => OPEN_ITEM.has(i.status)) &&
    !state.runs.some((r) => OPEN_RUN.has(r.status)) &&
    !state.holds.some((h) => h.open)
  );
}

/** Work in flight: some cells and items done, some still open, some cells not even claimed yet. */
function midFlight(state: State, options: { pendingCells: boolean }): boolean {
  const cells = tally(state.cells, (c) => c.status);
  const items = tally(state.items, (i) => i.status);
  const itemsDone = (items.completed ?? 0) + (items.skipped ?? 0);
  return (
    (cells.completed ?? 0) > 0 &&
    (cells.processing ?? 0) > 0 &&
    (!options.pendingCells || (cells.pending ?? 0) > 0) &&
    itemsDone > 0 &&
    (items.pending ?? 0) + (items.running ?? 0) > 0
  );
}

/**
 * Recovery has taken over everything the kill left open: each such cell, and each such run, is
 * terminal or was recovered again after the kill (its `recoveries` grew).
 */
function pickedUp(atKill: State, now: State): boolean {
  const cells = new Map(now.cells.map((c) => [c.token, c]));
  const runs = new Map(now.runs.map((r) => [r.id, r]));
  const cellsTaken = atKill.cells
    .filter((c) => OPEN_CELL.has(c.status))
    .every((c) => {
      const current = cells.get(c.token)!;
      return !OPEN_CELL.has(current.status) || current.recoveries > c.recoveries;
    });
  const runsTaken = atKill.runs
    .filter((r) => OPEN_RUN.has(r.status))
    .every((r) => {
      const current = runs.get(r.id)!;
      return !OPEN_RUN.has(current.status) || current.recoveries > r.recoveries;
    });
  return cellsTaken && runsTaken;
}

type ColumnCharge = { id: string; price: number; chargedInTask: boolean };
type RunCharge = { id: string; price: number };

/**
 * The money of settled work, cell by cell, hold by hold and item by item, read from the database:
 * what each cell paid and under which hold, every ledger row keyed to it, each hold's capture, the
 * run's charge and its refunds, and the totals that tie the ledger to the balance.
 */
function expectExactMoney(state: State, columns: readonly ColumnCharge[], runs: readonly RunCharge[], initialCredits: number) {
  const rowsKeyed = (key: string) => state.ledger.filter((e) => e.dedupeKey === key);

  expect(state.cells.filter((c) => OPEN_CELL.has(c.status))).toEqual([]);
  for (const column of columns) {
    const cells = state.cells.filter((c) => c.columnId === column.id);
    expect(cells.length).toBeGreaterThan(0);
    // Each cell paid the price when it has a value and nothing otherwise; no hold stays open (a
    // contact cell is charged in the task, under no hold).
    expect(cells.map((c) => ({ token: c.token, hold: c.hold, paid: c.paid }))).toEqual(
      cells.map((c) => ({ token: c.token, hold: column.chargedInTask ? "none" : "settled", paid: c.value !== null ? column.price : 0 })),
    );
    const refunds = cells.map((c) => rowsKeyed(`cell-refund:${c.token}`));
    // A cell with a value is never refunded; one without is refunded exactly once if it was charged.
    for (const [index, cell] of cells.entries()) {
      const refund = refunds[index]!;
      expect(refund.length).toBeLessThanOrEqual(1);
      if (cell.value !== null) expect(refund).toEqual([]);
      for (const row of refund) expect(row).toMatchObject({ kind: "refund", units: 1, delta: column.price, referenceId: column.id });
    }
    const charges = state.ledger.filter((e) => e.kind === "charge" && e.referenceType === "column" && e.referenceId === column.id);
    if (column.chargedInTask) {
      // Contact cells: one charge row per cell sent, keyed by its token; every settled cell was sent.
      for (const [index, cell] of cells.entries()) {
        const charge = rowsKeyed(`cell-charge:${cell.token}`);
        expect(charge.length).toBeLessThanOrEqual(1);
        for (const row of charge) expect(row).toMatchObject({ kind: "charge", units: 1, delta: -column.price, referenceId: column.id });
        if (cell.status === "completed") expect(charge).toHaveLength(1);
        expect(refunds[index]!.length).toBe(cell.value !== null ? 0 : charge.length);
      }
      expect(charges).toHaveLength(cells.filter((c) => rowsKeyed(`cell-charge:${c.token}`).length === 1).length);
    } else {
      // Columns charged at dispatch: a cell without a value gave its credits back to its hold while
      // the hold was open (no ledger row), or was refunded once after the capture. So each hold,
      // once settled, was captured by one charge row (request: `column-dispatch:<batch>`; recovery:
      // unkeyed) for price × (its cells with a value + its cells refunded), and nothing else
      // charges the column.
      const refunded = (c: CellRow) => rowsKeyed(`cell-refund:${c.token}`).length === 1;
      const holds = state.holds.filter((h) => h.columnId === column.id);
      expect(holds.length).toBeGreaterThan(0);
      expect(holds).toEqual(
        holds.map((hold) => {
          const covered = cells.filter((c) => c.holdId === hold.id && (c.value !== null || refunded(c))).length;
          const amount = column.price * covered;
          return { id: hold.id, columnId: column.id, amount, units: covered, open: false, captures: covered > 0 ? [{ units: covered, delta: -amount }] : [] };
        }),
      );
      expect(cells.filter((c) => !holds.some((hold) => hold.id === c.holdId))).toEqual([]);
      const byAmount = (a: { units: number; delta: number }, b: { units: number; delta: number }) => a.units - b.units || a.delta - b.delta;
      expect(charges.map((e) => ({ units: e.units, delta: e.delta, capture: e.dedupeKey === null || e.dedupeKey.startsWith("column-dispatch:") })).sort(byAmount)).toEqual(
        holds.flatMap((hold) => hold.captures.map((c) => ({ units: c.units, delta: c.delta, capture: true }))).sort(byAmount),
      );
      const covered = cells.filter((c) => c.value !== null || refunded(c)).length;
      expect(charges.reduce((sum, e) => sum + e.units, 0)).toBe(covered);
      expect(charges.reduce((sum, e) => sum + e.delta, 0)).toBe(-column.price * covered);
    }
  }

  for (const spec of runs) {
    const run = state.runs.find((r) => r.id === spec.id)!;
    const items = state.items.filter((i) => i.runId === spec.id);
    expect(items.filter((i) => OPEN_ITEM.has(i.status))).toEqual([]);
    const completed = items.filter((i) => i.status === "completed").length;
    expect(run).toMatchObject({ held: 0, costPreview: spec.price * items.length, costActual: spec.price * completed });
    // Charged once, when its dispatch went through; each item that did not complete refunded once.
    expect(state.ledger.filter((e) => e.referenceType === "enrichment_run" && e.referenceId === spec.id)).toEqual([
      { kind: "charge", action: expect.any(String), units: items.length, delta: -spec.price * items.length, referenceType: "enrichment_run", referenceId: spec.id, dedupeKey: `enrichment_run:${spec.id}:charge` },
    ]);
    for (const item of items) {
      const refunds = state.ledger.filter((e) => e.referenceType === "enrichment_run_item" && e.referenceId === item.id);
      expect(refunds).toEqual(
        item.status === "completed"
          ? []
          : [{ kind: "refund", action: expect.any(String), units: 1, delta: spec.price, referenceType: "enrichment_run_item", referenceId: item.id, dedupeKey: `enrichment_run_item:${item.id}:refund` }],
      );
    }
  }

  const charged = -state.ledger.filter((e) => e.kind === "charge").reduce((sum, e) => sum + e.delta, 0);
  const refunded = state.ledger.filter((e) => e.kind === "refund").reduce((sum, e) => sum + e.delta, 0);
  const paid = state.cells.reduce((sum, c) => sum + c.paid, 0);
  const runCost = state.runs.reduce((sum, r) => sum + r.costActual, 0);
  expect(state.holds.filter((h) => h.open)).toEqual([]);
  expect(state.held).toBe(0);
  expect(charged - refunded).toBe(paid + runCost);
  expect(state.ledger.reduce((sum, e) => sum + e.delta, 0)).toBe(state.balance);
  expect(state.balance).toBe(initialCredits - paid - runCost);
}

/** Restarts after a kill and measures: how long until recovery took over what was left open, and until all is settled. */
async function waitForRecovery(db: Db, workspaceId: string, listId: string, atKill: State) {
  const read = () => readState(db, workspaceId, listId);
  const pickupMs = await waitUntil(async () => pickedUp(atKill, await read()), LEASE_MS + INTERVAL_MS + PICKUP_SLACK_MS, async () => describeState(await read()));
  const settleMs = await waitUntil(async () => settled(await read()), LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS, async () => describeState(await read()));
  return { pickupMs, settleMs, state: await read() };
}

async function seededAccount(db: Db, credits: number) {
  return createAccount(db, { email: `crash-${crypto.randomUUID()}@example.test`, fullName: "Crash Test", credits });
}


// ---- the cases ----

describe("Postgres mode: SIGKILL of the server while cells and items are in flight", () => {
  it("settles every cell and item after a restart, each charged at most once, the ledger equal to the balance", async (context) => {
    reportChildrenOnFailure(context);
    const scratch = await scratchDatabase("midflight");
    try {
      const credits = 5_000;
      const account = await seededAccount(scratch.db, credits);
      const settings = { DATABASE_URL: scratch.url, ...WORK_SETTINGS };
      const first = await startServer("server (first life)", settings);
      expect(first.apiKey).toBeNull(); // the database had an account already: no demo account
      const api = apiClient(first.url, account.apiKey);

      const listId = await listWithPeople(api, 120);
      // The run and the contact column first, so they are in flight while later columns still queue.
      const runId = await startRun(api, listId, "mobile_phone");
      const email = await addColumn(api, listId, "email");
      const web = await addColumn(api, listId, "web");
      const reasoning = await addColumn(api, listId, "reasoning");

      const read = () => readState(scratch.db, account.workspaceId, listId);
      await waitUntil(async () => midFlight(await read(), { pendingCells: true }), 20_000, async () => describeState(await read()), 50);
      await killAndConfirm(first);
      const atKill = await read();
      expect(midFlight(atKill, { pendingCells: true })).toBe(true);

      const second = await startServer("server (after the kill)", settings);
      const { pickupMs, settleMs, state } = await waitForRecovery(scratch.db, account.workspaceId, listId, atKill);
      expect(pickupMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + PICKUP_SLACK_MS);
      expect(settleMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS);

      // Nothing fails in the sandbox: every cell completes (a missed contact lookup completes empty).
      expect(tally(state.cells, (c) => c.status)).toEqual({ completed: 360 });
      expect(state.cells.filter((c) => c.columnId !== email && c.value === null)).toEqual([]);
      expect(state.runs.map((r) => ({ id: r.id, status: r.status, error: r.error }))).toEqual([{ id: runId, status: "completed", error: null }]);
      // The kill left work for recovery to redo.
      expect(state.cells.filter((c) => c.recoveries > 0).length).toBeGreaterThan(0);
      expect(state.runs[0]!.recoveries).toBeGreaterThan(0);
      expectExactMoney(
        state,
        [
          { id: web, price: PRICE.web, chargedInTask: false },
          { id: reasoning, price: PRICE.reasoning, chargedInTask: false },
          { id: email, price: PRICE.email, chargedInTask: true },
        ],
        [{ id: runId, price: PRICE.phone }],
        credits,
      );

      // The API agrees with the database.
      const apiAfter = apiClient(second.url, account.apiKey);
      const accountView = await apiAfter.get("/api/account");
      expect(accountView.status).toBe(200);
      expect(accountView.body.credits).toEqual({ balance: state.balance });
      const runView = await apiAfter.get(`/api/enrichment/${runId}`);
      expect(runView.status).toBe(200);
      expect(runView.body.run).toMatchObject({ status: "completed", error: null, cost: { actual: state.runs[0]!.costActual } });
    } finally {
      await stopChildren();
      await scratch.drop();
    }
  }, 90_000);
});

describe("Postgres mode: SIGKILL between writing the work and dispatching it", () => {
  it("dispatches the column's cells and the run through recovery after a restart, charged exactly once", async (context) => {
    reportChildrenOnFailure(context);
    const scratch = await scratchDatabase("predispatch");
    const fake = await startFakeTrigger();
    try {
      // Trigger.dev takes the requests and never answers: both requests stay between their write and their capture.
      fake.failAlways({ hang: true }, { path: /^\/api\/v3\/batches$/ });
      fake.failAlways({ hang: true }, { path: /\/trigger$/ });
      const credits = 1_000;
      const account = await seededAccount(scratch.db, credits);
      const base = { DATABASE_URL: scratch.url, ...WORK_SETTINGS };
      const first = await startServer("server (dispatching to a hanging Trigger.dev)", {
        ...base,
        TRIGGER_SECRET_KEY: fake.secretKey,
        TRIGGER_API_URL: fake.url,
        TRIGGER_DISPATCH_TIMEOUT_MS: "60000",
      });
      const api = apiClient(first.url, account.apiKey);
      const listId = await listWithPeople(api, 30);

      const answered = (res: Promise<{ status: number }>) => res.then((r) => r.status, () => "no answer" as const);
      const column = answered(api.post(`/api/lists/${listId}/columns`, COLUMN_BODIES.web));
      const run = answered(api.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId } }));
      const hanging = () => fake.requests.filter((r) => r.endedAt === undefined).map((r) => r.path).sort();
      await waitUntil(async () => hanging().length === 2, 15_000, () => JSON.stringify(fake.requests.map((r) => r.path)), 20);
      expect(hanging()).toEqual(["/api/v1/tasks/enrichment-run/trigger", "/api/v3/batches"]);

      // Written and held, nothing charged: the moment the kill hits.
      const read = () => readState(scratch.db, account.workspaceId, listId);
      const before = await read();
      expect(tally(before.cells, (c) => `${c.status}:${c.hold}:${c.paid}`)).toEqual({ [`pending:open:${PRICE.web}`]: 30 });
      expect(before.holds).toEqual([{ id: before.cells[0]!.holdId, columnId: before.cells[0]!.columnId, amount: 30 * PRICE.web, units: 30, open: true, captures: [] }]);
      expect(before.runs.map((r) => ({ status: r.status, held: r.held, costActual: r.costActual }))).toEqual([
        { status: "pending", held: 30 * PRICE.email, costActual: 0 },
      ]);
      expect(before.held).toBe(30 * PRICE.web + 30 * PRICE.email);
      expect(before.ledger.map((e) => e.kind)).toEqual(["grant"]);

      await killAndConfirm(first);
      expect(await column).toBe("no answer");
      expect(await run).toBe("no answer");
      const atKill = await read();

      // Started again without Trigger.dev: the tasks run in the server, and recovery hands them the work.
      await startServer("server (in-process tasks)", base);
      const { pickupMs, settleMs, state } = await waitForRecovery(scratch.db, account.workspaceId, listId, atKill);
      expect(pickupMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + PICKUP_SLACK_MS);
      expect(settleMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS);

      const columnId = state.cells[0]!.columnId;
      const runId = state.runs[0]!.id;
      expect(tally(state.cells, (c) => `${c.status}:${c.recoveries}`)).toEqual({ "completed:1": 30 });
      expect(state.runs.map((r) => ({ status: r.status, recoveries: r.recoveries }))).toEqual([{ status: "completed", recoveries: 1 }]);
      // The hold captured once, by recovery (unkeyed, once none of its cells was pending any more,
      // so before or after the run's capture): one charge row for the 30 cells, and the run's one charge.
      const chargeRows = state.ledger.filter((e) => e.kind === "charge");
      expect([...chargeRows.filter((e) => e.referenceType === "column"), ...chargeRows.filter((e) => e.referenceType !== "column")]).toEqual([
        {
          kind: "charge",
          action: "CUSTOM_ENRICHMENT_WEB",
          units: 30,
          delta: -30 * PRICE.web,
          referenceType: "column",
          referenceId: columnId,
          dedupeKey: null,
        },
        { kind: "charge", action: "EMAIL_LOOKUP", units: 30, delta: -30 * PRICE.email, referenceType: "enrichment_run", referenceId: runId, dedupeKey: `enrichment_run:${runId}:charge` },
      ]);
      expectExactMoney(state, [{ id: columnId, price: PRICE.web, chargedInTask: false }], [{ id: runId, price: PRICE.email }], credits);
      // Rows without a domain find no work email: their items were refunded.
      expect(tally(state.items, (i) => i.status)).toEqual({ completed: 23, skipped: 7 });
    } finally {
      await stopChildren();
      await fake.close();
      await scratch.drop();
    }
  }, 60_000);
});

// ---- the embedded database, seen from outside ----

async function allPages(api: ApiClient, path: string, field: "entries" | "items"): Promise<Json[]> {
  const found: Json[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const res = await api.get(`${path}${separator}limit=100${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    found.push(...res.body[field]);
    cursor = field === "entries" ? res.body.nextCursor : res.body.page.nextCursor;
  } while (cursor);
  return found;
}

type ApiCell = { rowId: string; value: unknown; status: string; error: string | null };

async function cellsOf(api: ApiClient, listId: string, columnId: string): Promise<ApiCell[]> {
  const res = await api.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
  expect(res.status).toBe(200);
  return res.body.cells;
}

async function runOf(api: ApiClient, runId: string): Promise<Json> {
  const res = await api.get(`/api/enrichment/${runId}`);
  expect(res.status).toBe(200);
  return res.body.run;
}

describe("embedded mode (npm start without DATABASE_URL): SIGKILL mid-flight, seen through the API only", () => {
  it("starts again on the same data folder and settles everything, the ledger pages adding up to the balance", async (context) => {
    reportChildrenOnFailure(context);
    const dataDir = mkdtempSync(join(tmpdir(), "crash-pglite-"));
    try {
      const settings = { DATA_DIR: dataDir, ...WORK_SETTINGS };
      const first = await startServer("embedded server (first life)", settings);
      expect(first.apiKey).toMatch(/^pk_live_/);
      const api = apiClient(first.url, first.apiKey!);
      const listId = await listWithPeople(api, 60);
      const runId = await startRun(api, listId, "mobile_phone");
      const email = await addColumn(api, listId, "email");
      const web = await addColumn(api, listId, "web");

      const snapshot = async (client: ApiClient) => ({
        cells: [...(await cellsOf(client, listId, email)), ...(await cellsOf(client, listId, web))],
        counts: (await runOf(client, runId)).scope.counts,
      });
      const inFlight = async () => {
        const { cells, counts } = await snapshot(api);
        const statuses = tally(cells, (c) => c.status);
        return (statuses.completed ?? 0) > 0 && (statuses.pending ?? 0) + (statuses.processing ?? 0) > 0 && counts.completed + counts.skipped > 0 && counts.pending + counts.running > 0;
      };
      await waitUntil(inFlight, 20_000, async () => JSON.stringify(await snapshot(api)), 50);
      await killAndConfirm(first);

      // The dead owner's lock on the data folder is taken over at once; an existing database prints no key.
      const second = await startServer("embedded server (after the kill)", settings);
      expect(second.apiKey).toBeNull();
      expect(second.output()).toContain("database: pglite");
      const after = apiClient(second.url, first.apiKey!);
      const settledApi = async () => {
        const { cells, counts } = await snapshot(after);
        const run = await runOf(after, runId);
        return cells.every((c) => c.status === "completed" || c.status === "failed") && counts.pending + counts.running === 0 && !OPEN_RUN.has(run.status);
      };
      // Its leases are ended at start (it owns the database alone), so only the interval and the work remain.
      const settleMs = await waitUntil(settledApi, LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS, async () => JSON.stringify(await snapshot(after)));
      expect(settleMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS);

      const webCells = await cellsOf(after, listId, web);
      const emailCells = await cellsOf(after, listId, email);
      expect(webCells.map((c) => ({ status: c.status, hasValue: typeof c.value === "boolean", error: c.error }))).toEqual(
        webCells.map(() => ({ status: "completed", hasValue: true, error: null })),
      );
      expect(emailCells.map((c) => c.status)).toEqual(emailCells.map(() => "completed"));
      expect(emailCells.filter((c) => c.value === null)).toHaveLength(15);
      const run = await runOf(after, runId);
      expect(run).toMatchObject({ status: "completed", error: null, scope: { resolvedCount: 60 } });
      const { counts } = run.scope;
      expect(counts.completed + counts.skipped).toBe(60);
      const items = await allPages(after, `/api/enrichment/${runId}/items`, "items");
      expect(items).toHaveLength(60);

      const ledger = await allPages(after, "/api/credits/ledger", "entries");
      const about = (type: string, id: string) => ledger.filter((e) => e.reference?.type === type && e.reference.id === id);
      const byKind = (entries: Json[], kind: string) => entries.filter((e) => e.kind === kind);
      expect(byKind(ledger, "grant").map((e) => e.delta)).toEqual([1000]);

      // The AI column: each of its 60 cells captured once, none refunded (every cell has a value).
      const webEntries = about("column", web);
      expect(byKind(webEntries, "charge").reduce((sum, e) => sum + e.units, 0)).toBe(60);
      expect(byKind(webEntries, "charge").reduce((sum, e) => sum + e.delta, 0)).toBe(-60 * PRICE.web);
      expect(byKind(webEntries, "refund")).toEqual([]);
      // The contact column: one charge per cell sent (all 60), one refund per cell that found nothing.
      const emailEntries = about("column", email);
      expect(byKind(emailEntries, "charge").map((e) => [e.units, e.delta])).toEqual(Array.from({ length: 60 }, () => [1, -PRICE.email]));
      expect(byKind(emailEntries, "refund").map((e) => [e.units, e.delta])).toEqual(Array.from({ length: 15 }, () => [1, PRICE.email]));
      // The run: charged once for its 60 leads; each item that did not complete refunded once.
      expect(about("enrichment_run", runId).map((e) => [e.kind, e.units, e.delta])).toEqual([["charge", 60, -60 * PRICE.phone]]);
      const itemRefunds = ledger.filter((e) => e.reference?.type === "enrichment_run_item");
      const unpaidItems = items.filter((i) => i.status !== "completed").map((i) => i.id).sort();
      expect(itemRefunds.map((e) => e.reference.id).sort()).toEqual(unpaidItems);
      expect(itemRefunds.every((e) => e.kind === "refund" && e.delta === PRICE.phone)).toBe(true);
      expect(run.cost.actual).toBe(PRICE.phone * counts.completed);

      const spent = PRICE.web * 60 + PRICE.email * (60 - 15) + PRICE.phone * counts.completed;
      const accountView = await after.get("/api/account");
      expect(accountView.status).toBe(200);
      expect(accountView.body.credits).toEqual({ balance: 1000 - spent });
      expect(ledger.reduce((sum, e) => sum + e.delta, 0)).toBe(1000 - spent);
      expect(ledger.length).toBe(1 + webEntries.length + emailEntries.length + 1 + itemRefunds.length);
    } finally {
      await stopChildren();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe("too many recoveries: ABANDONED", () => {
  it("fails work that never finishes after RECOVERY_MAX_ATTEMPTS recoveries, across a kill, refunding each charge once", async (context) => {
    reportChildrenOnFailure(context);
    const scratch = await scratchDatabase("abandoned");
    // Trigger.dev accepts every dispatch and its runs do nothing: every lease runs out.
    const fake: FakeTrigger = await startFakeTrigger();
    try {
      const credits = 1_000;
      const account = await seededAccount(scratch.db, credits);
      const settings = {
        DATABASE_URL: scratch.url,
        TRIGGER_SECRET_KEY: fake.secretKey,
        TRIGGER_API_URL: fake.url,
        WORK_LEASE_MS: "1000",
        RECOVERY_INTERVAL_MS: String(INTERVAL_MS),
        RECOVERY_MAX_ATTEMPTS: "1",
      };
      const first = await startServer("server (dispatching to idle Trigger.dev)", settings);
      const api = apiClient(first.url, account.apiKey);
      const listId = await listWithPeople(api, 20);
      const runId = await startRun(api, listId, "mobile_phone");
      const web = await addColumn(api, listId, "web");
      const email = await addColumn(api, listId, "email");

      // Recovered once by this process, then killed: the count of recoveries outlives it.
      const read = () => readState(scratch.db, account.workspaceId, listId);
      const recoveredOnce = (s: State) => s.cells.every((c) => c.recoveries === 1 && c.status === "pending") && s.runs.every((r) => r.recoveries === 1 && r.status === "pending");
      await waitUntil(async () => recoveredOnce(await read()), 10_000, async () => describeState(await read()));
      await killAndConfirm(first);

      const second = await startServer("server (after the kill)", settings);
      await waitUntil(async () => settled(await read()), 10_000, async () => describeState(await read()));
      const state = await read();

      // The AI column's hold was captured when its dispatch went through; the contact cells were never charged.
      expect(tally(state.cells, (c) => `${c.columnId === web ? "web" : "email"}:${c.status}:${c.error}:${c.hold}:${c.paid}`)).toEqual({
        "web:failed:ABANDONED:settled:0": 20,
        "email:failed:ABANDONED:none:0": 20,
      });
      expect(state.holds).toEqual([{ id: expect.any(String), columnId: web, amount: 20 * PRICE.web, units: 20, open: false, captures: [{ units: 20, delta: -20 * PRICE.web }] }]);
      expect(state.runs.map((r) => ({ id: r.id, status: r.status, error: r.error, held: r.held, costActual: r.costActual }))).toEqual([
        { id: runId, status: "failed", error: "ABANDONED", held: 0, costActual: 0 },
      ]);
      expect(tally(state.items, (i) => `${i.status}:${i.errorMessage}`)).toEqual({ "failed:ABANDONED": 20 });
      // The AI column was charged at dispatch: each cell refunded exactly once under its token.
      for (const cell of state.cells.filter((c) => c.columnId === web)) {
        expect(state.ledger.filter((e) => e.dedupeKey === `cell-refund:${cell.token}`)).toEqual([
          { kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: PRICE.web, referenceType: "column", referenceId: web, dedupeKey: `cell-refund:${cell.token}` },
        ]);
      }
      // The contact column is charged only when a cell is sent, and none was: no charge, no refund.
      expect(state.ledger.filter((e) => e.referenceId === email)).toEqual([]);
      expectExactMoney(state, [{ id: web, price: PRICE.web, chargedInTask: false }], [{ id: runId, price: PRICE.phone }], credits);
      expect(state.balance).toBe(credits);
      // Dispatched by the request and once more by recovery, never again.
      expect(tally(fake.runs, (r) => r.taskId)).toEqual({ "enrichment-run": 2, "sheet-ai-enrich": 2, "list-contact-enrich": 2 });

      const runView = await apiClient(second.url, account.apiKey).get(`/api/enrichment/${runId}`);
      expect(runView.status).toBe(200);
      expect(runView.body.run).toMatchObject({ status: "failed", error: "ABANDONED", scope: { counts: { pending: 0, running: 0, failed: 20 } }, cost: { actual: 0 } });
    } finally {
      await stopChildren();
      await fake.close();
      await scratch.drop();
    }
  }, 60_000);
});

describe("the local Trigger.dev-compatible runner: SIGKILL mid-task", () => {
  it("finishes the work after the runner is started again, the money exact", async (context) => {
    reportChildrenOnFailure(context);
    const scratch = await scratchDatabase("runner");
    try {
      const credits = 2_000;
      const account = await seededAccount(scratch.db, credits);
      const trigger = { TRIGGER_SECRET_KEY: "tr_dev_test", TRIGGER_API_URL: `http://127.0.0.1:${await freePort()}` };
      const settings = { DATABASE_URL: scratch.url, ...WORK_SETTINGS, ...trigger };
      const runner = await startRunner("runner (first life)", settings);
      const server = await startServer("server (dispatching to the runner)", settings);
      expect(server.output()).toContain(`Trigger.dev at ${trigger.TRIGGER_API_URL}`);
      const api = apiClient(server.url, account.apiKey);
      const listId = await listWithPeople(api, 60);
      const runId = await startRun(api, listId, "mobile_phone");
      const email = await addColumn(api, listId, "email");
      const web = await addColumn(api, listId, "web");

      const read = () => readState(scratch.db, account.workspaceId, listId);
      await waitUntil(async () => midFlight(await read(), { pendingCells: false }), 20_000, async () => describeState(await read()), 50);
      await killAndConfirm(runner);
      const atKill = await read();

      await startRunner("runner (after the kill)", settings);
      const { pickupMs, settleMs, state } = await waitForRecovery(scratch.db, account.workspaceId, listId, atKill);
      expect(pickupMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + PICKUP_SLACK_MS);
      expect(settleMs).toBeLessThanOrEqual(LEASE_MS + INTERVAL_MS + WORK_BUDGET_MS);
      expect(server.running()).toBe(true);

      expect(tally(state.cells, (c) => c.status)).toEqual({ completed: 120 });
      expect(state.runs.map((r) => ({ status: r.status, error: r.error }))).toEqual([{ status: "completed", error: null }]);
      expect(state.cells.filter((c) => c.recoveries > 0).length).toBeGreaterThan(0);
      expectExactMoney(
        state,
        [
          { id: web, price: PRICE.web, chargedInTask: false },
          { id: email, price: PRICE.email, chargedInTask: true },
        ],
        [{ id: runId, price: PRICE.phone }],
        credits,
      );
    } finally {
      await stopChildren();
      await scratch.drop();
    }
  }, 90_000);
});
