import { and, eq, inArray, sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { providerSubmissions, type SubmissionCell, type SubmissionStatus } from "../../db/schema";
import { jsonParam, uuidSet } from "../../db/sql";
import type { TaskContext } from "../../dispatch/types";
import { isBulkContactProvider, isContactField, type BulkContactProvider, type BulkOutcome, type ContactField } from "../../providers/bulk";
import { failedOutcome, ProviderRequestError } from "../../providers/http";
import type { PersonData, ProviderResult, Providers } from "../../providers/types";
import type { Services } from "../../services";
import { TYPED_KINDS } from "../column-kinds";
import { lockWorkspace } from "../credits";
import { BUDGET_EXCEEDED, cellResultOf, insufficientCreditsResult, type CellResult, type ClaimedCell, type FlushOutcome, type Refunds, type TaskColumn } from "../cell-store";
import { conditionHolds, conditionNotMetResult } from "../engine/conditions";
import { committedOf, startReleased, writeResultsAdvancing, type ReleasedWork } from "../engine/work";
import { watchColumn, type ColumnWatch } from "./column-watch";
import type { ColumnTaskSummary } from "./run-column-task";

// Contact columns (work_email, mobile_phone) with a bulk provider (FullEnrich): the task sends its
// cells in recorded submissions of at most the provider's batch size and the results come back later,
// by the provider's webhook or by the task polling. The lifecycle of a submission:
//
//   submitting  recorded and its cells charged, in one transaction, before the provider is called
//   submitted   the provider accepted it; its id for the batch is stored
//   received    a webhook delivered the result (stored), to be written in the background
//   completed   results written to the cells still queued under the tokens it was sent with
//   failed      the provider refused it, never finished it in time, or the call was interrupted;
//               its cells failed and refunded
//
// Only one move out of the open states happens per submission (a conditional update under the row
// lock), so whichever of webhook and poll lands first writes and the other is a no-op. A cell is
// charged once per token (`cell-charge:<run_token>`), only when it is sent; a cell that comes back
// empty or fails is refunded once (`cell-refund:<run_token>`).

const OPEN_STATUSES = ["submitting", "submitted", "received"] as const satisfies readonly SubmissionStatus[];

/** The error on the cells of a submission a retried task found half-sent. */
export const SUBMISSION_INTERRUPTED =
  "The submission to the contact provider was interrupted before its answer was recorded; it is not sent again, so nothing is charged twice";

export type ContactRun = { column: TaskColumn; field: ContactField; creditAction: string; provider: BulkContactProvider };

type StoredSubmission = {
  id: string;
  workspaceId: string;
  columnId: string | null;
  enrichmentType: string;
  status: SubmissionStatus;
  providerRef: string | null;
  runId: string;
  cells: SubmissionCell[];
  payload: unknown;
  waterfall: boolean;
};

/** How a submission ends: its state, and the answer each of its cells gets. */
type Decision = { status: "completed" | "failed"; error: string | null; payload?: unknown; answerFor(cell: SubmissionCell): ProviderResult };

type Settled = { outcomes: Array<ProviderResult["outcome"]>; flush: FlushOutcome | null };

/**
 * The contact task's work on its claimed cells: settle what an earlier attempt of the run left
 * behind, send the rest in submissions, then wait for every submission of the run to be settled, by
 * webhook or by polling, until the provider's poll timeout.
 */
export async function runContactSubmissions(
  services: Services,
  run: ContactRun,
  cells: readonly ClaimedCell[],
  ctx: TaskContext,
  summary: ColumnTaskSummary,
  options: { recheckMs: number },
): Promise<void> {
  const { db, logger } = services;
  const { column, provider, field } = run;
  const watch = watchColumn(db, column.id, ctx.signal, options.recheckMs);
  const refunds = refundsFor(services, column.workspaceId, column.id, field);
  const runMeta = { runId: ctx.runId, attempt: ctx.attempt };
  const account = (settled: Settled | null) => countInto(summary, settled);

  // An earlier attempt of this run may have recorded submissions for these cells: they are never sent again.
  const earlier = await submissionsHolding(db, column.id, cells.map((cell) => cell.runToken));
  const sentBefore = new Set(earlier.flatMap((submission) => submission.cells.map((cell) => cell.runToken)));
  const waiting: string[] = [];
  for (const submission of earlier) {
    if (submission.status === "submitting") {
      // The provider may or may not have received it, and nothing identifies it there but the
      // webhook it may still send; resending could make it charge twice, so its cells fail, refunded.
      account(await settleSubmission(services, submission.id, failWith({ outcome: "error", error: SUBMISSION_INTERRUPTED, retryable: false, metadata: { provider: provider.name } })));
    } else if (submission.status === "submitted" || submission.status === "received") {
      waiting.push(submission.id);
    }
  }

  const fresh = cells.filter((cell) => !sentBefore.has(cell.runToken));
  const unfit: CellResult[] = [];
  const sendable: Array<ClaimedCell & { row: PersonData }> = [];
  for (const cell of fresh) {
    if (!conditionHolds(column, cell)) {
      countOutcome(summary, "no_match");
      unfit.push(conditionNotMetResult(cell, runMeta));
      continue;
    }
    const reason = cell.row.subject === "person" ? provider.bulk.unfit(cell.row) : "Contacts are looked up for people only";
    if (!reason) {
      sendable.push(cell as ClaimedCell & { row: PersonData });
      continue;
    }
    // Never sent, so never charged: nothing to refund either.
    countOutcome(summary, "no_match");
    unfit.push({ ...cellResultOf(cell, { outcome: "no_match", reason, metadata: { provider: provider.name } }, runMeta), refund: false });
  }
  if (unfit.length > 0 && (await watch.alive())) {
    const flush = await writeResultsAdvancing(db, services, column, unfit, refunds);
    accountFlush(summary, flush);
    if (flush.released) await startReleased(services, [flush.released]);
  }

  for (let start = 0; start < sendable.length; start += provider.bulk.maxBatch) {
    // Fresh: sending charges the workspace, and a deleted column must not be paid for.
    if (!(await watch.alive({ fresh: true }))) break;
    const batch = sendable.slice(start, start + provider.bulk.maxBatch);
    const opened = await openSubmission(services, run, batch, runMeta, refunds);
    summary.insufficientCredits += opened.short;
    if (opened.flush) accountFlush(summary, opened.flush);
    if (opened.flush?.released) await startReleased(services, [opened.flush.released]);
    if (!opened.submissionId) continue;
    const submissionId = opened.submissionId;
    try {
      const providerRef = await provider.bulk.submit({
        submissionId,
        label: `${column.name} (${submissionId})`,
        field,
        contacts: opened.sent.map((cell) => ({ key: { submissionId, cellId: cell.cellId, runToken: cell.runToken, rowId: cell.row.rowId }, row: cell.row })),
        signal: ctx.signal,
      });
      await markSubmitted(db, submissionId, providerRef);
      waiting.push(submissionId);
    } catch (error) {
      // Cancelled mid-call: nothing is written after a cancellation; a retry of the run settles it.
      if (ctx.signal.aborted) return;
      logger.warn("contact submission failed", { columnId: column.id, submissionId, error: error instanceof Error ? error.message : String(error) });
      account(await settleSubmission(services, submissionId, failWith(failedOutcome(error, { provider: provider.name }))));
    }
  }

  await awaitSubmissions(services, run, waiting, ctx, watch, summary);
  await countOpenCells(db, column.id, cells, summary);
}

/** Polls the run's submissions until each is settled (by a webhook or by this loop), the poll timeout passes, or the run must stop. */
async function awaitSubmissions(services: Services, run: ContactRun, submissionIds: readonly string[], ctx: TaskContext, watch: ColumnWatch, summary: ColumnTaskSummary) {
  const { db, logger } = services;
  const { provider } = run;
  const account = (settled: Settled | null) => countInto(summary, settled);
  const deadline = performance.now() + provider.bulk.pollTimeoutMs;
  let pending = [...submissionIds];
  while (pending.length > 0) {
    const left = deadline - performance.now();
    if (left > 0) {
      if (!(await sleep(Math.min(provider.bulk.pollIntervalMs, left), ctx.signal))) return;
      if (!(await watch.alive())) return;
    }
    // Re-read before asking the provider: a webhook may have settled some, or delivered a result not yet written.
    const open = await openSubmissions(db, pending);
    for (const submission of open.filter((s) => s.status === "received")) {
      account(await settleSubmission(services, submission.id, fromStoredPayload(provider)));
    }
    const polled = open.filter((s) => s.status !== "received");
    pending = polled.map((s) => s.id);
    if (pending.length === 0) return;
    if (left <= 0) {
      const timedOut = new ProviderRequestError(`${provider.name} did not deliver results within ${provider.bulk.pollTimeoutMs} ms`, "timeout", false);
      for (const id of pending) account(await settleSubmission(services, id, failWith(failedOutcome(timedOut, { provider: provider.name }))));
      return;
    }
    for (const submission of polled) {
      if (!submission.providerRef) continue;
      let payload: unknown;
      try {
        payload = await provider.bulk.fetch(submission.providerRef, ctx.signal);
      } catch (error) {
        if (ctx.signal.aborted) return;
        if (error instanceof ProviderRequestError && error.retryable) {
          // Still failing after the client's retries; the webhook may yet come, and the next poll may pass.
          logger.warn("contact submission poll failed", { submissionId: submission.id, error: error.message });
          continue;
        }
        account(await settleSubmission(services, submission.id, failWith(failedOutcome(error, { provider: provider.name }))));
        continue;
      }
      if (payload !== null) account(await settleSubmission(services, submission.id, fromPayload(provider, payload)));
    }
  }
}

/**
 * Ends the run's open submissions for the column failed with `error`, for a run that failed for good
 * whose cells are being failed and refunded: a result arriving after that (a webhook) then finds
 * nothing to write onto a refunded cell. Call it with those cells already locked, as settling takes
 * its locks cells first.
 */
export async function failOpenSubmissions(tx: Queryable, columnId: string, runId: string, error: string): Promise<void> {
  await tx
    .update(providerSubmissions)
    .set({ status: "failed", error, completedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(providerSubmissions.columnId, columnId), eq(providerSubmissions.runId, runId), inArray(providerSubmissions.status, OPEN_STATUSES)));
}

// ---- the webhook side ----

export type WebhookReceipt = "accepted" | "duplicate" | "unknown" | "other_enrichment";

/**
 * Stores a signed result delivered for a submission, in one statement, if the submission is still
 * waiting for one. `duplicate`: a result was already received (or the submission settled), so this
 * one is a replay and nothing is written; `other_enrichment`: the submission is known by another of
 * the provider's ids.
 */
export async function receiveSubmissionResult(db: Queryable, submissionId: string, providerRef: string, payload: unknown): Promise<WebhookReceipt> {
  const [row] = rowsOf<{ provider_ref: string | null; accepted: boolean }>(
    await db.execute(sql`
      with target as (
        select id, provider_ref from provider_submissions where id = ${submissionId}
      ), accepted as (
        update provider_submissions s
        set status = 'received', payload = ${jsonParam(payload)}, provider_ref = coalesce(s.provider_ref, ${providerRef}), updated_at = now()
        where s.id = ${submissionId} and s.status in ('submitting', 'submitted')
          and (s.provider_ref is null or s.provider_ref = ${providerRef})
        returning s.id
      )
      select t.provider_ref, exists (select 1 from accepted) as accepted from target t`),
  );
  if (!row) return "unknown";
  if (row.accepted) return "accepted";
  if (row.provider_ref !== null && row.provider_ref !== providerRef) return "other_enrichment";
  return "duplicate";
}

/** Writes a received result to its cells (a no-op when a poll got there first). */
export async function applyReceivedResult(services: Services, provider: BulkContactProvider, submissionId: string): Promise<void> {
  await settleSubmission(services, submissionId, fromStoredPayload(provider));
}

/** The configured bulk contact provider, if any: it answers both contact kinds. */
export function bulkContactProvider(providers: Providers): BulkContactProvider | null {
  for (const kind of ["work_email", "mobile_phone"] as const) {
    const provider = providers[kind];
    if (isBulkContactProvider(provider)) return provider;
  }
  return null;
}

// ---- settling ----

/** Ends a submission failed: each of its cells fails with `failure`, and is refunded. */
function failWith(failure: ProviderResult): () => Decision {
  return () => ({ status: "failed", error: failure.outcome === "error" ? failure.error : null, answerFor: () => failure });
}

function fromOutcome(outcome: BulkOutcome, payload: unknown): (submission: StoredSubmission) => Decision {
  return (submission) => {
    // Only answers naming this submission and a cell of it count: a result cannot write elsewhere.
    const answers = new Map(outcome.answers.filter((a) => a.key.submissionId === submission.id).map((a) => [a.key.runToken, a]));
    return {
      status: "completed",
      error: null,
      payload,
      answerFor: (cell) => {
        const answer = answers.get(cell.runToken);
        return answer && answer.key.cellId === cell.cellId ? answer.result : outcome.unanswered;
      },
    };
  };
}

function fromPayload(provider: BulkContactProvider, payload: unknown): (submission: StoredSubmission) => Decision {
  return (submission) => {
    try {
      if (!isContactField(submission.enrichmentType)) throw new Error(`not a contact enrichment: ${submission.enrichmentType}`);
      return fromOutcome(provider.bulk.read(payload, submission.enrichmentType), payload)(submission);
    } catch (error) {
      return { ...failWith(failedOutcome(error, { provider: provider.name }))(), payload };
    }
  };
}

const fromStoredPayload = (provider: BulkContactProvider) => (submission: StoredSubmission) => fromPayload(provider, submission.payload)(submission);

/**
 * Moves an open submission to its end state and writes its cells' results, in one transaction; null
 * when it was no longer open (settled by someone else). Locks are taken workspace first, then the
 * cells, then the submission: the order every writer of cells and credits takes.
 */
async function settleSubmission(services: Services, submissionId: string, decide: (submission: StoredSubmission) => Decision): Promise<Settled | null> {
  const settled = await settleSubmissionLocked(services, submissionId, decide);
  // The cells that read the ones just written, and were waiting for them, start now.
  if (settled?.flush?.released) await startReleased(services, [settled.flush.released]);
  return settled;
}

async function settleSubmissionLocked(
  services: Services,
  submissionId: string,
  decide: (submission: StoredSubmission) => Decision,
): Promise<(Settled & { flush: (FlushOutcome & { released: ReleasedWork | null }) | null }) | null> {
  return services.db.transaction(async (tx) => {
    const [peek] = await openSubmissions(tx, [submissionId]);
    // A waterfall's step reads its result itself (src/domain/waterfall/bulk-step.ts).
    if (!peek || peek.waterfall) return null;
    await lockWorkspace(tx, peek.workspaceId);
    const [submission] = await openSubmissions(tx, [submissionId]);
    if (!submission) return null;
    if (submission.columnId) {
      await tx.execute(sql`select id from list_cells where id in ${uuidSet(submission.cells.map((c) => c.cellId))} order by id for update`);
    }
    const decision = decide(submission);
    const moved = await tx
      .update(providerSubmissions)
      .set({
        status: decision.status,
        error: decision.error,
        ...(decision.payload !== undefined ? { payload: decision.payload } : {}),
        completedAt: sql`now()`,
        updatedAt: sql`now()`,
      })
      .where(and(eq(providerSubmissions.id, submissionId), inArray(providerSubmissions.status, OPEN_STATUSES)))
      .returning({ id: providerSubmissions.id });
    if (moved.length === 0) return null;
    const answers = submission.cells.map((cell) => decision.answerFor(cell));
    const results = submission.cells.map((cell, i) => cellResultOf(cell, answers[i]!, { runId: submission.runId, submissionId: submission.id }));
    // A deleted column took its cells with it: the submission is closed, and nothing is written.
    const flush = submission.columnId && isContactField(submission.enrichmentType)
      ? await writeResultsAdvancing(
          tx,
          services,
          { id: submission.columnId, subject: "person", workspaceId: submission.workspaceId },
          results,
          refundsFor(services, submission.workspaceId, submission.columnId, submission.enrichmentType),
        )
      : null;
    return { outcomes: answers.map((a) => a.outcome), flush };
  });
}

// ---- recording ----

/**
 * Records a submission for `batch` and charges its cells, in one transaction, before the provider
 * is called. Cells are charged in order while the balance covers them (each once per token); the
 * rest fail with INSUFFICIENT_CREDITS and are not sent. Cells deleted or re-queued since the claim
 * are neither charged nor sent. No submission is recorded when no cell is left to send.
 */
async function openSubmission(
  services: Services,
  run: ContactRun,
  batch: ReadonlyArray<ClaimedCell & { row: PersonData }>,
  runMeta: { runId: string; attempt: number },
  refunds: Refunds,
): Promise<{ submissionId: string | null; sent: Array<ClaimedCell & { row: PersonData }>; short: number; flush: (FlushOutcome & { released: ReleasedWork | null }) | null }> {
  const { column, field, provider } = run;
  const workspaceId = column.workspaceId;
  const input = batch.map((cell, ord) => ({ ord, cell_id: cell.cellId, run_token: cell.runToken, row_id: cell.row.rowId }));
  const price = sql`${services.prices.costOf(run.creditAction) ?? 0}::bigint`;
  return services.db.transaction(async (tx) => {
    // The workspace first, then the cells, the order every writer of cells and credits takes.
    await lockWorkspace(tx, workspaceId);
    const live = rowsOf<{ cell_id: string }>(
      await tx.execute(sql`
        select c.id as cell_id
        from list_cells c
        join jsonb_to_recordset(${jsonParam(input)}) as i(ord int, cell_id uuid, run_token uuid, row_id uuid)
          on c.id = i.cell_id and c.run_token = i.run_token
        where c.column_id = ${column.id} and c.status in ('pending', 'processing')
        order by c.id
        for update of c`),
    );
    const liveIds = new Set(live.map((row) => row.cell_id));
    if (liveIds.size === 0) return { submissionId: null, sent: [], short: 0, flush: null };
    // A budgeted column charges only what its budget still allows; the cells past it are not sent.
    const budgetLeft = column.maxCredits === null ? null : Math.max(0, column.maxCredits - (await committedOf(tx, column.id)));
    const [recorded] = rowsOf<{ submission_id: string | null; cells: SubmissionCell[] | null }>(
      await tx.execute(sql`
        with input as (
          select * from jsonb_to_recordset(${jsonParam(input.filter((i) => liveIds.has(i.cell_id)))})
            as i(ord int, cell_id uuid, run_token uuid, row_id uuid)
        ), paid as (
          -- Charged already (by an attempt that got no further, or carried over): sent without a second charge.
          select i.* from input i join list_cells c on c.id = i.cell_id where c.paid > 0
        ), unpaid as (
          select i.*, sum(${price}) over (order by i.ord) as running
          from input i where not exists (select 1 from paid p where p.cell_id = i.cell_id)
        ), affordable as (
          select u.* from unpaid u
          where u.running <= (select credit_balance - credit_held from workspaces where id = ${workspaceId})
            and (${budgetLeft}::bigint is null or u.running <= ${budgetLeft}::bigint)
        ), paid_cells as (
          update list_cells c set paid = ${price}, updated_at = now()
          from affordable a where c.id = a.cell_id and ${price} > 0
          returning c.id
        ), charged as (
          update workspaces set credit_balance = credit_balance - (select sum(${price}) from affordable), updated_at = now()
          where id = ${workspaceId} and ${price} > 0 and exists (select 1 from affordable)
          returning credit_balance
        ), entries as (
          insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
          select ${workspaceId}, 'charge', ${run.creditAction}, 1, -${price},
                 charged.credit_balance + (select sum(${price}) from affordable) - a.running,
                 'column', ${column.id}, 'cell-charge:' || a.run_token, 'Contact lookup'
          from affordable a cross join charged
          returning id
        ), sent as (
          select ord, cell_id, run_token, row_id from paid
          union all
          select ord, cell_id, run_token, row_id from affordable
          where ${price} = 0 or exists (select 1 from charged)
        ), submission as (
          insert into provider_submissions (workspace_id, column_id, provider, enrichment_type, status, run_id, cells)
          select ${workspaceId}, ${column.id}, ${provider.name}, ${field}, 'submitting', ${runMeta.runId},
                 jsonb_agg(jsonb_build_object('cellId', cell_id, 'runToken', run_token, 'rowId', row_id) order by ord)
          from sent
          having count(*) > 0
          returning id, cells
        )
        select (select id from submission) as submission_id, (select cells from submission) as cells,
               (select count(*) from entries) as charges`),
    );
    const sentTokens = new Set((recorded?.cells ?? []).map((cell) => cell.runToken));
    const sent = batch.filter((cell) => sentTokens.has(cell.runToken));
    const short = batch.filter((cell) => liveIds.has(cell.cellId) && !sentTokens.has(cell.runToken));
    const unitPrice = services.prices.costOf(run.creditAction) ?? 0;
    // The unpaid cells were charged in batch order while both the balance and the budget covered them.
    const shortResults = short.map((cell, index) => {
      const result = insufficientCreditsResult(cell, runMeta);
      const spentBefore = (sent.filter((c) => c.paid === 0).length + index + 1) * unitPrice;
      return budgetLeft !== null && spentBefore > budgetLeft ? { ...result, error: BUDGET_EXCEEDED } : result;
    });
    const flush = short.length > 0 ? await writeResultsAdvancing(tx, services, column, shortResults, refunds) : null;
    return { submissionId: recorded?.submission_id ?? null, sent, short: short.length, flush };
  });
}

/** The provider accepted a submission under `providerRef`. */
export async function markSubmitted(db: Queryable, submissionId: string, providerRef: string): Promise<void> {
  // A webhook may have beaten this (status received, id stored): it keeps its state.
  await db.execute(sql`
    update provider_submissions
    set provider_ref = coalesce(provider_ref, ${providerRef}),
        status = case when status = 'submitting' then 'submitted' else status end,
        submitted_at = now(), updated_at = now()
    where id = ${submissionId}`);
}

// ---- reading ----

const submissionColumns = {
  id: providerSubmissions.id,
  workspaceId: providerSubmissions.workspaceId,
  columnId: providerSubmissions.columnId,
  enrichmentType: providerSubmissions.enrichmentType,
  status: providerSubmissions.status,
  providerRef: providerSubmissions.providerRef,
  runId: providerSubmissions.runId,
  cells: providerSubmissions.cells,
  payload: providerSubmissions.payload,
  waterfall: providerSubmissions.waterfall,
};

async function openSubmissions(db: Queryable, ids: readonly string[]): Promise<StoredSubmission[]> {
  if (ids.length === 0) return [];
  return db
    .select(submissionColumns)
    .from(providerSubmissions)
    .where(and(sql`${providerSubmissions.id} in ${uuidSet(ids)}`, inArray(providerSubmissions.status, OPEN_STATUSES)))
    .orderBy(providerSubmissions.id);
}

/** The column's submissions holding any of these tokens, whatever their state. */
async function submissionsHolding(db: Queryable, columnId: string, runTokens: readonly string[]): Promise<StoredSubmission[]> {
  if (runTokens.length === 0) return [];
  return db
    .select(submissionColumns)
    .from(providerSubmissions)
    .where(
      and(
        eq(providerSubmissions.columnId, columnId),
        sql`exists (select 1 from jsonb_array_elements(${providerSubmissions.cells}) e where (e ->> 'runToken')::uuid in ${uuidSet(runTokens)})`,
      ),
    )
    .orderBy(providerSubmissions.id);
}

/** The run's claimed cells still without a result, and the column's open cells, in one statement. */
async function countOpenCells(db: Queryable, columnId: string, cells: readonly ClaimedCell[], summary: ColumnTaskSummary): Promise<void> {
  const [row] = rowsOf<{ unwritten: string | number; open: string | number }>(
    await db.execute(sql`
      select count(*) filter (where status = 'processing' and run_token in ${uuidSet(cells.map((c) => c.runToken))}) as unwritten,
             count(*) filter (where status in ('pending', 'processing')) as open
      from list_cells where column_id = ${columnId}`),
  );
  summary.unwritten = Number(row?.unwritten ?? 0);
  summary.openCells = Number(row?.open ?? 0);
}

// ---- bookkeeping ----

function refundsFor(_services: Services, workspaceId: string, columnId: string, field: ContactField): Refunds {
  return { workspaceId, action: TYPED_KINDS[field].creditAction("person"), columnId };
}

function accountFlush(summary: ColumnTaskSummary, flush: FlushOutcome) {
  summary.flushes += 1;
  summary.written += flush.written;
  summary.refunded += flush.refunded;
  summary.openCells = flush.open;
}

/** A run's tally of its answers: values, no matches, errors. */
export function countOutcome(summary: ColumnTaskSummary, outcome: ProviderResult["outcome"]) {
  if (outcome === "value") summary.completed += 1;
  else if (outcome === "no_match") summary.noMatch += 1;
  else summary.failed += 1;
}

function countInto(summary: ColumnTaskSummary, settled: Settled | null) {
  if (!settled) return;
  for (const outcome of settled.outcomes) countOutcome(summary, outcome);
  if (settled.flush) accountFlush(summary, settled.flush);
}

/** True after `ms`; false as soon as the signal is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
