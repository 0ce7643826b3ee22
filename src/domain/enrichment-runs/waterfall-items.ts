import { sql } from "drizzle-orm";
import type { Queryable } from "../../db/client";
import type { CellAttempt } from "../../db/schema";
import { jsonParam } from "../../db/sql";
import { providerColumn, type CatalogEntry } from "../catalog";
import { askProvider, attemptOf, notRunAfter } from "../waterfall/ask";
import type { WaterfallStep } from "../waterfall/steps";
import { outcomeOf, rowDataOf, type ItemOutcome, type LeadJson } from "./provider-call";

// A contact run with a waterfall (`config.providers`): a batch of claimed items goes through the
// providers step by step, each provider asked only for the items every provider before it missed.
// The run was charged up front at its dearest provider's price per item; an item matched by a
// cheaper one records what it cost (`cost`), and the difference is refunded with the item's other
// refunds (src/domain/enrichment-runs/credits.ts). After each step the tries of the items still
// looking are stored, so a task that dies resumes each item at the first provider it has no try of.

export type WaterfallItem = { id: string; attempts: number; lead: LeadJson; providerAttempts?: CellAttempt[] | null };

/** An item's end: its outcome, its tries, and what its match cost when less than the run's price per item. */
export type WaterfallItemOutcome = ItemOutcome & { providerAttempts: CellAttempt[]; cost: number | null };

export async function runItemsThroughWaterfall(
  db: Queryable,
  run: { runId: string; entry: CatalogEntry; input: Record<string, unknown>; steps: readonly WaterfallStep[]; unitPrice: number },
  items: readonly WaterfallItem[],
  signal: AbortSignal,
  concurrency: number,
): Promise<WaterfallItemOutcome[] | null> {
  const { entry, steps } = run;
  const column = providerColumn(entry, run.input);
  const tries = new Map(items.map((item) => [item.id, [...(item.providerAttempts ?? [])]]));
  const ended = new Map<string, WaterfallItemOutcome>();
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    const due = items.filter((item) => !ended.has(item.id) && tries.get(item.id)!.length === index);
    if (due.length === 0) continue;
    const asked: Array<{ key: string; row: ReturnType<typeof rowDataOf> }> = [];
    for (const item of due) {
      const row = rowDataOf(item.lead);
      const unfit = step.provider.unfit?.({ column, row }) ?? null;
      if (unfit) tries.get(item.id)!.push({ provider: step.id, outcome: "skipped", cost: 0, durationMs: 0, reason: unfit });
      else asked.push({ key: item.id, row });
    }
    const answers = await askProvider(step.provider, column, asked, signal, concurrency);
    // Stopped mid-step: nothing of it is stored; the items are asked this provider again.
    if (!answers) return null;
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
    const looking = items.filter((item) => !ended.has(item.id)).map((item) => ({ id: item.id, attempts: item.attempts, provider_attempts: tries.get(item.id)! }));
    if (looking.length > 0 && index < steps.length - 1) await storeTries(db, run.runId, looking);
  }
  return items.map((item) => ended.get(item.id) ?? noneMatched(tries.get(item.id)!));
}

/** The tries of items still running under the same claim, in one statement. */
async function storeTries(db: Queryable, runId: string, looking: ReadonlyArray<{ id: string; attempts: number; provider_attempts: CellAttempt[] }>): Promise<void> {
  await db.execute(sql`
    update enrichment_run_items i set provider_attempts = t.provider_attempts, updated_at = now()
    from jsonb_to_recordset(${jsonParam(looking)}) as t(id uuid, attempts int, provider_attempts jsonb)
    where i.id = t.id and i.run_id = ${runId} and i.status = 'running' and i.attempts = t.attempts`);
}

/** No provider matched: skipped as no match (refunded), or failed when every provider asked failed. */
function noneMatched(attempts: CellAttempt[]): WaterfallItemOutcome {
  const answered = attempts.some((a) => a.outcome === "no_match" || a.outcome === "skipped");
  const errors = attempts.filter((a) => a.outcome === "error");
  if (!answered && errors.length > 0) {
    const errorMessage = errors.map((a) => `${a.provider}: ${a.reason}`).join("; ");
    return { status: "failed", errorMessage, errorDetails: null, provider: null, providerSubmissionId: null, providerAttempts: attempts, cost: null };
  }
  return { status: "skipped", skippedReason: "no_match", provider: null, providerSubmissionId: null, providerAttempts: attempts, cost: null };
}
