import { sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { jsonParam, uuidSet } from "../../db/sql";
import type { Subject } from "../column-kinds";
import { lockWorkspace, settleManyCtes } from "../credits";
import { leaseFromNow, OPEN_CELL, SUBJECT_TABLES } from "./tables";

// Queueing cells under a credit hold, capturing or releasing the hold, and giving back the
// credits of cells that fail before any attempt or are deleted while open.

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

export type QueueOptions = {
  hold: { price: number; action: string } | null;
  leaseMs: number;
  /** Queue the cells unreleased (no lease, no task may claim them) for advanceCells to release: columns with inputs or a condition. */
  unreleased?: boolean;
};

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
  options: QueueOptions,
): Promise<{ queued: QueuedCell[]; hold: { id: string; amount: number } | null }> {
  if (rowIds.length === 0) return { queued: [], hold: null };
  const t = SUBJECT_TABLES[column.subject];
  const price = sql`${options.hold?.price ?? 0}::int`;
  const cellLease = options.unreleased ? sql`null::timestamptz` : leaseFromNow(options.leaseMs);
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
               null, ${cellLease}, 0
        from target t
        on conflict (column_id, ${t.rowKey}) do update
          set value = null, status = 'pending', reasoning = null, error = null, metadata = '{}'::jsonb,
              run_token = excluded.run_token, paid = excluded.paid, hold_id = excluded.hold_id,
              lease_owner = null, lease_expires_at = excluded.lease_expires_at, recoveries = 0, waiting_on = '{}'::uuid[], updated_at = now()
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
 * queueCells for a column created in this transaction, which has no cells yet: a plain insert (no
 * upsert, nothing to carry over), the fast path of column creation. Returns how many cells were
 * queued and the hold; the cells are the new column's only open cells, so a failed dispatch fails
 * them all.
 */
export async function queueCellsOfNewColumn(
  tx: Queryable,
  column: { id: string; listId: string; workspaceId: string; subject: Subject },
  rowIds: readonly string[],
  options: QueueOptions,
): Promise<{ count: number; hold: { id: string; amount: number } | null }> {
  if (rowIds.length === 0) return { count: 0, hold: null };
  const t = SUBJECT_TABLES[column.subject];
  const price = sql`${options.hold?.price ?? 0}::int`;
  const cellLease = options.unreleased ? sql`null::timestamptz` : leaseFromNow(options.leaseMs);
  const rows = sql`select r.id, r.list_id from ${t.rows} r where r.list_id = ${column.listId} and r.id in ${uuidSet(rowIds)}`;
  const [outcome] = rowsOf<{ queued: string | number; hold_id: string | null; held: string | number | null }>(
    await tx.execute(sql`
      with hold as (
        insert into credit_holds (workspace_id, column_id, action, amount, units, lease_expires_at)
        select ${column.workspaceId}, ${column.id}, ${options.hold?.action ?? ""}, ${price} * count(*), count(*), ${leaseFromNow(options.leaseMs)}
        from (${rows}) r
        having ${price} > 0 and count(*) > 0
        returning id, amount
      ), queued as (
        insert into ${t.cells} (list_id, column_id, ${t.rowKey}, status, metadata, run_token, paid, hold_id, lease_expires_at)
        select r.list_id, ${column.id}, r.id, 'pending', '{}'::jsonb, uuid_generate_v7(),
               case when exists (select 1 from hold) then ${price} else 0 end, (select id from hold), ${cellLease}
        from (${rows}) r
        returning 1
      ), holding as (
        update workspaces set credit_held = credit_held + (select amount from hold), updated_at = now()
        where id = ${column.workspaceId} and exists (select 1 from hold)
        returning id
      )
      select (select count(*) from queued) as queued, (select id from hold) as hold_id, (select amount from hold) as held`),
  );
  return {
    count: Number(outcome?.queued ?? 0),
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
  return captureHolds(db, workspaceId, [{ id: holdId, dedupeKey }]);
}

/** captureHold for many holds of one workspace in one statement: a charge ledger row per hold that still holds credits. */
export async function captureHolds(db: Queryable, workspaceId: string, holds: ReadonlyArray<{ id: string; dedupeKey: string | null }>): Promise<number> {
  if (holds.length === 0) return 0;
  const keys = holds.map((h) => ({ id: h.id, dedupe_key: h.dedupeKey }));
  return db.transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const [row] = rowsOf<{ charged: string | number | null }>(
      await tx.execute(sql`
        with settled as (
          update credit_holds h set settled_at = now()
          from jsonb_to_recordset(${jsonParam(keys)}) as k(id uuid, dedupe_key text)
          where h.id = k.id and h.workspace_id = ${workspaceId} and h.settled_at is null
          returning h.id, h.column_id, h.action, h.amount, h.units, k.dedupe_key
        ), charged as (
          select s.*, sum(s.amount) over (order by s.id) as running from settled s where s.amount > 0
        ), captured as (
          update workspaces w
          set credit_balance = w.credit_balance - (select sum(amount) from charged),
              credit_held = w.credit_held - (select sum(amount) from charged), updated_at = now()
          where w.id = ${workspaceId} and exists (select 1 from charged)
          returning w.credit_balance
        ), entry as (
          insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
          select ${workspaceId}, 'charge', c.action, c.units, -c.amount,
                 captured.credit_balance + (select sum(amount) from charged) - c.running, 'column', c.column_id, c.dedupe_key, null
          from charged c cross join captured
          returning id
        )
        select (select sum(amount) from charged where exists (select 1 from entry)) as charged`),
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
