import { and, eq, inArray, sql } from "drizzle-orm";
import type { Queryable } from "../../db/client";
import { providerSubmissions, type SubmissionCell, type SubmissionStatus } from "../../db/schema";
import { uuidSet } from "../../db/sql";
import type { BulkContactProvider, ContactField } from "../../providers/bulk";
import { failedOutcome, ProviderRequestError } from "../../providers/http";
import type { PersonData, ProviderResult } from "../../providers/types";
import type { Services } from "../../services";
import { markSubmitted, receiveSubmissionResult, sleep } from "../enrichment/contacts";
import type { Answer } from "./ask";

// A bulk provider's step of a waterfall (FullEnrich): the rows go out in recorded submissions of at
// most the provider's batch size, with the signed webhook, exactly as a contact column's do, and the
// step waits for each result (the webhook stores it; polling the provider is the fallback). The
// result is read here, not written to cells or items: the waterfall decides what each row's answer
// means. The lifecycle of such a submission:
//
//   submitting  recorded before the provider is called
//   submitted   the provider accepted it; its id for the batch is stored
//   received    the result is stored (by the webhook or a poll)
//   completed   the step read it; a retried task reads it again rather than send anything
//   failed      the provider refused it, never finished it, or the call was interrupted
//
// A retried task never sends a row again that a submission of this step already holds under the
// same token: it waits for that submission's result, or, for one left `submitting` (the process died
// during the call, so the provider may or may not have it), it takes the step as failed for those
// rows and goes on to the next provider.

export const WATERFALL_SUBMISSION_INTERRUPTED = "The submission to the provider was interrupted before its answer was recorded; it is not sent again";

/** Whose step it is: a column's cells, or an enrichment run's items (their id is their token). */
export type StepOwner = { workspaceId: string; columnId: string | null; enrichmentRunId: string | null; taskRunId: string; label: string };

export type StepEntry = { key: string; token: string; rowId: string; row: PersonData };

type Stored = { id: string; status: SubmissionStatus; providerRef: string | null; cells: SubmissionCell[]; payload: unknown; error: string | null };

/** How often the step looks at the database for a result a webhook stored. */
const RECHECK_MS = 200;

export async function askBulkProvider(
  services: Services,
  provider: BulkContactProvider,
  owner: StepOwner,
  field: ContactField,
  entries: readonly StepEntry[],
  signal: AbortSignal,
): Promise<Map<string, Answer> | null> {
  const { db, logger } = services;
  const answers = new Map<string, Answer>();
  if (entries.length === 0) return answers;
  const byToken = new Map(entries.map((entry) => [entry.token, entry]));
  const started = new Map<string, number>();
  const failAll = (submission: { cells: SubmissionCell[] }, failure: ProviderResult, since: number) => {
    for (const cell of submission.cells) {
      const entry = byToken.get(cell.runToken);
      if (entry) answers.set(entry.key, { ...failure, durationMs: Math.round(performance.now() - since) });
    }
  };

  /** A submission that ended failed: each of its rows gets its error (the interruption when none was recorded). */
  const failedWith = (submission: Stored, since: number) =>
    failAll(submission, { outcome: "error", error: submission.error ?? WATERFALL_SUBMISSION_INTERRUPTED, retryable: false, metadata: { provider: provider.name } }, since);

  // What an earlier attempt of this step recorded for these rows.
  const earlier = await stepSubmissions(db, owner, provider.name, field, [...byToken.keys()]);
  const held = new Set(earlier.flatMap((submission) => submission.cells.map((cell) => cell.runToken)));
  const waiting: Stored[] = [];
  for (const submission of earlier) {
    if (submission.status === "submitting") {
      await endSubmission(db, submission.id, "failed", WATERFALL_SUBMISSION_INTERRUPTED);
      failedWith({ ...submission, error: WATERFALL_SUBMISSION_INTERRUPTED }, performance.now());
    } else if (submission.status === "failed") {
      failedWith(submission, performance.now());
    } else {
      started.set(submission.id, performance.now());
      waiting.push(submission);
    }
  }

  const fresh = entries.filter((entry) => !held.has(entry.token));
  for (let start = 0; start < fresh.length; start += provider.bulk.maxBatch) {
    if (signal.aborted) return null;
    const batch = fresh.slice(start, start + provider.bulk.maxBatch);
    const cells: SubmissionCell[] = batch.map((entry) => ({ cellId: entry.key, runToken: entry.token, rowId: entry.rowId }));
    const [recorded] = await db
      .insert(providerSubmissions)
      .values({
        workspaceId: owner.workspaceId,
        columnId: owner.columnId,
        enrichmentRunId: owner.enrichmentRunId,
        waterfall: true,
        provider: provider.name,
        enrichmentType: field,
        status: "submitting",
        runId: owner.taskRunId,
        cells,
      })
      .returning({ id: providerSubmissions.id });
    const submissionId = recorded!.id;
    const since = performance.now();
    started.set(submissionId, since);
    try {
      const providerRef = await provider.bulk.submit({
        submissionId,
        label: `${owner.label} (${submissionId})`,
        field,
        contacts: batch.map((entry) => ({ key: { submissionId, cellId: entry.key, runToken: entry.token, rowId: entry.rowId }, row: entry.row })),
        signal,
      });
      await markSubmitted(db, submissionId, providerRef);
      waiting.push({ id: submissionId, status: "submitted", providerRef, cells, payload: null, error: null });
    } catch (error) {
      // Stopped mid-call: the submission stays `submitting`, and a retry takes the step as failed for these rows.
      if (signal.aborted) return null;
      logger.warn("waterfall submission failed", { submissionId, provider: provider.name, error: error instanceof Error ? error.message : String(error) });
      const failure = failedOutcome(error, { provider: provider.name });
      await endSubmission(db, submissionId, "failed", failure.outcome === "error" ? failure.error : null);
      failAll({ cells }, failure, since);
    }
  }

  // Each submission's result: stored by the webhook (looked for often), else polled from the provider.
  const deadline = performance.now() + provider.bulk.pollTimeoutMs;
  let nextPoll = performance.now() + provider.bulk.pollIntervalMs;
  let pending = waiting;
  while (pending.length > 0) {
    const stored = await stepSubmissionsById(db, pending.map((s) => s.id));
    const still: Stored[] = [];
    for (const submission of stored) {
      if (submission.status === "received" || submission.status === "completed") {
        readResult(provider, field, submission, byToken, answers, started.get(submission.id) ?? performance.now());
        if (submission.status === "received") await endSubmission(db, submission.id, "completed", null);
      } else if (submission.status === "failed") {
        failedWith(submission, started.get(submission.id) ?? performance.now());
      } else {
        still.push(submission);
      }
    }
    pending = still;
    if (pending.length === 0) break;
    if (performance.now() >= deadline) {
      const timedOut = new ProviderRequestError(`${provider.name} did not deliver results within ${provider.bulk.pollTimeoutMs} ms`, "timeout", false);
      for (const submission of pending) {
        await endSubmission(db, submission.id, "failed", timedOut.message);
        failAll(submission, failedOutcome(timedOut, { provider: provider.name }), started.get(submission.id) ?? performance.now());
      }
      break;
    }
    if (performance.now() >= nextPoll) {
      nextPoll = performance.now() + provider.bulk.pollIntervalMs;
      for (const submission of pending) {
        if (!submission.providerRef) continue;
        try {
          const payload = await provider.bulk.fetch(submission.providerRef, signal);
          if (payload !== null) await receiveSubmissionResult(db, submission.id, submission.providerRef, payload);
        } catch (error) {
          if (signal.aborted) return null;
          if (error instanceof ProviderRequestError && error.retryable) continue;
          await endSubmission(db, submission.id, "failed", error instanceof Error ? error.message : String(error));
          failAll(submission, failedOutcome(error, { provider: provider.name }), started.get(submission.id) ?? performance.now());
        }
      }
      continue;
    }
    if (!(await sleep(Math.min(RECHECK_MS, Math.max(0, nextPoll - performance.now())), signal))) return null;
  }
  return signal.aborted ? null : answers;
}

/** The answers a finished result gives this step's rows; a row it does not mention gets its `unanswered`. */
function readResult(provider: BulkContactProvider, field: ContactField, submission: Stored, byToken: Map<string, StepEntry>, answers: Map<string, Answer>, since: number) {
  const durationMs = Math.round(performance.now() - since);
  let outcome: ReturnType<BulkContactProvider["bulk"]["read"]>;
  try {
    outcome = provider.bulk.read(submission.payload, field);
  } catch (error) {
    const failure = failedOutcome(error, { provider: provider.name });
    for (const cell of submission.cells) {
      const entry = byToken.get(cell.runToken);
      if (entry) answers.set(entry.key, { ...failure, durationMs });
    }
    return;
  }
  const found = new Map(outcome.answers.filter((a) => a.key.submissionId === submission.id).map((a) => [a.key.runToken, a]));
  for (const cell of submission.cells) {
    const entry = byToken.get(cell.runToken);
    if (!entry) continue;
    const answer = found.get(cell.runToken);
    const result = answer && answer.key.cellId === cell.cellId ? answer.result : outcome.unanswered;
    answers.set(entry.key, { ...result, metadata: { ...result.metadata, submissionId: submission.id }, durationMs });
  }
}

const storedColumns = {
  id: providerSubmissions.id,
  status: providerSubmissions.status,
  providerRef: providerSubmissions.providerRef,
  cells: providerSubmissions.cells,
  payload: providerSubmissions.payload,
  error: providerSubmissions.error,
};

/** This step's submissions (its owner, provider and field) holding any of these tokens. */
async function stepSubmissions(db: Queryable, owner: StepOwner, provider: string, field: ContactField, tokens: readonly string[]): Promise<Stored[]> {
  const ownedBy = owner.columnId ? eq(providerSubmissions.columnId, owner.columnId) : eq(providerSubmissions.enrichmentRunId, owner.enrichmentRunId!);
  return db
    .select(storedColumns)
    .from(providerSubmissions)
    .where(
      and(
        ownedBy,
        eq(providerSubmissions.waterfall, true),
        eq(providerSubmissions.provider, provider),
        eq(providerSubmissions.enrichmentType, field),
        sql`exists (select 1 from jsonb_array_elements(${providerSubmissions.cells}) e where (e ->> 'runToken')::uuid in ${uuidSet(tokens)})`,
      ),
    )
    .orderBy(providerSubmissions.id);
}

async function stepSubmissionsById(db: Queryable, ids: readonly string[]): Promise<Stored[]> {
  return db.select(storedColumns).from(providerSubmissions).where(inArray(providerSubmissions.id, [...ids])).orderBy(providerSubmissions.id);
}

async function endSubmission(db: Queryable, id: string, status: "completed" | "failed", error: string | null): Promise<void> {
  await db.execute(sql`
    update provider_submissions set status = ${status}, error = coalesce(${error}, error), completed_at = coalesce(completed_at, now()), updated_at = now()
    where id = ${id} and status in ('submitting', 'submitted', 'received')`);
}
