import { eq, sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { columns } from "../../db/schema";
import { jsonParam, uuidSet } from "../../db/sql";
import { DispatchError } from "../../dispatch/types";
import { AppError } from "../../errors";
import type { Services } from "../../services";
import {
  advanceCells,
  captureHolds,
  committedCredits,
  enqueueFollowOnCells,
  failOpenCells,
  recordColumnRuns,
  SUBJECT_TABLES,
  takeReleased,
  writeResults,
  type AdvanceColumn,
  type CellRef,
  type CellResult,
  type FlushOutcome,
  type FollowOnColumn,
  type Refunds,
} from "../cell-store";
import { columnTaskPayloads, planColumn, type Subject } from "../column-kinds";
import { lockWorkspace } from "../credits";
import type { Filter } from "../filters/language";
import { COLUMN_FIELD_PREFIX, columnOfField, compileRunIf } from "./conditions";
import { dependentsOf, type ListColumn } from "./references";

// The engine's work between requests and tasks: which cells follow from a change (rows added, inputs
// changed, an upstream cell re-run or finished), queued and advanced inside the transaction that made
// the change, and dispatched after it commits, one batch per task whatever the number of cells.
//
//   in the transaction (workspace locked)       after it commits
//   queueFollowOn: queue + hold + advance  →    startReleased: dispatch, record the runs, capture
//   advanceReaders: release what waited    →    startReleased: dispatch, record the runs
//
// A crash in between loses nothing: released cells are pending under a lease (recovery dispatches
// them when it runs out), unreleased ones are advanced by recovery, and holds are captured by it.

/** A column as the engine reads it. */
export type EngineColumn = ListColumn & {
  listId: string;
  workspaceId: string;
  autoRun: boolean;
  runIf: Filter | null;
  maxCredits: number | null;
  refs: Array<{ name: string; columnId: string }>;
  reads: string[];
};

/** The list's columns (both subjects), as the engine reads them: one statement. */
export async function loadEngineColumns(db: Queryable, listId: string): Promise<EngineColumn[]> {
  const found = await db
    .select({
      id: columns.id,
      listId: columns.listId,
      workspaceId: columns.workspaceId,
      name: columns.name,
      subject: columns.subject,
      isPreview: columns.isPreview,
      builtInKey: columns.builtInKey,
      enrichmentType: columns.enrichmentType,
      source: columns.source,
      dependsOn: columns.dependsOn,
      autoRun: columns.autoRun,
      runIf: columns.runIf,
      maxCredits: columns.maxCredits,
      refs: columns.refs,
      reads: columns.reads,
    })
    .from(columns)
    .where(eq(columns.listId, listId))
    .orderBy(columns.position, columns.id);
  return found;
}

/** Whether a column's cells must be advanced before a task may take them: it reads other AI or enrichment columns, or has a condition. */
export const needsAdvancing = (column: Pick<EngineColumn, "dependsOn" | "runIf">) => column.dependsOn.length > 0 || column.runIf !== null;

const creditActionOf = (column: Pick<EngineColumn, "enrichmentType" | "source" | "subject">) => {
  const plan = planColumn(column);
  return plan.kind === "static" ? "UNKNOWN" : plan.creditAction;
};

function advanceColumn(column: EngineColumn): AdvanceColumn {
  return {
    id: column.id,
    dependsOn: column.dependsOn,
    condition: column.runIf ? compileRunIf(column.runIf, column.subject, column.refs) : null,
    creditAction: creditActionOf(column),
  };
}

/** Cells released for tasks, and holds to capture once they are dispatched: what a transaction leaves to start after it commits. */
export type ReleasedWork = { workspaceId: string; released: CellRef[]; holds: string[]; subject: Subject };

export const noWork = (workspaceId: string, subject: Subject): ReleasedWork => ({ workspaceId, released: [], holds: [], subject });

/**
 * After cells of `columnIds` ended for `rowIds` (results, manual values, failures): advances the
 * unreleased cells of the columns that depend on them, directly or not. Call it with the workspace
 * locked; a list with no such columns costs the one statement that loads its columns.
 */
export async function advanceReaders(
  tx: Queryable,
  services: Services,
  input: {
    workspaceId: string;
    listId: string;
    subject: Subject;
    columnIds: readonly string[];
    rowIds: readonly string[] | null;
    listColumns?: readonly EngineColumn[];
    /** false: only advance (a failure ends readers, it releases none); the gathered cells wait for the next flush. */
    take?: boolean;
  },
): Promise<ReleasedWork> {
  const listColumns = input.listColumns ?? (await loadEngineColumns(tx, input.listId));
  const ids = new Set(dependentsOf(input.columnIds, listColumns));
  const readers = listColumns.filter((c) => ids.has(c.id) && c.subject === input.subject);
  if (readers.length === 0) return noWork(input.workspaceId, input.subject);
  // Released cells are gathered and dispatched a batch at a time (takeReleased), not per flush.
  await advanceCells(tx, {
    workspaceId: input.workspaceId,
    listId: input.listId,
    subject: input.subject,
    columns: readers.map(advanceColumn),
    rowIds: input.rowIds,
    leaseMs: services.work.leaseMs,
    gather: true,
  });
  const released = input.take === false ? [] : await takeReleased(tx, input.subject, readers.map((c) => c.id));
  return { workspaceId: input.workspaceId, released, holds: [], subject: input.subject };
}

/**
 * Advances the unreleased cells of `columnIds` themselves (and then of their readers): for cells a
 * request just queued unreleased.
 */
export async function advanceQueued(
  tx: Queryable,
  services: Services,
  input: { workspaceId: string; listId: string; subject: Subject; columnIds: readonly string[]; rowIds: readonly string[] | null; listColumns?: readonly EngineColumn[] },
): Promise<CellRef[]> {
  const listColumns = input.listColumns ?? (await loadEngineColumns(tx, input.listId));
  const ids = new Set([...input.columnIds, ...dependentsOf(input.columnIds, listColumns)]);
  const scope = listColumns.filter((c) => ids.has(c.id) && c.subject === input.subject);
  const { released } = await advanceCells(tx, {
    workspaceId: input.workspaceId,
    listId: input.listId,
    subject: input.subject,
    columns: scope.map(advanceColumn),
    rowIds: input.rowIds,
    leaseMs: services.work.leaseMs,
  });
  return released;
}

/** Which follow-on cells a change asks for: columns by id, for rows; `existingOnly`: only where the column already has a cell (re-runs). */
export type FollowOnTargets = Array<{ columnIds: readonly string[]; rowIds: readonly string[]; existingOnly?: boolean }>;

/**
 * Queues follow-on cells in the caller's transaction (workspace locked): credit-gated cell by cell
 * (enqueueFollowOnCells), then advanced, so those whose inputs are done are released at once.
 */
export async function queueFollowOn(
  tx: Queryable,
  services: Services,
  input: { workspaceId: string; listId: string; subject: Subject; targets: FollowOnTargets; listColumns: readonly EngineColumn[] },
): Promise<ReleasedWork> {
  const byId = new Map(input.listColumns.map((c) => [c.id, c]));
  const pairs: CellRef[] = [];
  const existingOnly: CellRef[] = [];
  for (const target of input.targets) {
    for (const columnId of target.columnIds) {
      const column = byId.get(columnId);
      if (!column || column.subject !== input.subject || column.isPreview || planColumn(column).kind === "static") continue;
      for (const rowId of target.rowIds) (target.existingOnly ? existingOnly : pairs).push({ columnId, rowId });
    }
  }
  if (pairs.length === 0 && existingOnly.length === 0) return noWork(input.workspaceId, input.subject);
  const targets = existingOnly.length > 0 ? [...pairs, ...(await existingCells(tx, input.subject, existingOnly))] : pairs;
  const involved = [...new Set(targets.map((t) => t.columnId))].map((id) => byId.get(id)!);
  const order = cutOrder(input.listColumns);
  const followOn: FollowOnColumn[] = involved.map((column) => {
    const plan = planColumn(column);
    const price = plan.kind === "static" || plan.chargedInTask ? 0 : (services.prices.costOf(plan.creditAction) ?? 0);
    return { id: column.id, price, creditAction: creditActionOf(column), order: order.get(column.id)! };
  });
  const { available } = await lockWorkspace(tx, input.workspaceId);
  const enqueued = await enqueueFollowOnCells(tx, {
    workspaceId: input.workspaceId,
    listId: input.listId,
    subject: input.subject,
    columns: followOn,
    targets,
    available,
    leaseMs: services.work.leaseMs,
  });
  if (enqueued.overBudget + enqueued.overBalance > 0) {
    services.logger.info("follow-on cells not covered", { listId: input.listId, overBudget: enqueued.overBudget, overBalance: enqueued.overBalance });
  }
  const released = await advanceQueued(tx, services, {
    workspaceId: input.workspaceId,
    listId: input.listId,
    subject: input.subject,
    columnIds: involved.map((c) => c.id),
    rowIds: [...new Set(targets.map((t) => t.rowId))],
    listColumns: input.listColumns,
  });
  return { workspaceId: input.workspaceId, released, holds: enqueued.holds.map((h) => h.id), subject: input.subject };
}

/** Columns in the order credits go to them: each after the columns it reads, then by position. */
function cutOrder(listColumns: readonly EngineColumn[]): Map<string, number> {
  const depth = new Map<string, number>();
  const byId = new Map(listColumns.map((c) => [c.id, c]));
  const depthOf = (id: string, seen: Set<string>): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const deps = byId.get(id)?.dependsOn ?? [];
    const value = deps.length === 0 ? 0 : 1 + Math.max(...deps.map((dep) => depthOf(dep, seen)));
    depth.set(id, value);
    return value;
  };
  const sorted = [...listColumns].sort((a, b) => depthOf(a.id, new Set()) - depthOf(b.id, new Set()));
  return new Map(sorted.map((c, index) => [c.id, index]));
}

async function existingCells(tx: Queryable, subject: Subject, wanted: readonly CellRef[]): Promise<CellRef[]> {
  const { cells, rowKey } = SUBJECT_TABLES[subject];
  const found = rowsOf<{ column_id: string; row_id: string }>(
    await tx.execute(sql`
      select c.column_id, c.${rowKey} as row_id from ${cells} c
      join jsonb_to_recordset(${jsonParam(wanted.map((w) => ({ column_id: w.columnId, row_id: w.rowId })))}) as w(column_id uuid, row_id uuid)
        on c.column_id = w.column_id and c.${rowKey} = w.row_id`),
  );
  return found.map((r) => ({ columnId: r.column_id, rowId: r.row_id }));
}

/**
 * After the transaction committed: dispatches the released cells, one batch per task id for all their
 * columns (AI_BATCH_SIZE rows a run), records the runs on the columns, and captures the work's holds.
 * A dispatch that fails ends that task's cells of this work DISPATCH_FAILED (and the unreleased ones
 * under the same holds with them), their credits given back; it never throws.
 */
export async function startReleased(services: Services, works: readonly ReleasedWork[]): Promise<void> {
  for (const work of works) {
    if (work.released.length === 0 && work.holds.length === 0) continue;
    try {
      await startOne(services, work);
    } catch (error) {
      // Recovery finishes what is left: released cells run out their lease, holds are captured by it.
      services.logger.error("starting follow-on work failed", { workspaceId: work.workspaceId, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

async function startOne(services: Services, work: ReleasedWork): Promise<void> {
  const { db, dispatcher, logger } = services;
  const byColumn = new Map<string, string[]>();
  for (const cell of work.released) byColumn.set(cell.columnId, [...(byColumn.get(cell.columnId) ?? []), cell.rowId]);
  const found = byColumn.size > 0 ? await db.select().from(columns).where(sql`${columns.id} in ${uuidSet([...byColumn.keys()])}`) : [];
  const byTask = new Map<string, typeof found>();
  for (const column of found) {
    const plan = planColumn(column);
    if (plan.kind === "static") continue;
    byTask.set(plan.taskId, [...(byTask.get(plan.taskId) ?? []), column]);
  }
  const runIds: Array<{ columnId: string; runIds: string[] }> = [];
  for (const [taskId, group] of byTask) {
    const payloads = group.flatMap((column) => columnTaskPayloads(column.id, byColumn.get(column.id)!));
    try {
      const batch = await dispatcher.batchTrigger(taskId as "sheet-ai-enrich", payloads);
      for (const column of group) runIds.push({ columnId: column.id, runIds: [batch.batchId, ...batch.runIds] });
    } catch (error) {
      if (!(error instanceof DispatchError)) throw error;
      logger.warn("follow-on dispatch failed", { taskId, columns: group.length, cells: payloads.reduce((n, p) => n + p.rowIds.length, 0), error: error.message });
      await db.transaction(async (tx) => {
        await lockWorkspace(tx, work.workspaceId);
        for (const column of group) {
          const { rowKey } = SUBJECT_TABLES[column.subject];
          // The cells of this dispatch, and those of the work still waiting under its holds (released
          // ones another flush dispatched are that dispatch's).
          const ofWork = work.holds.length > 0 ? sql`or (c.hold_id in ${uuidSet(work.holds)} and c.lease_expires_at is null)` : sql``;
          await failOpenCells(
            tx,
            column,
            { where: sql`(c.${rowKey} in ${uuidSet(byColumn.get(column.id)!)} and c.lease_expires_at is not null ${ofWork})` },
            { error: "DISPATCH_FAILED", action: creditActionOf(column) },
          );
        }
        // What read the failed cells fails with them (UPSTREAM_FAILED); nothing is released by a failure.
        await advanceReaders(tx, services, { workspaceId: work.workspaceId, listId: group[0]!.listId, subject: work.subject, columnIds: group.map((c) => c.id), rowIds: null, take: false });
      });
    }
  }
  await recordColumnRuns(db, runIds);
  if (work.holds.length > 0) await captureHolds(db, work.workspaceId, work.holds.map((id) => ({ id, dedupeKey: `hold-capture:${id}` })));
}

/**
 * An upstream column's cells of `rowIds` were queued again (generate, auto-run): the columns that
 * read it, directly or not, run again on those rows — auto-run ones on every such row, the others
 * where they already have a cell.
 */
export async function rerunReaders(
  tx: Queryable,
  services: Services,
  input: { workspaceId: string; listId: string; subject: Subject; columnId: string; rowIds: readonly string[]; listColumns: readonly EngineColumn[] },
): Promise<ReleasedWork> {
  const readers = dependentsOf([input.columnId], input.listColumns);
  if (readers.length === 0) return noWork(input.workspaceId, input.subject);
  const byId = new Map(input.listColumns.map((c) => [c.id, c]));
  return queueFollowOn(tx, services, {
    workspaceId: input.workspaceId,
    listId: input.listId,
    subject: input.subject,
    targets: [
      { columnIds: readers.filter((id) => byId.get(id)!.autoRun), rowIds: input.rowIds },
      { columnIds: readers.filter((id) => !byId.get(id)!.autoRun), rowIds: input.rowIds, existingOnly: true },
    ],
    listColumns: input.listColumns,
  });
}

/** What the column has spent or set aside (src/domain/cell-store/readiness.ts committedCredits). */
export async function committedOf(tx: Queryable, columnId: string): Promise<number> {
  const [row] = rowsOf<{ committed: string | number }>(await tx.execute(sql`select ${committedCredits(sql`${columnId}::uuid`)} as committed`));
  return Number(row?.committed ?? 0);
}

export function budgetExceeded(required: number, balance: number, budgetLeft: number): AppError {
  return new AppError("BUDGET_EXCEEDED", `The column's budget does not cover this: ${required} required, ${budgetLeft} left of its maxCredits`, {
    extra: { required, balance, budgetLeft },
  });
}

/**
 * writeResults, and in the same transaction the advance of the cells that read the cells it ended
 * (released ones come back in `released`, for startReleased once the caller's transaction commits).
 */
export async function writeResultsAdvancing(
  db: Queryable,
  services: Services,
  column: { id: string; subject: Subject; workspaceId: string },
  results: readonly CellResult[],
  refunds: Refunds,
): Promise<FlushOutcome & { released: ReleasedWork | null }> {
  return db.transaction(async (tx) => {
    const outcome = await writeResults(tx, column.subject, column.id, results, refunds);
    const released =
      outcome.hasReaders && outcome.listId && outcome.rowIds.length > 0
        ? await advanceReaders(tx, services, { workspaceId: column.workspaceId, listId: outcome.listId, subject: column.subject, columnIds: [column.id], rowIds: outcome.rowIds })
        : null;
    return { ...outcome, released };
  });
}

/** What a write did to a list's rows, as the engine needs to know it. */
export type RowChange = {
  listId: string;
  added?: { person?: readonly string[]; company?: readonly string[] };
  /** Rows whose fields changed, with the fields (filter-language names) that did. */
  changed?: ReadonlyArray<{ subject: Subject; rowId: string; fields: readonly string[] }>;
};

/**
 * The engine's side of a write that adds or changes rows: `begin` in the write's transaction before
 * any other lock (when a list has auto-run columns it locks the workspace first, the order every
 * credit path takes), `rowsChanged` once the rows are written (queues the follow-on cells in the same
 * transaction: rows always land, their cells are credit-gated), `start` after it commits. A list
 * without auto-run columns costs one statement.
 */
export type RowEngine = {
  begin(tx: Queryable, workspaceId: string, listIds: readonly string[]): Promise<void>;
  rowsChanged(tx: Queryable, change: RowChange): Promise<void>;
  start(): Promise<void>;
};

/** Whether the column reads one of `fields`: row fields by name, other columns as `column:<id>`. */
function readsAny(column: EngineColumn, fields: readonly string[]): boolean {
  return fields.some((field) => {
    const columnId = columnOfField(field);
    return columnId === null ? column.reads.includes(field) : column.refs.some((ref) => ref.columnId === columnId);
  });
}

export function rowEngine(services: Services): RowEngine {
  let workspaceId = "";
  let columnsOf = new Map<string, EngineColumn[]>();
  let works: ReleasedWork[] = [];
  return {
    async begin(tx, workspace, listIds) {
      workspaceId = workspace;
      works = [];
      columnsOf = new Map();
      if (listIds.length === 0) return;
      const found = await tx.select({ listId: columns.listId, id: columns.id }).from(columns).where(sql`${columns.listId} in ${uuidSet(listIds)} and ${columns.autoRun}`);
      if (found.length === 0) return;
      await lockWorkspace(tx, workspaceId);
      for (const listId of new Set(found.map((c) => c.listId))) columnsOf.set(listId, await loadEngineColumns(tx, listId));
    },
    async rowsChanged(tx, change) {
      const listColumns = columnsOf.get(change.listId);
      if (!listColumns) return;
      const autoRun = listColumns.filter((c) => c.autoRun && !c.isPreview);
      for (const subject of ["person", "company"] as const) {
        const added = change.added?.[subject] ?? [];
        const ofSubject = autoRun.filter((c) => c.subject === subject);
        const targets: FollowOnTargets = [];
        if (added.length > 0) targets.push({ columnIds: ofSubject.map((c) => c.id), rowIds: added });
        for (const changed of change.changed ?? []) {
          if (changed.subject !== subject) continue;
          const readers = ofSubject.filter((c) => readsAny(c, changed.fields)).map((c) => c.id);
          if (readers.length === 0) continue;
          // The columns that read those re-run with them: auto-run ones on the row, the others where they have a cell.
          const downstream = dependentsOf(readers, listColumns);
          const autoRunIds = new Set(autoRun.map((c) => c.id));
          targets.push({ columnIds: [...readers, ...downstream.filter((id) => autoRunIds.has(id))], rowIds: [changed.rowId] });
          targets.push({ columnIds: downstream.filter((id) => !autoRunIds.has(id)), rowIds: [changed.rowId], existingOnly: true });
        }
        if (targets.length === 0) continue;
        works.push(await queueFollowOn(tx, services, { workspaceId, listId: change.listId, subject, targets, listColumns }));
      }
    },
    async start() {
      const started = works;
      works = [];
      await startReleased(services, started);
    },
  };
}

/**
 * A manual value landed in a cell other columns read: the cells that waited for it advance, and the
 * auto-run columns that read it run again on its row. In its own transaction after the write (which
 * stays one statement); should the process die in between, the waiting cells are advanced by
 * recovery, and only the re-run of the auto-run readers is not made.
 */
export async function followManualValue(services: Services, input: { workspaceId: string; listId: string; subject: Subject; columnId: string; rowId: string }): Promise<void> {
  const engine = rowEngine(services);
  const released = await services.db.transaction(async (tx) => {
    await lockWorkspace(tx, input.workspaceId);
    await engine.begin(tx, input.workspaceId, [input.listId]);
    const work = await advanceReaders(tx, services, { ...input, columnIds: [input.columnId], rowIds: [input.rowId] });
    await engine.rowsChanged(tx, { listId: input.listId, changed: [{ subject: input.subject, rowId: input.rowId, fields: [`${COLUMN_FIELD_PREFIX}${input.columnId}`] }] });
    return work;
  });
  await startReleased(services, [released]);
  await engine.start();
}
