// The background work the API hands off, and the one interface every way of running it implements
// (Trigger.dev through its SDK, the in-process executor, the local Trigger.dev-compatible runner).

export const TASK_IDS = [
  "sheet-ai-enrich",
  "list-contact-enrich",
  "list-hiring-enrich",
  "list-generic-enrich",
  "enrichment-run",
] as const;

export type TaskId = (typeof TASK_IDS)[number];

export function isTaskId(value: string): value is TaskId {
  return (TASK_IDS as readonly string[]).includes(value);
}

/**
 * Payloads carry ids only: a task reads what it needs from the database when it runs, so a retried
 * or late run sees the current state (a deleted column, a cancelled run) instead of a stale copy.
 * `rowIds` are person row ids for person columns and company row ids for company columns.
 */
export type ColumnTaskPayload = { columnId: string; rowIds: string[] };

export type TaskPayloads = {
  "sheet-ai-enrich": ColumnTaskPayload;
  "list-contact-enrich": ColumnTaskPayload;
  "list-hiring-enrich": ColumnTaskPayload;
  "list-generic-enrich": ColumnTaskPayload;
  "enrichment-run": { enrichmentRunId: string };
};

export type TaskPayload<T extends TaskId> = TaskPayloads[T];

export type TriggerResult = { runId: string };

/**
 * `batchId` identifies the whole batch and is itself a cancellation handle. Trigger.dev (v4) creates a
 * batch's runs asynchronously after accepting it, so `runIds` lists only the runs that existed when
 * the dispatch returned (all of them with the in-process and local runners, possibly none on
 * Trigger.dev cloud). Keep `batchId` alongside the run ids wherever runs must be cancellable later.
 */
export type BatchTriggerResult = { batchId: string; runIds: string[] };

/** Ids whose cancellation was accepted (already finished runs included) and ids that could not be cancelled. */
export type CancelResult = { cancelled: string[]; failed: string[] };

export interface Dispatcher {
  /** Starts one run; resolves once the run is accepted, not when it finishes. */
  trigger<T extends TaskId>(taskId: T, payload: TaskPayload<T>): Promise<TriggerResult>;
  /** Starts one run per payload as one batch: the cost of the call does not grow with the number of payloads. */
  batchTrigger<T extends TaskId>(taskId: T, payloads: readonly TaskPayload<T>[]): Promise<BatchTriggerResult>;
  /** Best effort, never throws: accepts run ids and batch ids, reports each id in `cancelled` or `failed`. */
  cancel(ids: readonly string[]): Promise<CancelResult>;
}

export type TaskContext = {
  runId: string;
  /** 1 on the first attempt. */
  attempt: number;
  /**
   * No attempt follows this one if it fails, so the handler must leave nothing half-done behind.
   * Set by the executor from its own retry setting: handlers never assume an attempt count.
   */
  lastAttempt: boolean;
  /** Aborted when the run is cancelled while it executes; a handler stops at its next check. */
  signal: AbortSignal;
};

export type TaskHandler<T extends TaskId> = (payload: TaskPayload<T>, ctx: TaskContext) => Promise<void>;

export type TaskRegistry = { [T in TaskId]: TaskHandler<T> };

/** A dispatch that did not go through; routes answer it with DISPATCH_FAILED. */
export class DispatchError extends Error {
  override readonly name = "DispatchError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const BATCH_ID_PREFIX = "batch_";

export function isBatchId(id: string): boolean {
  return id.startsWith(BATCH_ID_PREFIX);
}
