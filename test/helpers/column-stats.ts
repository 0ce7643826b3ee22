import { sql } from "drizzle-orm";
import { expect } from "vitest";
import { rowsOf, type Db } from "../../src/db/client";

// The `progress` and `credits` a column object carries, built for expectations or recounted here
// from the cells and the ledger (in JavaScript, apart from the SQL the API uses).

export type Progress = { total: number; pending: number; processing: number; completed: number; empty: number; failed: number };
export type Credits = { charged: number; refunded: number; held: number };

/** A progress with the given counts, every other count 0, and their sum as total. */
export function progress(counts: Partial<Omit<Progress, "total">> = {}): Progress {
  const { pending = 0, processing = 0, completed = 0, empty = 0, failed = 0 } = counts;
  return { total: pending + processing + completed + empty + failed, pending, processing, completed, empty, failed };
}

export function credits(charged = 0, refunded = 0, held = 0): Credits {
  return { charged, refunded, held };
}

/** The column's cells (either subject) counted by status, a completed cell without a value as empty. */
export async function progressFromCells(db: Db, columnId: string): Promise<Progress> {
  const cells = rowsOf<{ status: string; value: unknown }>(
    await db.execute(sql`
      select status, value from list_cells where column_id = ${columnId}
      union all
      select status, value from list_company_cells where column_id = ${columnId}`),
  );
  const counts = { pending: 0, processing: 0, completed: 0, empty: 0, failed: 0 };
  for (const cell of cells) {
    if (cell.status === "completed" || cell.status === "complete") {
      if (cell.value === null) counts.empty += 1;
      else counts.completed += 1;
    } else if (cell.status === "pending" || cell.status === "processing" || cell.status === "failed") {
      counts[cell.status] += 1;
    } else {
      throw new Error(`unexpected cell status ${cell.status}`);
    }
  }
  return progress(counts);
}

/** What the ledger says the column was charged and refunded, and what its open credit holds set aside. */
export async function creditsFromLedger(db: Db, columnId: string): Promise<Credits> {
  const entries = rowsOf<{ kind: string; delta: string | number }>(
    await db.execute(sql`select kind, delta from credit_ledger where reference_type = 'column' and reference_id = ${columnId}`),
  );
  let charged = 0;
  let refunded = 0;
  for (const entry of entries) {
    if (entry.kind === "charge") charged -= Number(entry.delta);
    if (entry.kind === "refund") refunded += Number(entry.delta);
  }
  const holds = rowsOf<{ amount: string | number }>(
    await db.execute(sql`select amount from credit_holds where column_id = ${columnId} and settled_at is null`),
  );
  let held = 0;
  for (const hold of holds) held += Number(hold.amount);
  return { charged, refunded, held };
}

/**
 * That `earlier` is a moment on the way to `later` for a column whose cells only move forward
 * (pending → processing → completed, empty or failed): the same cells, none of them going back.
 * For a progress answered while in-process tasks were already working on the column.
 */
export function expectEarlierProgress(earlier: Progress, later: Progress): void {
  expect(Object.keys(earlier).sort()).toEqual(Object.keys(later).sort());
  expect(earlier.pending + earlier.processing + earlier.completed + earlier.empty + earlier.failed).toBe(earlier.total);
  expect(earlier.total).toBe(later.total);
  expect(earlier.pending).toBeGreaterThanOrEqual(later.pending);
  expect(earlier.pending + earlier.processing).toBeGreaterThanOrEqual(later.pending + later.processing);
  expect(earlier.completed).toBeLessThanOrEqual(later.completed);
  expect(earlier.empty).toBeLessThanOrEqual(later.empty);
  expect(earlier.failed).toBeLessThanOrEqual(later.failed);
}
