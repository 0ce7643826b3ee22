import { sql } from "drizzle-orm";
import { rowsOf, type Db } from "../../src/db/client";
import { uuidSet } from "../../src/db/sql";
import type { Logger } from "../../src/services";

// What the money tests observe beyond the API: every change of a cell's `paid` (the credits charged
// for its current enrichment), recorded by database triggers in the same transaction as the change,
// so credits that leave a cell without a trace (a cell deleted or re-queued) are still accounted for.
// The triggers only record; they change nothing the project writes.

export async function installPaidAudit(db: Db): Promise<() => Promise<void>> {
  await db.execute(sql`
    create table if not exists test_paid_audit (
      id bigserial primary key,
      list_id uuid not null,
      column_id uuid not null,
      cell_id uuid not null,
      op text not null,
      old_paid int not null,
      new_paid int not null,
      old_status text not null,
      old_has_value boolean not null,
      new_status text
    )`);
  await db.execute(sql`
    create or replace function test_paid_audit() returns trigger language plpgsql as $$
    begin
      insert into test_paid_audit (list_id, column_id, cell_id, op, old_paid, new_paid, old_status, old_has_value, new_status)
      values (old.list_id, old.column_id, old.id, lower(tg_op), old.paid,
              case when tg_op = 'DELETE' then 0 else new.paid end, old.status,
              old.value is not null and old.value <> 'null'::jsonb,
              case when tg_op = 'DELETE' then null else new.status end);
      return null;
    end $$`);
  for (const table of ["list_cells", "list_company_cells"]) {
    await db.execute(
      sql.raw(`create trigger test_paid_audit_update after update on ${table} for each row when (old.paid is distinct from new.paid) execute function test_paid_audit()`),
    );
    await db.execute(sql.raw(`create trigger test_paid_audit_delete after delete on ${table} for each row when (old.paid > 0) execute function test_paid_audit()`));
  }
  return async () => {
    for (const table of ["list_cells", "list_company_cells"]) {
      await db.execute(sql.raw(`drop trigger if exists test_paid_audit_update on ${table}`));
      await db.execute(sql.raw(`drop trigger if exists test_paid_audit_delete on ${table}`));
    }
    await db.execute(sql`drop function if exists test_paid_audit()`);
    await db.execute(sql`drop table if exists test_paid_audit`);
  };
}

export type PaidChange = {
  columnId: string;
  cellId: string;
  op: "update" | "delete";
  oldPaid: number;
  newPaid: number;
  oldStatus: string;
  oldHasValue: boolean;
  newStatus: string | null;
};

export async function paidChanges(db: Db, listIds: readonly string[]): Promise<PaidChange[]> {
  if (listIds.length === 0) return [];
  const rows = rowsOf<{
    column_id: string;
    cell_id: string;
    op: "update" | "delete";
    old_paid: number;
    new_paid: number;
    old_status: string;
    old_has_value: boolean;
    new_status: string | null;
  }>(
    await db.execute(sql`
      select column_id, cell_id, op, old_paid, new_paid, old_status, old_has_value, new_status from test_paid_audit
      where list_id in ${uuidSet(listIds)} order by id`),
  );
  return rows.map((r) => ({
    columnId: r.column_id,
    cellId: r.cell_id,
    op: r.op,
    oldPaid: Number(r.old_paid),
    newPaid: Number(r.new_paid),
    oldStatus: r.old_status,
    oldHasValue: r.old_has_value,
    newStatus: r.new_status,
  }));
}

/** A cell's credits and state, for the money checks. */
export type CellMoney = { cellId: string; columnId: string; status: string; hasValue: boolean; held: number; paid: number };

export type WorkspaceMoney = {
  balance: number;
  creditHeld: number;
  ledgerSum: number;
  /** Credits of every charge ledger row (positive). */
  charged: number;
  refunded: number;
  runsHeld: number;
  /** Every existing cell of the workspace with credits on it, or still open, in both cell tables. */
  cells: CellMoney[];
};

export async function workspaceMoney(db: Db, workspaceId: string): Promise<WorkspaceMoney> {
  const [row] = rowsOf<{ balance: string; credit_held: string; ledger_sum: string; charged: string; refunded: string; runs_held: string }>(
    await db.execute(sql`
      select w.credit_balance as balance, w.credit_held,
             (select coalesce(sum(delta), 0) from credit_ledger l where l.workspace_id = w.id) as ledger_sum,
             (select coalesce(sum(-delta), 0) from credit_ledger l where l.workspace_id = w.id and l.kind = 'charge') as charged,
             (select coalesce(sum(delta), 0) from credit_ledger l where l.workspace_id = w.id and l.kind = 'refund') as refunded,
             (select coalesce(sum(held), 0) from enrichment_runs r where r.workspace_id = w.id) as runs_held
      from workspaces w where w.id = ${workspaceId}`),
  );
  const cells = rowsOf<{ cell_id: string; column_id: string; status: string; has_value: boolean; held: number; paid: number }>(
    await db.execute(sql`
      select c.id as cell_id, c.column_id, c.status, c.value is not null and c.value <> 'null'::jsonb as has_value, c.held, c.paid
      from list_cells c join lists l on l.id = c.list_id
      where l.workspace_id = ${workspaceId} and (c.held <> 0 or c.paid <> 0 or c.status in ('pending', 'processing'))
      union all
      select c.id, c.column_id, c.status, c.value is not null and c.value <> 'null'::jsonb, c.held, c.paid
      from list_company_cells c join lists l on l.id = c.list_id
      where l.workspace_id = ${workspaceId} and (c.held <> 0 or c.paid <> 0 or c.status in ('pending', 'processing'))`),
  );
  return {
    balance: Number(row!.balance),
    creditHeld: Number(row!.credit_held),
    ledgerSum: Number(row!.ledger_sum),
    charged: Number(row!.charged),
    refunded: Number(row!.refunded),
    runsHeld: Number(row!.runs_held),
    cells: cells.map((c) => ({ cellId: c.cell_id, columnId: c.column_id, status: c.status, hasValue: c.has_value, held: Number(c.held), paid: Number(c.paid) })),
  };
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
