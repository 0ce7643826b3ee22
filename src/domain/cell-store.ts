import { eq, sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable } from "../db/client";
import { columns } from "../db/schema";
import { jsonParam, uuidSet } from "../db/sql";
import type { ProviderColumn, ProviderResult, RowData } from "../providers/types";
import type { Subject } from "./column-kinds";
import { lockWorkspace, settleManyCtes } from "./credits";

// The one cell store: every statement that queues, claims, leases, writes or settles cells, over
// both cell tables (person cells in list_cells keyed by row_id, company cells in list_company_cells
// keyed by company_row_id; otherwise the same shape). All of it is set-based: one statement per
// step whatever the number of cells.
//
// The money of a cell lives on the cell, for its current enrichment (its run token): `paid`, what
// it costs, and `hold_id`, the credit hold it was queued under (src/db/schema.ts creditHolds).
//
//   queued       paid = price, hold open   set aside (workspaces.credit_held), nothing charged yet
//   dispatched   hold captured             one charge ledger row for the whole hold; no cell written
//   no value     paid → 0                  released from the hold while it is open, else refunded
//                                          (a refund ledger row, `cell-refund:<token>`)
//   value        paid stays                spent
//
// A cell re-queued while it is still open keeps what it paid (carried over), so a re-queue never
// charges twice; giving credits back zeroes `paid`, so nothing is refunded twice. Every path that
// moves money or removes cells locks the workspace row first (lockWorkspace), then cells.
//
// Leases: an open cell is either `pending` (queued; its lease says by when an attempt must have
// claimed it) or `processing` under `lease_owner` (the run that claimed it, renewing the lease
// while it works). Recovery (src/domain/recovery.ts) re-dispatches open cells whose lease ran out.

export const OPEN_CELL = sql.raw(`('pending', 'processing')`);

/** Raw SQL names per subject: the row table, the cell table and the cell's row key. */
export const SUBJECT_TABLES = {
  person: { rows: sql.raw("list_rows"), cells: sql.raw("list_cells"), rowKey: sql.raw("row_id") },
  company: { rows: sql.raw("list_company_rows"), cells: sql.raw("list_company_cells"), rowKey: sql.raw("company_row_id") },
} as const satisfies Record<Subject, { rows: SQL; cells: SQL; rowKey: SQL }>;

const leaseFromNow = (leaseMs: number) => sql`now() + ${leaseMs} * interval '1 millisecond'`;

// ---- columns as tasks see them ----

export type TaskColumn = ProviderColumn & { listId: string; workspaceId: string; enrichmentType: string | null };

export async function loadColumn(db: Queryable, columnId: string): Promise<TaskColumn | null> {
  const [column] = await db
    .select({
      id: columns.id,
      listId: columns.listId,
      workspaceId: columns.workspaceId,
      name: columns.name,
      prompt: columns.prompt,
      source: columns.source,
      subject: columns.subject,
      schema: columns.schema,
      config: columns.config,
      enrichmentType: columns.enrichmentType,
    })
    .from(columns)
    .where(eq(columns.id, columnId));
  return column ?? null;
}

export async function columnExists(db: Queryable, columnId: string): Promise<boolean> {
  const [row] = await db.select({ id: columns.id }).from(columns).where(eq(columns.id, columnId));
  return row !== undefined;
}

// ---- queueing ----

/** Which rows of the column's subject a request queues. */
export type RowScope =
  | { kind: "all" }
  | { kind: "preview"; count: number }
  /** Rows the column has no cell for: what a promoted preview still has to enrich. */
  | { kind: "uncovered"; columnId: string }
  /** Chosen rows; ids that are not rows of the list and subject drop out. */
  | { kind: "ids"; rowIds: readonly string[] };

/** A row to queue, and whether its cell is still open with credits it carries over (not charged again). */
export type RowToQueue = { rowId: string; carried: boolean };

/** The rows of `scope` by position, each with whether its open cell carries credits over. */
export async function selectRowsToQueue(tx: Queryable, listId: string, subject: Subject, columnId: string | null, scope: RowScope): Promise<RowToQueue[]> {
  const t = SUBJECT_TABLES[subject];
  const condition =
    scope.kind === "uncovered"
      ? sql`and not exists (select 1 from ${t.cells} u where u.column_id = ${scope.columnId} and u.${t.rowKey} = r.id)`
      : scope.kind === "ids"
        ? sql`and r.id in ${uuidSet(scope.rowIds)}`
        : sql``;
  const limit = scope.kind === "preview" ? sql`limit ${scope.count}` : sql``;
  const carried = columnId
    ? sql`exists (select 1 from ${t.cells} c where c.column_id = ${columnId} and c.${t.rowKey} = r.id
                  and c.status in ${OPEN_CELL} and c.paid > 0)`
    : sql`false`;
  const rows = rowsOf<{ id: string; carried: boolean }>(
    await tx.execute(sql`select r.id, ${carried} as carried from ${t.rows} r where r.list_id = ${listId} ${condition} order by r.position ${limit}`),
  );
  return rows.map((r) => ({ rowId: r.id, carried: r.carried }));
}

export type QueuedCell = { rowId: string; runToken: string };

/**
 * Upserts the cells of the given rows to pending with a fresh run token and a lease, clearing what
 * an earlier enrichment left. With a `hold` price, the cells that do not carry credits over are
 * covered by a new credit hold (that price each; workspaces.credit_held moves in the same
 * statement), recorded on each cell as what it pays under that hold. Call it with the workspace
 * locked, after the credit check. Returns the rows queued, in the given order (a row deleted
 * meanwhile drops out), and the hold (null when nothing was held).
 */
export async function queueCells(
  tx: Queryable,
  column: { id: string; listId: string; workspaceId: string; subject: Subject },
  rowIds: readonly string[],
  options: { hold: { price: number; action: string } | null; leaseMs: number },
): Promise<{ queued: QueuedCell[]; hold: { id: string; amount: number } | null }> {
  if (rowIds.length === 0) return { queued: [], hold: null };
  const t = SUBJECT_TABLES[column.subject];
  const price = sql`${options.hold?.price ?? 0}::int`;
  const [outcome] = rowsOf<{ queued: Array<{ row_id: string; run_token: string }> | null; hold_id: string | null; held: string | number | null }>(
    await tx.execute(sql`
      with target as (
        select r.id as row_id, r.list_id,
               coalesce(c.status in ${OPEN_CELL} and c.paid > 0, false) as carried,
               coalesce(c.paid, 0) as old_paid, c.hold_id as old_hold, h.id is not null as old_hold_open
        from ${t.rows} r
        left join ${t.cells} c on c.column_id = ${column.id} and c.${t.rowKey} = r.id
        left join credit_holds h on h.id = c.hold_id and h.settled_at is null
        where r.list_id = ${column.listId} and r.id in ${uuidSet(rowIds)}
      ), moved as (
        -- A carried cell whose hold is still open moves its share into the new hold: the new
        -- dispatch is what will do its work, so it is captured (or released) with the new hold,
        -- never by the old request's outcome.
        select old_hold, sum(old_paid) as amount, count(*) as units from target
        where carried and old_hold_open and ${options.hold !== null} group by old_hold
      ), hold as (
        insert into credit_holds (workspace_id, column_id, action, amount, units, lease_expires_at)
        select ${column.workspaceId}, ${column.id}, ${options.hold?.action ?? ""},
               ${price} * count(*) filter (where not carried) + coalesce(sum(old_paid) filter (where carried and old_hold_open), 0),
               count(*) filter (where not carried or old_hold_open), ${leaseFromNow(options.leaseMs)}
        from target
        having ${price} > 0 and count(*) filter (where not carried or old_hold_open) > 0
        returning id, amount
      ), moved_out as (
        update credit_holds h set amount = h.amount - m.amount, units = h.units - m.units
        from moved m where h.id = m.old_hold and exists (select 1 from hold)
        returning h.id
      ), queued as (
        insert into ${t.cells} (list_id, column_id, ${t.rowKey}, value, status, reasoning, error, metadata, run_token,
                                paid, hold_id, lease_owner, lease_expires_at, recoveries)
        select t.list_id, ${column.id}, t.row_id, null, 'pending', null, null, '{}'::jsonb, uuid_generate_v7(),
               case when t.carried then t.old_paid when exists (select 1 from hold) then ${price} else 0 end,
               case when t.carried and not (t.old_hold_open and exists (select 1 from hold)) then t.old_hold else (select id from hold) end,
               null, ${leaseFromNow(options.leaseMs)}, 0
        from target t
        on conflict (column_id, ${t.rowKey}) do update
          set value = null, status = 'pending', reasoning = null, error = null, metadata = '{}'::jsonb,
              run_token = excluded.run_token, paid = excluded.paid, hold_id = excluded.hold_id,
              lease_owner = null, lease_expires_at = excluded.lease_expires_at, recoveries = 0, updated_at = now()
        returning ${t.rowKey} as row_id, run_token
      ), holding as (
        -- Moved shares were held already; only the new cells' credits are newly held.
        update workspaces set credit_held = credit_held + (select ${price} * count(*) from target where not carried), updated_at = now()
        where id = ${column.workspaceId} and exists (select 1 from hold)
        returning id
      )
      select (select json_agg(json_build_object('row_id', row_id, 'run_token', run_token)) from queued) as queued,
             (select id from hold) as hold_id, (select amount from hold) as held`),
  );
  const tokens = new Map((outcome?.queued ?? []).map((q) => [q.row_id, q.run_token]));
  return {
    queued: rowIds.filter((id) => tokens.has(id)).map((rowId) => ({ rowId, runToken: tokens.get(rowId)! })),
    hold: outcome?.hold_id ? { id: outcome.hold_id, amount: Number(outcome.held ?? 0) } : null,
  };
}

/**
 * The dispatch that an open hold covered went through: what the hold still holds becomes one charge
 * (a ledger row keyed by `dedupeKey`, units the cells it still covers), and the hold closes. Cells
 * that ended without a value meanwhile gave their share back, so they are not charged; no cell is
 * written. Takes the workspace lock. Returns the credits charged (0 when the hold was already settled).
 */
export async function captureHold(db: Queryable, workspaceId: string, holdId: string, dedupeKey: string | null): Promise<number> {
  return db.transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const [row] = rowsOf<{ charged: string | number | null }>(
      await tx.execute(sql`
        with hold as (
          update credit_holds set settled_at = now()
          where id = ${holdId} and workspace_id = ${workspaceId} and settled_at is null
          returning column_id, action, amount, units
        ), captured as (
          update workspaces w
          set credit_balance = w.credit_balance - hold.amount, credit_held = w.credit_held - hold.amount, updated_at = now()
          from hold where w.id = ${workspaceId} and hold.amount > 0
          returning w.credit_balance
        ), entry as (
          insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
          select ${workspaceId}, 'charge', hold.action, hold.units, -hold.amount, captured.credit_balance, 'column', hold.column_id, ${dedupeKey}, null
          from hold cross join captured
          returning id
        )
        select (select amount from hold where exists (select 1 from entry)) as charged`),
    );
    return Number(row?.charged ?? 0);
  });
}

/** The dispatch failed: what the hold still holds goes back to the workspace, nothing charged. Call it with the workspace locked. */
export async function releaseHold(tx: Queryable, workspaceId: string, holdId: string): Promise<void> {
  await tx.execute(sql`
    with hold as (
      update credit_holds set settled_at = now()
      where id = ${holdId} and workspace_id = ${workspaceId} and settled_at is null
      returning amount
    )
    update workspaces w set credit_held = w.credit_held - hold.amount, updated_at = now()
    from hold where w.id = ${workspaceId} and hold.amount > 0`);
}

/**
 * Ends open cells of one column failed with `error` (the dispatch failed; recovery gave up), and
 * returns what they paid: released from an open hold, refunded otherwise. Only cells still open
 * under the given tokens (or, without tokens, every open cell matching `where`) are touched. Call
 * it with the workspace locked. Returns how many cells ended failed.
 */
export async function failOpenCells(
  tx: Queryable,
  column: { id: string; workspaceId: string; subject: Subject },
  select: { runTokens: readonly string[] } | { where: SQL },
  failure: { error: string; action: string },
): Promise<number> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const which = "runTokens" in select ? sql`c.run_token in ${uuidSet(select.runTokens)}` : select.where;
  const [row] = rowsOf<{ failed: string | number }>(
    await tx.execute(sql`
      with doomed as (
        select c.id, c.run_token, c.paid::bigint as paid, c.hold_id from ${cells} c
        where c.column_id = ${column.id} and c.status in ${OPEN_CELL} and ${which}
        for update of c
      ), failed as (
        update ${cells} c
        set status = 'failed', error = ${failure.error}, value = null, reasoning = null, paid = 0,
            lease_owner = null, updated_at = now()
        from doomed d where c.id = d.id
        returning d.run_token, d.paid, d.hold_id
      ), ${settleManyCtes(
        column.workspaceId,
        sql`select 'cell-refund:' || f.run_token as dedupe_key, ${failure.action}::text as action, f.paid, f.hold_id,
                   'column'::text as reference_type, ${column.id}::uuid as reference_id, ${`Refund: ${failure.error}`}::text as note
            from failed f`,
      )}
      select (select count(*) from failed) as failed`),
  );
  return Number(row?.failed ?? 0);
}

/**
 * Returns the credits of open cells that are about to be deleted (with their column, row or list):
 * released from an open hold, or refunded (`cell-refund:<token>`, the key the task would use).
 * Settled cells keep what they paid: delivered work stays paid for (and is charged when an open
 * hold covering it is captured). `where` selects cells as `c` in both tables; `actions` maps a
 * column id to its credit action. Call it with the workspace locked. Returns the refund rows written.
 */
export async function settleDoomedCells(
  tx: Queryable,
  workspaceId: string,
  where: { person: SQL; company: SQL },
  actions: Record<string, string>,
  note: string,
): Promise<number> {
  const doomed = (subject: Subject) => {
    const { cells } = SUBJECT_TABLES[subject];
    return sql`select c.id, c.run_token, c.column_id, c.paid::bigint as paid, c.hold_id from ${cells} c
               where c.status in ${OPEN_CELL} and c.paid > 0 and ${where[subject]}
               for update of c`;
  };
  const [row] = rowsOf<{ refunded: string | number }>(
    await tx.execute(sql`
      with doomed_person as (${doomed("person")}), doomed_company as (${doomed("company")}),
      doomed as (select * from doomed_person union all select * from doomed_company),
      ${settleManyCtes(
        workspaceId,
        sql`select 'cell-refund:' || d.run_token as dedupe_key, coalesce(${jsonParam(actions)} ->> d.column_id::text, 'UNKNOWN') as action,
                   d.paid, d.hold_id, 'column'::text as reference_type, d.column_id as reference_id, ${note}::text as note
            from doomed d`,
      )}
      select (select count(*) from refund_entries) as refunded`),
  );
  return Number(row?.refunded ?? 0);
}

// ---- claiming and leases ----

/** A claimed cell: the token it was queued with, and the row it belongs to. */
export type ClaimedCell = { cellId: string; runToken: string; paid: number; row: RowData };

type PersonClaimRow = {
  cell_id: string;
  run_token: string;
  paid: number;
  row_id: string;
  full_name: string | null;
  first_name: string | null;
  last_name: string | null;
  role: string | null;
  company: string | null;
  domain: string | null;
  linkedin_url: string | null;
  location: string | null;
  email: string | null;
};

type CompanyClaimRow = {
  cell_id: string;
  run_token: string;
  paid: number;
  row_id: string;
  name: string;
  domain: string | null;
  website: string | null;
  industry: string | null;
  location: string | null;
  description: string | null;
};

/**
 * Marks the run's cells `processing` under a lease owned by the run, and returns them with their
 * rows, in one statement. A cell is claimable while `pending`, while `processing` under this same
 * run (an earlier attempt of it that failed part-way), or while `processing` under a lease that ran
 * out (its attempt died); cells another live attempt holds and terminal cells are left alone, which
 * makes a retried, late or duplicate run idempotent.
 */
export async function claimCells(
  db: Queryable,
  column: { id: string; subject: Subject; workspaceId: string },
  rowIds: readonly string[],
  run: { runId: string; attempt: number; leaseMs: number },
): Promise<ClaimedCell[]> {
  if (rowIds.length === 0) return [];
  // A claim locks many cells: under the workspace lock, like every other writer of many cells, so
  // claims never deadlock with queueing, results or other claims.
  return db.transaction(async (tx) => {
    await lockWorkspace(tx, column.workspaceId);
    return claimLocked(tx, column, rowIds, run);
  });
}

async function claimLocked(
  db: Queryable,
  column: { id: string; subject: Subject },
  rowIds: readonly string[],
  run: { runId: string; attempt: number; leaseMs: number },
): Promise<ClaimedCell[]> {
  const { cells, rowKey } = SUBJECT_TABLES[column.subject];
  const claim = sql`
    set status = 'processing',
        run_token = coalesce(c.run_token, uuid_generate_v7()),
        metadata = jsonb_build_object('runId', ${run.runId}::text, 'attempt', ${run.attempt}::int),
        lease_owner = ${run.runId}, lease_expires_at = ${leaseFromNow(run.leaseMs)},
        updated_at = now()`;
  const claimable = sql`
    c.column_id = ${column.id} and c.${rowKey} in ${uuidSet(rowIds)}
    and (c.status = 'pending'
         or (c.status = 'processing' and (c.lease_owner = ${run.runId} or c.lease_expires_at is null or c.lease_expires_at < now())))`;

  let claimed: ClaimedCell[];
  if (column.subject === "person") {
    const rows = rowsOf<PersonClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_rows r left join list_company_rows cr on cr.id = r.company_row_id
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, c.paid, r.id as row_id, r.full_name, r.first_name, r.last_name, r.role,
                  coalesce(r.company, cr.name) as company, coalesce(r.domain, cr.domain) as domain,
                  r.linkedin_url, r.location, r.email`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
      paid: Number(r.paid),
      row: {
        subject: "person",
        rowId: r.row_id,
        fullName: r.full_name,
        firstName: r.first_name,
        lastName: r.last_name,
        role: r.role,
        company: r.company,
        domain: r.domain,
        linkedinUrl: r.linkedin_url,
        location: r.location,
        email: r.email,
      },
    }));
  } else {
    const rows = rowsOf<CompanyClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_company_rows r
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, c.paid, r.id as row_id, r.name, r.domain, r.website, r.industry, r.location, r.description`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
      paid: Number(r.paid),
      row: {
        subject: "company",
        rowId: r.row_id,
        name: r.name,
        domain: r.domain,
        website: r.website,
        industry: r.industry,
        location: r.location,
        description: r.description,
      },
    }));
  }
  // In payload order, so runs process rows in the order they were queued.
  const order = new Map(rowIds.map((id, index) => [id, index]));
  return claimed.sort((a, b) => order.get(a.row.rowId)! - order.get(b.row.rowId)!);
}

/**
 * Renews the lease of every cell the run holds in the column; returns how many it renewed. Cells
 * another transaction has locked are skipped (`skip locked`), so a renewal never waits and never
 * deadlocks: such a cell is being written right now, and the next renewal catches it if need be.
 */
export async function renewCellLeases(db: Queryable, column: { id: string; subject: Subject }, runId: string, leaseMs: number): Promise<number> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const [row] = rowsOf<{ renewed: string | number }>(
    await db.execute(sql`
      with renewed as (
        update ${cells} set lease_expires_at = ${leaseFromNow(leaseMs)}
        where id in (select id from ${cells}
                     where column_id = ${column.id} and status = 'processing' and lease_owner = ${runId}
                     for update skip locked)
        returning 1
      )
      select count(*) as renewed from renewed`),
  );
  return Number(row?.renewed ?? 0);
}

/**
 * Charges one claimed cell of a column charged in the task (a contact lookup), once: nothing
 * happens when the cell already carries a payment or is no longer open under this token. Takes the
 * workspace lock. `insufficient` when the workspace cannot spend `price`.
 */
export async function chargeCell(
  db: Queryable,
  column: { id: string; workspaceId: string; subject: Subject },
  cell: { cellId: string; runToken: string },
  charge: { action: string; price: number },
): Promise<"charged" | "already_paid" | "insufficient" | "gone"> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const run = async (tx: Queryable) => {
    const { available } = await lockWorkspace(tx, column.workspaceId);
    const [row] = rowsOf<{ paid: number; open: boolean }>(
      await tx.execute(sql`select paid, status in ${OPEN_CELL} as open from ${cells} where id = ${cell.cellId} and run_token = ${cell.runToken} for update`),
    );
    if (!row || !row.open) return "gone" as const;
    if (Number(row.paid) > 0) return "already_paid" as const;
    if (available < charge.price) return "insufficient" as const;
    await tx.execute(sql`
      with paid as (
        update ${cells} set paid = ${charge.price}, updated_at = now() where id = ${cell.cellId} returning id
      ), moved as (
        update workspaces set credit_balance = credit_balance - ${charge.price}, updated_at = now()
        where id = ${column.workspaceId} and exists (select 1 from paid)
        returning credit_balance
      )
      insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
      select ${column.workspaceId}, 'charge', ${charge.action}, 1, ${-charge.price}, moved.credit_balance, 'column', ${column.id},
             ${`cell-charge:${cell.runToken}`}, 'Contact lookup'
      from moved`);
    return "charged" as const;
  };
  return db.transaction(run);
}

// ---- results ----

/** The final state of one cell, as the run decided it. */
export type CellResult = {
  cellId: string;
  runToken: string;
  status: "completed" | "failed";
  value: unknown;
  reasoning: string | null;
  error: string | null;
  metadata: Record<string, unknown>;
  /** The cell's credits go back to the workspace if this result lands. */
  refund: boolean;
};

export const INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS";

/**
 * The result a provider's answer leaves on its cell: a value completes it; no match completes it
 * empty, with the reason, and returns its credits; an error fails it and returns its credits. `run`
 * says which run (and submission) produced it, in the cell's metadata.
 */
export function cellResultOf(cell: { cellId: string; runToken: string }, answer: ProviderResult, run: Record<string, unknown>): CellResult {
  const base = { cellId: cell.cellId, runToken: cell.runToken };
  switch (answer.outcome) {
    case "value":
      return {
        ...base,
        status: "completed",
        value: answer.value ?? null,
        reasoning: answer.reasoning ?? null,
        error: null,
        metadata: { ...answer.metadata, ...(answer.sources ? { sources: answer.sources } : {}), ...run },
        refund: false,
      };
    case "no_match":
      return { ...base, status: "completed", value: null, reasoning: answer.reason, error: null, metadata: { ...answer.metadata, ...run }, refund: true };
    case "error":
      return { ...base, status: "failed", value: null, reasoning: null, error: answer.error, metadata: { ...answer.metadata, ...run }, refund: true };
  }
}

/** A contact cell the balance could not pay for: failed, and nothing to return since nothing was charged. */
export function insufficientCreditsResult(cell: { cellId: string; runToken: string }, run: Record<string, unknown>): CellResult {
  return { cellId: cell.cellId, runToken: cell.runToken, status: "failed", value: null, reasoning: null, error: INSUFFICIENT_CREDITS, metadata: run, refund: true };
}

/** Where a column's settled cells get their credits back from. */
export type Refunds = { workspaceId: string; action: string; columnId: string };

export type FlushOutcome = {
  /** Cells whose result landed. */
  written: number;
  /** Refund ledger rows written. */
  refunded: number;
  /** Cells of the column still pending or processing after this write. */
  open: number;
};

/**
 * Writes a batch of results and settles their credits in one statement, after taking the workspace
 * lock (in its own transaction, or the caller's).
 *
 * A result lands only on a cell that is still open under the token this run claimed it with: a cell
 * deleted with its column or row is never re-inserted (this is an UPDATE, and the column itself is
 * joined, so the check is part of the write), a cell re-queued since under a new token is not
 * overwritten by this stale run, and an ended cell stays as it ended (a late attempt cannot revive
 * an ABANDONED or DISPATCH_FAILED cell, nor overwrite the first result of a duplicate attempt). A value that does not fit the column's schema lands as a failure
 * (VALUE_TYPE_MISMATCH), so a stored enrichment value always fits. Text that Postgres cannot store
 * (NUL characters) is removed from values first.
 *
 * A landed result that returns credits releases what the cell holds and refunds what it paid, and
 * zeroes both, so a second result for the same token returns nothing more.
 */
export async function writeResults(db: Queryable, subject: Subject, columnId: string, results: readonly CellResult[], refunds: Refunds): Promise<FlushOutcome> {
  const { cells } = SUBJECT_TABLES[subject];
  const records = results.map((r) => ({
    cell_id: r.cellId,
    run_token: r.runToken,
    status: r.status,
    value: storable(r.value ?? null),
    reasoning: storable(r.reasoning) as string | null,
    error: storable(r.error) as string | null,
    metadata: storable(r.metadata),
    refund: r.refund,
  }));
  const run = async (tx: Queryable): Promise<FlushOutcome> => {
    await lockWorkspace(tx, refunds.workspaceId);
    const [outcome] = rowsOf<{ written: string | number; refunded: string | number; open: string | number }>(
      await tx.execute(sql`
        with input as (
          select i.*, i.status = 'completed' and not cell_value_fits(col.schema, i.value) as misfit
          from list_columns col,
               jsonb_to_recordset(${jsonParam(records)}) as i(cell_id uuid, run_token uuid, status text, value jsonb,
                                                            reasoning text, error text, metadata jsonb, refund boolean)
          where col.id = ${columnId}
        ), target as (
          select c.id, c.paid::bigint as paid, c.hold_id, i.refund or i.misfit as refund
          from ${cells} c join input i on c.id = i.cell_id and c.run_token = i.run_token
          where c.status in ${OPEN_CELL}
          for update of c
        ), written as (
          update ${cells} c
          set value = case when i.misfit then null else i.value end,
              status = case when i.misfit then 'failed' else i.status end,
              reasoning = case when i.misfit then null else i.reasoning end,
              error = case when i.misfit then 'VALUE_TYPE_MISMATCH' else i.error end,
              metadata = i.metadata,
              paid = case when t.refund then 0 else c.paid end,
              lease_owner = null,
              updated_at = now()
          from input i join target t on t.id = i.cell_id
          where c.id = i.cell_id
          returning c.id, c.run_token, c.error, t.refund, t.paid, t.hold_id
        ), ${settleManyCtes(
          refunds.workspaceId,
          sql`select 'cell-refund:' || w.run_token as dedupe_key, ${refunds.action}::text as action, w.paid, w.hold_id,
                     'column'::text as reference_type, ${refunds.columnId}::uuid as reference_id,
                     'Refund: ' || coalesce(w.error, 'no match') as note
              from written w where w.refund`,
        )}
        select (select count(*) from written) as written,
               (select count(*) from refund_entries) as refunded,
               (select count(*) from ${cells} o
                where o.column_id = ${columnId} and o.status in ${OPEN_CELL}
                  and not exists (select 1 from written w where w.id = o.id)) as open
      `),
    );
    return { written: Number(outcome?.written ?? 0), refunded: Number(outcome?.refunded ?? 0), open: Number(outcome?.open ?? 0) };
  };
  return db.transaction(run);
}

/** A value as Postgres can store it in jsonb: without NUL characters, at any depth. */
function storable(value: unknown): unknown {
  if (typeof value === "string") return value.includes("\u0000") ? value.replaceAll("\u0000", "") : value;
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k) as string, storable(v)]));
  return value;
}

/** A cell a run still holds: claimed by it (`processing` under its lease) and given no result. */
export type HeldCell = { cellId: string; runToken: string };

/**
 * The cells the run still holds in the column, under their current tokens. They stay locked until
 * the caller's transaction ends (take the workspace lock first), in id order.
 */
export async function lockHeldCells(tx: Queryable, column: { id: string; subject: Subject }, runId: string): Promise<HeldCell[]> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const held = rowsOf<{ cell_id: string; run_token: string }>(
    await tx.execute(sql`
      select c.id as cell_id, c.run_token from ${cells} c
      where c.column_id = ${column.id} and c.status = 'processing' and c.lease_owner = ${runId}
      order by c.id
      for update of c`),
  );
  return held.map((cell) => ({ cellId: cell.cell_id, runToken: cell.run_token }));
}
