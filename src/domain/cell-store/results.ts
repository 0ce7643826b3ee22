import { sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import type { CellAttempt } from "../../db/schema";
import { jsonParam } from "../../db/sql";
import type { ProviderResult } from "../../providers/types";
import type { Subject } from "../column-kinds";
import { lockWorkspace, settleManyCtes } from "../credits";
import { OPEN_CELL, SUBJECT_TABLES } from "./tables";

// What an attempt decided for its cells: results written in set-based flushes, their credits
// settled in the same statement, and the cells a failing run still holds.

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
  /** A waterfall cell's tries, one per provider, stored with the result under its token. */
  attempts?: CellAttempt[];
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
        metadata: { ...answer.metadata, ...(answer.sources ? { sources: answer.sources } : {}), ...(answer.sourceTitles ? { sourceTitles: answer.sourceTitles } : {}), ...run },
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
  /** The rows whose cells the write ended. */
  rowIds: string[];
  /** Whether other columns of the list read this one (their cells of those rows may advance now). */
  hasReaders: boolean;
  /** The column's list (null when the column is gone). */
  listId: string | null;
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
  const { cells, rowKey } = SUBJECT_TABLES[subject];
  const records = results.map((r) => ({
    cell_id: r.cellId,
    run_token: r.runToken,
    status: r.status,
    value: storable(r.value ?? null),
    reasoning: storable(r.reasoning) as string | null,
    error: storable(r.error) as string | null,
    metadata: storable(r.metadata),
    refund: r.refund,
    attempts: r.attempts ? { runToken: r.runToken, attempts: r.attempts } : null,
  }));
  const run = async (tx: Queryable): Promise<FlushOutcome> => {
    await lockWorkspace(tx, refunds.workspaceId);
    const [outcome] = rowsOf<{ written: string | number; refunded: string | number; open: string | number; row_ids: string[] | null; has_readers: boolean; list_id: string | null }>(
      await tx.execute(sql`
        with input as (
          select i.*, i.status = 'completed' and not cell_value_fits(col.schema, i.value) as misfit
          from list_columns col,
               jsonb_to_recordset(${jsonParam(records)}) as i(cell_id uuid, run_token uuid, status text, value jsonb,
                                                            reasoning text, error text, metadata jsonb, refund boolean, attempts jsonb)
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
              attempts = coalesce(i.attempts, c.attempts),
              paid = case when t.refund then 0 else c.paid end,
              lease_owner = null,
              updated_at = now()
          from input i join target t on t.id = i.cell_id
          where c.id = i.cell_id
          returning c.id, c.run_token, c.error, c.${rowKey} as row_id, t.refund, t.paid, t.hold_id
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
                  and not exists (select 1 from written w where w.id = o.id)) as open,
               (select json_agg(row_id) from written) as row_ids,
               exists (select 1 from list_columns col join list_columns d on d.list_id = col.list_id
                       where col.id = ${columnId} and col.id = any(d.depends_on)) as has_readers,
               (select list_id from list_columns where id = ${columnId}) as list_id
      `),
    );
    return {
      written: Number(outcome?.written ?? 0),
      refunded: Number(outcome?.refunded ?? 0),
      open: Number(outcome?.open ?? 0),
      rowIds: outcome?.row_ids ?? [],
      hasReaders: outcome?.has_readers ?? false,
      listId: outcome?.list_id ?? null,
    };
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
