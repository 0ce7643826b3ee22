import { task } from "@trigger.dev/sdk";
import type { ColumnTaskPayload } from "../src/dispatch/types";
import { runColumnTask, type ColumnTaskId } from "../src/domain/enrichment/run-column-task";
import { withTaskServices } from "./services";

// The four column tasks as Trigger.dev runs them: each hands its payload to the same domain runner
// the in-process executor and the local runner use (src/tasks/registry.ts).

function columnTask<Id extends ColumnTaskId>(id: Id, concurrency: number) {
  return task({
    id,
    // Bounds the provider traffic of one task type across all runs.
    concurrency: { total: concurrency },
    // A run is idempotent (claims, charges and refunds are keyed), so a retry only finishes its work;
    // the backoff comes from trigger.config.ts.
    retry: { maxAttempts: 3 },
    // The summary (counts of cells completed, failed, refunded) becomes the run's output.
    run: (payload: ColumnTaskPayload, { ctx, signal }) =>
      withTaskServices((services) => runColumnTask(services, id, payload, { runId: ctx.run.id, attempt: ctx.attempt.number, signal })),
  });
}

export const sheetAiEnrich = columnTask("sheet-ai-enrich", 10);
export const listContactEnrich = columnTask("list-contact-enrich", 5);
export const listHiringEnrich = columnTask("list-hiring-enrich", 5);
export const listGenericEnrich = columnTask("list-generic-enrich", 10);
