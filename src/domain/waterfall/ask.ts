import type { CellAttempt } from "../../db/schema";
import { isBulkContactProvider, type ContactField } from "../../providers/bulk";
import type { CellProvider, ProviderColumn, ProviderResult } from "../../providers/types";
import type { Services } from "../../services";
import { askBulkProvider, type StepEntry, type StepOwner } from "./bulk-step";
import type { WaterfallStep } from "./steps";

// Asking one provider of a waterfall for many rows, and what its answers record as tries: shared by
// contact columns (src/domain/waterfall/run.ts) and enrichment runs (src/domain/enrichment-runs/waterfall-items.ts).

export type Answer = ProviderResult & { durationMs: number };

/**
 * One step's answers, by row key, each with the time it took. A bulk provider (FullEnrich) gets the
 * rows in recorded submissions (src/domain/waterfall/bulk-step.ts); any other is asked one row at a
 * time, `concurrency` at once (its client keeps its own limit). Null when the run was stopped meanwhile.
 */
export async function askStep(
  services: Services,
  provider: CellProvider,
  step: { column: ProviderColumn; field: ContactField; owner: StepOwner; concurrency: number },
  entries: readonly StepEntry[],
  signal: AbortSignal,
): Promise<Map<string, Answer> | null> {
  if (isBulkContactProvider(provider)) return askBulkProvider(services, provider, step.owner, step.field, entries, signal);
  const answers = new Map<string, Answer>();
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const entry = entries[next++]!;
      const started = performance.now();
      let result: ProviderResult;
      try {
        result = await provider.enrich({ column: step.column, row: entry.row, signal });
      } catch (error) {
        if (signal.aborted) throw error;
        result = { outcome: "error", error: error instanceof Error ? error.message : String(error), retryable: false, metadata: { provider: provider.name } };
      }
      answers.set(entry.key, { ...result, durationMs: Math.round(performance.now() - started) });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(step.concurrency, entries.length)) }, worker));
  } catch (error) {
    if (signal.aborted) return null;
    throw error;
  }
  return signal.aborted ? null : answers;
}

/**
 * A provider's answer for a row as the try it records. `unpaid`: a match neither kept nor charged,
 * with the code of why (INSUFFICIENT_CREDITS, BUDGET_EXCEEDED); the next provider is tried.
 */
export function attemptOf(step: WaterfallStep, answer: ProviderResult & { durationMs?: number }, unpaid: string | null = null): CellAttempt {
  const durationMs = answer.durationMs ?? 0;
  switch (answer.outcome) {
    case "value":
      return unpaid
        ? { provider: step.id, outcome: "matched", cost: 0, durationMs, reason: `${unpaid}: not charged, so not kept: the ${unpaid === "BUDGET_EXCEEDED" ? "column's budget" : "balance"} could not pay this provider's price of ${step.price}` }
        : { provider: step.id, outcome: "matched", cost: step.price, durationMs };
    case "no_match":
      return { provider: step.id, outcome: "no_match", cost: 0, durationMs, reason: answer.reason };
    case "error":
      return { provider: step.id, outcome: "error", cost: 0, durationMs, reason: answer.error };
  }
}

/** The codes a try that could not be paid for carries at the start of its reason. */
const UNPAID = /^(INSUFFICIENT_CREDITS|BUDGET_EXCEEDED):/;

/**
 * How a row ends that no provider matched and paid for, by its tries, for columns and runs alike:
 * - a match that could not be paid for: failed with that code (the value exists, at a price);
 * - a provider that looked and found nothing: no match (completed empty, or a skipped item);
 * - providers that failed, none that found nothing: failed with their errors (worth running again);
 * - providers not asked for lack of credits: failed with that code;
 * - no provider could take the row at all (each skipped it): no match.
 * Nothing was charged in any of these.
 */
export function endWithoutMatch(attempts: readonly CellAttempt[]): { kind: "no_match"; reasoning: string } | { kind: "failed"; error: string; unpaid: boolean } {
  const unpaidMatch = attempts.find((a) => a.outcome === "matched" && a.cost === 0 && a.reason && UNPAID.test(a.reason));
  if (unpaidMatch) return { kind: "failed", error: UNPAID.exec(unpaidMatch.reason!)![1]!, unpaid: true };
  const tried = attempts.map((a) => `${a.provider} ${a.outcome.replace("_", " ")}`).join(", ");
  if (attempts.some((a) => a.outcome === "no_match")) return { kind: "no_match", reasoning: `No provider found a value (${tried})` };
  const errors = attempts.filter((a) => a.outcome === "error");
  if (errors.length > 0) return { kind: "failed", error: errors.map((a) => `${a.provider}: ${a.reason}`).join("; "), unpaid: false };
  const unaffordable = attempts.find((a) => a.outcome === "not_run" && a.reason && UNPAID.test(a.reason));
  if (unaffordable) return { kind: "failed", error: UNPAID.exec(unaffordable.reason!)![1]!, unpaid: true };
  return { kind: "no_match", reasoning: `No provider could look this row up (${tried})` };
}

/** The steps after `index`, not run: an earlier provider matched. */
export function notRunAfter(steps: readonly WaterfallStep[], index: number): CellAttempt[] {
  return steps.slice(index + 1).map((step): CellAttempt => ({ provider: step.id, outcome: "not_run", cost: 0, durationMs: 0 }));
}
