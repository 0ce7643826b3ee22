import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Queryable } from "../../db/client";
import { enrichmentRunItems, enrichmentRuns, itemStatuses } from "../../db/schema";
import { AppError } from "../../errors";
import type { listEnrichmentRunItemsQuery } from "../../routes/enrichment-runs/schemas";

export type RunRow = typeof enrichmentRuns.$inferSelect;
export type ItemRow = typeof enrichmentRunItems.$inferSelect;
export type ItemStatus = (typeof itemStatuses)[number];
export type ItemCounts = Record<ItemStatus, number>;

const iso = (date: Date | null) => (date ? new Date(date).toISOString() : null);

export const runNotFound = () => AppError.notFound("Enrichment run");

export function runView(run: RunRow, counts: ItemCounts) {
  return {
    id: run.id,
    status: run.status,
    mode: run.mode,
    enrichment: { id: run.enrichmentSlug, slug: run.enrichmentSlug, version: run.enrichmentVersion },
    scope: { type: run.scopeType, listId: run.listId, requested: run.requested, resolvedCount: run.resolvedCount, counts },
    output: { target: run.outputTarget, attributeKey: run.attributeKey, writePolicy: run.writePolicy },
    ...(run.providers ? { config: { providers: run.providers } } : {}),
    cost: { creditAction: run.creditAction, preview: run.costPreview, actual: run.costActual },
    trigger: { triggerRunId: run.triggerRunId },
    error: run.error,
    timing: {
      startedAt: iso(run.startedAt),
      completedAt: iso(run.completedAt),
      cancelledAt: iso(run.cancelledAt),
      createdAt: iso(run.createdAt),
      updatedAt: iso(run.updatedAt),
    },
  };
}

export function itemView(item: ItemRow) {
  return {
    id: item.id,
    runId: item.runId,
    leadId: item.leadId,
    listId: item.listId,
    membershipId: item.membershipId,
    status: item.status,
    result: item.result ?? null,
    skippedReason: item.skippedReason,
    error: item.errorMessage === null ? null : { message: item.errorMessage, details: item.errorDetails ?? null },
    attempts: item.attempts,
    metadata: { provider: item.provider, providerSubmissionId: item.providerSubmissionId, ...(item.providerAttempts ? { attempts: item.providerAttempts } : {}) },
    timing: {
      startedAt: iso(item.startedAt),
      completedAt: iso(item.completedAt),
      createdAt: iso(item.createdAt),
      updatedAt: iso(item.updatedAt),
    },
  };
}

const countsOfRun = sql<Record<ItemStatus, string | number>>`(
  select json_build_object(${sql.join(
    itemStatuses.map((status) => sql`${status}::text, count(*) filter (where i.status = ${status})`),
    sql`, `,
  )})
  from enrichment_run_items i where i.run_id = enrichment_runs.id)`;

/** The caller's run with exact item counts, in one statement; 404 for anything else. */
export async function getRun(db: Queryable, workspaceId: string, runId: string) {
  const [found] = await db
    .select({ run: enrichmentRuns, counts: countsOfRun })
    .from(enrichmentRuns)
    .where(and(eq(enrichmentRuns.id, runId), eq(enrichmentRuns.workspaceId, workspaceId)));
  if (!found) throw runNotFound();
  const counts = Object.fromEntries(itemStatuses.map((status) => [status, Number(found.counts[status] ?? 0)])) as ItemCounts;
  return runView(found.run, counts);
}

export type ItemPageOptions = z.output<typeof listEnrichmentRunItemsQuery>;

/**
 * One page of a run's items by id ascending, the cursor being the last id returned: ids never change,
 * so pages stay stable while the task rewrites statuses. Run ownership and the page come in one
 * statement (a run without matching items yields one row with no item).
 */
export async function listItems(db: Queryable, workspaceId: string, runId: string, options: ItemPageOptions) {
  const rows = await db
    .select({ runId: enrichmentRuns.id, item: enrichmentRunItems })
    .from(enrichmentRuns)
    .leftJoin(
      enrichmentRunItems,
      and(
        eq(enrichmentRunItems.runId, enrichmentRuns.id),
        options.status ? eq(enrichmentRunItems.status, options.status) : undefined,
        options.leadId ? eq(enrichmentRunItems.leadId, options.leadId) : undefined,
        options.cursor ? gt(enrichmentRunItems.id, options.cursor) : undefined,
      ),
    )
    .where(and(eq(enrichmentRuns.id, runId), eq(enrichmentRuns.workspaceId, workspaceId)))
    .orderBy(asc(enrichmentRunItems.id))
    .limit(options.limit + 1);
  if (rows.length === 0) throw runNotFound();
  const items = rows.flatMap((row) => (row.item ? [row.item] : []));
  const hasMore = items.length > options.limit;
  const page = items.slice(0, options.limit);
  return {
    items: page.map(itemView),
    page: { limit: options.limit, nextCursor: hasMore ? page[page.length - 1]!.id : null, hasMore },
  };
}
