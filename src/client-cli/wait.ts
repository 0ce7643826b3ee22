import type { BackgroundWork } from "../routes/operation";
import { ApiError, CliError, isRecord, type ApiClient } from "./api";
import { Progress } from "./progress";

export type WaitOptions = { timeoutMs: number; pollMs: number; stderr?: ConstructorParameters<typeof Progress>[1] };

/** What --wait prints, and the exit code it ends with. */
export type Followed = { output: unknown; exitCode: number };

/** The request that started the work, as sent: some work is known only by it (generate answers no column). */
export type StartedBy = { params: Record<string, unknown>; body: unknown };

const RUN_TERMINAL = new Set(["completed", "failed", "cancelled"]);
const CELL_OPEN = new Set(["pending", "processing"]);
const CELL_COMPLETED = new Set(["completed", "complete"]);

/** Follows the background work an operation's answer started, until it ends or the timeout passes. */
export async function follow(kind: BackgroundWork, api: ApiClient, answer: unknown, started: StartedBy, options: WaitOptions): Promise<Followed> {
  if (kind === "run") return followRun(api, answer, options);
  if (kind === "column") return followColumn(api, answer, options);
  return followGeneratedCells(api, answer, started, options);
}

async function followRun(api: ApiClient, answer: unknown, options: WaitOptions): Promise<Followed> {
  const runId = isRecord(answer) ? answer.enrichmentRunId : undefined;
  // A preview (mode "preview") starts nothing.
  if (typeof runId !== "string") return { output: answer, exitCode: 0 };
  const progress = new Progress("enrichment run", options.stderr);
  const final = await poll(options, progress, async () => {
    const body = await api.get(`/api/enrichment/${encodeURIComponent(runId)}`);
    const run = isRecord(body) && isRecord(body.run) ? body.run : {};
    const counts = isRecord(run.scope) && isRecord(run.scope.counts) ? (run.scope.counts as Record<string, number>) : {};
    const n = (status: string) => Number(counts[status] ?? 0);
    const total = Object.values(counts).reduce((sum, value) => sum + Number(value), 0);
    const status = String(run.status);
    progress.update(n("completed") + n("skipped") + n("failed"), total, `${status}: ${n("completed")} completed, ${n("skipped")} skipped, ${n("failed")} failed`);
    return RUN_TERMINAL.has(status) ? body : undefined;
  });
  const run = isRecord(final) && isRecord(final.run) ? final.run : {};
  if (run.status !== "failed") return { output: final, exitCode: 0 };
  const reason = typeof run.error === "string" ? run.error : run.error ? JSON.stringify(run.error) : "no reason given";
  (options.stderr ?? process.stderr).write(`error: the enrichment run failed: ${reason}\n`);
  return { output: final, exitCode: 1 };
}

type ColumnTarget = { listId: string; columnId: string; subject: string; isPreview: boolean };

export type CellCounts = { total: number; completed: number; failed: number };

/** A column's work, followed by its progress (GET column): one request a poll, however many rows. */
async function followColumn(api: ApiClient, answer: unknown, options: WaitOptions): Promise<Followed> {
  const created = isRecord(answer) && isRecord(answer.column) ? answer.column : null;
  if (!created || typeof created.id !== "string" || typeof created.listId !== "string") return { output: answer, exitCode: 0 };
  const path = `/api/lists/${encodeURIComponent(created.listId)}/columns/${encodeURIComponent(created.id)}`;
  const bar = new Progress("cells", options.stderr);
  const column = await poll(options, bar, async () => {
    const read = await api.get(path);
    const latest = isRecord(read) && isRecord(read.column) ? read.column : null;
    const progress = latest && isRecord(latest.progress) ? (latest.progress as Record<string, number>) : null;
    if (!latest || !progress) return undefined;
    const open = progress.pending! + progress.processing!;
    bar.update(progress.total! - open, progress.total!, `${progress.completed! + progress.empty!} completed, ${progress.failed} failed, ${open} to go`);
    return open === 0 ? latest : undefined;
  });
  const progress = column.progress as Record<string, number>;
  const cells: CellCounts = { total: progress.total!, completed: progress.completed! + progress.empty!, failed: progress.failed! };
  return { output: { ...(answer as Record<string, unknown>), column, cells }, exitCode: 0 };
}

async function followGeneratedCells(api: ApiClient, answer: unknown, started: StartedBy, options: WaitOptions): Promise<Followed> {
  const listId = String(started.params.id ?? started.params.listId);
  const columnId = String(started.params.colId ?? started.params.columnId);
  const rowIds = isRecord(started.body) && Array.isArray(started.body.rowIds) ? started.body.rowIds.map(String) : [];
  // Generate's answer does not name the column: its subject and whether it is a preview come from it.
  const read = await api.get(`/api/lists/${encodeURIComponent(listId)}/columns/${encodeURIComponent(columnId)}`);
  const column = isRecord(read) && isRecord(read.column) ? read.column : null;
  const target = { listId, columnId, subject: String(column?.subject ?? "person"), isPreview: column?.isPreview === true };
  const cells = await followCells(api, target, new Set(rowIds), options);
  return { output: { ...(isRecord(answer) ? answer : { answer }), cells }, exitCode: 0 };
}

/** The chosen rows' cells of a column, until none of them is open. */
async function followCells(api: ApiClient, target: ColumnTarget, rowIds: Set<string>, options: WaitOptions): Promise<CellCounts> {
  const progress = new Progress("cells", options.stderr);
  return poll(options, progress, async () => {
    const statuses = (await cellStatuses(api, target)).filter((cell) => rowIds.has(cell.rowId)).map((cell) => cell.status);
    const counts: CellCounts = {
      total: statuses.length,
      completed: statuses.filter((status) => CELL_COMPLETED.has(status)).length,
      failed: statuses.filter((status) => status === "failed").length,
    };
    const open = statuses.filter((status) => CELL_OPEN.has(status)).length;
    progress.update(counts.total - open, counts.total, `${counts.completed} completed, ${counts.failed} failed, ${open} to go`);
    return open === 0 ? counts : undefined;
  });
}

type CellStatus = { rowId: string; status: string };

/** The status of each cell of the column, read through the endpoints that show them. */
async function cellStatuses(api: ApiClient, target: ColumnTarget): Promise<CellStatus[]> {
  const list = `/api/lists/${encodeURIComponent(target.listId)}`;
  if (target.isPreview) {
    const body = await api.get(`${list}/columns/${encodeURIComponent(target.columnId)}/preview-cells`);
    return recordsOf(body, "cells").map((cell) => ({ rowId: String(cell.rowId), status: String(cell.status) }));
  }
  if (target.subject === "company") {
    const body = await api.get(`${list}/companies`);
    return recordsOf(body, "cells")
      .filter((cell) => cell.columnId === target.columnId)
      .map((cell) => ({ rowId: String(cell.companyRowId), status: String(cell.status) }));
  }
  const found: CellStatus[] = [];
  for (let offset = 0; ; ) {
    const page = await api.get(`${list}/rows`, { limit: ROW_PAGE, offset });
    const rows = recordsOf(page, "rows");
    for (const row of rows) {
      for (const cell of Array.isArray(row.cells) ? (row.cells as Record<string, unknown>[]) : []) {
        if (cell.columnId === target.columnId) found.push({ rowId: String(row.id), status: String(cell.status) });
      }
    }
    offset += rows.length;
    if (!(isRecord(page) && page.hasMore === true) || rows.length === 0) return found;
  }
}

const ROW_PAGE = 500;

const recordsOf = (body: unknown, key: string): Record<string, unknown>[] =>
  isRecord(body) && Array.isArray(body[key]) ? (body[key] as unknown[]).filter(isRecord) : [];

/**
 * Calls `step` until it returns a result, pausing `pollMs` between calls (longer when the API asks
 * for it with a 429 or 503). Past the timeout, a CliError: the work itself goes on on the server.
 */
async function poll<T>(options: WaitOptions, progress: Progress, step: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  try {
    for (;;) {
      let pause = options.pollMs;
      try {
        const result = await step();
        if (result !== undefined) return result;
      } catch (error) {
        if (!(error instanceof ApiError) || error.retryAfterMs === null) throw error;
        pause = Math.max(pause, error.retryAfterMs);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CliError(1, `error: gave up waiting after ${Math.round(options.timeoutMs / 1000)} s (--timeout); the work goes on on the server`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  } finally {
    progress.finish();
  }
}
