import { DispatchError, type Dispatcher } from "./types";

/**
 * A dispatcher that dispatches nothing: for processes that must never start background work
 * (tasks themselves) or cannot (a Worker without a Trigger.dev key). Dispatching fails with
 * `reason`, which reaches the caller as DISPATCH_FAILED; cancelling reports every id as failed.
 */
export function refusingDispatcher(reason: string): Dispatcher {
  return {
    trigger: () => Promise.reject(new DispatchError(reason)),
    batchTrigger: () => Promise.reject(new DispatchError(reason)),
    cancel: async (ids) => ({ cancelled: [], failed: [...ids] }),
  };
}
