import { eq, sql } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Queryable } from "../../db/client";
import { columns } from "../../db/schema";
import { AppError } from "../../errors";
import type { writeCellBody, writeCompanyCellBody } from "../../routes/cells/schemas";
import { failOpenCells } from "./queue";
import { OPEN_CELL } from "./tables";
import { creditActionsOf } from "../column-kinds";
import { lockWorkspace } from "../credits";
import { callerWorkspace, unauthorized, type Caller } from "../accounts";

export type SnakeCell = {
  id: string;
  list_id: string;
  column_id: string;
  row_id: string;
  value: unknown;
  status: string;
  reasoning: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
};

type Scope = Caller & { listId: string };
export type PersonCellWrite = Scope & z.output<typeof writeCellBody>;
export type CompanyCellWrite = Scope & { companyRowId: string } & z.output<typeof writeCompanyCellBody>;

/**
 * The manual person-cell write (seed 001) in one statement: the caller's key when it is given, ownership
 * of the list, the row and the column, the value's fit to the column's schema.type, and the upsert. Checks answer in the
 * documented order: list, row, column, then the value.
 */
export async function writePersonCell(
  db: Queryable,
  input: PersonCellWrite,
): Promise<{ cell: SnakeCell; hasReaders: boolean; workspaceId: string }> {
  const value = JSON.stringify(input.value ?? null);
  const [outcome] = rowsOf<{ workspace_id: string | null; list_found: boolean; busy: boolean; row_found: boolean; column_found: boolean; fits: boolean; cell: SnakeCell | null; column_type: string | null; has_readers: boolean }>(
    await db.execute(sql`
      with caller as (
        select ${callerWorkspace(input)} as workspace_id
      ), list as (
        select l.id from lists l join caller on l.workspace_id = caller.workspace_id where l.id = ${input.listId}
      ), target_row as (
        select r.id from list_rows r join list on list.id = r.list_id where r.id = ${input.rowId}
      ), target_column as (
        select c.id, c.schema, cell_value_fits(c.schema, ${value}::jsonb) as fits
        from list_columns c join list on list.id = c.list_id
        where c.id = ${input.columnId} and c.subject = 'person'
      ), busy as (
        select 1 from list_cells c join target_row on c.row_id = target_row.id join target_column on c.column_id = target_column.id
        where c.status in ${OPEN_CELL} and c.paid > 0
      ), written as (
        insert into list_cells (list_id, column_id, row_id, value, status, reasoning, error)
        select ${input.listId}, target_column.id, target_row.id, ${value}::jsonb, 'completed', null, null
        from target_row, target_column
        where target_column.fits and not exists (select 1 from busy)
        on conflict (column_id, row_id) do update
          set value = excluded.value, status = 'completed', reasoning = null, error = null,
              -- A manual value has no web sources nor provider tries: those of the replaced answer go with it.
              metadata = list_cells.metadata - 'sources' - 'sourceTitles', attempts = null, updated_at = now()
        returning *
      )
      select (select workspace_id from caller) as workspace_id,
             exists (select 1 from list) as list_found,
             exists (select 1 from busy) as busy,
             exists (select 1 from target_row) as row_found,
             exists (select 1 from target_column) as column_found,
             coalesce((select fits from target_column), false) as fits,
             (select schema ->> 'type' from target_column) as column_type,
             ${readersOf(input.listId, input.columnId)} as has_readers,
             (select json_build_object('id', id, 'list_id', list_id, 'column_id', column_id, 'row_id', row_id,
                                       'value', value, 'status', status, 'reasoning', reasoning, 'error', error,
                                       'created_at', created_at, 'updated_at', updated_at) from written) as cell
    `),
  );
  if (!outcome?.workspace_id) throw unauthorized();
  const workspaceId = outcome.workspace_id;
  if (!outcome.list_found) throw AppError.notFound("List");
  if (!outcome.row_found) throw AppError.notFound("Row");
  if (!outcome.column_found) throw AppError.notFound("Column");
  if (outcome.busy && outcome.fits) {
    await settleOverwrittenCell(db, workspaceId, input.columnId, { person: input.rowId });
    return writePersonCell(db, { ...input, workspaceId });
  }
  if (!outcome.fits || !outcome.cell) {
    throw new AppError("VALUE_TYPE_MISMATCH", `Value does not fit the column's type (${outcome.column_type ?? "unknown"})`, {
      extra: { expectedType: outcome.column_type },
    });
  }
  return { cell: { ...outcome.cell, created_at: iso(outcome.cell.created_at), updated_at: iso(outcome.cell.updated_at) }, hasReaders: outcome.has_readers, workspaceId };
}

/** Whether other columns of the list read the column (their cells of the row may follow the new value). */
const readersOf = (listId: string, columnId: string) =>
  sql`exists (select 1 from list_columns d where d.list_id = ${listId} and d.refs @> jsonb_build_array(jsonb_build_object('columnId', ${columnId}::text)))`;

const iso = (value: string) => new Date(value).toISOString();

/**
 * The manual company-cell write (seed 002) in one statement. The value is stored as given; an empty
 * string or no value is NULL; reasoning and error stay as they were. Beyond the documented product,
 * the column must be a company-subject column of this list, so no dangling cells can be made.
 */
export async function writeCompanyCell(
  db: Queryable,
  input: CompanyCellWrite,
): Promise<{ hasReaders: boolean; workspaceId: string }> {
  const stored = input.value === undefined || input.value === null || input.value === "" ? null : JSON.stringify(input.value);
  const [outcome] = rowsOf<{ workspace_id: string | null; list_found: boolean; busy: boolean; company_found: boolean; column_found: boolean; has_readers: boolean }>(
    await db.execute(sql`
      with caller as (
        select ${callerWorkspace(input)} as workspace_id
      ), list as (
        select l.id from lists l join caller on l.workspace_id = caller.workspace_id where l.id = ${input.listId}
      ), company as (
        select r.id from list_company_rows r join list on list.id = r.list_id where r.id = ${input.companyRowId}
      ), target_column as (
        select c.id from list_columns c join list on list.id = c.list_id where c.id = ${input.columnId} and c.subject = 'company'
      ), busy as (
        select 1 from list_company_cells c join company on c.company_row_id = company.id join target_column on c.column_id = target_column.id
        where c.status in ${OPEN_CELL} and c.paid > 0
      ), written as (
        insert into list_company_cells (list_id, column_id, company_row_id, value, status)
        select ${input.listId}, target_column.id, company.id, ${stored}::jsonb, 'complete'
        from company, target_column
        where not exists (select 1 from busy)
        on conflict (column_id, company_row_id) do update
          set value = excluded.value, status = 'complete', metadata = list_company_cells.metadata - 'sources' - 'sourceTitles', updated_at = now()
        returning id
      )
      select (select workspace_id from caller) as workspace_id,
             exists (select 1 from list) as list_found,
             exists (select 1 from busy) as busy,
             exists (select 1 from company) as company_found,
             exists (select 1 from written) as column_found,
             ${readersOf(input.listId, input.columnId)} as has_readers
    `),
  );
  if (!outcome?.workspace_id) throw unauthorized();
  const workspaceId = outcome.workspace_id;
  if (!outcome.list_found) throw AppError.notFound("List");
  if (!outcome.company_found) throw AppError.notFound("Company");
  if (outcome.busy) {
    await settleOverwrittenCell(db, workspaceId, input.columnId, { company: input.companyRowId });
    return writeCompanyCell(db, { ...input, workspaceId });
  }
  if (!outcome.column_found) throw AppError.notFound("Column");
  return { hasReaders: outcome.has_readers, workspaceId };
}

/**
 * A manual value is about to replace a cell whose enrichment is still open and paid for: that
 * enrichment will never land (results land only on open cells), so its credits come back first
 * (released from an open hold, or refunded), under the workspace lock as every settlement. The
 * manual write then runs again on the settled cell. Rare, so the write's fast path stays one
 * statement.
 */
async function settleOverwrittenCell(db: Queryable, workspaceId: string, columnId: string, row: { person: string } | { company: string }): Promise<void> {
  await db.transaction(async (tx) => {
    await lockWorkspace(tx, workspaceId);
    const [column] = await tx.select().from(columns).where(eq(columns.id, columnId));
    if (!column) return;
    const action = creditActionsOf([column])[column.id] ?? "UNKNOWN";
    const where = "person" in row ? sql`c.row_id = ${row.person}` : sql`c.company_row_id = ${row.company}`;
    await failOpenCells(tx, column, { where: sql`${where} and c.paid > 0` }, { error: "Replaced by a manual value", action });
  });
}
