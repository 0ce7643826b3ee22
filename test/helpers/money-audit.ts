import { sql } from "drizzle-orm";
import { rowsOf, type Db } from "../../src/db/client";
import { uuidSet } from "../../src/db/sql";
import type { Logger } from "../../src/services";

// What the money tests observe beyond the API: every change of a cell's money (its `paid`, its
// `hold_id`, its run token) and every deletion of a cell that carries credits, recorded by database
// triggers in the same transaction as the change, so credits that leave a cell without a trace (a
// cell deleted or re-queued, a share released from a hold) are still accounted for. Each record
// also says whether the cell's hold was still open at that moment: that decides whether credits
// given back were released from the hold or had to be refunded. The triggers only record; they
// change nothing the project writes.

export async function installMoneyAudit(db: Db): Promise<() => Promise<void>> {
  await db.execute(sql`
    create table if not exists test_cell_money_audit (
      id bigserial primary key,
      list_id uuid not null,
      column_id uuid not null,
      cell_id uuid not null,
      op text not null,
      old_paid int,
      new_paid int,
      old_hold uuid,
      new_hold uuid,
      old_hold_open boolean not null,
      old_token uuid,
      new_token uuid,
      old_status text,
      old_has_value boolean,
      new_status text
    )`);
  await db.execute(sql`
    create or replace function test_cell_money_audit() returns trigger language plpgsql as $$
    declare
      cell record;
    begin
      if tg_op = 'INSERT' then cell := new; else cell := old; end if;
      insert into test_cell_money_audit (list_id, column_id, cell_id, op, old_paid, new_paid, old_hold, new_hold, old_hold_open,
                                         old_token, new_token, old_status, old_has_value, new_status)
      values (cell.list_id, cell.column_id, cell.id, lower(tg_op),
              case when tg_op = 'INSERT' then null else old.paid end,
              case when tg_op = 'DELETE' then null else new.paid end,
              case when tg_op = 'INSERT' then null else old.hold_id end,
              case when tg_op = 'DELETE' then null else new.hold_id end,
              tg_op <> 'INSERT' and exists (select 1 from credit_holds h where h.id = old.hold_id and h.settled_at is null),
              case when tg_op = 'INSERT' then null else old.run_token end,
              case when tg_op = 'DELETE' then null else new.run_token end,
              case when tg_op = 'INSERT' then null else old.status end,
              case when tg_op = 'INSERT' then null else old.value is not null and old.value <> 'null'::jsonb end,
              case when tg_op = 'DELETE' then null else new.status end);
      return null;
    end $$`);
  for (const table of ["list_cells", "list_company_cells"]) {
    await db.execute(sql.raw(`create trigger test_cell_money_audit_insert after insert on ${table} for each row when (new.paid > 0) execute function test_cell_money_audit()`));
    await db.execute(
      sql.raw(
        `create trigger test_cell_money_audit_update after update on ${table} for each row
         when (old.paid is distinct from new.paid or old.hold_id is distinct from new.hold_id or old.run_token is distinct from new.run_token)
         execute function test_cell_money_audit()`,
      ),
    );
    await db.execute(sql.raw(`create trigger test_cell_money_audit_delete after delete on ${table} for each row when (old.paid > 0) execute function test_cell_money_audit()`));
  }
  return async () => {
    for (const table of ["list_cells", "list_company_cells"]) {
      for (const op of ["insert", "update", "delete"]) await db.execute(sql.raw(`drop trigger if exists test_cell_money_audit_${op} on ${table}`));
    }
    await db.execute(sql`drop function if exists test_cell_money_audit()`);
    await db.execute(sql`drop table if exists test_cell_money_audit`);
  };
}

/** One recorded change of a cell's money; `old*` fields are null for an insert, `new*` fields for a delete. */
export type CellMoneyEvent = {
  columnId: string;
  cellId: string;
  op: "insert" | "update" | "delete";
  oldPaid: number | null;
  newPaid: number | null;
  oldHold: string | null;
  newHold: string | null;
  /** The hold the cell was under before the change was open at that moment. */
  oldHoldOpen: boolean;
  oldToken: string | null;
  newToken: string | null;
  oldStatus: string | null;
  oldHasValue: boolean | null;
  newStatus: string | null;
};

export async function cellMoneyEvents(db: Db, listIds: readonly string[]): Promise<CellMoneyEvent[]> {
  if (listIds.length === 0) return [];
  const rows = rowsOf<{
    column_id: string;
    cell_id: string;
    op: CellMoneyEvent["op"];
    old_paid: number | null;
    new_paid: number | null;
    old_hold: string | null;
    new_hold: string | null;
    old_hold_open: boolean;
    old_token: string | null;
    new_token: string | null;
    old_status: string | null;
    old_has_value: boolean | null;
    new_status: string | null;
  }>(
    await db.execute(sql`
      select column_id, cell_id, op, old_paid, new_paid, old_hold, new_hold, old_hold_open, old_token, new_token, old_status, old_has_value, new_status
      from test_cell_money_audit where list_id in ${uuidSet(listIds)} order by id`),
  );
  return rows.map((r) => ({
    columnId: r.column_id,
    cellId: r.cell_id,
    op: r.op,
    oldPaid: r.old_paid === null ? null : Number(r.old_paid),
    newPaid: r.new_paid === null ? null : Number(r.new_paid),
    oldHold: r.old_hold,
    newHold: r.new_hold,
    oldHoldOpen: r.old_hold_open,
    oldToken: r.old_token,
    newToken: r.new_token,
    oldStatus: r.old_status,
    oldHasValue: r.old_has_value,
    newStatus: r.new_status,
  }));
}

/**
 * One enrichment a cell paid for: from the change that gave it `paid` (queued under a hold, or a
 * contact lookup charged in the task, `holdId` null) to the change that ended it. A cell re-queued
 * while still open carries its stint over (same hold, same paid, a new token).
 */
export type Stint = {
  cellId: string;
  columnId: string;
  holdId: string | null;
  paid: number;
  /** The token the stint started under (a contact lookup's `cell-charge:<token>`). */
  startToken: string | null;
  end:
    /** Given back while its hold was open: taken off the hold, no ledger row. */
    | { kind: "released" }
    /** Given back after its hold was settled (or with no hold): a `cell-refund:<token>` row is due. */
    | { kind: "refunded"; token: string }
    /** Ended with a value: delivered, then deleted, re-queued, or still there at the end. */
    | { kind: "delivered"; still: boolean };
};

/** A change no money path of the model makes (e.g. credits leaving a cell that never delivered, without being given back). */
export type MoneyAnomaly = { reason: string; event?: CellMoneyEvent; cell?: CellMoney };

const OPEN = new Set(["pending", "processing"]);

/**
 * Replays the recorded changes, cell by cell in the order they happened, into stints, and closes
 * the stints still running with the cells as they are now (`cells`: every existing cell with
 * credits on it). Anything the model does not explain is an anomaly.
 */
export function cellStints(events: readonly CellMoneyEvent[], cells: readonly CellMoney[]): { stints: Stint[]; anomalies: MoneyAnomaly[] } {
  const stints: Stint[] = [];
  const anomalies: MoneyAnomaly[] = [];
  const running = new Map<string, Omit<Stint, "end">>();
  for (const e of events) {
    const oldActive = e.op !== "insert" && (e.oldPaid ?? 0) > 0;
    const newActive = e.op !== "delete" && (e.newPaid ?? 0) > 0;
    const tokenChanged = e.op === "update" && e.oldToken !== e.newToken;
    const continuing = oldActive && newActive && e.oldHold === e.newHold && e.oldPaid === e.newPaid;
    if (e.op === "update" && !tokenChanged && e.oldHold !== e.newHold) anomalies.push({ reason: "hold changed without a re-queue", event: e });
    if (continuing) {
      // Only a re-queue of a cell still open carries its payment over.
      if (!tokenChanged || !OPEN.has(e.oldStatus ?? "")) anomalies.push({ reason: "payment kept across a change that is not a carried re-queue", event: e });
      continue;
    }
    // A carried re-queue of a cell whose hold is still open moves its share into the new hold: the
    // same payment, now captured or released with the new hold.
    const moved = oldActive && newActive && tokenChanged && OPEN.has(e.oldStatus ?? "") && e.oldHoldOpen === true && e.oldHold !== e.newHold && e.oldPaid === e.newPaid;
    if (moved) {
      const stint = running.get(e.cellId);
      if (!stint || stint.holdId !== e.oldHold) anomalies.push({ reason: "a moved payment with no stint matching it", event: e });
      else running.set(e.cellId, { ...stint, holdId: e.newHold ?? null });
      continue;
    }
    if (oldActive) {
      const stint = running.get(e.cellId);
      running.delete(e.cellId);
      const givenBack = (e.op === "delete" && OPEN.has(e.oldStatus ?? "")) || (e.op === "update" && !tokenChanged && e.newPaid === 0);
      const delivered = (e.op === "delete" || tokenChanged) && e.oldStatus === "completed" && e.oldHasValue === true;
      if (!stint || stint.holdId !== e.oldHold || stint.paid !== e.oldPaid) anomalies.push({ reason: "credits left a cell with no stint matching them", event: e });
      else if (givenBack) stints.push({ ...stint, end: e.oldHoldOpen ? { kind: "released" } : { kind: "refunded", token: e.oldToken! } });
      else if (delivered) stints.push({ ...stint, end: { kind: "delivered", still: false } });
      else anomalies.push({ reason: "credits left a cell that had not delivered, without being given back", event: e });
    }
    if (newActive) {
      if (running.has(e.cellId)) anomalies.push({ reason: "a stint started on top of a running one", event: e });
      running.set(e.cellId, { cellId: e.cellId, columnId: e.columnId, holdId: e.newHold, paid: e.newPaid!, startToken: e.newToken });
    }
  }
  for (const cell of cells.filter((c) => c.paid > 0)) {
    const stint = running.get(cell.cellId);
    running.delete(cell.cellId);
    if (!stint || stint.holdId !== cell.holdId || stint.paid !== cell.paid) anomalies.push({ reason: "a cell carries credits no recorded change gave it", cell });
    else if (cell.status === "completed" && cell.hasValue) stints.push({ ...stint, end: { kind: "delivered", still: true } });
    else anomalies.push({ reason: "a cell still carries credits without having delivered a value", cell });
  }
  for (const stint of running.values()) anomalies.push({ reason: `a stint of cell ${stint.cellId} never ended and its cell no longer carries it` });
  return { stints, anomalies };
}

/** A cell's credits and state, for the money checks. */
export type CellMoney = { cellId: string; columnId: string; status: string; hasValue: boolean; paid: number; holdId: string | null };

export type WorkspaceMoney = {
  balance: number;
  creditHeld: number;
  ledgerSum: number;
  /** Credits of every charge ledger row (positive). */
  charged: number;
  refunded: number;
  runsHeld: number;
  /** Credits still held by open credit holds, and how many holds are open. */
  holdsHeld: number;
  openHolds: number;
  /** Every existing cell of the workspace with credits on it, or still open, in both cell tables. */
  cells: CellMoney[];
};

export async function workspaceMoney(db: Db, workspaceId: string): Promise<WorkspaceMoney> {
  const [row] = rowsOf<{ balance: string; credit_held: string; ledger_sum: string; charged: string; refunded: string; runs_held: string; holds_held: string; open_holds: string }>(
    await db.execute(sql`
      select w.credit_balance as balance, w.credit_held,
             (select coalesce(sum(delta), 0) from credit_ledger l where l.workspace_id = w.id) as ledger_sum,
             (select coalesce(sum(-delta), 0) from credit_ledger l where l.workspace_id = w.id and l.kind = 'charge') as charged,
             (select coalesce(sum(delta), 0) from credit_ledger l where l.workspace_id = w.id and l.kind = 'refund') as refunded,
             (select coalesce(sum(held), 0) from enrichment_runs r where r.workspace_id = w.id) as runs_held,
             (select coalesce(sum(amount), 0) from credit_holds h where h.workspace_id = w.id and h.settled_at is null) as holds_held,
             (select count(*) from credit_holds h where h.workspace_id = w.id and h.settled_at is null) as open_holds
      from workspaces w where w.id = ${workspaceId}`),
  );
  const cells = rowsOf<{ cell_id: string; column_id: string; status: string; has_value: boolean; paid: number; hold_id: string | null }>(
    await db.execute(sql`
      select c.id as cell_id, c.column_id, c.status, c.value is not null and c.value <> 'null'::jsonb as has_value, c.paid, c.hold_id
      from list_cells c join lists l on l.id = c.list_id
      where l.workspace_id = ${workspaceId} and (c.paid <> 0 or c.status in ('pending', 'processing'))
      union all
      select c.id, c.column_id, c.status, c.value is not null and c.value <> 'null'::jsonb, c.paid, c.hold_id
      from list_company_cells c join lists l on l.id = c.list_id
      where l.workspace_id = ${workspaceId} and (c.paid <> 0 or c.status in ('pending', 'processing'))`),
  );
  return {
    balance: Number(row!.balance),
    creditHeld: Number(row!.credit_held),
    ledgerSum: Number(row!.ledger_sum),
    charged: Number(row!.charged),
    refunded: Number(row!.refunded),
    runsHeld: Number(row!.runs_held),
    holdsHeld: Number(row!.holds_held),
    openHolds: Number(row!.open_holds),
    cells: cells.map((c) => ({ cellId: c.cell_id, columnId: c.column_id, status: c.status, hasValue: c.has_value, paid: Number(c.paid), holdId: c.hold_id })),
  };
}

/**
 * A credit hold of the workspace as it is now, with the charge rows that captured it: a capture is
 * one `charge` row about the hold's column written in the transaction that settled the hold (same
 * `now()`), keyed `column-dispatch:<batch>` by the request or unkeyed by recovery.
 */
export type HoldMoney = { id: string; columnId: string; amount: number; units: number; open: boolean; captures: Array<{ units: number; delta: number }> };

export async function creditHoldsOf(db: Db, workspaceId: string): Promise<HoldMoney[]> {
  const rows = rowsOf<{ id: string; column_id: string; amount: string; units: number; open: boolean; captures: Array<{ units: number; delta: number }> | null }>(
    await db.execute(sql`
      select h.id, h.column_id, h.amount, h.units, h.settled_at is null as open,
             (select json_agg(json_build_object('units', l.units, 'delta', l.delta) order by l.id) from credit_ledger l
              where l.workspace_id = h.workspace_id and l.kind = 'charge' and l.reference_type = 'column' and l.reference_id = h.column_id
                and l.created_at = h.settled_at and ${CAPTURE_KEY}) as captures
      from credit_holds h where h.workspace_id = ${workspaceId} order by h.id`),
  );
  return rows.map((r) => ({
    id: r.id,
    columnId: r.column_id,
    amount: Number(r.amount),
    units: r.units,
    open: r.open,
    captures: (r.captures ?? []).map((c) => ({ units: Number(c.units), delta: Number(c.delta) })),
  }));
}

/** The dedupe key of a hold's capture: the request's `column-dispatch:<batch>`, or none (recovery). */
const CAPTURE_KEY = sql`(l.dedupe_key is null or l.dedupe_key like 'column-dispatch:%')`;

export type LedgerRow = { kind: string; units: number; delta: number; referenceType: string | null; referenceId: string | null; dedupeKey: string | null };

/** The workspace's ledger rows other than grants, in order. */
export async function spendingLedger(db: Db, workspaceId: string): Promise<LedgerRow[]> {
  const rows = rowsOf<{ kind: string; units: number; delta: string; reference_type: string | null; reference_id: string | null; dedupe_key: string | null }>(
    await db.execute(sql`
      select kind, units, delta, reference_type, reference_id, dedupe_key from credit_ledger
      where workspace_id = ${workspaceId} and kind <> 'grant' order by id`),
  );
  return rows.map((r) => ({ kind: r.kind, units: r.units, delta: Number(r.delta), referenceType: r.reference_type, referenceId: r.reference_id, dedupeKey: r.dedupe_key }));
}

/** Cells of the workspace still pending or processing. */
export async function openCellCount(db: Db, workspaceId: string): Promise<number> {
  const [row] = rowsOf<{ open: string }>(
    await db.execute(sql`
      select (select count(*) from list_cells c join lists l on l.id = c.list_id
              where l.workspace_id = ${workspaceId} and c.status in ('pending', 'processing'))
           + (select count(*) from list_company_cells c join lists l on l.id = c.list_id
              where l.workspace_id = ${workspaceId} and c.status in ('pending', 'processing')) as open`),
  );
  return Number(row!.open);
}

/** Polls until no cell of the workspaces is open, or the time is up (the checks after it then fail and show what is left). */
export async function waitForCellsToSettle(db: Db, workspaceIds: readonly string[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await Promise.all(workspaceIds.map((id) => openCellCount(db, id)));
    if (open.every((n) => n === 0) || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A logger that keeps what it is told. */
export function recordingLogger() {
  const entries: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void entries.push({ level, message, fields });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, entries };
}
