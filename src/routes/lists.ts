import { and, asc, desc, eq, sql } from "drizzle-orm";
import { z } from "zod";
import { router } from "../context";
import { uuidSet } from "../db/sql";
import { columns, companyCells, companyRows, lists, personCells, personRows } from "../db/schema";
import { AppError } from "../errors";
import { deleteList } from "../domain/removals";
import { createList, listCounts, requireList } from "../domain/lists";
import { columnView, companyCellView, companyRowView, listView, personCellView, rowView } from "../domain/views";
import { LIMITS } from "../limits";
import { text, uuid, validate } from "../validation";

export const listRoutes = router();

// The sheet endpoint is for small lists; bigger ones page through /rows.
const SHEET_ROW_LIMIT = 1000;

const createBody = z.object({
  name: text(LIMITS.text).nullish(),
  description: text(LIMITS.longText).nullish(),
  leadType: z.enum(["person", "company", "mixed"]).optional(),
});

listRoutes.post("/lists", validate("json", createBody), async (c) => {
  const list = await createList(c.var.services.db, c.var.principal.workspaceId, c.req.valid("json"));
  return c.json({ list }, 201);
});

listRoutes.get("/lists", async (c) => {
  const { db } = c.var.services;
  const rows = await db
    .select()
    .from(lists)
    .where(eq(lists.workspaceId, c.var.principal.workspaceId))
    .orderBy(desc(lists.createdAt), desc(lists.id));
  const counts = await listCounts(
    db,
    rows.map((l) => l.id),
  );
  return c.json({ lists: rows.map((l) => listView(l, counts.get(l.id)!)) });
});

const idParam = z.object({ id: uuid() });
const sheetQuery = z.object({ segment: z.enum(["people", "companies"]).default("people") });

listRoutes.get("/lists/:id", validate("param", idParam), validate("query", sheetQuery), async (c) => {
  const { db } = c.var.services;
  const { id } = c.req.valid("param");
  const { segment } = c.req.valid("query");
  const list = await requireList(db, c.var.principal.workspaceId, id);
  const counts = (await listCounts(db, [id])).get(id)!;
  const subject = segment === "people" ? "person" : "company";
  const sheetColumns = await db
    .select()
    .from(columns)
    .where(and(eq(columns.listId, id), eq(columns.subject, subject), eq(columns.isPreview, false)))
    .orderBy(asc(columns.position), asc(columns.id));
  if (segment === "people") {
    const rows = await db.select().from(personRows).where(eq(personRows.listId, id)).orderBy(asc(personRows.position)).limit(SHEET_ROW_LIMIT);
    const cells = rows.length
      ? await db
          .select()
          .from(personCells)
          .where(and(eq(personCells.listId, id), sql`${personCells.rowId} in ${uuidSet(rows.map((r) => r.id))}`))
          .orderBy(asc(personCells.id))
      : [];
    return c.json({
      sheet: listView(list, counts),
      rows: rows.map(rowView),
      columns: sheetColumns.map(columnView),
      cells: cells.map(personCellView),
      truncated: counts.rowCount > rows.length,
    });
  }
  const rows = await db.select().from(companyRows).where(eq(companyRows.listId, id)).orderBy(asc(companyRows.position)).limit(SHEET_ROW_LIMIT);
  const cells = rows.length
    ? await db
        .select()
        .from(companyCells)
        .where(and(eq(companyCells.listId, id), sql`${companyCells.companyRowId} in ${uuidSet(rows.map((r) => r.id))}`))
        .orderBy(asc(companyCells.id))
    : [];
  return c.json({
    sheet: listView(list, counts),
    rows: rows.map(companyRowView),
    columns: sheetColumns.map(columnView),
    cells: cells.map(companyCellView),
    truncated: counts.companyCount > rows.length,
  });
});

const patchBody = z
  .object({
    id: uuid(),
    name: text(LIMITS.text).nullish(),
    description: text(LIMITS.longText).nullish(),
  })
  .refine((b) => b.name !== undefined || b.description !== undefined, { message: "Nothing to update: give name or description" });

listRoutes.patch("/lists", validate("json", patchBody), async (c) => {
  const { db } = c.var.services;
  const body = c.req.valid("json");
  const changes: Partial<typeof lists.$inferInsert> = { updatedAt: c.var.services.clock.now() };
  if (body.name !== undefined) changes.name = body.name?.trim() ? body.name.trim() : "Untitled List";
  if (body.description !== undefined) changes.description = body.description;
  const [list] = await db
    .update(lists)
    .set(changes)
    .where(and(eq(lists.id, body.id), eq(lists.workspaceId, c.var.principal.workspaceId)))
    .returning();
  if (!list) throw AppError.notFound("List");
  const counts = (await listCounts(db, [list.id])).get(list.id)!;
  return c.json({ list: listView(list, counts) });
});

listRoutes.delete("/lists/:id", validate("param", idParam), async (c) => {
  await deleteList(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id);
  return c.json({ success: true });
});

listRoutes.delete("/lists", validate("json", idParam), async (c) => {
  await deleteList(c.var.services, c.var.principal.workspaceId, c.req.valid("json").id);
  return c.json({ success: true });
});
