import { and, eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { rowsOf } from "../src/db/client";
import { enrichmentRunItems, enrichmentRuns, personCells } from "../src/db/schema";
import { createInProcessDispatcher, friendlyId } from "../src/dispatch/in-process";
import { createTriggerSdkDispatcher } from "../src/dispatch/trigger-sdk";
import type { Dispatcher } from "../src/dispatch/types";
import { createSandboxProviders, type Providers } from "../src/providers";
import type { Services } from "../src/services";
import { lockWorkspace } from "../src/domain/credits";
import { createTaskRegistry } from "../src/tasks/registry";
import { startFakeTrigger } from "./helpers/fake-trigger";
import { cellsByPosition } from "./helpers/fixtures";
import { Client, ISO_DATE, REQUEST_ID, UUID, useHarness, type ApiResponse, type RequestTarget } from "./helpers/harness";
import {
  cellMoneyEvents,
  cellStints,
  creditHoldsOf,
  installMoneyAudit,
  recordingLogger,
  spendingLedger,
  waitForCellsToSettle,
  workspaceMoney,
  type HoldMoney,
  type LedgerRow,
  type WorkspaceMoney,
} from "./helpers/money-audit";

// Concurrency and money: many writers of one workspace at once (column routes, row and list
// deletes, the column tasks writing results), a dispatcher that never answers, re-queues of cells
// still in flight, and racing enrichment runs. Real Postgres, the real app and the real task
// handlers (in-process, over sandbox providers with a latency); only Trigger.dev is faked where a
// test needs it to hang. What is checked is what callers and the ledger see once everything settled.

const h = useHarness({ max: 20 });
const { logger, entries: logEntries } = recordingLogger();

// ---- the in-process app: real tasks, a sandbox with latency, and a dispatch gate ----

let providers: Providers = createSandboxProviders({ delayMs: 5 });
/** Null while dispatches go straight to the executor; else the dispatches held back, in order. */
let gate: Array<() => Promise<unknown>> | null = null;
/** When set, the next batch dispatch starts its runs at once but answers only once this resolves. */
let lateAnswer: Promise<void> | null = null;

/** The next batch dispatch answers when the returned function is called (as Trigger.dev may, after the runs already ran). */
function answerNextDispatchLate(): () => void {
  let release!: () => void;
  lateAnswer = new Promise<void>((resolve) => (release = resolve));
  return release;
}

const registry = createTaskRegistry(() => services(), { recheckMs: 20, retryDelayMs: 10 });
const inProcess = createInProcessDispatcher({ registry, logger, concurrency: 8, retryDelay: { minMs: 10, maxMs: 50 } });
const gated: Dispatcher = {
  async trigger(taskId, payload) {
    if (!gate) return inProcess.trigger(taskId, payload);
    gate.push(() => inProcess.trigger(taskId, payload));
    return { runId: friendlyId("run") };
  },
  async batchTrigger(taskId, payloads) {
    if (!gate) {
      const dispatched = await inProcess.batchTrigger(taskId, payloads);
      const late = lateAnswer;
      lateAnswer = null;
      if (late) await late;
      return dispatched;
    }
    gate.push(() => inProcess.batchTrigger(taskId, payloads));
    return { batchId: friendlyId("batch"), runIds: payloads.map(() => friendlyId("run")) };
  },
  cancel: (ids) => inProcess.cancel(ids),
};
const services = (): Services => ({ ...h.services, logger, dispatcher: gated, providers });
const app = createApp(() => ({ services: services() }));

/** Lets the dispatches held since the gate closed through, in order. */
async function openGate() {
  const held = gate ?? [];
  gate = null;
  for (const dispatch of held) await dispatch();
}

// ---- the app over the real Trigger.dev SDK, to a fake Trigger.dev that can hang ----

const HUNG_DISPATCH_TIMEOUT_MS = 3_000;
const fake = await startFakeTrigger();
const sdkServices: Services = {
  ...h.services,
  logger,
  providers,
  dispatcher: createTriggerSdkDispatcher({ apiUrl: fake.url, secretKey: fake.secretKey, timeoutMs: HUNG_DISPATCH_TIMEOUT_MS, logger }),
};
const sdkApp = createApp(() => ({ services: sdkServices }));

let removeAudit: () => Promise<void>;
beforeAll(async () => {
  removeAudit = await installMoneyAudit(h.db);
});
afterAll(async () => {
  await openGate();
  await inProcess.idle();
  await fake.close();
  await removeAudit();
});

async function workspace(credits: number, target: RequestTarget = app): Promise<Client> {
  const seeded = await h.seedWorkspace({ credits });
  return new Client(target, h.db, seeded.account);
}

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Races" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

async function addPeople(client: Client, listId: string, count: number, prefix = "Person"): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({ firstName: `${prefix}${i}`, lastName: "Tester", domain: `${prefix.toLowerCase()}${i}.example.com` }));
  const res = await client.post(`/api/lists/${listId}/rows/bulk`, { rows });
  expect(res.status).toBe(200);
  return res.body.rowIds;
}

async function createColumn(client: Client, listId: string, body: Record<string, unknown>): Promise<string> {
  const res = await client.post(`/api/lists/${listId}/columns`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.column.id;
}

const AI_COLUMN = { name: "Pitch", isDynamic: true, prompt: "Write a one-line pitch for this person" };

/** Waits for every in-process task, then for every cell of the workspaces to leave pending/processing. */
async function settle(workspaceIds: readonly string[]) {
  await inProcess.idle();
  await waitForCellsToSettle(h.db, workspaceIds);
  await inProcess.idle();
}

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * The money of a settled workspace, checked exactly, from its cells, its credit holds, its ledger
 * and every recorded change of a cell's money (replayed into stints: one paid enrichment of a cell
 * each, under one hold, or with none for contact lookups charged in the task):
 * - the ledger sums to the balance, which is not negative; nothing is held: credit_held, the open
 *   holds' amount, the runs' held are 0, and no hold is open;
 * - no cell is open; a cell with paid credits is completed with a value and paid its column's price;
 * - every change is explained by the model, and every stint paid its column's price (never charged
 *   on top of a payment);
 * - every spending ledger row is a hold's capture, a contact `cell-charge:<token>` or a
 *   `cell-refund:<token>`; the contact charges are exactly the contact stints; the refunds are
 *   exactly the stints given back after their hold was settled (or with no hold), each refunding
 *   what the cell had paid; stints given back while their hold was open were released, no row;
 * - every hold is settled, covers price × (its stints that delivered a value + those refunded
 *   later) in amount and units, and was captured by exactly one charge row of that amount when it
 *   is not 0 (none otherwise): so capture − refunds of each hold = price × its delivered stints;
 * - in all: charged − refunded = Σ paid of delivered stints = Σ paid of the cells that exist
 *   + Σ paid of delivered cells since deleted or re-queued.
 */
async function expectExactMoney(client: Client, listIds: readonly string[], priceOf: (columnId: string) => number): Promise<WorkspaceMoney> {
  const money = await workspaceMoney(h.db, client.workspaceId);
  const holds = await creditHoldsOf(h.db, client.workspaceId);
  const ledger = await spendingLedger(h.db, client.workspaceId);
  const { stints, anomalies } = cellStints(await cellMoneyEvents(h.db, listIds), money.cells);
  const context = JSON.stringify({ workspaceId: client.workspaceId, money: { ...money, cells: money.cells.length }, holds: holds.length, stints: stints.length });

  expect(money.ledgerSum, context).toBe(money.balance);
  expect(money.balance, context).toBeGreaterThanOrEqual(0);
  expect({ workspaceHeld: money.creditHeld, holdsHeld: money.holdsHeld, openHolds: money.openHolds, runsHeld: money.runsHeld }, context).toEqual({
    workspaceHeld: 0,
    holdsHeld: 0,
    openHolds: 0,
    runsHeld: 0,
  });
  expect(
    money.cells.filter((c) => c.status === "pending" || c.status === "processing" || (c.paid > 0 && !(c.status === "completed" && c.hasValue)) || (c.paid !== 0 && c.paid !== priceOf(c.columnId))),
    context,
  ).toEqual([]);
  expect(anomalies, context).toEqual([]);
  expect(stints.filter((s) => s.paid !== priceOf(s.columnId)), `${context}: charged other than the price, or on top of a payment`).toEqual([]);

  const isCapture = (e: LedgerRow) => e.kind === "charge" && e.referenceType === "column" && (e.dedupeKey === null || e.dedupeKey.startsWith("column-dispatch:"));
  const isContactCharge = (e: LedgerRow) => e.kind === "charge" && e.referenceType === "column" && e.dedupeKey?.startsWith("cell-charge:") === true;
  const isRefund = (e: LedgerRow) => e.kind === "refund" && e.referenceType === "column" && e.dedupeKey?.startsWith("cell-refund:") === true;
  expect(ledger.filter((e) => !isCapture(e) && !isContactCharge(e) && !isRefund(e)), context).toEqual([]);
  const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
  expect(
    ledger.filter(isContactCharge).map((e) => ({ key: e.dedupeKey!, units: e.units, delta: e.delta, columnId: e.referenceId })).sort(byKey),
    `${context}: contact charges`,
  ).toEqual(stints.filter((s) => s.holdId === null).map((s) => ({ key: `cell-charge:${s.startToken}`, units: 1, delta: -s.paid, columnId: s.columnId })).sort(byKey));
  expect(
    ledger.filter(isRefund).map((e) => ({ key: e.dedupeKey!, units: e.units, delta: e.delta, columnId: e.referenceId })).sort(byKey),
    `${context}: refunds`,
  ).toEqual(
    stints.flatMap((s) => (s.end.kind === "refunded" ? [{ key: `cell-refund:${s.end.token}`, units: 1, delta: s.paid, columnId: s.columnId }] : [])).sort(byKey),
  );

  // Each hold as the stints under it say it must have ended.
  expect(stints.filter((s) => s.holdId !== null && !holds.some((hold) => hold.id === s.holdId)), `${context}: stints under a hold of no workspace's`).toEqual([]);
  const expectedHold = (hold: HoldMoney) => {
    const under = stints.filter((s) => s.holdId === hold.id);
    const covered = under.filter((s) => s.end.kind === "delivered" || s.end.kind === "refunded").length;
    const amount = priceOf(hold.columnId) * covered;
    return { id: hold.id, columnId: hold.columnId, open: false, units: covered, amount, captures: covered > 0 ? [{ units: covered, delta: -amount }] : [] };
  };
  expect(holds, `${context}: holds`).toEqual(holds.map(expectedHold));
  expect(sum(holds.map((hold) => hold.captures.length)), `${context}: captures matched to a hold`).toBe(ledger.filter(isCapture).length);

  const deliveredStints = stints.filter((s) => s.end.kind === "delivered");
  expect({ net: money.charged - money.refunded, refunded: money.refunded }, context).toEqual({
    net: sum(deliveredStints.map((s) => s.paid)),
    refunded: sum(ledger.filter(isRefund).map((e) => e.delta)),
  });
  expect(sum(deliveredStints.map((s) => s.paid)), context).toBe(
    sum(money.cells.map((c) => c.paid)) + sum(deliveredStints.filter((s) => s.end.kind === "delivered" && !s.end.still).map((s) => s.paid)),
  );
  return money;
}

/**
 * Log entries that mean something went wrong: errors, deadlocks, failed task attempts, database
 * errors other than a row deleted by a concurrent request (answered 404, which callers may see).
 */
const troubleIn = (entries: typeof logEntries) =>
  entries.filter(
    (e) =>
      e.level === "error" ||
      (e.message === "database error" && e.fields?.answered !== "NOT_FOUND") ||
      e.message === "task attempt failed, retrying" ||
      /deadlock|40P01/i.test(`${e.message} ${JSON.stringify(e.fields ?? {})}`),
  );

// ---- 1. many writers of one workspace at once ----

const PEOPLE = 6;
const ALLOWED_STATUSES = [200, 201, 202, 400, 402, 404, 409];

type ColumnKey = "ai" | "preview" | "company";
type Op =
  | { kind: "generate"; column: ColumnKey; rows: number[] }
  | { kind: "deleteColumn"; column: ColumnKey }
  | { kind: "promote" }
  | { kind: "deleteRows"; rows: number[] }
  | { kind: "createColumn"; column: "ai" | "posts" | "email" | "companyAi"; thenGenerate: number[] | null }
  | { kind: "addRow" }
  | { kind: "deleteList" };
type TimedOp = { op: Op; delayMs: number };
type WorkspacePlan = { credits: number; ops: TimedOp[] };

const rowsArb = fc.uniqueArray(fc.integer({ min: 0, max: PEOPLE - 1 }), { minLength: 1, maxLength: PEOPLE });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("generate" as const), column: fc.constantFrom<ColumnKey>("ai", "preview", "company"), rows: rowsArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("deleteColumn" as const), column: fc.constantFrom<ColumnKey>("ai", "preview", "company") }) },
  { weight: 2, arbitrary: fc.constant({ kind: "promote" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("deleteRows" as const), rows: fc.uniqueArray(fc.integer({ min: 0, max: PEOPLE - 1 }), { minLength: 1, maxLength: 2 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("createColumn" as const),
      column: fc.constantFrom("ai" as const, "posts" as const, "email" as const, "companyAi" as const),
      thenGenerate: fc.option(rowsArb, { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "addRow" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "deleteList" as const }) },
);
const planArb: fc.Arbitrary<WorkspacePlan> = fc.record({
  // Setup spends 15 (6 AI cells, 3 preview cells, 6 company cells): 16 and 22 leave little to race for.
  credits: fc.constantFrom(16, 22, 1000),
  ops: fc.array(fc.record({ op: opArb, delayMs: fc.integer({ min: 0, max: 40 }) }), { minLength: 12, maxLength: 18 }),
});

type Outcome = { label: string; status: number; body: unknown };

type RaceSheet = {
  client: Client;
  listId: string;
  rowIds: string[];
  companyIds: string[];
  columns: Record<ColumnKey, string>;
  prices: Map<string, number>;
};

async function raceSheet(credits: number): Promise<RaceSheet> {
  const client = await workspace(credits);
  const listId = await newList(client);
  const rowIds = await addPeople(client, listId, PEOPLE);
  const companies = await client.get(`/api/lists/${listId}/companies`);
  expect(companies.status).toBe(200);
  const companyIds: string[] = companies.body.companies.map((c: { id: string }) => c.id);
  expect(companyIds).toHaveLength(PEOPLE);
  const ai = await createColumn(client, listId, AI_COLUMN);
  const preview = await createColumn(client, listId, { ...AI_COLUMN, name: "Try", isPreview: true });
  const company = await createColumn(client, listId, { name: "Offering", isDynamic: true, prompt: "What does this company sell?", subject: "company" });
  return { client, listId, rowIds, companyIds, columns: { ai, preview, company }, prices: new Map([[ai, 1], [preview, 1], [company, 1]]) };
}

const NEW_COLUMNS = {
  ai: { body: { ...AI_COLUMN, name: "Second pitch" }, price: 1, subject: "person" },
  posts: { body: { name: "Posts", isDynamic: true, enrichmentType: "linkedin_posts" }, price: 1, subject: "person" },
  email: { body: { name: "Email", isDynamic: false, enrichmentType: "work_email" }, price: 2, subject: "person" },
  companyAi: { body: { name: "Segment", isDynamic: true, prompt: "Which segment does this company serve?", subject: "company" }, price: 1, subject: "company" },
} as const;

async function perform(sheet: RaceSheet, op: Op, record: (label: string, res: ApiResponse) => void): Promise<void> {
  const { client, listId } = sheet;
  const idsOf = (column: ColumnKey | "person" | "company", indexes: number[]) =>
    indexes.map((i) => (column === "company" ? sheet.companyIds[i]! : sheet.rowIds[i]!));
  switch (op.kind) {
    case "generate": {
      const res = await client.post(`/api/lists/${listId}/columns/${sheet.columns[op.column]}/generate`, { rowIds: idsOf(op.column, op.rows) });
      return record(`generate ${op.column}`, res);
    }
    case "deleteColumn":
      return record(`delete column ${op.column}`, await client.delete(`/api/lists/${listId}/columns/${sheet.columns[op.column]}`));
    case "promote":
      return record("promote preview", await client.patch(`/api/lists/${listId}/columns/${sheet.columns.preview}`, { isPreview: false }));
    case "deleteRows":
      return record("delete rows", await client.delete(`/api/lists/${listId}/rows`, { rowIds: idsOf("person", op.rows) }));
    case "addRow":
      return record("add row", await client.post(`/api/lists/${listId}/rows`, { firstName: "Late", lastName: `Comer${crypto.randomUUID().slice(0, 8)}`, domain: "late.example.com" }));
    case "deleteList":
      return record("delete list", await client.delete(`/api/lists/${listId}`));
    case "createColumn": {
      const kind = NEW_COLUMNS[op.column];
      const res = await client.post(`/api/lists/${listId}/columns`, kind.body);
      record(`create column ${op.column}`, res);
      if (res.status !== 201) return;
      const columnId: string = res.body.column.id;
      sheet.prices.set(columnId, kind.price);
      if (op.thenGenerate && (op.column === "ai" || op.column === "companyAi")) {
        const rowIds = idsOf(kind.subject === "company" ? "company" : "person", op.thenGenerate);
        record(`generate new ${op.column}`, await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds }));
      }
    }
  }
}

describe("many writers of one workspace at once", () => {
  it("never answers 5xx or deadlocks, and every workspace's money is exact once everything settled", async () => {
    const outcomes: Outcome[] = [];
    let rounds = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(planArb, planArb), async (plans) => {
        rounds += 1;
        const logStart = logEntries.length;
        const roundOutcomes: Outcome[] = [];
        const sheets = await Promise.all(plans.map((plan) => raceSheet(plan.credits)));
        const record = (label: string, res: ApiResponse) => void roundOutcomes.push({ label, status: res.status, body: res.body });

        // Every writer of both workspaces at once, while the setup's tasks are still writing results.
        await Promise.all(
          plans.flatMap((plan, w) =>
            plan.ops.map(async ({ op, delayMs }) => {
              await new Promise((resolve) => setTimeout(resolve, delayMs));
              await perform(sheets[w]!, op, record);
            }),
          ),
        );
        await settle(sheets.map((s) => s.client.workspaceId));
        outcomes.push(...roundOutcomes);

        expect(roundOutcomes.filter((o) => !ALLOWED_STATUSES.includes(o.status))).toEqual([]);
        expect(troubleIn(logEntries.slice(logStart))).toEqual([]);
        for (const sheet of sheets) {
          await expectExactMoney(sheet.client, [sheet.listId], (columnId) => sheet.prices.get(columnId) ?? 0);
        }
      }),
      { numRuns: 25, endOnFailure: true },
    );

    // The rounds did race: requests of every kind got through, and some were refused for credits.
    const statuses = (prefix: string) => new Set(outcomes.filter((o) => o.label.startsWith(prefix)).map((o) => o.status));
    expect(outcomes.length).toBeGreaterThanOrEqual(rounds * 2 * 12);
    expect(outcomes.length).toBeGreaterThanOrEqual(300);
    const success = { generate: 200, "delete column": 200, promote: 200, "delete rows": 200, "create column": 201, "delete list": 200 };
    for (const [prefix, status] of Object.entries(success)) expect(statuses(prefix), prefix).toContain(status);
    expect(statuses("generate")).toContain(402);
  }, 90_000);
});

// ---- 1b. the races above, one at a time ----

describe("a dispatch that answers after its runs already wrote their results", () => {
  /**
   * An AI column over 6 people whose runs completed every cell with a value while its creation
   * request still waits for Trigger.dev's answer: their credit hold is still open (not yet
   * captured). `release` lets the answer through.
   */
  async function completedBeforeCapture() {
    const client = await workspace(100);
    const listId = await newList(client);
    const rowIds = await addPeople(client, listId, PEOPLE);
    const release = answerNextDispatchLate();
    const created = client.post(`/api/lists/${listId}/columns`, AI_COLUMN);
    let columnId: string | undefined;
    for (let waited = 0; ; waited += 10) {
      [{ id: columnId } = { id: undefined }] = rowsOf<{ id: string }>(await h.db.execute(sql`select id from list_columns where list_id = ${listId} and name = ${AI_COLUMN.name}`));
      const cells = columnId ? await cellsByPosition(h.db, columnId) : [];
      if (cells.length === PEOPLE && cells.every((c) => c.status === "completed")) break;
      expect(waited, "the runs never completed the cells").toBeLessThan(5_000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const money = await workspaceMoney(h.db, client.workspaceId);
    expect(money).toMatchObject({ balance: 100, creditHeld: PEOPLE, charged: 0, holdsHeld: PEOPLE, openHolds: 1 });
    const holds = await creditHoldsOf(h.db, client.workspaceId);
    expect(holds).toEqual([{ id: UUID, columnId, amount: PEOPLE, units: PEOPLE, open: true, captures: [] }]);
    expect(money.cells.map(({ status, hasValue, paid, holdId }) => ({ status, hasValue, paid, holdId }))).toEqual(
      rowIds.map(() => ({ status: "completed", hasValue: true, paid: 1, holdId: holds[0]!.id })),
    );
    return { client, listId, rowIds, columnId: columnId!, release, created };
  }

  it.each([
    ["one of its rows", (s: Awaited<ReturnType<typeof completedBeforeCapture>>) => s.client.delete(`/api/lists/${s.listId}/rows`, { rowIds: [s.rowIds[0]] })],
    ["the column", (s: Awaited<ReturnType<typeof completedBeforeCapture>>) => s.client.delete(`/api/lists/${s.listId}/columns/${s.columnId}`)],
    ["the list", (s: Awaited<ReturnType<typeof completedBeforeCapture>>) => s.client.delete(`/api/lists/${s.listId}`)],
  ])("deleting %s meanwhile leaves no credits held", async (_, remove) => {
    const sheet = await completedBeforeCapture();

    const removed = await remove(sheet);
    expect(removed.status).toBe(200);
    sheet.release();
    expect((await sheet.created).status).toBe(201);
    await settle([sheet.client.workspaceId]);

    const money = await expectExactMoney(sheet.client, [sheet.listId], () => 1);
    // Delivered work stays paid for: the six cells are charged at the capture, deleted or not.
    expect({ balance: money.balance, charged: money.charged, refunded: money.refunded, creditHeld: money.creditHeld }).toEqual({
      balance: 100 - PEOPLE,
      charged: PEOPLE,
      refunded: 0,
      creditHeld: 0,
    });
  });

  it("generating a cell again meanwhile charges the re-run once more and leaves no credits held", async () => {
    const sheet = await completedBeforeCapture();

    const rerun = await sheet.client.post(`/api/lists/${sheet.listId}/columns/${sheet.columnId}/generate`, { rowIds: [sheet.rowIds[0]] });
    expect(rerun.status).toBe(200);
    expect(rerun.body).toEqual({ success: true, taskId: expect.stringMatching(/^run_/), rowCount: 1 });
    sheet.release();
    expect((await sheet.created).status).toBe(201);
    await settle([sheet.client.workspaceId]);

    await expectAllCompleted(sheet.columnId, sheet.rowIds);
    const money = await expectExactMoney(sheet.client, [sheet.listId], () => 1);
    // Seven deliveries: six by the creation, the first row's once more by the re-run.
    expect({ balance: money.balance, charged: money.charged, refunded: money.refunded, creditHeld: money.creditHeld }).toEqual({
      balance: 100 - PEOPLE - 1,
      charged: PEOPLE + 1,
      refunded: 0,
      creditHeld: 0,
    });
  });
});

describe("adding a row while its list is being deleted", () => {
  it("never deadlocks: the row write and the list delete both answer without a 5xx", async () => {
    const logStart = logEntries.length;
    const client = await workspace(100);
    const listId = await newList(client);
    await addPeople(client, listId, 2);

    // Another money path holds the workspace lock (as a column being queued does) while the list
    // delete queues behind it and the row write starts; then it lets go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let lockerPid = 0;
    let held!: () => void;
    const lockHeld = new Promise<void>((resolve) => (held = resolve));
    const locker = h.db.transaction(async (tx) => {
      await lockWorkspace(tx, client.workspaceId);
      lockerPid = rowsOf<{ pid: number }>(await tx.execute(sql`select pg_backend_pid() as pid`))[0]!.pid;
      held();
      await released;
    });
    await lockHeld;
    // Backends waiting on the locker, directly or behind another waiter.
    const waitingOnLocker = async () =>
      Number(
        rowsOf<{ n: string }>(
          await h.db.execute(sql`
            with recursive waiting(pid) as (
              select ${lockerPid}::int
              union
              select a.pid from pg_stat_activity a join waiting w on w.pid = any(pg_blocking_pids(a.pid))
            )
            select count(*) - 1 as n from waiting`),
        )[0]!.n,
      );
    const until = async (done: () => Promise<boolean>, what: string) => {
      for (let waited = 0; !(await done()); waited += 10) {
        expect(waited, what).toBeLessThan(5_000);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    const deleting = client.delete(`/api/lists/${listId}`);
    await until(async () => (await waitingOnLocker()) >= 1, "the list delete never waited for the workspace");
    let added = false;
    const adding = client.post(`/api/lists/${listId}/rows`, { firstName: "Late", lastName: "Arrival", domain: "late.example.com" }).finally(() => (added = true));
    await until(async () => added || (await waitingOnLocker()) >= 2, "the row write neither finished nor waited");
    release();
    await locker;

    const [deleted, addedRow] = await Promise.all([deleting, adding]);
    expect({ status: deleted.status, body: deleted.body }).toEqual({ status: 200, body: { success: true } });
    if (addedRow.status === 404) expect(addedRow.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    else expect(addedRow.status, JSON.stringify(addedRow.body)).toBe(200);
    expect(troubleIn(logEntries.slice(logStart))).toEqual([]);
    expect(rowsOf(await h.db.execute(sql`select id from lists where id = ${listId}`))).toEqual([]);
  });
});

// ---- 2. a dispatch that never answers holds no lock ----

describe("a dispatch that never answers", () => {
  it("blocks nothing else of the workspace, its held credits gate other requests, and it ends DISPATCH_FAILED with nothing charged", async () => {
    const client = await workspace(10, sdkApp);
    const listId = await newList(client);
    const rowIds = await addPeople(client, listId, PEOPLE);
    const notes = await createColumn(client, listId, { name: "Notes", isDynamic: false });
    fake.clearRecords();
    fake.failAlways({ hang: true }, { path: /^\/api\/v3\/batches$/ });

    const startedAt = performance.now();
    let stuckDone = false;
    const stuck = client.post(`/api/lists/${listId}/columns`, AI_COLUMN).finally(() => (stuckDone = true));
    for (let waited = 0; !fake.requests.some((r) => r.path === "/api/v3/batches" && r.endedAt === undefined); waited += 10) {
      expect(waited, "the dispatch never reached Trigger.dev").toBeLessThan(2_000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [column] = rowsOf<{ id: string }>(await h.db.execute(sql`select id from list_columns where list_id = ${listId} and name = ${AI_COLUMN.name}`));
    expect(await workspaceMoney(h.db, client.workspaceId)).toMatchObject({ balance: 10, creditHeld: PEOPLE, holdsHeld: PEOPLE, openHolds: 1 });

    const timed = async (call: () => Promise<ApiResponse>) => {
      const began = performance.now();
      const res = await call();
      return { res, ms: performance.now() - began };
    };
    const list = await timed(() => client.post("/api/lists", { name: "Meanwhile" }));
    const cell = await timed(() => client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[0], columnId: notes, value: "Met at the fair" }));
    const row = await timed(() => client.post(`/api/lists/${listId}/rows`, { firstName: "Late", lastName: "Arrival", domain: "late.example.com" }));
    const staticColumn = await timed(() => client.post(`/api/lists/${listId}/columns`, { name: "More notes", isDynamic: false }));
    const account = await timed(() => client.get("/api/account"));
    const needsCredits = await timed(() => client.post(`/api/lists/${listId}/columns`, { ...AI_COLUMN, name: "Another pitch" }));
    expect(stuckDone, "the hung dispatch ended before the other requests were measured").toBe(false);

    const timings = { list, cell, row, staticColumn, account, needsCredits };
    for (const [name, { ms }] of Object.entries(timings)) expect(ms, `${name} took ${Math.round(ms)} ms`).toBeLessThan(1_500);
    expect(list.res.status).toBe(201);
    expect(list.res.body.list).toMatchObject({ id: UUID, name: "Meanwhile" });
    expect(cell.res.status).toBe(200);
    expect(cell.res.body).toEqual({
      cell: { id: UUID, list_id: listId, column_id: notes, row_id: rowIds[0], value: "Met at the fair", status: "completed", reasoning: null, error: null, created_at: ISO_DATE, updated_at: ISO_DATE },
    });
    expect(row.res.status).toBe(200);
    expect(row.res.body).toMatchObject({ row: { id: UUID, firstName: "Late", lastName: "Arrival" }, merged: false });
    expect(staticColumn.res.status).toBe(201);
    expect(staticColumn.res.body.column).toMatchObject({ id: UUID, name: "More notes", source: "profile", isPreview: false });
    expect(account.res.status).toBe(200);
    expect(account.res.body).toEqual({
      account: { id: client.account.accountId, email: expect.any(String), fullName: expect.any(String) },
      profile: { firstName: expect.anything(), lastName: expect.anything() },
      workspace: { id: client.workspaceId, name: expect.any(String), plan: expect.any(String) },
      credits: { balance: 10 },
    });
    // 7 AI cells (the row added meanwhile included) need 7 credits; 6 of the 10 are held by the hung dispatch.
    expect(needsCredits.res.status).toBe(402);
    expect(needsCredits.res.body).toEqual({
      error: "Insufficient credits: 7 required, 4 available",
      code: "INSUFFICIENT_CREDITS",
      requestId: REQUEST_ID,
      required: PEOPLE + 1,
      balance: 10 - PEOPLE,
    });

    const res = await stuck;
    const stuckMs = performance.now() - startedAt;
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: expect.any(String), code: "DISPATCH_FAILED", requestId: REQUEST_ID });
    expect(stuckMs).toBeGreaterThanOrEqual(HUNG_DISPATCH_TIMEOUT_MS - 50);
    expect(await cellsByPosition(h.db, column!.id)).toEqual(
      rowIds.map((rowId) => ({ rowId, status: "failed", value: null, reasoning: null, error: "DISPATCH_FAILED", runToken: UUID })),
    );
    expect(await workspaceMoney(h.db, client.workspaceId)).toEqual({
      balance: 10,
      creditHeld: 0,
      ledgerSum: 10,
      charged: 0,
      refunded: 0,
      runsHeld: 0,
      holdsHeld: 0,
      openHolds: 0,
      cells: [],
    });
    // Every cell gave its share back to the open hold, which then closed empty: nothing captured.
    await expectExactMoney(client, [listId], () => 1);
    expect(await creditHoldsOf(h.db, client.workspaceId)).toEqual([{ id: UUID, columnId: column!.id, amount: 0, units: 0, open: false, captures: [] }]);
    expect((await client.ledger()).map((e) => e.kind)).toEqual(["grant"]);
    expect(fake.runs).toEqual([]);
    fake.clearFaults();
  }, 20_000);
});

// ---- 3. a re-queue of cells still in flight carries their credits over ----

async function charges(client: Client) {
  return (await client.ledger()).filter((e) => e.kind !== "grant").map((e) => ({ kind: e.kind, units: e.units, delta: e.delta, referenceId: e.referenceId }));
}

async function expectAllCompleted(columnId: string, rowIds: readonly string[]) {
  expect(await cellsByPosition(h.db, columnId)).toEqual(
    rowIds.map((rowId) => ({ rowId, status: "completed", value: expect.any(String), reasoning: expect.any(String), error: null, runToken: UUID })),
  );
}

describe("re-queueing cells", () => {
  it("charges nothing for cells still processing, and once again for cells that completed", async () => {
    providers = createSandboxProviders({ delayMs: 400 });
    try {
      const client = await workspace(20);
      const listId = await newList(client);
      const rowIds = await addPeople(client, listId, PEOPLE);
      const columnId = await createColumn(client, listId, AI_COLUMN);
      for (let waited = 0; ; waited += 10) {
        const processing = (await h.db.select().from(personCells).where(and(eq(personCells.columnId, columnId), eq(personCells.status, "processing")))).length;
        if (processing === PEOPLE) break;
        expect(waited, "the cells never became processing").toBeLessThan(3_000);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }

      const requeued = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds });
      expect(requeued.status).toBe(200);
      expect(requeued.body).toEqual({ success: true, taskId: expect.stringMatching(/^run_/), rowCount: PEOPLE });
      expect(await charges(client)).toEqual([{ kind: "charge", units: PEOPLE, delta: -PEOPLE, referenceId: columnId }]);

      await settle([client.workspaceId]);
      await expectAllCompleted(columnId, rowIds);
      expect(await charges(client)).toEqual([{ kind: "charge", units: PEOPLE, delta: -PEOPLE, referenceId: columnId }]);
      expect(await client.ledgerConsistency()).toEqual({ balance: 20 - PEOPLE, ledgerSum: 20 - PEOPLE, entries: 2 });

      const rerun = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds: rowIds.slice(0, 3) });
      expect(rerun.status).toBe(200);
      expect(rerun.body).toEqual({ success: true, taskId: expect.stringMatching(/^run_/), rowCount: 3 });
      await settle([client.workspaceId]);
      await expectAllCompleted(columnId, rowIds);
      expect(await charges(client)).toEqual([
        { kind: "charge", units: PEOPLE, delta: -PEOPLE, referenceId: columnId },
        { kind: "charge", units: 3, delta: -3, referenceId: columnId },
      ]);
      expect(await client.ledgerConsistency()).toEqual({ balance: 20 - PEOPLE - 3, ledgerSum: 20 - PEOPLE - 3, entries: 3 });
      await expectExactMoney(client, [listId], () => 1);
    } finally {
      providers = createSandboxProviders({ delayMs: 5 });
    }
  }, 20_000);

  it("the documented example: a 20-row AI column generated again while pending is charged 20 credits, not 40", async () => {
    const client = await workspace(40);
    const listId = await newList(client);
    const rowIds = await addPeople(client, listId, 20);
    gate = [];
    const columnId = await createColumn(client, listId, AI_COLUMN);
    expect((await cellsByPosition(h.db, columnId)).map((c) => c.status)).toEqual(rowIds.map(() => "pending"));

    const requeued = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds });
    expect(requeued.status).toBe(200);
    expect(requeued.body).toEqual({ success: true, taskId: expect.stringMatching(/^run_/), rowCount: 20 });
    expect(await client.balance()).toBe(20);

    await openGate();
    await settle([client.workspaceId]);
    await expectAllCompleted(columnId, rowIds);
    expect(await charges(client)).toEqual([{ kind: "charge", units: 20, delta: -20, referenceId: columnId }]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 20, ledgerSum: 20, entries: 2 });
    await expectExactMoney(client, [listId], () => 1);
  });
});

// ---- 4. racing enrichment runs ----

describe("enrichment runs under one idempotency key", () => {
  it("30 concurrent identical requests and a cancel make one run, charged at most once, its money exact", async () => {
    const logStart = logEntries.length;
    const client = await workspace(100);
    const leadIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await client.post("/api/leads", { type: "person", name: { full: `Lead ${i} Tester` }, company: { name: `Co${i}`, domain: `co${i}.example.com` } });
      expect(res.status).toBe(201);
      leadIds.push(res.body.lead.id);
    }
    const body = { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds }, idempotencyKey: "race-key-1" };

    let cancel: Promise<ApiResponse> | undefined;
    const responses = await Promise.all(
      Array.from({ length: 30 }, () =>
        client.post("/api/enrichment", body).then((res) => {
          if (res.status === 202) cancel ??= client.post(`/api/enrichment/${res.body.enrichmentRunId}/cancel`);
          return res;
        }),
      ),
    );
    const cancelled = await cancel!;

    expect(responses.map((r) => r.status)).toEqual(responses.map(() => 202));
    const runIds = new Set(responses.map((r) => r.body.enrichmentRunId));
    expect(runIds.size).toBe(1);
    const [runId] = [...runIds] as [string];
    expect(responses.filter((r) => !r.body.reusedExistingRun)).toHaveLength(1);
    for (const r of responses) expect(r.body).toMatchObject({ enrichmentRunId: runId, runId, leadCount: 5 });

    await inProcess.idle();
    for (let waited = 0; ; waited += 20) {
      const open = await h.db.select().from(enrichmentRunItems).where(and(eq(enrichmentRunItems.runId, runId), sql`${enrichmentRunItems.status} in ('pending', 'running')`));
      if (open.length === 0) break;
      expect(waited, "items stayed open").toBeLessThan(10_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }

    const runs = await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, client.workspaceId));
    expect(runs).toHaveLength(1);
    if (cancelled.status === 200) {
      expect(cancelled.body).toEqual({ run: { id: runId, status: "cancelled", cancelledAt: ISO_DATE } });
      expect(runs[0]!.status).toBe("cancelled");
    } else {
      // The run finished before the cancel reached it (or while the cancel was on its way).
      expect(cancelled.status).toBe(409);
      expect(cancelled.body).toEqual({ error: expect.any(String), code: "CONFLICT", requestId: REQUEST_ID, reason: expect.stringMatching(/^run_(not_cancellable|status_changed)$/) });
      expect(runs[0]!.status).toBe("completed");
    }
    const items = await h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId));
    const completed = items.filter((i) => i.status === "completed").length;
    const ledger = await client.ledger();
    const runCharges = ledger.filter((e) => e.kind === "charge");
    const runRefunds = ledger.filter((e) => e.kind === "refund");
    expect(runCharges.map((e) => ({ delta: e.delta, referenceId: e.referenceId }))).toEqual([{ delta: -10, referenceId: runId }]);
    expect(runRefunds.map((e) => e.delta)).toEqual(items.filter((i) => i.status === "skipped" || i.status === "failed").map(() => 2));
    expect(-sum(runCharges.map((e) => e.delta)) - sum(runRefunds.map((e) => e.delta))).toBe(2 * completed);
    expect(await workspaceMoney(h.db, client.workspaceId)).toEqual({
      balance: 100 - 2 * completed,
      creditHeld: 0,
      ledgerSum: 100 - 2 * completed,
      charged: 10,
      refunded: 10 - 2 * completed,
      runsHeld: 0,
      holdsHeld: 0,
      openHolds: 0,
      cells: [],
    });
    expect(troubleIn(logEntries.slice(logStart))).toEqual([]);
  });
});
