import { task } from "@trigger.dev/sdk";
import type { ColumnTaskPayload } from "../src/dispatch/types";
import { runColumnTask, type ColumnTaskId } from "../src/domain/enrichment/run-column-task";
import { taskAttempts } from "./attempts";
import { withTaskServices } from "./services";

// The four column tasks as Trigger.dev runs them: each hands its payload to the same domain runner
// the in-process executor and the local runner use (src/tasks/registry.ts).

// A run is idempotent (claims, charges and refunds are keyed), so a retry only finishes its work;
// the last attempt, if it fails, fails and refunds the cells it still holds.
const attempts = taskAttempts(3);

function columnTask<Id extends ColumnTaskId>(id: Id, concurrency: number) {
  return task({
    id,
    // Bounds the provider traffic of one task type across all runs.
    concurrency: { total: concurrency },
    retry: attempts.retry,
    // The summary (counts of cells completed, failed, refunded) becomes the run's output.
    run: (payload: ColumnTaskPayload, params) => withTaskServices((services) => runColumnTask(services, id, payload, attempts.contextOf(params))),
  });
}

export const sheetAiEnrich = columnTask("sheet-ai-enrich", 10);
export const listContactEnrich = columnTask("list-contact-enrich", 5);
export const listHiringEnrich = columnTask("list-hiring-enrich", 5);
export const listGenericEnrich = columnTask("list-generic-enrich", 10);
