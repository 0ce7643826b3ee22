import type { CellAttempt } from "../../db/schema";
import type { CellProvider, ProviderColumn, ProviderResult, RowData } from "../../providers/types";
import type { WaterfallStep } from "./steps";

// Asking one provider of a waterfall for many rows, and what its answers record as tries: shared by
// contact columns (src/domain/waterfall/run.ts) and enrichment runs (src/domain/enrichment-runs/waterfall-items.ts).

export type Answer = ProviderResult & { durationMs: number };

/**
 * The provider's answer for each asked row (by its key), with the time it took: in its batches where it takes
 * them (FullEnrich), one request per row otherwise, `concurrency` at a time (the adapter's client
 * keeps its own limit). Null when the run was cancelled meanwhile.
 */
export async function askProvider(
  provider: CellProvider,
  column: ProviderColumn,
  asked: ReadonlyArray<{ key: string; row: RowData }>,
  signal: AbortSignal,
  concurrency: number,
): Promise<Map<string, Answer> | null> {
  const answers = new Map<string, Answer>();
  const failure = (error: unknown): ProviderResult => ({ outcome: "error", error: error instanceof Error ? error.message : String(error), retryable: false, metadata: { provider: provider.name } });
  try {
    if (provider.enrichMany) {
      const batch = (provider as { bulk?: { maxBatch?: number } }).bulk?.maxBatch ?? 100;
      const chunks: Array<typeof asked> = [];
      for (let start = 0; start < asked.length; start += batch) chunks.push(asked.slice(start, start + batch));
      await Promise.all(
        chunks.map(async (chunk) => {
          const started = performance.now();
          let results: ProviderResult[];
          try {
            results = await provider.enrichMany!({ column, rows: chunk.map((entry) => entry.row), signal });
          } catch (error) {
            if (signal.aborted) throw error;
            results = chunk.map(() => failure(error));
          }
          const durationMs = Math.round(performance.now() - started);
          chunk.forEach((entry, i) => answers.set(entry.key, { ...(results[i] ?? failure("no answer for this row")), durationMs }));
        }),
      );
    } else {
      let next = 0;
      const worker = async () => {
        while (next < asked.length) {
          const entry = asked[next++]!;
          const started = performance.now();
          let result: ProviderResult;
          try {
            result = await provider.enrich({ column, row: entry.row, signal });
          } catch (error) {
            if (signal.aborted) throw error;
            result = failure(error);
          }
          answers.set(entry.key, { ...result, durationMs: Math.round(performance.now() - started) });
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, asked.length)) }, worker));
    }
  } catch (error) {
    if (signal.aborted) return null;
    throw error;
  }
  return signal.aborted ? null : answers;
}

/** A provider's answer for a row as the try it records; `unpaid`: a match the balance could not pay for. */
export function attemptOf(step: WaterfallStep, answer: ProviderResult & { durationMs?: number }, unpaid = false): CellAttempt {
  const durationMs = answer.durationMs ?? 0;
  switch (answer.outcome) {
    case "value":
      return unpaid
        ? { provider: step.id, outcome: "matched", cost: 0, durationMs, reason: "Not charged, so not kept: the balance or the column's budget could not pay this provider's price" }
        : { provider: step.id, outcome: "matched", cost: step.price, durationMs };
    case "no_match":
      return { provider: step.id, outcome: "no_match", cost: 0, durationMs, reason: answer.reason };
    case "error":
      return { provider: step.id, outcome: "error", cost: 0, durationMs, reason: answer.error };
  }
}

/** The steps after `index`, not run: an earlier provider matched. */
export function notRunAfter(steps: readonly WaterfallStep[], index: number): CellAttempt[] {
  return steps.slice(index + 1).map((step): CellAttempt => ({ provider: step.id, outcome: "not_run", cost: 0, durationMs: 0 }));
}
