import { sql, type SQL } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Queryable } from "../db/client";
import { AppError } from "../errors";
import type { rowPageQuery } from "../routes/rows/schemas";
import type { Filter } from "./filters/language";
import { compileFilter } from "./filters/sql";
import { rowFieldTable } from "./filters/targets";
import { WEB_LINK_PATTERN } from "./views";

// A page of a list's people with their cells (GET /api/lists/{id}/rows), assembled by Postgres in one
// statement and sent on as the JSON text it returns: a 500-row page of 31 columns is 15,500 cells,
// and building them in JavaScript (rows mapped, cells grouped, then serialised again) cost more than
// the query. The shapes are those of rowView and personCellView in src/domain/views.ts; the rows
// tests compare the two whole.

/** A timestamptz as JavaScript's toISOString() writes it (milliseconds, Z). */
const iso = (column: SQL) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * A person cell as personCellView shapes it (`c` the cell, `col` its column): `sources` only on a
 * completed web answer (its http(s) links, with titles where known), `attempts` only for the tries
 * of the cell's current token, `waitingOn` only on a pending cell that waits.
 */
const cellJson = sql`
  jsonb_build_object(
    'id', c.id, 'listId', c.list_id, 'columnId', c.column_id, 'rowId', c.row_id,
    'value', c.value, 'status', c.status, 'reasoning', c.reasoning, 'error', c.error,
    'createdAt', ${iso(sql`c.created_at`)}, 'updatedAt', ${iso(sql`c.updated_at`)})
  || case when col.enrichment_type is null and col.source = 'web' and c.status = 'completed' and jsonb_typeof(c.metadata -> 'sources') = 'array'
       then jsonb_build_object('sources', coalesce((
         select jsonb_agg(case when jsonb_typeof(c.metadata -> 'sourceTitles' -> (e.v #>> '{}')) = 'string' and (c.metadata -> 'sourceTitles' ->> (e.v #>> '{}')) <> ''
                               then jsonb_build_object('url', e.v #>> '{}', 'title', c.metadata -> 'sourceTitles' ->> (e.v #>> '{}'))
                               else jsonb_build_object('url', e.v #>> '{}') end order by e.n)
         from jsonb_array_elements(c.metadata -> 'sources') with ordinality as e(v, n)
         where jsonb_typeof(e.v) = 'string' and (e.v #>> '{}') ~* ${WEB_LINK_PATTERN}), '[]'::jsonb))
       else '{}'::jsonb end
  || case when c.attempts ->> 'runToken' = c.run_token::text and jsonb_typeof(c.attempts -> 'attempts') = 'array'
       then jsonb_build_object('attempts', c.attempts -> 'attempts') else '{}'::jsonb end
  || case when c.status = 'pending' and cardinality(c.waiting_on) > 0
       then jsonb_build_object('waitingOn', to_jsonb(c.waiting_on)) else '{}'::jsonb end`;

/** A person row as rowView shapes it (`r` the row), with its cells in column order. */
const rowJson = sql`
  json_build_object(
    'id', r.id, 'listId', r.list_id, 'leadId', r.lead_id, 'companyRowId', r.company_row_id, 'position', r.position,
    'firstName', r.first_name, 'lastName', r.last_name, 'fullName', r.full_name, 'company', r.company, 'role', r.role,
    'headline', r.headline, 'linkedinUrl', r.linkedin_url, 'location', r.location, 'domain', r.domain, 'email', r.email,
    'phone', r.phone, 'seniority', r.seniority, 'departments', r.departments, 'functions', r.functions, 'experience', r.experience,
    'attributes', r.attributes, 'createdAt', ${iso(sql`r.created_at`)}, 'updatedAt', ${iso(sql`r.updated_at`)},
    'cells', coalesce((
      select json_agg(${cellJson} order by col.position, col.id)
      from list_cells c join list_columns col on col.id = c.column_id
      where c.row_id = r.id), '[]'::json))`;

/** The page as the route answers it, as JSON text: `{ rows, total, limit, offset, hasMore }`. 404 for a list not the workspace's. */
export async function personRowPage(
  db: Queryable,
  workspaceId: string,
  listId: string,
  page: Pick<z.output<typeof rowPageQuery>, "limit" | "offset">,
  filter: Filter | null = null,
): Promise<string> {
  const matches = filter ? compileFilter(filter, rowFieldTable("list_rows")) : sql`true`;
  const [found] = rowsOf<{ body: string | null }>(
    await db.execute(sql`
      with list as (
        select id from lists where id = ${listId} and workspace_id = ${workspaceId}
      ), matching as not materialized (
        -- Inlined into both uses: the page reads through the (list_id, position) index, the count on its own.
        select list_rows.* from list_rows join list on list.id = list_rows.list_id where ${matches}
      ), page as (
        select * from matching order by position limit ${page.limit} offset ${page.offset}::bigint
      ), total as (
        select count(*) as n from matching
      )
      select case when exists (select 1 from list) then json_build_object(
               'rows', coalesce((select json_agg(${rowJson} order by r.position) from page r), '[]'::json),
               'total', (select n from total),
               'limit', ${page.limit}::int,
               'offset', ${page.offset}::bigint,
               'hasMore', ${page.offset}::bigint + (select count(*) from page) < (select n from total))::text end as body`),
  );
  if (!found?.body) throw AppError.notFound("List");
  return found.body;
}
