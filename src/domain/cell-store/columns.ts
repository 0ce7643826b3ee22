import { eq, sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { jsonParam } from "../../db/sql";
import { columns } from "../../db/schema";
import type { ProviderColumn } from "../../providers/types";
import type { Filter } from "../filters/language";

// Columns as the tasks see them.

export type TaskColumn = ProviderColumn & {
  listId: string;
  workspaceId: string;
  enrichmentType: string | null;
  refs: ReadonlyArray<{ name: string; columnId: string }>;
  runIf: Filter | null;
  maxCredits: number | null;
};

export async function loadColumn(db: Queryable, columnId: string): Promise<TaskColumn | null> {
  const [column] = await db
    .select({
      id: columns.id,
      listId: columns.listId,
      workspaceId: columns.workspaceId,
      name: columns.name,
      prompt: columns.prompt,
      source: columns.source,
      subject: columns.subject,
      schema: columns.schema,
      config: columns.config,
      enrichmentType: columns.enrichmentType,
      refs: columns.refs,
      runIf: columns.runIf,
      maxCredits: columns.maxCredits,
    })
    .from(columns)
    .where(eq(columns.id, columnId));
  return column ?? null;
}

export async function columnExists(db: Queryable, columnId: string): Promise<boolean> {
  const [row] = await db.select({ id: columns.id }).from(columns).where(eq(columns.id, columnId));
  return row !== undefined;
}

/**
 * Appends the run (and batch) ids of dispatches to their columns, for cancelling them when a column
 * is deleted: one statement for any number of columns. Returns the ids of the columns that still
 * exist (a column deleted meanwhile records nothing).
 */
export async function recordColumnRuns(db: Queryable, dispatches: ReadonlyArray<{ columnId: string; runIds: readonly string[] }>): Promise<Set<string>> {
  if (dispatches.length === 0) return new Set();
  const recorded = rowsOf<{ id: string }>(
    await db.execute(sql`
      update list_columns c set trigger_run_ids = c.trigger_run_ids || array(select jsonb_array_elements_text(r.ids))
      from jsonb_to_recordset(${jsonParam(dispatches.map((d) => ({ column_id: d.columnId, ids: d.runIds })))}) as r(column_id uuid, ids jsonb)
      where c.id = r.column_id
      returning c.id`),
  );
  return new Set(recorded.map((r) => r.id));
}
