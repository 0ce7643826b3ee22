import { sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import type { columns } from "../../db/schema";
import { uuidSet } from "../../db/sql";
import { columnView } from "../views";

type ColumnRecord = typeof columns.$inferSelect;

/**
 * How far each column has come, from its cells: disjoint counts that add up to `total` (`empty` is a
 * cell completed without a value: a contact with no match, an answer that was null). Company cells
 * are `complete` where person cells are `completed`; both count as completed.
 */
export type ColumnProgress = { total: number; pending: number; processing: number; completed: number; empty: number; failed: number };

/** What the column's work was charged, and what of it came back, from the ledger; and what its open holds set aside. */
export type ColumnCredits = { charged: number; refunded: number; held: number };

export type ColumnStats = { progress: ColumnProgress; credits: ColumnCredits };

export const NO_STATS: ColumnStats = {
  progress: { total: 0, pending: 0, processing: 0, completed: 0, empty: 0, failed: 0 },
  credits: { charged: 0, refunded: 0, held: 0 },
};

type StatsRow = Record<"column_id" | "total" | "pending" | "processing" | "completed" | "empty" | "failed" | "charged" | "refunded" | "held", string>;

/**
 * Progress and credits of the given columns in one statement, however many columns: per column one
 * aggregate over its cells (by the (column_id, row) unique index of its subject's table) and one over
 * its ledger rows (credit_ledger_column_idx).
 */
export async function columnStats(db: Queryable, columnIds: readonly string[]): Promise<Map<string, ColumnStats>> {
  const stats = new Map<string, ColumnStats>();
  if (columnIds.length === 0) return stats;
  const rows = rowsOf<StatsRow>(
    await db.execute(sql`
      select c.id as column_id, p.*, m.*, h.*
      from list_columns c
      cross join lateral (
        select count(*) as total,
               count(*) filter (where status = 'pending') as pending,
               count(*) filter (where status = 'processing') as processing,
               count(*) filter (where status in ('completed', 'complete') and value is not null and value <> 'null'::jsonb) as completed,
               count(*) filter (where status in ('completed', 'complete') and (value is null or value = 'null'::jsonb)) as empty,
               count(*) filter (where status = 'failed') as failed
        from (select status, value from list_cells where column_id = c.id and c.subject = 'person'
              union all
              select status, value from list_company_cells where column_id = c.id and c.subject = 'company') cells
      ) p
      cross join lateral (
        select coalesce(sum(-delta) filter (where kind = 'charge'), 0) as charged,
               coalesce(sum(delta) filter (where kind = 'refund'), 0) as refunded
        from credit_ledger where reference_type = 'column' and reference_id = c.id and workspace_id = c.workspace_id
      ) m
      cross join lateral (
        select coalesce(sum(amount), 0) as held from credit_holds where column_id = c.id and settled_at is null
      ) h
      where c.id in ${uuidSet(columnIds)}`),
  );
  for (const r of rows) {
    stats.set(r.column_id, {
      progress: {
        total: Number(r.total),
        pending: Number(r.pending),
        processing: Number(r.processing),
        completed: Number(r.completed),
        empty: Number(r.empty),
        failed: Number(r.failed),
      },
      credits: { charged: Number(r.charged), refunded: Number(r.refunded), held: Number(r.held) },
    });
  }
  return stats;
}

/** Column records as the API shows them, each with its progress and credits: one statement for all. */
export async function columnViews(db: Queryable, records: readonly ColumnRecord[]): Promise<ReturnType<typeof columnView>[]> {
  const stats = await columnStats(
    db,
    records.map((record) => record.id),
  );
  return records.map((record) => columnView(record, stats.get(record.id) ?? NO_STATS));
}

