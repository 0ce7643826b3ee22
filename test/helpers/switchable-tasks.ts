import { createInProcessDispatcher, type InProcessDispatcher } from "../../src/dispatch/in-process";
import type { TaskRegistry } from "../../src/dispatch/types";
import { createLogger, type Services } from "../../src/services";
import { createTaskRegistry } from "../../src/tasks/registry";

/**
 * An in-process executor running the real tasks, which the test can switch off: while off, every
 * task returns at once without working, as a dispatch lost with a dead process leaves its work
 * (accepted, never done). Switched on again, the same executor runs them for real.
 */
export function switchableTasks(services: () => Services): { dispatcher: InProcessDispatcher; setRunning(on: boolean): void } {
  let running = true;
  const real = createTaskRegistry(services);
  const registry = Object.fromEntries(
    Object.entries(real).map(([taskId, handler]) => [taskId, (payload: never, ctx: never) => (running ? (handler as (p: never, c: never) => Promise<void>)(payload, ctx) : Promise.resolve())]),
  ) as unknown as TaskRegistry;
  const dispatcher = createInProcessDispatcher({ registry, logger: createLogger("silent"), retryDelay: { minMs: 5, maxMs: 10 } });
  return { dispatcher, setRunning: (on) => (running = on) };
}
