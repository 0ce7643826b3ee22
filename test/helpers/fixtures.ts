import { columns, companyRows, leads, personRows, type ColumnSchema } from "../../src/db/schema";
import { syncBuiltInCells } from "../../src/domain/built-in-columns";
import { sql } from "drizzle-orm";
import { rowsOf, type Db } from "../../src/db/client";

// Members and columns written straight to the tables, for tests of routes other than the row routes.

export async function addPeople(db: Db, workspaceId: string, listId: string, names: string[]): Promise<string[]> {
  const rowIds: string[] = [];
  for (const name of names) {
    const [lead] = await db.insert(leads).values({ workspaceId, type: "person", fullName: name }).returning();
    const [row] = await db
      .insert(personRows)
      .values({ listId, workspaceId, leadId: lead!.id, fullName: name, firstName: name.split(" ")[0], role: "Engineer" })
      .returning();
    rowIds.push(row!.id);
  }
  await syncBuiltInCells(db, rowIds);
  return rowIds;
}

export async function addCompanies(db: Db, workspaceId: string, listId: string, names: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const name of names) {
    const [lead] = await db.insert(leads).values({ workspaceId, type: "company", companyName: name }).returning();
    const [row] = await db
      .insert(companyRows)
      .values({ listId, workspaceId, leadId: lead!.id, name, domain: `${name.toLowerCase()}.com` })
      .returning();
    ids.push(row!.id);
  }
  return ids;
}

export async function addColumn(
  db: Db,
  workspaceId: string,
  listId: string,
  input: { name?: string; subject?: "person" | "company"; schema?: ColumnSchema | null; isPreview?: boolean; position?: number },
): Promise<string> {
  const [column] = await db
    .insert(columns)
    .values({
      listId,
      workspaceId,
      name: input.name ?? "Notes",
      subject: input.subject ?? "person",
      schema: input.schema === undefined ? { type: "text" } : input.schema,
      isPreview: input.isPreview ?? false,
      position: input.position ?? 100,
    })
    .returning();
  return column!.id;
}

export type CellState = { rowId: string; status: string; value: unknown; reasoning: string | null; error: string | null; runToken: string | null };

/** A column's cells in the order of their rows' positions. */
export async function cellsByPosition(db: Db, columnId: string, subject: "person" | "company" = "person"): Promise<CellState[]> {
  const [cells, rows, key] =
    subject === "person" ? ["list_cells", "list_rows", "row_id"] : ["list_company_cells", "list_company_rows", "company_row_id"];
  return rowsOf<CellState>(
    await db.execute(sql`
      select c.${sql.raw(key)} as "rowId", c.status, c.value, c.reasoning, c.error, c.run_token as "runToken"
      from ${sql.raw(cells)} c join ${sql.raw(rows)} r on r.id = c.${sql.raw(key)}
      where c.column_id = ${columnId} order by r.position`),
  );
}
