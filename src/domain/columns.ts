import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Queryable, type Tx } from "../db/client";
import { uuidSet } from "../db/sql";
import { columns, lists, type CellAttempt, type CellAttempts } from "../db/schema";
import { DispatchError, type BatchTriggerResult } from "../dispatch/types";
import { AppError } from "../errors";
import type { createColumnBody, updateColumnBody } from "../routes/columns/schemas";
import type { Services } from "../services";
import { captureHold, columnViews, failOpenCells, recordColumnRuns, queueCells, queueCellsOfNewColumn, releaseHold, selectRowsToQueue, settleDoomedCells, SUBJECT_TABLES, type RowScope } from "./cell-store";
import { columnTaskPayloads, creditActionsOf, planColumn, TYPED_KINDS, type ColumnPlan, type ColumnSource, type Subject } from "./column-kinds";
import { isUniqueViolation, lockWorkspace, priceOf } from "./credits";
import { requireList } from "./lists";
import { providerKindOf, requireColumnProviders, requireConfiguredProvider } from "./provider-guard";
import { inferSchema } from "./schema-inference";
import { waterfallGatePrice } from "./waterfall/steps";
import { engineFieldsOf } from "./engine/define";
import { advanceQueued, advanceReaders, budgetExceeded, committedOf, loadEngineColumns, needsAdvancing, rerunReaders, startReleased } from "./engine/work";
import { attemptsOf, waitingOf, webSourcesOf, type CellSource, type columnView } from "./views";

export type ColumnRecord = typeof columns.$inferSelect;
export type ColumnView = ReturnType<typeof columnView>;

/** A preview column enriches this many rows, the first by position. */
export const PREVIEW_ROW_COUNT = 3;
/** News columns look this far back unless the caller says otherwise. */
export const DEFAULT_NEWS_TIME_PERIOD = "3m";

export const TIME_PERIODS = ["1m", "3m", "6m", "1y", "all"] as const;

export type NewColumn = z.output<typeof createColumnBody>;

type ColumnDefinition = Omit<typeof columns.$inferInsert, "listId" | "workspaceId" | "position">;

/**
 * What a creation request stores, by kind: typed (an enrichmentType), AI (dynamic with a prompt) or
 * static. Pure; a typed column on a subject its kind does not serve is a SUBJECT_MISMATCH.
 */
export function defineColumn(input: NewColumn): ColumnDefinition {
  const base = { name: input.name, subject: input.subject, isPreview: input.isPreview, config: { ...input.config } };
  if (input.enrichmentType) {
    const kind = TYPED_KINDS[input.enrichmentType];
    if (!kind.subjects.includes(input.subject)) {
      throw new AppError(
        "SUBJECT_MISMATCH",
        `A ${input.enrichmentType} column needs subject ${kind.subjects.join(" or ")}, not ${input.subject}`,
        { extra: { allowedSubjects: [...kind.subjects] } },
      );
    }
    const config = input.enrichmentType === "news_articles" ? { timePeriod: DEFAULT_NEWS_TIME_PERIOD, ...input.config } : base.config;
    return {
      ...base,
      config,
      prompt: null,
      source: "profile",
      isDynamic: true,
      schema: input.schema ?? kind.schema,
      enrichmentType: input.enrichmentType,
      category: "enrichment",
    };
  }
  if (input.isDynamic) {
    // The route's validation guarantees the prompt of a dynamic column without a type.
    const prompt = input.prompt!.trim();
    return {
      ...base,
      prompt,
      source: input.dataSource === "profile" ? "reasoning" : "web",
      isDynamic: true,
      schema: input.schema ?? inferSchema(prompt),
      enrichmentType: null,
      category: "custom",
    };
  }
  return {
    ...base,
    prompt: null,
    source: "profile",
    isDynamic: false,
    schema: input.schema ?? { type: "text" },
    enrichmentType: null,
    category: "custom",
  };
}

export type QueueOutcome = { column: ColumnRecord; queuedRowIds: string[]; dispatch: BatchTriggerResult | null };

/**
 * The one path that puts rows of a column to work, for creation, promotion and generation, in three
 * steps so that no transaction holds a lock while Trigger.dev is called:
 *
 *  1. One transaction under the workspace lock: price the rows of `scope` (a row whose open cell
 *     already carries credits is not priced again), answer 402 when what the workspace may spend
 *     does not cover them (nothing written), let `write` create or update the column, and queue the
 *     cells as pending under a lease, holding their credits.
 *  2. Dispatch the column's task once for all of them (batches of AI_BATCH_SIZE rows).
 *  3. Success: capture the held credits into one charge and record the dispatch's run ids.
 *     Failure: the queued cells end failed with DISPATCH_FAILED, their held credits are released
 *     (nothing was charged), and the answer is 500 DISPATCH_FAILED.
 *
 * A crash between the steps leaves pending cells under a lease (and held credits), which recovery
 * dispatches and captures once the lease runs out: nothing is lost, nothing charged twice.
 */
export async function queueColumnWork(
  services: Services,
  input: {
    workspaceId: string;
    listId: string;
    subject: Subject;
    /** How the column is filled; a static column queues nothing. */
    plan: ColumnPlan;
    scope: RowScope;
    /** The column's id when it exists already (promotion, generation): its open cells may carry credits over. */
    columnId?: string;
    /** Writes (or re-reads) the column once the credit check has passed; throws to abort. */
    write: (tx: Tx) => Promise<ColumnRecord>;
    /** The column's budget as it will be once written (null: none). */
    maxCredits: number | null;
    /** Its cells wait for their row's inputs or condition before a task may take them. */
    advancing: boolean;
    /** What a row is priced at when it is not the plan's action (a waterfall: its cheapest match). */
    unitPrice?: number | null;
    /** Settles `maxCredits` and `advancing` under the workspace lock, before anything is checked or written; throws to abort. */
    prepare?: (tx: Tx) => Promise<{ maxCredits: number | null; advancing: boolean }>;
  },
): Promise<QueueOutcome> {
  const { db, dispatcher, prices, logger, work } = services;
  const { plan } = input;
  const price = plan.kind === "static" ? 0 : (input.unitPrice ?? priceOf(prices, plan.creditAction, 1).costPerUnit);
  const chargedAtDispatch = plan.kind !== "static" && !plan.chargedInTask;

  const { column, rowIds, queuedIds, tokens, hold, followOn } = await db.transaction(async (tx) => {
    const { available } = await lockWorkspace(tx, input.workspaceId);
    const { maxCredits, advancing } = input.prepare ? await input.prepare(tx) : input;
    const rows = plan.kind === "static" ? [] : await selectRowsToQueue(tx, input.listId, input.subject, input.columnId ?? null, input.scope);
    // Contact columns are charged in the task, per row sent; the gate still asks for all of them.
    const priced = chargedAtDispatch ? rows.filter((row) => !row.carried).length : rows.length;
    const required = price * priced;
    if (required > available) throw AppError.insufficientCredits(required, available);
    if (maxCredits !== null && required > 0) {
      const budgetLeft = Math.max(0, maxCredits - (input.columnId ? await committedOf(tx, input.columnId) : 0));
      if (required > budgetLeft) throw budgetExceeded(required, available, budgetLeft);
    }

    const column = await input.write(tx);
    const none = { column, rowIds: [] as string[], queuedIds: [] as string[], tokens: null, hold: null, followOn: null };
    if (plan.kind === "static" || rows.length === 0) return none;
    const options = { hold: chargedAtDispatch && price > 0 ? { price, action: plan.creditAction } : null, leaseMs: work.leaseMs, unreleased: advancing };
    const ids = rows.map((row) => row.rowId);
    let queuedIds: string[];
    let tokens: string[] | null = null;
    let hold: { id: string; amount: number } | null;
    if (!input.columnId) {
      // A column created right here has no cells to carry over: the plain insert. Rows cannot
      // vanish meanwhile (deleting rows takes the workspace lock held here), so the cells queued are
      // those of `ids`; a failed dispatch finds them by their hold, or by their rows.
      const fresh = await queueCellsOfNewColumn(tx, column, ids, options);
      queuedIds = fresh.count > 0 ? ids : [];
      hold = fresh.hold;
    } else {
      const queued = await queueCells(tx, column, ids, options);
      queuedIds = queued.queued.map((cell) => cell.rowId);
      tokens = queued.queued.map((cell) => cell.runToken);
      hold = queued.hold;
    }
    const listColumns = advancing || input.columnId ? await loadEngineColumns(tx, input.listId) : [];
    // Cells that wait for their inputs (or whose condition does not hold) are not dispatched now.
    let dispatchIds = queuedIds;
    if (advancing && queuedIds.length > 0) {
      const released = await advanceQueued(tx, services, {
        workspaceId: input.workspaceId,
        listId: input.listId,
        subject: input.subject,
        columnIds: [column.id],
        rowIds: input.columnId ? queuedIds : null,
        listColumns,
      });
      const releasedHere = new Set(released.filter((cell) => cell.columnId === column.id).map((cell) => cell.rowId));
      dispatchIds = queuedIds.filter((id) => releasedHere.has(id));
    }
    // Re-running an existing column's cells re-runs the columns that read it, on those rows.
    const followOn = input.columnId && queuedIds.length > 0 ? await rerunReaders(tx, services, { workspaceId: input.workspaceId, listId: input.listId, subject: input.subject, columnId: column.id, rowIds: queuedIds, listColumns }) : null;
    return { column, rowIds: dispatchIds, queuedIds, tokens, hold, followOn };
  });
  if (plan.kind === "static" || queuedIds.length === 0) return { column, queuedRowIds: [], dispatch: null };

  let batch: BatchTriggerResult | null = null;
  if (rowIds.length > 0) {
    try {
      batch = await dispatcher.batchTrigger(plan.taskId, columnTaskPayloads(column.id, rowIds));
    } catch (error) {
      await db.transaction(async (tx) => {
        await lockWorkspace(tx, input.workspaceId);
        // A cell moved meanwhile to a re-queue's hold (a generate racing this dispatch) is that
        // request's to settle, so a new column's cells are found by this hold, not by column.
        const queuedHere = tokens
          ? { runTokens: tokens }
          : { where: hold ? sql`c.hold_id = ${hold.id}` : sql`c.${SUBJECT_TABLES[column.subject].rowKey} in ${uuidSet(rowIds)}` };
        await failOpenCells(tx, column, queuedHere, { error: "DISPATCH_FAILED", action: plan.creditAction });
        if (hold) await releaseHold(tx, input.workspaceId, hold.id);
        // What read these cells ends with them (UPSTREAM_FAILED), its credits given back.
        await advanceReaders(tx, services, { workspaceId: input.workspaceId, listId: input.listId, subject: input.subject, columnIds: [column.id], rowIds: null, take: false });
      });
      if (followOn) await startReleased(services, [{ ...followOn, released: [] }]);
      if (!(error instanceof DispatchError)) throw error;
      logger.warn("column dispatch failed", { columnId: column.id, rows: rowIds.length, error: error.message });
      throw new AppError("DISPATCH_FAILED", "The enrichment task could not be dispatched; the cells were marked failed", { status: 500 });
    }
  }

  // The dispatch went through (or nothing was ready to dispatch yet: the cells that wait are
  // released to tasks as their inputs finish): the hold becomes the charge (also when the column was
  // deleted meanwhile: what its tasks delivered before that stays paid for; what they did not was released).
  if (hold) await captureHold(db, input.workspaceId, hold.id, batch ? `column-dispatch:${batch.batchId}` : `hold-capture:${hold.id}`);
  if (followOn) await startReleased(services, [followOn]);
  if (!batch) return { column, queuedRowIds: queuedIds, dispatch: null };
  const recorded = (await recordColumnRuns(db, [{ columnId: column.id, runIds: [batch.batchId, ...batch.runIds] }])).has(column.id);
  // Deleted while it was being dispatched: its cells are gone (and settled), so its runs have nothing to do.
  if (!recorded) await dispatcher.cancel([batch.batchId, ...batch.runIds]);
  return { column, queuedRowIds: queuedIds, dispatch: batch };
}

const duplicateHiringStatus = () =>
  new AppError("DUPLICATE_HIRING_STATUS", "This list already has a hiring_status column; a list can have only one");

export async function createColumn(services: Services, workspaceId: string, listId: string, input: NewColumn): Promise<ColumnView> {
  const { db } = services;
  const [found] = rowsOf<{ has_hiring_status: boolean }>(
    await db.execute(sql`
      select exists (select 1 from list_columns c where c.list_id = l.id and c.enrichment_type = 'hiring_status') as has_hiring_status
      from lists l where l.id = ${listId} and l.workspace_id = ${workspaceId}`),
  );
  if (!found) throw AppError.notFound("List");
  const definition = defineColumn(input);
  requireColumnProviders(services, definition);
  if (definition.enrichmentType === "hiring_status" && found.has_hiring_status) throw duplicateHiringStatus();

  const plan = planColumn({
    enrichmentType: definition.enrichmentType ?? null,
    source: definition.source as ColumnSource,
    subject: input.subject,
  });
  const engine = await engineFieldsOf(services.db, {
    listId,
    self: { id: null, name: definition.name, subject: input.subject },
    prompt: definition.prompt ?? null,
    fills: plan.kind !== "static",
    given: { autoRun: input.autoRun, runIf: input.runIf, maxCredits: input.maxCredits },
  });
  try {
    const { column } = await queueColumnWork(services, {
      workspaceId,
      listId,
      subject: input.subject,
      plan,
      scope: input.isPreview ? { kind: "preview", count: PREVIEW_ROW_COUNT } : { kind: "all" },
      unitPrice: waterfallGatePrice(services, definition),
      maxCredits: engine.maxCredits,
      advancing: needsAdvancing(engine),
      write: async (tx) => {
        const [column] = await tx
          .insert(columns)
          .values({
            ...definition,
            ...engine,
            listId,
            workspaceId,
            position: sql`(select coalesce(max(position), -1) + 1 from list_columns where list_id = ${listId} and subject = ${input.subject})`,
          })
          .returning();
        return column!;
      },
    });
    return await columnViewOf(services.db, column);
  } catch (error) {
    // Two creations raced past the check above; list_columns_one_hiring_status let one through (the
    // only unique index a new hiring_status column can hit: its id is fresh and it has no built-in key).
    if (definition.enrichmentType === "hiring_status" && isUniqueViolation(error)) throw duplicateHiringStatus();
    throw error;
  }
}

/** The caller's list's column, or 404 naming the list (unknown or foreign) or the column (unknown, or of another list). */
export async function requireColumn(db: Queryable, workspaceId: string, listId: string, columnId: string): Promise<ColumnRecord> {
  const [found] = await db
    .select({ listId: lists.id, column: columns })
    .from(lists)
    .leftJoin(columns, and(eq(columns.listId, lists.id), eq(columns.id, columnId)))
    .where(and(eq(lists.id, listId), eq(lists.workspaceId, workspaceId)));
  if (!found) throw AppError.notFound("List");
  if (!found.column) throw AppError.notFound("Column");
  return found.column;
}

/** One column as the API shows it, with its progress and credits. */
export async function columnViewOf(db: Queryable, column: ColumnRecord): Promise<ColumnView> {
  const [view] = await columnViews(db, [column]);
  return view!;
}

/** GET /api/lists/{id}/columns/{colId}: the caller's column, previews included, with its progress. */
export async function getColumn(db: Queryable, workspaceId: string, listId: string, columnId: string): Promise<ColumnView> {
  return columnViewOf(db, await requireColumn(db, workspaceId, listId, columnId));
}

export async function listColumns(db: Queryable, workspaceId: string, listId: string, subject: Subject | undefined): Promise<ColumnView[]> {
  await requireList(db, workspaceId, listId);
  const found = await db
    .select()
    .from(columns)
    .where(and(eq(columns.listId, listId), eq(columns.isPreview, false), subject ? eq(columns.subject, subject) : undefined))
    // Without a subject filter, person columns come first, each subject by position.
    .orderBy(sql`${columns.subject} = 'company'`, asc(columns.position), asc(columns.id));
  return columnViews(db, found);
}

export type ColumnPatch = z.output<typeof updateColumnBody>;

/** Renames, flags or moves a column; `isPreview: false` on a preview column promotes it (credit-gated, queues the uncovered rows). */
export async function updateColumn(
  services: Services,
  workspaceId: string,
  listId: string,
  columnId: string,
  patch: ColumnPatch,
): Promise<ColumnView> {
  const { db, clock } = services;
  const current = await requireColumn(db, workspaceId, listId, columnId);
  const changes: Partial<typeof columns.$inferInsert> = { updatedAt: clock.now() };
  if (patch.name !== undefined) changes.name = patch.name;
  if (patch.isFilter !== undefined) changes.isFilter = patch.isFilter;
  if (patch.position !== undefined) changes.position = patch.position;
  if (patch.isPreview === false) changes.isPreview = false;
  // The engine's settings are resolved and written under the workspace lock, as every column
  // write that can add a dependency, so that two changes cannot each pass the loop check against the other.
  const engineChange = patch.autoRun !== undefined || patch.runIf !== undefined || patch.maxCredits !== undefined;
  const resolveEngine = async (tx: Queryable) => {
    const locked = await requireColumn(tx, workspaceId, listId, columnId);
    const engine = await engineFieldsOf(tx, {
      listId,
      self: { id: locked.id, name: patch.name ?? locked.name, subject: locked.subject },
      prompt: locked.prompt,
      fills: planColumn(locked).kind !== "static",
      given: { autoRun: patch.autoRun, runIf: patch.runIf, maxCredits: patch.maxCredits },
      current: { autoRun: locked.autoRun, runIf: locked.runIf, maxCredits: locked.maxCredits, refs: locked.refs },
    });
    Object.assign(changes, engine);
    return engine;
  };

  const write = async (tx: Queryable) => {
    const [column] = await tx.update(columns).set(changes).where(and(eq(columns.id, columnId), eq(columns.listId, listId))).returning();
    if (!column) throw AppError.notFound("Column");
    return column;
  };

  const promoting = patch.isPreview === false && current.isPreview;
  if (promoting) requireColumnProviders(services, current);
  if (!promoting) {
    if (!engineChange) return columnViewOf(db, await write(db));
    const column = await db.transaction(async (tx) => {
      await lockWorkspace(tx, workspaceId);
      await resolveEngine(tx);
      return write(tx);
    });
    return columnViewOf(db, column);
  }
  const { column } = await queueColumnWork(services, {
    workspaceId,
    listId,
    subject: current.subject,
    plan: planColumn(current),
    scope: { kind: "uncovered", columnId },
    columnId,
    unitPrice: waterfallGatePrice(services, current),
    write,
    maxCredits: current.maxCredits,
    advancing: needsAdvancing(current),
    prepare: engineChange
      ? async (tx) => {
          const engine = await resolveEngine(tx);
          return { maxCredits: engine.maxCredits, advancing: needsAdvancing(engine) };
        }
      : undefined,
  });
  return columnViewOf(db, column);
}

/** Stops what is still running for deleted columns; best effort, the tasks also check that their column exists. */
async function cancelColumnRuns(services: Services, runIdLists: ReadonlyArray<readonly string[]>): Promise<void> {
  const ids = runIdLists.flat();
  if (ids.length === 0) return;
  const result = await services.dispatcher.cancel(ids);
  if (result.failed.length > 0) services.logger.warn("column run cancellation incomplete", { failed: result.failed });
}

/**
 * Deletes the workspace's columns that match `filter` (their cells cascade), returning the credits
 * of every open cell first: held ones released, paid ones refunded under the cell's `cell-refund:`
 * key, the one the task would use, so a cell is never refunded twice. Under the workspace lock,
 * then the columns', then the cells', the order every writer takes. Then the columns' runs are
 * cancelled: deleted first, cancelled after, so a task that wakes up in between finds no column and
 * stops. A constant number of statements for any number of columns and cells.
 */
export async function deleteColumnsRefundingUnfinished(services: Services, workspaceId: string, filter: SQL): Promise<number> {
  const { db } = services;
  const runIds = await db.transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const doomed = await tx
      .select()
      .from(columns)
      .where(and(eq(columns.workspaceId, workspaceId), filter))
      .orderBy(columns.id)
      .for("update");
    if (doomed.length === 0) return null;
    const ids = uuidSet(doomed.map((c) => c.id));
    await settleDoomedCells(tx, workspaceId, { person: sql`c.column_id in ${ids}`, company: sql`c.column_id in ${ids}` }, creditActionsOf(doomed), "Refund: column deleted before the cell was filled");
    await tx.delete(columns).where(sql`${columns.id} in ${ids}`);
    return doomed.map((c) => c.triggerRunIds);
  });
  if (!runIds) return 0;
  await cancelColumnRuns(services, runIds);
  return runIds.length;
}

export async function deleteColumn(services: Services, workspaceId: string, listId: string, columnId: string): Promise<void> {
  const column = await requireColumn(services.db, workspaceId, listId, columnId);
  if (column.builtInKey) {
    // Built-in columns mirror the row's own fields and no route can create them again.
    throw AppError.validation([{ path: "colId", message: `Built-in column "${column.name}" cannot be deleted` }]);
  }
  const readers = (await loadEngineColumns(services.db, listId)).filter((c) => c.refs.some((ref) => ref.columnId === columnId));
  if (readers.length > 0) {
    // Deleting it would leave their prompts or conditions reading nothing (and their waiting cells waiting).
    throw new AppError("CONFLICT", `Column "${column.name}" is read by ${readers.map((c) => `"${c.name}"`).join(", ")}; change or delete those first`, {
      extra: { readers: readers.map((c) => ({ id: c.id, name: c.name })) },
    });
  }
  const deleted = await deleteColumnsRefundingUnfinished(services, workspaceId, and(eq(columns.id, columnId), eq(columns.listId, listId))!);
  if (deleted === 0) throw AppError.notFound("Column");
}

export async function deletePreviewColumns(services: Services, workspaceId: string, listId: string): Promise<void> {
  await requireList(services.db, workspaceId, listId);
  await deleteColumnsRefundingUnfinished(services, workspaceId, and(eq(columns.listId, listId), eq(columns.isPreview, true))!);
}

export type PreviewCell = { rowId: string; name: string | null; value: unknown; status: string; error: string | null; sources?: CellSource[]; attempts?: CellAttempt[]; waitingOn?: string[] };

/** The column's cells with a display name for their row, by row position. */
export async function previewCells(db: Queryable, workspaceId: string, listId: string, columnId: string): Promise<PreviewCell[]> {
  const column = await requireColumn(db, workspaceId, listId, columnId);
  const t = SUBJECT_TABLES[column.subject];
  const name =
    column.subject === "person"
      ? sql`coalesce(r.full_name, nullif(concat_ws(' ', r.first_name, r.last_name), ''))`
      : sql`r.name`;
  const cells = rowsOf<{ row_id: string; name: string | null; value: unknown; status: string; error: string | null; metadata: Record<string, unknown>; waiting_on: string[]; run_token: string | null; attempts: CellAttempts | null }>(
    await db.execute(sql`
      select r.id as row_id, ${name} as name, c.value, c.status, c.error, c.metadata, to_json(c.waiting_on) as waiting_on, c.run_token, c.attempts
      from ${t.cells} c join ${t.rows} r on r.id = c.${t.rowKey}
      where c.column_id = ${column.id}
      order by r.position`),
  );
  return cells.map((c) => {
    const sources = webSourcesOf(column, c);
    return { rowId: c.row_id, name: c.name, value: c.value ?? null, status: c.status, error: c.error, ...(sources ? { sources } : {}), ...attemptsOf({ runToken: c.run_token, attempts: c.attempts }), ...waitingOf({ status: c.status, waitingOn: c.waiting_on }) };
  });
}

/**
 * Re-runs an AI column on chosen rows (seed 000). Ids that are not rows of the list and the column's
 * subject are skipped; with none left nothing is dispatched and `taskId` is null.
 */
export async function generateCells(
  services: Services,
  workspaceId: string,
  listId: string,
  columnId: string,
  rowIds: readonly string[],
): Promise<{ taskId: string | null; rowCount: number }> {
  const column = await requireColumn(services.db, workspaceId, listId, columnId);
  if (column.source !== "web" && column.source !== "reasoning") {
    throw new AppError("NOT_AN_AI_COLUMN", `Column "${column.name}" is not an AI column (source ${column.source}); only web and reasoning columns can generate values`);
  }
  requireConfiguredProvider(services.providers, providerKindOf(column));
  const { queuedRowIds, dispatch } = await queueColumnWork(services, {
    workspaceId,
    listId,
    subject: column.subject,
    plan: planColumn(column),
    scope: { kind: "ids", rowIds },
    columnId,
    maxCredits: column.maxCredits,
    advancing: needsAdvancing({ dependsOn: column.dependsOn, runIf: column.runIf }),
    write: async (tx) => {
      const [current] = await tx.select().from(columns).where(eq(columns.id, columnId));
      if (!current) throw AppError.notFound("Column");
      return current;
    },
  });
  // Trigger.dev may not have created the batch's runs yet; the batch id then stands for them.
  return { taskId: dispatch ? (dispatch.runIds[0] ?? dispatch.batchId) : null, rowCount: queuedRowIds.length };
}
