import { TriggerClient } from "@trigger.dev/sdk";
import type { Logger } from "../services";
import {
  DispatchError,
  isBatchId,
  type BatchTriggerResult,
  type CancelResult,
  type Dispatcher,
  type TaskId,
  type TaskPayload,
  type TriggerResult,
} from "./types";

export type TriggerSdkDispatcherOptions = {
  /** TRIGGER_SECRET_KEY. */
  secretKey: string;
  /** TRIGGER_API_URL; Trigger.dev cloud when absent. */
  apiUrl?: string;
  /** Upper bound for one dispatch, its HTTP calls and their retries included. */
  timeoutMs?: number;
  /** Retries of one HTTP call inside that bound. */
  retry?: { maxAttempts?: number; minDelayMs?: number; maxDelayMs?: number };
  logger?: Logger;
};

export const DEFAULT_DISPATCH_TIMEOUT_MS = 5_000;
export const CANCEL_CHUNK_SIZE = 50;

const DEFAULT_API_URL = "https://api.trigger.dev";

/**
 * Dispatches through @trigger.dev/sdk. Configuration lives in a TriggerClient instance (the SDK scopes
 * it per call), so nothing is written to the SDK's global configuration and two dispatchers with
 * different keys can coexist in one process.
 */
export function createTriggerSdkDispatcher(options: TriggerSdkDispatcherOptions): Dispatcher {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DISPATCH_TIMEOUT_MS;
  // The SDK's own defaults (5 attempts, up to 30 s apart, longer still for batch streams) would hold a
  // request for tens of seconds; a few quick retries inside the timeout are all a request can afford.
  const retry = {
    maxAttempts: options.retry?.maxAttempts ?? 2,
    minTimeoutInMs: options.retry?.minDelayMs ?? 200,
    maxTimeoutInMs: options.retry?.maxDelayMs ?? 1_000,
    factor: 2,
    randomize: false,
  };
  // Passed on every call as well: the batch item stream reads its retry options from the call only,
  // never from the client defaults.
  const requestOptions = { retry };
  const client = new TriggerClient({
    baseURL: options.apiUrl ?? DEFAULT_API_URL,
    accessToken: options.secretKey,
    requestOptions,
  });

  // The SDK's fetch takes no AbortSignal, so an unanswered request cannot be aborted: the caller is
  // released at the deadline and the request is left to end on its own.
  async function bounded<R>(what: string, work: () => Promise<R>, budgetMs = timeoutMs): Promise<R> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${budgetMs} ms`)), budgetMs);
    });
    try {
      return await Promise.race([work(), deadline]);
    } catch (cause) {
      throw new DispatchError(`${what} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    } finally {
      clearTimeout(timer);
    }
  }

  async function batchRunIds(batchId: string, budgetMs: number): Promise<string[]> {
    const batch = await bounded(`retrieving batch ${batchId}`, () => client.batch.retrieve(batchId, requestOptions), budgetMs);
    return batch.runs;
  }

  async function cancelRun(runId: string): Promise<boolean> {
    try {
      await bounded(`cancelling run ${runId}`, () => client.runs.cancel(runId, requestOptions));
      return true;
    } catch (error) {
      options.logger?.warn("run cancellation failed", { runId, error: error instanceof Error ? error.message : String(error) });
      return false;
    }
  }

  return {
    async trigger<T extends TaskId>(taskId: T, payload: TaskPayload<T>): Promise<TriggerResult> {
      const handle = await bounded(`triggering ${taskId}`, () => client.tasks.trigger(taskId, payload, undefined, requestOptions));
      return { runId: handle.id };
    },

    async batchTrigger<T extends TaskId>(taskId: T, payloads: readonly TaskPayload<T>[]): Promise<BatchTriggerResult> {
      if (payloads.length === 0) throw new RangeError("batchTrigger needs at least one payload");
      const startedAt = Date.now();
      const items = payloads.map((payload) => ({ payload }));
      const handle = await bounded(`batch-triggering ${payloads.length} × ${taskId}`, () =>
        client.tasks.batchTrigger(taskId, items, undefined, requestOptions),
      );
      // The batch is accepted at this point, so listing its runs is best effort: a failure here must not
      // turn a dispatch that happened into a reported failure.
      let runIds: string[] = [];
      const remainingMs = timeoutMs - (Date.now() - startedAt);
      if (remainingMs > 0) {
        try {
          runIds = await batchRunIds(handle.batchId, remainingMs);
        } catch (error) {
          options.logger?.warn("batch run ids unavailable", { batchId: handle.batchId, error: error instanceof Error ? error.message : String(error) });
        }
      }
      return { batchId: handle.batchId, runIds };
    },

    async cancel(ids: readonly string[]): Promise<CancelResult> {
      const given = [...new Set(ids)];
      // A batch is cancelled through its runs, listed now rather than at dispatch time: on Trigger.dev
      // cloud the runs of a batch appear after the dispatch has returned.
      const batchMembers = new Map<string, string[] | undefined>();
      await inChunks(given.filter(isBatchId), async (batchId) => {
        try {
          batchMembers.set(batchId, await batchRunIds(batchId, timeoutMs));
        } catch (error) {
          options.logger?.warn("batch cancellation failed", { batchId, error: error instanceof Error ? error.message : String(error) });
          batchMembers.set(batchId, undefined);
        }
      });
      const runIds = new Set(given.filter((id) => !isBatchId(id)));
      for (const members of batchMembers.values()) for (const runId of members ?? []) runIds.add(runId);

      const outcome = new Map<string, boolean>();
      await inChunks([...runIds], async (runId) => outcome.set(runId, await cancelRun(runId)));

      const result: CancelResult = { cancelled: [], failed: [] };
      for (const id of given) {
        const members = isBatchId(id) ? batchMembers.get(id) : [id];
        const ok = members !== undefined && members.every((runId) => outcome.get(runId) === true);
        (ok ? result.cancelled : result.failed).push(id);
      }
      return result;
    },
  };
}

/** Chunks of CANCEL_CHUNK_SIZE one after another, the calls of a chunk at the same time. */
async function inChunks(ids: readonly string[], call: (id: string) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < ids.length; start += CANCEL_CHUNK_SIZE) {
    await Promise.allSettled(ids.slice(start, start + CANCEL_CHUNK_SIZE).map(call));
  }
}
