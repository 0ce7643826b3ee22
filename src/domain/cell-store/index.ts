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
//
// Files: tables.ts (the two tables), columns.ts (columns as tasks see them), queue.ts (queueing,
// holds, failing and deleting open cells), claims.ts (claims, leases, in-task charges), results.ts
// (results and their settlement), manual.ts (the documented manual writes), progress.ts (what a
// column's cells and ledger rows add up to).

export * from "./claims";
export * from "./columns";
export * from "./manual";
export * from "./progress";
export * from "./queue";
export * from "./readiness";
export * from "./results";
export * from "./tables";
