import { and, eq, sql, type SQL } from "drizzle-orm";
import type { Queryable } from "../db/client";
import { columns, lists } from "../db/schema";
import { AppError } from "../errors";
import type { Services } from "../services";
import { settleDoomedCells } from "./cell-store";
import { creditActionsOf } from "./column-kinds";
import { lockWorkspace } from "./credits";

// Removing what cells hang on (rows, company rows, a whole list) takes their open cells with it, so
// their credits are returned first: held ones released, paid ones refunded once. Each removal runs
// under the workspace lock, the first lock of every path that moves credits or changes which cells
// exist, so it cannot deadlock with a column being queued or a task writing results. (Deleting
// columns is in columns.ts, with the rest of the column lifecycle.)

/**
 * In the caller's transaction: locks the workspace, then returns the credits of the list's open
 * cells that `cells` selects (as `c`, per cell table; omit a table to leave its cells alone).
 */
export async function settleCellsOfRemovedRows(
  tx: Queryable,
  workspaceId: string,
  listId: string,
  cells: { person?: SQL; company?: SQL },
  note: string,
): Promise<void> {
  await lockWorkspace(tx, workspaceId);
  // Another workspace's list is a 404, and its cells are never settled against this workspace.
  const [owned] = await tx.select({ id: lists.id }).from(lists).where(and(eq(lists.id, listId), eq(lists.workspaceId, workspaceId)));
  if (!owned) throw AppError.notFound("List");
  const listColumns = await tx
    .select({ id: columns.id, enrichmentType: columns.enrichmentType, source: columns.source, subject: columns.subject })
    .from(columns)
    .where(eq(columns.listId, listId));
  const scoped = (condition: SQL | undefined) => (condition ? sql`c.list_id = ${listId} and ${condition}` : sql`false`);
  await settleDoomedCells(tx, workspaceId, { person: scoped(cells.person), company: scoped(cells.company) }, creditActionsOf(listColumns), note);
}

/**
 * Deletes a list: rows, company rows, columns and cells cascade with it, the open cells' credits
 * returned first; leads are workspace records and stay. The columns' background runs are then
 * cancelled (best effort: a task that wakes up finds its column gone and stops).
 */
export async function deleteList(services: Services, workspaceId: string, listId: string): Promise<void> {
  const { db, dispatcher, logger } = services;
  const runIds = await db.transaction(async (tx) => {
    await settleCellsOfRemovedRows(tx, workspaceId, listId, { person: sql`true`, company: sql`true` }, "Refund: list deleted before the cell was filled");
    const doomed = await tx.select({ runIds: columns.triggerRunIds }).from(columns).where(eq(columns.listId, listId));
    const deleted = await tx
      .delete(lists)
      .where(and(eq(lists.id, listId), eq(lists.workspaceId, workspaceId)))
      .returning({ id: lists.id });
    if (deleted.length === 0) throw AppError.notFound("List");
    return doomed.flatMap((column) => column.runIds);
  });
  if (runIds.length === 0) return;
  const result = await dispatcher.cancel(runIds);
  if (result.failed.length > 0) logger.warn("list run cancellation incomplete", { listId, failed: result.failed });
}
