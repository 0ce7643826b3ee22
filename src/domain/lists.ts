import { sql } from "drizzle-orm";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { uuidSet } from "../db/sql";
import { columns, lists } from "../db/schema";
import { AppError } from "../errors";
import { BUILT_IN_PERSON_COLUMNS } from "./built-in-columns";
import { listView, type ListView } from "./views";

export type NewList = { name?: string | null; description?: string | null; leadType?: "person" | "company" | "mixed" };

/** A list and its built-in columns, all or nothing. */
export async function createList(db: Db, workspaceId: string, input: NewList): Promise<ListView> {
  const name = input.name?.trim() ? input.name.trim() : "Untitled List";
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
    return listView(list!, { rowCount: 0, companyCount: 0, leadCount: 0 });
  });
}

export type ListCounts = { rowCount: number; companyCount: number; leadCount: number };

/** Exact member counts for the given lists, in one statement. */
export async function listCounts(db: Queryable, listIds: string[]): Promise<Map<string, ListCounts>> {
  const counts = new Map<string, ListCounts>();
  if (listIds.length === 0) return counts;
  const rows = rowsOf<{ list_id: string; row_count: string; company_count: string; lead_count: string }>(
    await db.execute(sql`
      select l.id as list_id,
             (select count(*) from list_rows r where r.list_id = l.id) as row_count,
             (select count(*) from list_company_rows c where c.list_id = l.id) as company_count,
             (select count(*) from (select lead_id from list_rows where list_id = l.id
                                    union select lead_id from list_company_rows where list_id = l.id) m) as lead_count
      from lists l where l.id in ${uuidSet(listIds)}`),
  );
  for (const r of rows) {
    counts.set(r.list_id, { rowCount: Number(r.row_count), companyCount: Number(r.company_count), leadCount: Number(r.lead_count) });
  }
  return counts;
}

/** The caller's list, or 404 "List not found" (also for another workspace's list). */
export async function requireList(db: Queryable, workspaceId: string, listId: string) {
  const [list] = await db.select().from(lists).where(sql`${lists.id} = ${listId} and ${lists.workspaceId} = ${workspaceId}`);
  if (!list) throw AppError.notFound("List");
  return list;
}
