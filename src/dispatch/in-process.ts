import type { Logger } from "../services";
import {
  isBatchId,
  type BatchTriggerResult,
  type CancelResult,
  type Dispatcher,
  type TaskHandler,
  type TaskId,
  type TaskPayload,
  type TaskRegistry,
  type TriggerResult,
} from "./types";

// Trigger.dev's run statuses, so the local runner can report runs without translating them.
export type RunStatus = "QUEUED" | "EXECUTING" | "COMPLETED" | "FAILED" | "CANCELED";

export type RunRecord = {
  readonly id: string;
  readonly taskId: TaskId;
  readonly payload: unknown;
  readonly batchId: string | undefined;
  readonly status: RunStatus;
  readonly attempts: number;
  readonly error: string | undefined;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly startedAt: Date | undefined;
  readonly finishedAt: Date | undefined;
};

export type ExecutorOptions = {
  registry: TaskRegistry;
  /** Runs executing at the same time. */
  concurrency?: number;
  /** Attempts per run, the first included. */
  maxAttempts?: number;
  /** Delay before attempt n+1 is min(maxMs, minMs × factor^(n−1)). */
  retryDelay?: { minMs?: number; maxMs?: number; factor?: number };
  logger?: Logger;
};

export type TaskExecutor = {
  enqueue<T extends TaskId>(taskId: T, payload: TaskPayload<T>, options?: { batchId?: string }): RunRecord;
  /** False when the run is unknown. A finished run stays as it is. */
  cancel(runId: string): boolean;
  /** Cancels every run of the batch; false when the batch is unknown. */
  cancelBatch(batchId: string): boolean;
  run(runId: string): RunRecord | undefined;
  batchRuns(batchId: string): RunRecord[];
  /** Resolves when no run is queued, waiting for a retry or executing (cancelled handlers included). */
  idle(): Promise<void>;
  /** Runs whose handler is running now, and runs waiting to start (queued or waiting for a retry). */
  activity(): { executing: number; waiting: number };
  /**
   * For shutdown: aborts every running handler through its signal, drops queued runs and retry
   * timers, and starts nothing more (a later enqueue is cancelled at once). Stopped runs end
   * CANCELED, never FAILED or retried: their work stays as the handlers left it, for recovery.
   */
  stop(reason: string): void;
  /** What runs still waiting to start (queued, or waiting for a retry) will work on. */
  waitingPayloads(): Array<{ taskId: TaskId; payload: unknown }>;
};

const DEFAULTS = { concurrency: 4, maxAttempts: 3, minMs: 500, maxMs: 10_000, factor: 2 };

const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/** Ids shaped like Trigger.dev's friendly ids (`run_…`, `batch_…`), so stored ids look the same in every mode. */
export function friendlyId(prefix: "run" | "batch" | "bulk"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let body = "";
  for (const byte of bytes) body += ID_ALPHABET[byte % ID_ALPHABET.length];
  return `${prefix}_${body}`;
}

type RunState = {
  -readonly [K in keyof RunRecord]: RunRecord[K];
} & { controller?: AbortController; retryTimer?: ReturnType<typeof setTimeout> };

const TERMINAL: ReadonlySet<RunStatus> = new Set(["COMPLETED", "FAILED", "CANCELED"]);

export function createTaskExecutor(options: ExecutorOptions): TaskExecutor {
  const concurrency = Math.max(1, options.concurrency ?? DEFAULTS.concurrency);
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts);
  const delay = {
    minMs: options.retryDelay?.minMs ?? DEFAULTS.minMs,
    maxMs: options.retryDelay?.maxMs ?? DEFAULTS.maxMs,
    factor: options.retryDelay?.factor ?? DEFAULTS.factor,
  };
  const logger = options.logger;

  const runs = new Map<string, RunState>();
  const batches = new Map<string, string[]>();
  const ready: RunState[] = [];
  let executing = 0;
  // Runs whose handler may still be called or is still running; idle() waits for this to reach 0.
  let unsettled = 0;
  let idleWaiters: Array<() => void> = [];
  let pumpScheduled = false;
  let stopped = false;

  const snapshot = (run: RunState): RunRecord => {
    const { controller: _controller, retryTimer: _retryTimer, ...record } = run;
    return { ...record };
  };

  const touch = (run: RunState, status: RunStatus) => {
    run.status = status;
    run.updatedAt = new Date();
    if (TERMINAL.has(status)) run.finishedAt ??= run.updatedAt;
  };

  const settle = () => {
    unsettled -= 1;
    if (unsettled === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  // Starting is deferred to a later tick so that trigger() answers before any handler code runs.
  const schedulePump = () => {
    if (pumpScheduled) return;
    pumpScheduled = true;
    setTimeout(pump, 0);
  };

  function pump() {
    pumpScheduled = false;
    while (executing < concurrency && ready.length > 0) {
      const run = ready.shift()!;
      if (run.status === "QUEUED") start(run);
    }
  }

  function start(run: RunState) {
    executing += 1;
    run.attempts += 1;
    run.startedAt ??= new Date();
    touch(run, "EXECUTING");
    const controller = new AbortController();
    run.controller = controller;
    const handler = options.registry[run.taskId] as TaskHandler<TaskId>;
    const ctx = { runId: run.id, attempt: run.attempts, lastAttempt: run.attempts >= maxAttempts, signal: controller.signal };
    Promise.resolve()
      .then(() => handler(run.payload as TaskPayload<TaskId>, ctx))
      .then(
        () => finishAttempt(run, undefined),
        (error: unknown) => finishAttempt(run, error ?? new Error("task failed")),
      );
  }

  function finishAttempt(run: RunState, error: unknown) {
    executing -= 1;
    run.controller = undefined;
    if (run.status === "CANCELED") {
      settle();
    } else if (error === undefined) {
      touch(run, "COMPLETED");
      settle();
    } else if (run.attempts < maxAttempts) {
      const wait = Math.min(delay.maxMs, delay.minMs * delay.factor ** (run.attempts - 1));
      logger?.warn("task attempt failed, retrying", { runId: run.id, taskId: run.taskId, attempt: run.attempts, retryInMs: wait, error: describe(error) });
      touch(run, "QUEUED");
      run.retryTimer = setTimeout(() => {
        run.retryTimer = undefined;
        ready.push(run);
        schedulePump();
      }, wait);
    } else {
      run.error = describe(error);
      logger?.error("task failed", { runId: run.id, taskId: run.taskId, attempts: run.attempts, error: run.error });
      touch(run, "FAILED");
      settle();
    }
    schedulePump();
  }

  /** Ends a run CANCELED: a queued one at once, an executing one through its signal. */
  function cancelRun(run: RunState, reason: string): void {
    if (run.status === "QUEUED") {
      if (run.retryTimer) clearTimeout(run.retryTimer);
      run.retryTimer = undefined;
      touch(run, "CANCELED");
      settle();
    } else if (run.status === "EXECUTING") {
      // The handler settles the run when it returns (finishAttempt, without a retry); idle() keeps waiting for it until then.
      touch(run, "CANCELED");
      run.controller?.abort(new Error(reason));
    }
  }

  function cancel(runId: string): boolean {
    const run = runs.get(runId);
    if (!run) return false;
    cancelRun(run, "run cancelled");
    return true;
  }

  return {
    enqueue(taskId, payload, enqueueOptions = {}) {
      const now = new Date();
      const run: RunState = {
        id: friendlyId("run"),
        taskId,
        payload,
        batchId: enqueueOptions.batchId,
        status: "QUEUED",
        attempts: 0,
        error: undefined,
        createdAt: now,
        updatedAt: now,
        startedAt: undefined,
        finishedAt: undefined,
      };
      runs.set(run.id, run);
      if (run.batchId) {
        const members = batches.get(run.batchId);
        if (members) members.push(run.id);
        else batches.set(run.batchId, [run.id]);
      }
      if (stopped) {
        touch(run, "CANCELED");
        return snapshot(run);
      }
      unsettled += 1;
      ready.push(run);
      schedulePump();
      return snapshot(run);
    },
    cancel,
    cancelBatch(batchId) {
      const members = batches.get(batchId);
      if (!members) return false;
      for (const runId of members) cancel(runId);
      return true;
    },
    run(runId) {
      const run = runs.get(runId);
      return run ? snapshot(run) : undefined;
    },
    batchRuns(batchId) {
      return (batches.get(batchId) ?? []).map((runId) => snapshot(runs.get(runId)!));
    },
    idle() {
      if (unsettled === 0) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    activity() {
      // Every unsettled run is either executing or waiting to start.
      return { executing, waiting: unsettled - executing };
    },
    stop(reason) {
      stopped = true;
      ready.length = 0;
      for (const run of runs.values()) cancelRun(run, reason);
    },
    waitingPayloads() {
      return [...runs.values()].filter((run) => run.status === "QUEUED").map((run) => ({ taskId: run.taskId, payload: run.payload }));
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type InProcessDispatcher = Dispatcher & { readonly executor: TaskExecutor; idle(): Promise<void> };

/** Runs the tasks inside this process: `npm start` without Trigger.dev, and tests. */
export function createInProcessDispatcher(options: ExecutorOptions): InProcessDispatcher {
  const executor = createTaskExecutor(options);
  return { executor, idle: () => executor.idle(), ...executorDispatcher(executor) };
}

/** Dispatches onto an executor of this process: what the local runner's recovery sweep dispatches with. */
export function executorDispatcher(executor: TaskExecutor): Dispatcher {
  return {
    async trigger<T extends TaskId>(taskId: T, payload: TaskPayload<T>): Promise<TriggerResult> {
      return { runId: executor.enqueue(taskId, payload).id };
    },
    async batchTrigger<T extends TaskId>(taskId: T, payloads: readonly TaskPayload<T>[]): Promise<BatchTriggerResult> {
      if (payloads.length === 0) throw new RangeError("batchTrigger needs at least one payload");
      const batchId = friendlyId("batch");
      const runIds = payloads.map((payload) => executor.enqueue(taskId, payload, { batchId }).id);
      return { batchId, runIds };
    },
    async cancel(ids: readonly string[]): Promise<CancelResult> {
      const result: CancelResult = { cancelled: [], failed: [] };
      for (const id of ids) {
        const known = isBatchId(id) ? executor.cancelBatch(id) : executor.cancel(id);
        (known ? result.cancelled : result.failed).push(id);
      }
      return result;
    },
  };
}
