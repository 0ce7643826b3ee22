import { DrizzleQueryError } from "drizzle-orm";
import type { ColumnTaskPayload, TaskContext, TaskId } from "../../dispatch/types";
import { isBulkContactProvider, isContactField } from "../../providers/bulk";
import { runWaterfall } from "../waterfall/run";
import { configuredWaterfall, waterfallOf } from "../waterfall/steps";
import type { CellProvider, ProviderKind, ProviderResult } from "../../providers/types";
import type { Services } from "../../services";
import { planColumn } from "../column-kinds";
import {
  BUDGET_EXCEEDED,
  cellResultOf,
  chargeCell,
  claimCells,
  insufficientCreditsResult,
  loadColumn,
  lockHeldCells,
  renewCellLeases,
  type CellResult,
  type ClaimedCell,
  type Refunds,
  type TaskColumn,
} from "../cell-store";
import { lockWorkspace } from "../credits";
import { keepLeased } from "../lease";
import { countOutcome, failOpenSubmissions, runContactSubmissions, sleep } from "./contacts";
import { watchColumn, type ColumnWatch } from "./column-watch";
import { conditionHolds, conditionNotMetResult } from "../engine/conditions";
import { startReleased, writeResultsAdvancing } from "../engine/work";

// The one runner behind every column task (sheet-ai-enrich, list-contact-enrich, list-hiring-enrich,
// list-generic-enrich): claim the run's cells, ask the column's provider for each with bounded
// concurrency, and write the results back in set-based flushes. The task id only routes the work;
// the column's plan decides which provider answers and how credits move.

export type ColumnTaskId = Exclude<TaskId, "enrichment-run">;

export type ColumnTaskOptions = {
  /** Provider calls in flight at once. */
  concurrency?: number;
  /** Results buffered before they are written (and at the end). */
  flushEvery?: number;
  /** How stale the "column still exists" check may get between provider calls. */
  recheckMs?: number;
  /** Provider calls per cell for retryable errors, the first included. */
  providerTries?: number;
  /** Delay before provider retry n is retryDelayMs × 2^(n−1). */
  retryDelayMs?: number;
};

const DEFAULTS: Required<ColumnTaskOptions> = { concurrency: 8, flushEvery: 25, recheckMs: 250, providerTries: 3, retryDelayMs: 500 };

export { INSUFFICIENT_CREDITS } from "../cell-store";

/** The error of the cells a run still held when it failed on its last attempt, before its reason. */
export const TASK_FAILED = "TASK_FAILED";
/** How much of the run's error its failed cells show. */
const TASK_FAILED_REASON_MAX = 200;

export type ColumnTaskSummary = {
  columnId: string;
  /** Why the run did no work, when it did none. */
  skipped?: "column_gone" | "not_enrichable";
  claimed: number;
  completed: number;
  noMatch: number;
  failed: number;
  insufficientCredits: number;
  /** Claimed cells this run wrote no result to: it stopped early (cancelled, column deleted), or the cell was deleted or re-queued meanwhile. */
  unwritten: number;
  written: number;
  refunded: number;
  flushes: number;
  /** Cells of the column still pending/processing after the last write; null when nothing was written. */
  openCells: number | null;
};

export async function runColumnTask(
  services: Services,
  taskId: ColumnTaskId,
  payload: ColumnTaskPayload,
  ctx: TaskContext,
  options: ColumnTaskOptions = {},
): Promise<ColumnTaskSummary> {
  const log = { taskId, runId: ctx.runId, attempt: ctx.attempt, columnId: payload.columnId };
  try {
    return await fillColumn(services, taskId, payload, ctx, { ...DEFAULTS, ...options }, log);
  } catch (error) {
    // Provider errors end as cell results; what gets here is the run's own failure (its database, a bug).
    // Before the last attempt the cells stay claimed for the retry; after it, nobody would finish them.
    if (ctx.lastAttempt) await failHeldCells(services, payload.columnId, ctx, error, log);
    throw error;
  }
}

async function fillColumn(
  services: Services,
  taskId: ColumnTaskId,
  payload: ColumnTaskPayload,
  ctx: TaskContext,
  settings: Required<ColumnTaskOptions>,
  log: Record<string, unknown>,
): Promise<ColumnTaskSummary> {
  const { db, logger } = services;
  const summary: ColumnTaskSummary = {
    columnId: payload.columnId,
    claimed: 0,
    completed: 0,
    noMatch: 0,
    failed: 0,
    insufficientCredits: 0,
    unwritten: 0,
    written: 0,
    refunded: 0,
    flushes: 0,
    openCells: null,
  };

  const column = await loadColumn(db, payload.columnId);
  if (!column) {
    logger.info("column task: column is gone, nothing to do", log);
    return { ...summary, skipped: "column_gone" };
  }
  const plan = planColumn(column);
  if (plan.kind === "static") {
    logger.warn("column task: the column is not filled by any task", log);
    return { ...summary, skipped: "not_enrichable" };
  }
  if (plan.taskId !== taskId) {
    logger.warn("column task: dispatched under another task id; the column's plan decides", { ...log, plannedTaskId: plan.taskId });
  }
  const kind: ProviderKind = plan.kind === "ai" ? "ai" : plan.enrichmentType;

  const { leaseMs } = services.work;
  const cells = await claimCells(db, column, payload.rowIds, { runId: ctx.runId, attempt: ctx.attempt, leaseMs });
  summary.claimed = cells.length;
  if (cells.length === 0) {
    logger.info("column task: no cell left to claim", log);
    return summary;
  }

  // While the run works, its lease on the claimed cells is renewed; if this process dies, the lease
  // runs out and recovery hands the cells to another attempt.
  await keepLeased(leaseMs, () => renewCellLeases(db, column, ctx.runId, leaseMs), logger, async () => {
    const provider = services.providers[kind];
    const waterfall = plan.kind === "typed" && isContactField(kind) ? waterfallOf(column.config) : null;
    if (waterfall && isContactField(kind)) {
      // Tried provider by provider, each row charged only for the one that matched.
      const steps = configuredWaterfall(services, kind, waterfall);
      if ("error" in steps) {
        const failed = cells.map((cell): CellResult => ({ cellId: cell.cellId, runToken: cell.runToken, status: "failed", value: null, reasoning: null, error: steps.error, metadata: { runId: ctx.runId, attempt: ctx.attempt }, refund: true }));
        const outcome = await writeResultsAdvancing(db, services, column, failed, refundsFor(column, plan.creditAction));
        if (outcome.released) await startReleased(services, [outcome.released]);
        summary.failed += failed.length;
        summary.written += outcome.written;
        return;
      }
      await runWaterfall(services, { column, field: kind, steps: steps.steps }, cells, ctx, summary, { concurrency: settings.concurrency, recheckMs: settings.recheckMs });
      return;
    }
    if (plan.kind === "typed" && plan.chargedInTask && isContactField(kind) && isBulkContactProvider(provider)) {
      // A bulk contact provider answers batches later (webhook or polling): recorded submissions, not per-cell calls.
      await runContactSubmissions(services, { column, field: kind, creditAction: plan.creditAction, provider }, cells, ctx, summary, { recheckMs: settings.recheckMs });
      return;
    }
    const run = new CellRun(services, column, kind, plan.chargedInTask, plan.creditAction, ctx, settings, summary);
    await run.process(cells);
  });
  logger.info("column task finished", { ...log, ...summary, columnDone: summary.openCells === 0 });
  return summary;
}

/**
 * The run failed on its last attempt: the cells it still holds would stay `processing` forever, their
 * credits spent. They fail with TASK_FAILED and are refunded as any failed cell is (a contact cell
 * only if it was charged), in one transaction under their row locks, so a result that lands meanwhile
 * is not overwritten; the run's open contact submissions fail with them, so a late webhook writes
 * nothing onto a refunded cell. Never throws: the executor must see the run's own error.
 */
async function failHeldCells(services: Services, columnId: string, ctx: TaskContext, error: unknown, log: Record<string, unknown>): Promise<void> {
  const { db, logger } = services;
  const message = `${TASK_FAILED}: ${reasonOf(error)}`;
  try {
    const column = await loadColumn(db, columnId);
    const plan = column ? planColumn(column) : null;
    if (!column || !plan || plan.kind === "static") return;
    const outcome = await db.transaction(async (tx) => {
      await lockWorkspace(tx, column.workspaceId);
      const held = await lockHeldCells(tx, column, ctx.runId);
      if (held.length === 0) return null;
      if (plan.kind === "typed" && isContactField(plan.enrichmentType)) await failOpenSubmissions(tx, column.id, ctx.runId, message);
      const results = held.map(
        (cell): CellResult => ({
          cellId: cell.cellId,
          runToken: cell.runToken,
          status: "failed",
          value: null,
          reasoning: null,
          error: message,
          metadata: { runId: ctx.runId, attempt: ctx.attempt },
          refund: true,
        }),
      );
      return writeResultsAdvancing(tx, services, column, results, refundsFor(column, plan.creditAction));
    });
    if (outcome?.released) await startReleased(services, [outcome.released]);
    logger.error("column task failed for good", { ...log, error: reasonOf(error), failedCells: outcome?.written ?? 0, refunded: outcome?.refunded ?? 0 });
  } catch (cleanup) {
    logger.error("column task failed for good, and its cells could not be failed", { ...log, error: reasonOf(error), cleanupError: reasonOf(cleanup) });
  }
}

/**
 * What a failed cell shows of the run's error: its first line, shortened. A failed query's own
 * message carries its SQL and parameters, which belong in the logs; its cause says what went wrong.
 */
function reasonOf(error: unknown): string {
  const reason = error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error;
  const line = describe(reason).split("\n", 1)[0]!.trim() || "unknown error";
  return line.length > TASK_FAILED_REASON_MAX ? `${line.slice(0, TASK_FAILED_REASON_MAX - 1)}…` : line;
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Where a column's failed cells get their credits back from. */
function refundsFor(column: TaskColumn, creditAction: string): Refunds {
  return { workspaceId: column.workspaceId, action: creditAction, columnId: column.id };
}

/** One run's work on its claimed cells. */
class CellRun {
  private readonly provider: CellProvider;
  private readonly price: number;
  private readonly refunds: Refunds;
  /** Aborted when one worker fails, so the others stop before the run reports the failure. */
  private readonly halt = new AbortController();
  /** The run's cancellation or a halt: what every provider call and check listens to. */
  private readonly signal: AbortSignal;
  private readonly watch: ColumnWatch;
  private buffer: CellResult[] = [];
  private writing: Promise<void> = Promise.resolve();
  /** Once a contact charge found the balance short, the rest of the run charges no more. */
  private outOfCredits = false;

  constructor(
    private readonly services: Services,
    private readonly column: TaskColumn,
    kind: ProviderKind,
    private readonly chargedInTask: boolean,
    private readonly creditAction: string,
    private readonly ctx: TaskContext,
    private readonly settings: Required<ColumnTaskOptions>,
    private readonly summary: ColumnTaskSummary,
  ) {
    this.provider = services.providers[kind];
    this.refunds = refundsFor(column, creditAction);
    this.price = services.prices.costOf(creditAction) ?? 0;
    this.signal = AbortSignal.any([ctx.signal, this.halt.signal]);
    this.watch = watchColumn(services.db, column.id, this.signal, settings.recheckMs);
  }

  async process(cells: readonly ClaimedCell[]): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | null = null;
    const worker = async () => {
      while (next < cells.length) {
        const cell = cells[next++]!;
        const result = await this.resultFor(cell);
        if (result === "skip") continue;
        if (!result) return;
        this.buffer.push(result);
        if (this.buffer.length >= this.settings.flushEvery) await this.flush();
      }
    };
    const workers = Array.from({ length: Math.max(1, Math.min(this.settings.concurrency, cells.length)) }, () =>
      worker().catch((error: unknown) => {
        failure ??= { error };
        this.halt.abort(error);
      }),
    );
    await Promise.all(workers);
    if (failure) throw (failure as { error: unknown }).error;
    await this.flush();
    // A claimed cell left unwritten by a stopped run stays `processing` under this run id, so a retry
    // of the run claims it again; a deleted column took its cells with it.
    this.summary.unwritten = cells.length - this.summary.written;
  }

  /** Null when the run must stop before this cell (cancelled, column deleted); "skip" when the cell is no longer this run's. */
  private async resultFor(cell: ClaimedCell): Promise<CellResult | null | "skip"> {
    if (!(await this.watch.alive())) return null;
    // Checked again on what was claimed: the row or a column it reads may have changed since the cell was released.
    if (!conditionHolds(this.column, cell)) {
      this.summary.noMatch += 1;
      return conditionNotMetResult(cell, { runId: this.ctx.runId, attempt: this.ctx.attempt });
    }
    if (this.chargedInTask && this.price > 0) {
      if (this.outOfCredits) return this.insufficient(cell);
      if (!(await this.watch.alive({ fresh: true }))) return null;
      // Charged once per cell: a cell that already paid (an earlier attempt, a carried-over charge) is not charged again.
      const charge = await chargeCell(this.services.db, this.column, cell, { action: this.creditAction, price: this.price });
      if (charge === "gone") return "skip";
      if (charge === "over_budget") {
        this.summary.insufficientCredits += 1;
        return { ...insufficientCreditsResult(cell, { runId: this.ctx.runId, attempt: this.ctx.attempt }), error: BUDGET_EXCEEDED };
      }
      if (charge === "insufficient") {
        this.outOfCredits = true;
        return this.insufficient(cell);
      }
    }
    const answer = await this.ask(cell);
    if (!answer) return null;
    return this.toResult(cell, answer);
  }

  /** The provider's answer, retrying retryable errors with backoff; null when the run must stop. */
  private async ask(cell: ClaimedCell): Promise<ProviderResult | null> {
    for (let attempt = 1; ; attempt++) {
      let answer: ProviderResult;
      try {
        answer = await this.provider.enrich({ column: this.column, row: cell.row, signal: this.signal });
      } catch (error) {
        if (this.signal.aborted) return null;
        // An adapter that throws instead of answering is treated as a transient upstream failure.
        answer = { outcome: "error", error: error instanceof Error ? error.message : String(error), retryable: true, metadata: { provider: this.provider.name } };
      }
      if (answer.outcome !== "error" || !answer.retryable || attempt >= this.settings.providerTries) return answer;
      if (!(await sleep(this.settings.retryDelayMs * 2 ** (attempt - 1), this.signal))) return null;
      if (!(await this.watch.alive())) return null;
    }
  }

  private toResult(cell: ClaimedCell, answer: ProviderResult): CellResult {
    countOutcome(this.summary, answer.outcome);
    return cellResultOf(cell, answer, { runId: this.ctx.runId, attempt: this.ctx.attempt });
  }

  private insufficient(cell: ClaimedCell): CellResult {
    this.summary.insufficientCredits += 1;
    return insufficientCreditsResult(cell, { runId: this.ctx.runId, attempt: this.ctx.attempt });
  }

  /** Writes the buffered results; flushes run one after another, and none after a cancellation. */
  private flush(): Promise<void> {
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.writing;
    this.writing = this.writing.then(async () => {
      if (this.signal.aborted) return;
      const outcome = await writeResultsAdvancing(this.services.db, this.services, this.column, batch, this.refunds);
      // The cells that read these and were waiting for them start now, one batch for all of them.
      if (outcome.released) await startReleased(this.services, [outcome.released]);
      this.summary.flushes += 1;
      this.summary.written += outcome.written;
      this.summary.refunded += outcome.refunded;
      this.summary.openCells = outcome.open;
    });
    return this.writing;
  }
}
