import { sql } from "drizzle-orm";
import type { Queryable } from "../db/client";
import { uuidSet } from "../db/sql";
import type { ColumnSchema } from "../db/schema";

// The built-in person columns every new list starts with. `rowField` is the list_rows column whose
// value the built-in cell mirrors.
export const BUILT_IN_PERSON_COLUMNS: ReadonlyArray<{ key: string; name: string; rowField: string; schema: ColumnSchema }> = [
  { key: "name", name: "Name", rowField: "full_name", schema: { type: "text" } },
  { key: "role", name: "Role", rowField: "role", schema: { type: "text" } },
  { key: "company", name: "Company", rowField: "company", schema: { type: "text" } },
  { key: "location", name: "Location", rowField: "location", schema: { type: "text" } },
  { key: "domain", name: "Domain", rowField: "domain", schema: { type: "url", linkType: "website" } },
  { key: "linkedin", name: "LinkedIn", rowField: "linkedin_url", schema: { type: "url", linkType: "linkedin" } },
  { key: "headline", name: "Headline", rowField: "headline", schema: { type: "text" } },
  { key: "seniority", name: "Seniority", rowField: "seniority", schema: { type: "text" } },
  { key: "departments", name: "Departments", rowField: "departments", schema: { type: "text" } },
  { key: "functions", name: "Functions", rowField: "functions", schema: { type: "text" } },
  { key: "experience", name: "Experience", rowField: "experience", schema: { type: "text" } },
];

const rowFieldOfKey = sql.join(
  BUILT_IN_PERSON_COLUMNS.map((c) => sql`when ${c.key} then ${c.rowField}`),
  sql` `,
);

/**
 * Writes (or refreshes) the built-in cells of the given person rows, of any lists, from the rows' own
 * fields: one statement for any number of rows. Called after rows are inserted, merged or patched.
 * An empty field is an SQL NULL value, as in every other cell.
 */
export async function syncBuiltInCells(db: Queryable, rowIds: string[]): Promise<void> {
  if (rowIds.length === 0) return;
  await db.execute(sql`
    insert into list_cells (list_id, column_id, row_id, value, status)
    select r.list_id, c.id, r.id, nullif(to_jsonb(r) -> (case c.built_in_key ${rowFieldOfKey} end), 'null'::jsonb), 'completed'
    from list_rows r
    join list_columns c on c.list_id = r.list_id and c.built_in_key is not null
    where r.id in ${uuidSet(rowIds)}
    on conflict (column_id, row_id) do update
      set value = excluded.value, status = 'completed', reasoning = null, error = null, updated_at = now()
      where list_cells.value is distinct from excluded.value or list_cells.status <> 'completed'
  `);
}
