import { sql, type SQL } from "drizzle-orm";
import { rowsOf, type Db } from "../../db/client";
import { jsonParam } from "../../db/sql";
import type { SubmissionCell, SubmissionStatus } from "../../db/schema";
import type { TaskContext } from "../../dispatch/types";
import type { BulkContactProvider, BulkOutcome, ContactField } from "../../providers/bulk";
import { failedOutcome, ProviderRequestError } from "../../providers/http";
import type { PersonData, ProviderResult } from "../../providers/types";
import type { Services } from "../../services";
import type { CatalogEntry } from "../catalog";
import { markSubmitted, sleep } from "../enrichment/contacts";
import { outcomeOf, rowDataOf, type ItemOutcome, type LeadJson } from "./provider-call";

// Contact enrichments of a run with a bulk contact provider (FullEnrich), sent the way contact
// columns send theirs: the run's items in recorded submissions of up to the provider's batch size,
// with the signed webhook for the result and polling as the fallback. The run was charged when it
// was dispatched, so nothing is charged here; items that end skipped or failed are refunded by the
// task's usual settlement.
//
//   submitting  recorded (items listed) before the provider is called
//   submitted   the provider accepted it; its id is stored
//   received    a webhook stored the result
//   completed   the result is read (by the webhook's writer or by the task); the task writes items
//   failed      refused, timed out, or interrupted before its answer was recorded
//
// A submission's items stay `running` until the task writes them, also across a restart of the
// task (startRun leaves them running): a retried or recovered task settles what was recorded before
// it claims anything new, so no item is ever sent twice.

export type ClaimedContactItem = { id: string; leadId: string; membershipId: string | null; attempts: number; lead: LeadJson };

type RunSubmission = { id: string; status: SubmissionStatus; providerRef: string | null; cells: SubmissionCell[]; payload: unknown };

const OPEN: SubmissionStatus[] = ["submitting", "submitted", "received"];

/** The error of the items of a submission a task found recorded but never confirmed by the provider. */
export const RUN_SUBMISSION_INTERRUPTED =
  "The submission to the contact provider was interrupted before its answer was recorded; it is not sent again";

export type ContactRunDeps = {
  services: Services;
  runId: string;
  workspaceId: string;
  entry: CatalogEntry;
  field: ContactField;
  provider: BulkContactProvider;
  ctx: TaskContext;
  /** Writes outcomes of items still running under the claim they were written with (the run's flushBatch). */
  write(items: ClaimedContactItem[], outcomes: ItemOutcome[]): Promise<void>;
  /** Whether the run was cancelled (or the task must stop): nothing more is sent. */
  stopped(): Promise<boolean>;
};

/** The items of the run's submissions that the task has not written yet, with the submissions. */
async function unsettledSubmissions(db: Db, runId: string): Promise<Array<RunSubmission & { items: ClaimedContactItem[] }>> {
  const rows = rowsOf<{ id: string; status: SubmissionStatus; provider_ref: string | null; cells: SubmissionCell[]; payload: unknown; items: ClaimedContactItem[] }>(
    await db.execute(sql`
      select s.id, s.status, s.provider_ref, s.cells, s.payload,
             (select json_agg(json_build_object('id', i.id, 'leadId', i.lead_id, 'membershipId', i.membership_id, 'attempts', i.attempts, 'lead', to_jsonb(l)) order by i.id)
              from enrichment_run_items i join leads l on l.id = i.lead_id
              where i.run_id = ${runId} and i.status = 'running'
                and i.id in (select (e ->> 'cellId')::uuid from jsonb_array_elements(s.cells) e)) as items
      from provider_submissions s
      where s.enrichment_run_id = ${runId}
        and exists (select 1 from enrichment_run_items i
                    where i.run_id = ${runId} and i.status = 'running'
                      and i.id in (select (e ->> 'cellId')::uuid from jsonb_array_elements(s.cells) e))
      order by s.id`),
  );
  return rows
    .filter((r) => r.items && r.items.length > 0)
    .map((r) => ({ id: r.id, status: r.status, providerRef: r.provider_ref, cells: r.cells, payload: r.payload, items: r.items }));
}

/** Records a submission of `items` before the provider is called. */
async function recordSubmission(deps: ContactRunDeps, items: readonly ClaimedContactItem[]): Promise<string> {
  const cells: SubmissionCell[] = items.map((item) => ({ cellId: item.id, runToken: item.id, rowId: item.leadId }));
  const [row] = rowsOf<{ id: string }>(
    await deps.services.db.execute(sql`
      insert into provider_submissions (workspace_id, column_id, enrichment_run_id, provider, enrichment_type, status, run_id, cells)
      values (${deps.workspaceId}, null, ${deps.runId}, ${deps.provider.name}, ${deps.field}, 'submitting', ${deps.ctx.runId}, ${jsonParam(cells)})
      returning id`),
  );
  return row!.id;
}

/** Moves a submission to an end state, unless it is in one already. */
async function closeSubmission(db: Db, id: string, status: "completed" | "failed", details: { error?: string | null; payload?: unknown }): Promise<void> {
  await db.execute(sql`
    update provider_submissions
    set status = ${status}, error = ${details.error ?? null}, payload = coalesce(${details.payload === undefined ? null : jsonParam(details.payload)}, payload),
        completed_at = coalesce(completed_at, now()), updated_at = now()
    where id = ${id} and status in ('submitting', 'submitted', 'received')`);
}

/** The items' outcomes from a finished result: each item's answer by its own id, the rest as the result says. */
function outcomesFrom(deps: ContactRunDeps, submissionId: string, outcome: BulkOutcome, items: readonly ClaimedContactItem[]): ItemOutcome[] {
  const answers = new Map(outcome.answers.filter((a) => a.key.submissionId === submissionId).map((a) => [a.key.cellId, a.result]));
  return items.map((item) => withSubmission(outcomeOf(deps.entry, answers.get(item.id) ?? outcome.unanswered), submissionId));
}

const withSubmission = (outcome: ItemOutcome, submissionId: string): ItemOutcome => ({ ...outcome, providerSubmissionId: submissionId });

function failedItems(deps: ContactRunDeps, submissionId: string, items: readonly ClaimedContactItem[], failure: ProviderResult): ItemOutcome[] {
  return items.map(() => withSubmission(outcomeOf(deps.entry, failure), submissionId));
}

/** Writes the items of a submission whose result is stored (received or completed). */
async function settleFromPayload(deps: ContactRunDeps, submission: RunSubmission, items: ClaimedContactItem[]): Promise<void> {
  let outcomes: ItemOutcome[];
  try {
    outcomes = outcomesFrom(deps, submission.id, deps.provider.bulk.read(submission.payload, deps.field), items);
    // Kept with the submission (a polled result too), so a later attempt can write what this one could not.
    await closeSubmission(deps.services.db, submission.id, "completed", { payload: submission.payload });
  } catch (error) {
    outcomes = failedItems(deps, submission.id, items, failedOutcome(error, { provider: deps.provider.name }));
    await closeSubmission(deps.services.db, submission.id, "failed", { error: error instanceof Error ? error.message : String(error), payload: submission.payload });
  }
  await deps.write(items, outcomes);
}

async function settleFailed(deps: ContactRunDeps, submissionId: string, items: ClaimedContactItem[], failure: ProviderResult): Promise<void> {
  await closeSubmission(deps.services.db, submissionId, "failed", { error: failure.outcome === "error" ? failure.error : null });
  await deps.write(items, failedItems(deps, submissionId, items, failure));
}

/**
 * Writes the items of one of the run's submissions from its stored result, if it has one and items
 * still unwritten: for the webhook's writer, so that a result arriving after the task stopped (the
 * run was cancelled) still lands.
 */
export async function settleStoredRunSubmission(deps: ContactRunDeps, submissionId: string): Promise<void> {
  const submission = (await unsettledSubmissions(deps.services.db, deps.runId)).find((s) => s.id === submissionId);
  if (!submission || submission.payload === null || submission.payload === undefined) return;
  if (submission.status === "received" || submission.status === "completed") await settleFromPayload(deps, submission, submission.items);
}

/**
 * Sends `items` (claimed, running) in submissions of up to the provider's batch size; rows the
 * provider cannot look up end skipped without a call. Returns when each submission is recorded and
 * sent (or failed); their results are awaited by `awaitRunSubmissions`.
 */
export async function submitRunItems(deps: ContactRunDeps, items: ClaimedContactItem[]): Promise<void> {
  const { provider, services } = deps;
  const unfit: ClaimedContactItem[] = [];
  const fit: Array<{ item: ClaimedContactItem; row: PersonData }> = [];
  for (const item of items) {
    const row = rowDataOf(item.lead);
    const reason = row.subject === "person" ? provider.bulk.unfit(row) : "Contacts are looked up for people only";
    if (reason) unfit.push(item);
    else fit.push({ item, row: row as PersonData });
  }
  if (unfit.length > 0) await deps.write(unfit, unfit.map(() => ({ status: "skipped", skippedReason: "no_match", provider: provider.name, providerSubmissionId: null })));
  for (let start = 0; start < fit.length; start += provider.bulk.maxBatch) {
    if (await deps.stopped()) {
      // Cancelled: what was not sent is not sent (what was, finishes on its own).
      const unsent = fit.slice(start).map((f) => f.item);
      await deps.write(unsent, unsent.map(() => ({ status: "skipped", skippedReason: "run_cancelled", provider: null, providerSubmissionId: null })));
      return;
    }
    const batch = fit.slice(start, start + provider.bulk.maxBatch);
    const submissionId = await recordSubmission(deps, batch.map((b) => b.item));
    try {
      const providerRef = await provider.bulk.submit({
        submissionId,
        label: `${deps.entry.slug} run ${deps.runId} (${submissionId})`,
        field: deps.field,
        contacts: batch.map(({ item, row }) => ({ key: { submissionId, cellId: item.id, runToken: item.id, rowId: item.leadId }, row })),
        signal: deps.ctx.signal,
      });
      await markSubmitted(services.db, submissionId, providerRef);
    } catch (error) {
      // Cancelled mid-call: the submission stays recorded; the next attempt settles it as interrupted.
      if (deps.ctx.signal.aborted) return;
      services.logger.warn("run contact submission failed", { enrichmentRunId: deps.runId, submissionId, error: error instanceof Error ? error.message : String(error) });
      await settleFailed(deps, submissionId, batch.map((b) => b.item), failedOutcome(error, { provider: provider.name }));
    }
  }
}

/**
 * Waits until every submission of the run with items still unwritten is settled: by a webhook
 * (its stored result is written here), by polling the provider every poll interval, or failed once
 * the provider's poll timeout passes. A submission recorded and never confirmed (the task died
 * during the call) ends failed without being sent again.
 */
export async function awaitRunSubmissions(deps: ContactRunDeps, options: { interruptedAreFailed: boolean }): Promise<void> {
  const { provider, services } = deps;
  const deadline = performance.now() + provider.bulk.pollTimeoutMs;
  let first = true;
  for (;;) {
    const unsettled = await unsettledSubmissions(services.db, deps.runId);
    if (unsettled.length === 0) return;
    for (const submission of unsettled) {
      const stored = submission.payload !== null && submission.payload !== undefined;
      if (stored && (submission.status === "received" || submission.status === "completed")) {
        await settleFromPayload(deps, submission, submission.items);
      } else if (submission.status === "failed" || submission.status === "completed") {
        // Ended without a result to read (failed by whoever settled it): its items fail with it.
        await settleFailed(deps, submission.id, submission.items, failedOutcome(new Error(`submission ${submission.id} ended without a result`), { provider: provider.name }));
      } else if (submission.status === "submitting" && first && options.interruptedAreFailed) {
        await settleFailed(deps, submission.id, submission.items, { outcome: "error", error: RUN_SUBMISSION_INTERRUPTED, retryable: false, metadata: { provider: provider.name } });
      }
    }
    first = false;
    const left = deadline - performance.now();
    const open = (await unsettledSubmissions(services.db, deps.runId)).filter((s) => OPEN.includes(s.status));
    if (open.length === 0) continue;
    if (left <= 0) {
      const timedOut = new ProviderRequestError(`${provider.name} did not deliver results within ${provider.bulk.pollTimeoutMs} ms`, "timeout", false);
      for (const submission of open) await settleFailed(deps, submission.id, submission.items, failedOutcome(timedOut, { provider: provider.name }));
      continue;
    }
    // A cancelled run still takes the results of what it sent (as a run without submissions lets its
    // calls in flight finish); only a task that must stop leaves them to the next attempt.
    if (!(await sleep(Math.min(provider.bulk.pollIntervalMs, left), deps.ctx.signal))) return;
    for (const submission of open) {
      if (!submission.providerRef || submission.status === "received") continue;
      let payload: unknown;
      try {
        payload = await provider.bulk.fetch(submission.providerRef, deps.ctx.signal);
      } catch (error) {
        if (deps.ctx.signal.aborted) return;
        if (error instanceof ProviderRequestError && error.retryable) {
          services.logger.warn("run contact submission poll failed", { submissionId: submission.id, error: error.message });
          continue;
        }
        await settleFailed(deps, submission.id, submission.items, failedOutcome(error, { provider: provider.name }));
        continue;
      }
      if (payload !== null) await settleFromPayload(deps, { ...submission, payload }, submission.items);
    }
  }
}

/** Whether the item (`item`, an SQL expression of its id) was sent in one of the run's submissions: startRun leaves such items running, for the submission. */
export const inRunSubmission = (runId: string, item: SQL) => sql`exists (
  select 1 from provider_submissions s
  where s.enrichment_run_id = ${runId} and not s.waterfall and s.cells @> jsonb_build_array(jsonb_build_object('cellId', ${item}::text)))`;
