import { and, eq, sql } from "drizzle-orm";
import { rowsOf } from "../../db/client";
import { enrichmentRuns } from "../../db/schema";
import { AppError } from "../../errors";
import type { Services } from "../../services";
import { lockWorkspaceOfRun, refundSettledItems } from "./credits";
import { runNotFound } from "./views";

const CANCELLABLE = new Set(["pending", "running"]);

function notCancellable(reason: "run_not_cancellable" | "run_status_changed", status?: string): AppError {
  const message =
    reason === "run_not_cancellable"
      ? `Enrichment run is ${status} and can no longer be cancelled`
      : "Enrichment run changed status while it was being cancelled";
  return new AppError("CONFLICT", message, { extra: { reason } });
}

/**
 * Cancels a pending or running run: its pending items become skipped (`run_cancelled`) and are
 * refunded in the same transaction; running items finish on their own (the task refunds them if they
 * fail). The dispatched task is then cancelled, best effort: the task also stops by itself when it
 * next sees the run cancelled.
 */
export async function cancelEnrichmentRun(services: Services, workspaceId: string, runId: string) {
  const { db, dispatcher, logger } = services;
  const [current] = await db
    .select({ status: enrichmentRuns.status })
    .from(enrichmentRuns)
    .where(and(eq(enrichmentRuns.id, runId), eq(enrichmentRuns.workspaceId, workspaceId)));
  if (!current) throw runNotFound();
  if (!CANCELLABLE.has(current.status)) throw notCancellable("run_not_cancellable", current.status);

  const cancelled = await db.transaction(async (tx) => {
    // The workspace row first, as every credit movement takes it, so cancel and refunds queue in one order.
    await lockWorkspaceOfRun(tx, runId);
    const [row] = rowsOf<{ cancelled_at: string | Date; trigger_run_id: string | null }>(
      await tx.execute(sql`
        with run as (
          update enrichment_runs set status = 'cancelled', cancelled_at = now(), updated_at = now()
          where id = ${runId} and workspace_id = ${workspaceId} and status in ('pending', 'running')
          returning id, cancelled_at, trigger_run_id
        ), skipped as (
          update enrichment_run_items set status = 'skipped', skipped_reason = 'run_cancelled', completed_at = now(), updated_at = now()
          where run_id in (select id from run) and status = 'pending'
        )
        select cancelled_at, trigger_run_id from run`),
    );
    if (!row) throw notCancellable("run_status_changed");
    await refundSettledItems(tx, runId);
    return row;
  });

  if (cancelled.trigger_run_id) {
    try {
      const result = await dispatcher.cancel([cancelled.trigger_run_id]);
      if (result.failed.length > 0) logger.warn("enrichment run task not cancelled", { enrichmentRunId: runId, triggerRunId: cancelled.trigger_run_id });
    } catch (error) {
      logger.warn("enrichment run task cancel failed", { enrichmentRunId: runId, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { run: { id: runId, status: "cancelled" as const, cancelledAt: new Date(cancelled.cancelled_at).toISOString() } };
}
