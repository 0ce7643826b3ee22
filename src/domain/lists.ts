import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { uuidSet } from "../db/sql";
import { columns, companyCells, companyRows, lists, personCells, personRows } from "../db/schema";
import { AppError } from "../errors";
import type { createListBody, sheetQuery, updateListBody } from "../routes/lists/schemas";
import { BUILT_IN_PERSON_COLUMNS } from "./built-in-columns";
import { columnViews } from "./cell-store/progress";
import { cellColumnFields, companyCellView, companyRowView, listView, personCellView, rowView, type ListView } from "./views";

export type NewList = z.output<typeof createListBody>;
export type ListChanges = z.output<typeof updateListBody>;
export type SheetSegment = z.output<typeof sheetQuery>["segment"];

const UNTITLED = "Untitled List";

/** A list and its built-in columns, all or nothing. */
export async function createList(db: Db, workspaceId: string, input: NewList): Promise<ListView> {
  const name = input.name?.trim() ? input.name.trim() : UNTITLED;
  return db.transaction(async (tx) => {
    const [list] = await tx
      .insert(lists)
      .values({ workspaceId, name, description: input.description ?? null, leadType: input.leadType ?? "person" })
      .returning();
    await tx.insert(columns).values(
      BUILT_IN_PERSON_COLUMNS.map((c, position) => ({
        listId: list!.id,
        workspaceId,
        name: c.name,
        source: "profile" as const,
        subject: "person" as const,
        isDynamic: false,
        position,
        schema: c.schema,
        category: "built-in",
        builtInKey: c.key,
      })),
    );
    return listView(list!, { rowCount: 0, companyCount: 0, leadCount: 0, running: false });
  });
}

export type ListCounts = { rowCount: number; companyCount: number; leadCount: number; running: boolean };

/** Exact member counts for the given lists, and whether any of their cells is open, in one statement. */
export async function listCounts(db: Queryable, listIds: string[]): Promise<Map<string, ListCounts>> {
  const counts = new Map<string, ListCounts>();
  if (listIds.length === 0) return counts;
  const rows = rowsOf<{ list_id: string; row_count: string; company_count: string; lead_count: string; running: boolean }>(
    await db.execute(sql`
      select l.id as list_id,
             (exists (select 1 from list_cells where list_id = l.id and status in ('pending', 'processing'))
              or exists (select 1 from list_company_cells where list_id = l.id and status in ('pending', 'processing'))) as running,
             (select count(*) from list_rows r where r.list_id = l.id) as row_count,
             (select count(*) from list_company_rows c where c.list_id = l.id) as company_count,
             (select count(*) from (select lead_id from list_rows where list_id = l.id
                                    union select lead_id from list_company_rows where list_id = l.id) m) as lead_count
      from lists l where l.id in ${uuidSet(listIds)}`),
  );
  for (const r of rows) {
    counts.set(r.list_id, {
      rowCount: Number(r.row_count),
      companyCount: Number(r.company_count),
      leadCount: Number(r.lead_count),
      running: r.running,
    });
  }
  return counts;
}

/** The caller's list, or 404 "List not found" (also for another workspace's list). */
export async function requireList(db: Queryable, workspaceId: string, listId: string) {
  const [list] = await db.select().from(lists).where(sql`${lists.id} = ${listId} and ${lists.workspaceId} = ${workspaceId}`);
  if (!list) throw AppError.notFound("List");
  return list;
}

/** The workspace's lists, newest first, with their counts. */
export async function listLists(db: Queryable, workspaceId: string): Promise<ListView[]> {
  const rows = await db.select().from(lists).where(eq(lists.workspaceId, workspaceId)).orderBy(desc(lists.createdAt), desc(lists.id));
  const counts = await listCounts(
    db,
    rows.map((l) => l.id),
  );
  // A list deleted between the two reads is left out.
  return rows.flatMap((l) => {
    const found = counts.get(l.id);
    return found ? [listView(l, found)] : [];
  });
}

// The sheet is for small lists; bigger ones page through the rows.
const SHEET_ROW_LIMIT = 1000;

/**
 * One side of a list as a sheet: its first SHEET_ROW_LIMIT people (or companies) by position, the
 * columns of that subject (previews left out) and the rows' cells. 404 for another workspace's list.
 */
export async function listSheet(db: Queryable, workspaceId: string, listId: string, segment: SheetSegment) {
  const list = await requireList(db, workspaceId, listId);
  const counts = (await listCounts(db, [listId])).get(listId);
  if (!counts) throw AppError.notFound("List");
  const subject = segment === "people" ? "person" : "company";
  const sheetColumns = await db
    .select()
    .from(columns)
    .where(and(eq(columns.listId, listId), eq(columns.subject, subject), eq(columns.isPreview, false)))
    .orderBy(asc(columns.position), asc(columns.id));
  if (segment === "people") {
    const rows = await db.select().from(personRows).where(eq(personRows.listId, listId)).orderBy(asc(personRows.position)).limit(SHEET_ROW_LIMIT);
    const cells = rows.length
      ? await db
          .select({ cell: personCells, column: cellColumnFields })
          .from(personCells)
          .innerJoin(columns, eq(columns.id, personCells.columnId))
          .where(and(eq(personCells.listId, listId), sql`${personCells.rowId} in ${uuidSet(rows.map((r) => r.id))}`))
          .orderBy(asc(personCells.id))
      : [];
    return {
      sheet: listView(list, counts),
      rows: rows.map(rowView),
      columns: await columnViews(db, sheetColumns),
      cells: cells.map((c) => personCellView(c.cell, c.column)),
      truncated: counts.rowCount > rows.length,
    };
  }
  const rows = await db.select().from(companyRows).where(eq(companyRows.listId, listId)).orderBy(asc(companyRows.position)).limit(SHEET_ROW_LIMIT);
  const cells = rows.length
    ? await db
        .select({ cell: companyCells, column: cellColumnFields })
        .from(companyCells)
        .innerJoin(columns, eq(columns.id, companyCells.columnId))
        .where(and(eq(companyCells.listId, listId), sql`${companyCells.companyRowId} in ${uuidSet(rows.map((r) => r.id))}`))
        .orderBy(asc(companyCells.id))
    : [];
  return {
    sheet: listView(list, counts),
    rows: rows.map(companyRowView),
    columns: await columnViews(db, sheetColumns),
    cells: cells.map((c) => companyCellView(c.cell, c.column)),
    truncated: counts.companyCount > rows.length,
  };
}

/** Renames a list and/or sets its description; a blank or null name becomes "Untitled List". */
export async function updateList(db: Queryable, workspaceId: string, input: ListChanges, now: Date): Promise<ListView> {
  const changes: Partial<typeof lists.$inferInsert> = { updatedAt: now };
  if (input.name !== undefined) changes.name = input.name?.trim() ? input.name.trim() : UNTITLED;
  if (input.description !== undefined) changes.description = input.description;
  const [list] = await db
    .update(lists)
    .set(changes)
    .where(and(eq(lists.id, input.id), eq(lists.workspaceId, workspaceId)))
    .returning();
  if (!list) throw AppError.notFound("List");
  const counts = (await listCounts(db, [list.id])).get(list.id);
  if (!counts) throw AppError.notFound("List");
  return listView(list, counts);
}
