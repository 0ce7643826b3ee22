import type { TaskRegistry } from "../dispatch/types";
import { TASK_IDS } from "../dispatch/types";
import type { Services } from "../services";

/**
 * The task handlers, each a thin wrapper over a function in src/domain, given the services of the
 * process that runs them (the in-process executor of `npm start`, the local runner, or tests).
 */
export function createTaskRegistry(services: () => Services): TaskRegistry {
  void services;
  return Object.fromEntries(
    TASK_IDS.map((taskId) => [
      taskId,
      async () => {
        throw new Error(`No handler for ${taskId} yet`);
      },
    ]),
  ) as unknown as TaskRegistry;
}
