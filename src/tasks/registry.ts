import type { ColumnTaskPayload, TaskContext, TaskRegistry } from "../dispatch/types";
import { runColumnTask, type ColumnTaskId, type ColumnTaskOptions } from "../domain/enrichment/run-column-task";
import { runEnrichmentRun } from "../domain/enrichment-runs/task";
import type { Services } from "../services";

/**
 * The task handlers, each a thin wrapper over a function in src/domain, given the services of the
 * process that runs them (the in-process executor of `npm start`, the local runner, or tests).
 * The four column tasks share one runner; the column's plan picks the provider. Lead enrichment
 * runs have their own.
 */
export function createTaskRegistry(services: () => Services, options: ColumnTaskOptions = {}): TaskRegistry {
  const columnTask =
    (taskId: ColumnTaskId) =>
    async (payload: ColumnTaskPayload, ctx: TaskContext): Promise<void> => {
      await runColumnTask(services(), taskId, payload, ctx, options);
    };
  return {
    "sheet-ai-enrich": columnTask("sheet-ai-enrich"),
    "list-contact-enrich": columnTask("list-contact-enrich"),
    "list-hiring-enrich": columnTask("list-hiring-enrich"),
    "list-generic-enrich": columnTask("list-generic-enrich"),
    "enrichment-run": async (payload, ctx) => {
      await runEnrichmentRun(services(), payload, ctx);
    },
  };
}
