import { sql } from "drizzle-orm";
import type { Queryable } from "../../db/client";
import type { CellAttempt } from "../../db/schema";
import { jsonParam } from "../../db/sql";
import { providerColumn, type CatalogEntry } from "../catalog";
import type { ContactField } from "../../providers/bulk";
import type { PersonData } from "../../providers/types";
import type { Services } from "../../services";
import { askStep, attemptOf, endWithoutMatch, notRunAfter } from "../waterfall/ask";
import type { WaterfallStep } from "../waterfall/steps";
import { outcomeOf, rowDataOf, type ItemOutcome, type LeadJson } from "./provider-call";

// A contact run with a waterfall (`config.providers`): a batch of claimed items goes through the
// providers step by step, each provider asked only for the items every provider before it missed.
// The run was charged up front at its dearest provider's price per item; an item matched by a
// cheaper one records what it cost (`cost`), and the difference is refunded with the item's other
// refunds (src/domain/enrichment-runs/credits.ts). After each step the items that ended are written
// and the tries of those still looking are stored, so a task that dies resumes each item at the
// first provider it has no try of, and never asks again a provider that answered.

export type WaterfallItem = { id: string; attempts: number; lead: LeadJson; providerAttempts?: CellAttempt[] | null };

/** An item's end: its outcome, its tries, and what its match cost when less than the run's price per item. */
export type WaterfallItemOutcome = ItemOutcome & { providerAttempts: CellAttempt[]; cost: number | null };

/**
 * Takes the items through the providers they have not heard from yet, step by step. After each step
 * the items that ended (matched, or out of providers) are handed to `write` and the tries of those
 * still looking are stored, so whatever a provider answered is never lost to a crash. Returns false
 * when stopped mid-step (the items asked in it stay running, for the next attempt).
 */
export async function runItemsThroughWaterfall<Item extends WaterfallItem>(
  services: Services,
  run: { runId: string; workspaceId: string; taskRunId: string; field: ContactField; entry: CatalogEntry; input: Record<string, unknown>; steps: readonly WaterfallStep[]; unitPrice: number },
  items: readonly Item[],
  signal: AbortSignal,
  concurrency: number,
  write: (items: Item[], outcomes: WaterfallItemOutcome[]) => Promise<void>,
): Promise<boolean> {
  const { db } = services;
  const { entry, steps } = run;
  const column = providerColumn(entry, run.input);
  const tries = new Map(items.map((item) => [item.id, [...(item.providerAttempts ?? [])]]));
  let looking = items.filter((item) => tries.get(item.id)!.length < steps.length);
  // Tried by every provider already (their end was not written before a crash): they end now.
  const exhausted = items.filter((item) => tries.get(item.id)!.length >= steps.length);
  if (exhausted.length > 0) await write(exhausted, exhausted.map((item) => noneMatched(tries.get(item.id)!)));
  for (let index = 0; index < steps.length && looking.length > 0; index++) {
    const step = steps[index]!;
    // Items a stored try shows past this step are taken up again at their own step.
    const due = looking.filter((item) => tries.get(item.id)!.length === index);
    if (due.length === 0) continue;
    const asked: Array<{ key: string; row: ReturnType<typeof rowDataOf> }> = [];
    for (const item of due) {
      const row = rowDataOf(item.lead);
      const unfit = step.provider.unfit?.({ column, row }) ?? null;
      if (unfit) tries.get(item.id)!.push({ provider: step.id, outcome: "skipped", cost: 0, durationMs: 0, reason: unfit });
      else asked.push({ key: item.id, row });
    }
    const answers = await askStep(
      services,
      step.provider,
      { column, field: run.field, owner: { workspaceId: run.workspaceId, columnId: null, enrichmentRunId: run.runId, taskRunId: run.taskRunId, label: `${entry.slug} run ${run.runId}` }, concurrency },
      asked.map(({ key, row }) => ({ key, token: key, rowId: row.rowId, row: row as PersonData })),
      signal,
    );
    // Stopped mid-step: nothing of it is stored; the items are asked this provider again.
    if (!answers) return false;
    const ended = new Map<string, WaterfallItemOutcome>();
    for (const { key } of asked) {
      const answer = answers.get(key)!;
      const attempts = tries.get(key)!;
      const outcome = answer.outcome === "value" ? outcomeOf(entry, answer) : null;
      if (outcome?.status === "completed") {
        attempts.push(attemptOf(step, answer), ...notRunAfter(steps, index));
        ended.set(key, { ...outcome, provider: step.id, providerAttempts: attempts, cost: step.price < run.unitPrice ? step.price : null });
      } else if (outcome?.status === "failed") {
        // A value that does not fit the enrichment's output is this provider's failure; the next one is asked.
        attempts.push({ provider: step.id, outcome: "error", cost: 0, durationMs: answer.durationMs, reason: outcome.errorMessage });
      } else {
        attempts.push(attemptOf(step, answer));
      }
    }
    if (index === steps.length - 1) for (const item of due) if (!ended.has(item.id)) ended.set(item.id, noneMatched(tries.get(item.id)!));
    const endedItems = due.filter((item) => ended.has(item.id));
    if (endedItems.length > 0) await write(endedItems, endedItems.map((item) => ended.get(item.id)!));
    looking = looking.filter((item) => !ended.has(item.id));
    const onward = due.filter((item) => !ended.has(item.id)).map((item) => ({ id: item.id, attempts: item.attempts, provider_attempts: tries.get(item.id)! }));
    if (onward.length > 0) await storeTries(db, run.runId, onward);
  }
  return true;
}

/** The tries of items still running under the same claim, in one statement. */
async function storeTries(db: Queryable, runId: string, looking: ReadonlyArray<{ id: string; attempts: number; provider_attempts: CellAttempt[] }>): Promise<void> {
  await db.execute(sql`
    update enrichment_run_items i set provider_attempts = t.provider_attempts, updated_at = now()
    from jsonb_to_recordset(${jsonParam(looking)}) as t(id uuid, attempts int, provider_attempts jsonb)
    where i.id = t.id and i.run_id = ${runId} and i.status = 'running' and i.attempts = t.attempts`);
}

/** No provider matched (endWithoutMatch): skipped as no match, or failed. Refunded either way. */
function noneMatched(attempts: CellAttempt[]): WaterfallItemOutcome {
  const end = endWithoutMatch(attempts);
  if (end.kind === "no_match") return { status: "skipped", skippedReason: "no_match", provider: null, providerSubmissionId: null, providerAttempts: attempts, cost: null };
  return { status: "failed", errorMessage: end.error, errorDetails: null, provider: null, providerSubmissionId: null, providerAttempts: attempts, cost: null };
}
