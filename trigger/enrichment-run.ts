import { task } from "@trigger.dev/sdk";
import { runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import { taskAttempts } from "./attempts";
import { withTaskServices } from "./services";

// Lead enrichment runs as Trigger.dev runs them, through the same domain function as the local
// executors. The last attempt, if it fails, marks the run failed and refunds what was not enriched.
const attempts = taskAttempts(3);

export const enrichmentRun = task({
  id: "enrichment-run",
  concurrency: { total: 10 },
  retry: attempts.retry,
  run: (payload: { enrichmentRunId: string }, params) => withTaskServices((services) => runEnrichmentRun(services, payload, attempts.contextOf(params))),
});
