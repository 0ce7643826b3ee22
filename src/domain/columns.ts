import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable, type Tx } from "../db/client";
import { jsonParam, uuidArray } from "../db/sql";
import { columns, lists, type ColumnSchema } from "../db/schema";
import { DispatchError, type BatchTriggerResult } from "../dispatch/types";
import { AppError } from "../errors";
import type { Services } from "../services";
import { holdColumnForDispatch } from "./column-lock";
import { AI_BATCH_SIZE, planColumn, TYPED_KINDS, type ColumnPlan, type ColumnSource, type EnrichmentType, type Subject } from "./column-kinds";
import { chargeCredits, isUniqueViolation, priceOf, refundManyCtes } from "./credits";
import { requireList } from "./lists";
import { inferSchema } from "./schema-inference";
import { columnView } from "./views";

export type ColumnRecord = typeof columns.$inferSelect;
export type ColumnView = ReturnType<typeof columnView>;

/** A preview column enriches this many rows, the first by position. */
export const PREVIEW_ROW_COUNT = 3;
/** News columns look this far back unless the caller says otherwise. */
export const DEFAULT_NEWS_TIME_PERIOD = "3m";

export const TIME_PERIODS = ["1m", "3m", "6m", "1y", "all"] as const;
export type ColumnConfig = { timePeriod?: (typeof TIME_PERIODS)[number] };

export type NewColumn = {
  name: string;
  isDynamic: boolean;
  prompt?: string | null;
  subject: Subject;
  dataSource?: "web" | "profile";
  enrichmentType?: EnrichmentType;
  schema?: ColumnSchema;
  config?: ColumnConfig;
  isPreview: boolean;
};

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

// Raw SQL names per subject: the row table, the cell table and the cell's row key.
const SUBJECT_TABLES = {
  person: { rows: sql.raw("list_rows"), cells: sql.raw("list_cells"), rowKey: sql.raw("row_id") },
  company: { rows: sql.raw("list_company_rows"), cells: sql.raw("list_company_cells"), rowKey: sql.raw("company_row_id") },
} as const satisfies Record<Subject, { rows: SQL; cells: SQL; rowKey: SQL }>;

/** Which rows of the column's subject a request queues. */
export type RowScope =
  | { kind: "all" }
  | { kind: "preview" }
  /** Rows the column has no cell for: what a promoted preview still has to enrich. */
  | { kind: "uncovered"; columnId: string }
  /** Chosen rows; ids that are not rows of the list and subject drop out. */
  | { kind: "ids"; rowIds: readonly string[] };

async function selectRowIds(tx: Queryable, listId: string, subject: Subject, scope: RowScope): Promise<string[]> {
  const t = SUBJECT_TABLES[subject];
  const condition =
    scope.kind === "uncovered"
      ? sql`and not exists (select 1 from ${t.cells} c where c.column_id = ${scope.columnId} and c.${t.rowKey} = r.id)`
      : scope.kind === "ids"
        ? sql`and r.id = any(${uuidArray(scope.rowIds)})`
        : sql``;
  const limit = scope.kind === "preview" ? sql`limit ${PREVIEW_ROW_COUNT}` : sql``;
  const rows = rowsOf<{ id: string }>(
    await tx.execute(sql`select r.id from ${t.rows} r where r.list_id = ${listId} ${condition} order by r.position ${limit}`),
  );
  return rows.map((r) => r.id);
}

/**
 * Upserts the cells of the given rows to pending, clearing what an earlier enrichment left, with a
 * fresh run token each. Returns the rows actually queued, in the given order (a row deleted
 * meanwhile drops out).
 */
async function queuePendingCells(tx: Queryable, column: ColumnRecord, rowIds: readonly string[]): Promise<string[]> {
  const t = SUBJECT_TABLES[column.subject];
  const queued = rowsOf<{ row_id: string }>(
    await tx.execute(sql`
      insert into ${t.cells} (list_id, column_id, ${t.rowKey}, value, status, reasoning, error, metadata, run_token)
      select r.list_id, ${column.id}, r.id, null, 'pending', null, null, '{}'::jsonb, uuid_generate_v7()
      from ${t.rows} r
      where r.list_id = ${column.listId} and r.id = any(${uuidArray(rowIds)})
      on conflict (column_id, ${t.rowKey}) do update
        set value = null, status = 'pending', reasoning = null, error = null, metadata = '{}'::jsonb,
            run_token = excluded.run_token, updated_at = now()
      returning ${t.rowKey} as row_id`),
  );
  const present = new Set(queued.map((r) => r.row_id));
  return rowIds.filter((id) => present.has(id));
}

async function failPendingCells(tx: Queryable, column: ColumnRecord, rowIds: readonly string[]): Promise<void> {
  const t = SUBJECT_TABLES[column.subject];
  await tx.execute(sql`
    update ${t.cells} set status = 'failed', error = 'DISPATCH_FAILED', updated_at = now()
    where column_id = ${column.id} and ${t.rowKey} = any(${uuidArray(rowIds)}) and status = 'pending'`);
}

/** The workspace's balance, its row locked until the transaction ends: credit-gated requests of one workspace queue here. */
async function lockWorkspace(tx: Queryable, workspaceId: string): Promise<number> {
  const [row] = rowsOf<{ credit_balance: string | number }>(
    await tx.execute(sql`select credit_balance from workspaces where id = ${workspaceId} for update`),
  );
  if (!row) throw AppError.notFound("Workspace");
  return Number(row.credit_balance);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

export type QueueOutcome = { column: ColumnRecord; queuedRowIds: string[]; dispatch: BatchTriggerResult | null };

/**
 * The one path that puts rows of a column to work, for creation, promotion and generation. In one
 * transaction, under the workspace's row lock: price the rows of `scope` and answer 402 when the
 * balance does not cover them (nothing written), let `write` create or update the column, queue the
 * cells as pending, dispatch the column's task once for all of them (batches of AI_BATCH_SIZE rows),
 * append the dispatch's ids to the column's trigger_run_ids, and charge (unless the task charges).
 * A failed dispatch charges nothing, leaves the queued cells failed with DISPATCH_FAILED, commits
 * that, and then answers 500 DISPATCH_FAILED.
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
    /** Writes (or re-reads) the column once the credit check has passed; throws to abort. */
    write: (tx: Tx) => Promise<ColumnRecord>;
  },
): Promise<QueueOutcome> {
  const { db, dispatcher, prices, logger } = services;
  const { plan } = input;
  // Outside the transaction, so runs it started can be cancelled if it does not commit.
  let dispatched: BatchTriggerResult | undefined;

  let outcome: QueueOutcome & { failure?: DispatchError };
  try {
    outcome = await db.transaction(async (tx) => {
      const balance = await lockWorkspace(tx, input.workspaceId);
      const rowIds = plan.kind === "static" ? [] : await selectRowIds(tx, input.listId, input.subject, input.scope);
      const costPerUnit = plan.kind === "static" || rowIds.length === 0 ? 0 : priceOf(prices, plan.creditAction, 1).costPerUnit;
      const required = costPerUnit * rowIds.length;
      if (required > balance) throw AppError.insufficientCredits(required, balance);

      const column = await input.write(tx);
      if (plan.kind === "static" || rowIds.length === 0) return { column, queuedRowIds: [], dispatch: null };

      await holdColumnForDispatch(tx, column.id);
      const queued = await queuePendingCells(tx, column, rowIds);
      if (queued.length === 0) return { column, queuedRowIds: [], dispatch: null };

      let batch: BatchTriggerResult;
      try {
        batch = await dispatcher.batchTrigger(
          plan.taskId,
          chunk(queued, AI_BATCH_SIZE).map((ids) => ({ columnId: column.id, rowIds: ids })),
        );
      } catch (error) {
        if (!(error instanceof DispatchError)) throw error;
        await failPendingCells(tx, column, queued);
        return { column, queuedRowIds: queued, dispatch: null, failure: error };
      }
      dispatched = batch;

      await tx
        .update(columns)
        .set({ triggerRunIds: sql`${columns.triggerRunIds} || array(select jsonb_array_elements_text(${jsonParam([batch.batchId, ...batch.runIds])}))` })
        .where(eq(columns.id, column.id));

      if (!plan.chargedInTask && costPerUnit > 0) {
        const charge = await chargeCredits(tx, {
          workspaceId: input.workspaceId,
          action: plan.creditAction,
          units: queued.length,
          amount: costPerUnit * queued.length,
          reference: { type: "column", id: column.id },
          dedupeKey: `column-dispatch:${batch.batchId}`,
        });
        // The workspace row is locked since the check, so only a bug gets here; the runs are cancelled below.
        if (charge.status === "insufficient") throw AppError.insufficientCredits(charge.required, charge.balance);
      }
      return { column, queuedRowIds: queued, dispatch: batch };
    });
  } catch (error) {
    // Runs started for a transaction that did not commit would look for cells that do not exist.
    if (dispatched) await dispatcher.cancel([dispatched.batchId, ...dispatched.runIds]);
    throw error;
  }

  const { failure, ...queuedOutcome } = outcome;
  if (failure) {
    logger.warn("column dispatch failed", { columnId: outcome.column.id, rows: outcome.queuedRowIds.length, error: failure.message });
    throw new AppError("DISPATCH_FAILED", "The enrichment task could not be dispatched; the cells were marked failed", { status: 500 });
  }
  return queuedOutcome;
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
  if (definition.enrichmentType === "hiring_status" && found.has_hiring_status) throw duplicateHiringStatus();

  const plan = planColumn({
    enrichmentType: definition.enrichmentType ?? null,
    source: definition.source as ColumnSource,
    subject: input.subject,
  });
  try {
    const { column } = await queueColumnWork(services, {
      workspaceId,
      listId,
      subject: input.subject,
      plan,
      scope: input.isPreview ? { kind: "preview" } : { kind: "all" },
      write: async (tx) => {
        const [column] = await tx
          .insert(columns)
          .values({
            ...definition,
            listId,
            workspaceId,
            position: sql`(select coalesce(max(position), -1) + 1 from list_columns where list_id = ${listId} and subject = ${input.subject})`,
          })
          .returning();
        return column!;
      },
    });
    return columnView(column);
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

export async function listColumns(db: Queryable, workspaceId: string, listId: string, subject: Subject | undefined): Promise<ColumnView[]> {
  await requireList(db, workspaceId, listId);
  const found = await db
    .select()
    .from(columns)
    .where(and(eq(columns.listId, listId), eq(columns.isPreview, false), subject ? eq(columns.subject, subject) : undefined))
    // Without a subject filter, person columns come first, each subject by position.
    .orderBy(sql`${columns.subject} = 'company'`, asc(columns.position), asc(columns.id));
  return found.map(columnView);
}

export type ColumnPatch = { name?: string; isFilter?: boolean; position?: number; isPreview?: false };

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

  const write = async (tx: Queryable) => {
    const [column] = await tx.update(columns).set(changes).where(and(eq(columns.id, columnId), eq(columns.listId, listId))).returning();
    if (!column) throw AppError.notFound("Column");
    return column;
  };

  if (!(patch.isPreview === false && current.isPreview)) return columnView(await write(db));
  const { column } = await queueColumnWork(services, {
    workspaceId,
    listId,
    subject: current.subject,
    plan: planColumn(current),
    scope: { kind: "uncovered", columnId },
    write,
  });
  return columnView(column);
}

/** Stops what is still running for deleted columns; best effort, the tasks also check that their column exists. */
async function cancelColumnRuns(services: Services, runIdLists: ReadonlyArray<readonly string[]>): Promise<void> {
  const ids = runIdLists.flat();
  if (ids.length === 0) return;
  const result = await services.dispatcher.cancel(ids);
  if (result.failed.length > 0) services.logger.warn("column run cancellation incomplete", { failed: result.failed });
}

/**
 * Deletes the workspace's columns that match `filter` (their cells cascade), refunding every cell
 * that was paid for and will now never be filled: pending or processing cells of columns charged at
 * dispatch, and of contact columns only those already charged in the task. Each refund uses the
 * cell's `cell-refund:` key, the one the task would use, so a cell is never refunded twice. Then the
 * columns' runs are cancelled: deleted first, cancelled after, so a task that wakes up in between
 * finds no column and stops. A constant number of statements for any number of columns and cells.
 */
export async function deleteColumnsRefundingUnfinished(services: Services, workspaceId: string, filter: SQL): Promise<number> {
  const { db, prices } = services;
  const runIds = await db.transaction(async (tx) => {
    const doomed = await tx
      .select()
      .from(columns)
      .where(and(eq(columns.workspaceId, workspaceId), filter))
      .for("update");
    if (doomed.length === 0) return null;
    const priced = doomed.flatMap((column) => {
      const plan = planColumn(column);
      if (plan.kind === "static") return [];
      return [{ column_id: column.id, action: plan.creditAction, price: prices.costOf(plan.creditAction) ?? 0, charged_in_task: plan.chargedInTask }];
    });
    if (priced.length > 0) {
      await tx.execute(sql`
        with plan as (
          select * from jsonb_to_recordset(${jsonParam(priced)}) as p(column_id uuid, action text, price bigint, charged_in_task boolean)
        ), unfinished as (
          -- Locked, so a result a task is writing right now either lands first (and the cell is not
          -- unfinished any more) or finds the cell gone.
          select c.run_token, c.column_id from list_cells c join plan p on p.column_id = c.column_id
          where c.status in ('pending', 'processing') and c.run_token is not null
          for update of c
        ), unfinished_company as (
          select c.run_token, c.column_id from list_company_cells c join plan p on p.column_id = c.column_id
          where c.status in ('pending', 'processing') and c.run_token is not null
          for update of c
        ), ${refundManyCtes(
          workspaceId,
          sql`select 'cell-refund:' || u.run_token as dedupe_key, p.action, p.price as amount, 'column'::text as reference_type,
                     u.column_id as reference_id, 'Refund: column deleted before the cell was filled'::text as note
              from (select * from unfinished union all select * from unfinished_company) u
              join plan p on p.column_id = u.column_id
              where not p.charged_in_task
                 or exists (select 1 from credit_ledger l
                            where l.workspace_id = ${workspaceId} and l.dedupe_key = 'cell-charge:' || u.run_token)`,
        )}
        select (select count(*) from refund_entries) as refunded`);
    }
    await tx.delete(columns).where(sql`${columns.id} = any(${uuidArray(doomed.map((c) => c.id))})`);
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
  const deleted = await deleteColumnsRefundingUnfinished(services, workspaceId, and(eq(columns.id, columnId), eq(columns.listId, listId))!);
  if (deleted === 0) throw AppError.notFound("Column");
}

export async function deletePreviewColumns(services: Services, workspaceId: string, listId: string): Promise<void> {
  await requireList(services.db, workspaceId, listId);
  await deleteColumnsRefundingUnfinished(services, workspaceId, and(eq(columns.listId, listId), eq(columns.isPreview, true))!);
}

export type PreviewCell = { rowId: string; name: string | null; value: unknown; status: string; error: string | null };

/** The column's cells with a display name for their row, by row position. */
export async function previewCells(db: Queryable, workspaceId: string, listId: string, columnId: string): Promise<PreviewCell[]> {
  const column = await requireColumn(db, workspaceId, listId, columnId);
  const t = SUBJECT_TABLES[column.subject];
  const name =
    column.subject === "person"
      ? sql`coalesce(r.full_name, nullif(concat_ws(' ', r.first_name, r.last_name), ''))`
      : sql`r.name`;
  const cells = rowsOf<{ row_id: string; name: string | null; value: unknown; status: string; error: string | null }>(
    await db.execute(sql`
      select r.id as row_id, ${name} as name, c.value, c.status, c.error
      from ${t.cells} c join ${t.rows} r on r.id = c.${t.rowKey}
      where c.column_id = ${column.id}
      order by r.position`),
  );
  return cells.map((c) => ({ rowId: c.row_id, name: c.name, value: c.value ?? null, status: c.status, error: c.error }));
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
  const { queuedRowIds, dispatch } = await queueColumnWork(services, {
    workspaceId,
    listId,
    subject: column.subject,
    plan: planColumn(column),
    scope: { kind: "ids", rowIds },
    write: async (tx) => {
      const [current] = await tx.select().from(columns).where(eq(columns.id, columnId));
      if (!current) throw AppError.notFound("Column");
      return current;
    },
  });
  // Trigger.dev may not have created the batch's runs yet; the batch id then stands for them.
  return { taskId: dispatch ? (dispatch.runIds[0] ?? dispatch.batchId) : null, rowCount: queuedRowIds.length };
}
