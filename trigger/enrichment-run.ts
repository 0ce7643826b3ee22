import { task } from "@trigger.dev/sdk";
import { ENRICHMENT_RUN_MAX_ATTEMPTS, runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import { withTaskServices } from "./services";

// Lead enrichment runs as Trigger.dev runs them, through the same domain function as the local
// executors. The attempt count must match the task's: it marks the run failed on its last attempt.
export const enrichmentRun = task({
  id: "enrichment-run",
  concurrency: { total: 10 },
  retry: { maxAttempts: ENRICHMENT_RUN_MAX_ATTEMPTS },
  run: (payload: { enrichmentRunId: string }, { ctx, signal }) =>
    withTaskServices((services) => runEnrichmentRun(services, payload, { runId: ctx.run.id, attempt: ctx.attempt.number, signal })),
});
