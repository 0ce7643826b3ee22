import { sql, type SQL } from "drizzle-orm";
import type { Subject } from "../column-kinds";

// The two cell tables: person cells in list_cells keyed by row_id, company cells in
// list_company_cells keyed by company_row_id; otherwise the same shape, so every statement of the
// cell store is written once over both.

export const OPEN_CELL = sql.raw(`('pending', 'processing')`);

/** Raw SQL names per subject: the row table, the cell table and the cell's row key. */
export const SUBJECT_TABLES = {
  person: { rows: sql.raw("list_rows"), cells: sql.raw("list_cells"), rowKey: sql.raw("row_id") },
  company: { rows: sql.raw("list_company_rows"), cells: sql.raw("list_company_cells"), rowKey: sql.raw("company_row_id") },
} as const satisfies Record<Subject, { rows: SQL; cells: SQL; rowKey: SQL }>;

export const leaseFromNow = (leaseMs: number) => sql`now() + ${leaseMs} * interval '1 millisecond'`;
