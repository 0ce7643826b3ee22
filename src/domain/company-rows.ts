import { asc, and, eq, sql, type SQL } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { jsonParam, uuidSet } from "../db/sql";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import { columns, companyCells, companyRows } from "../db/schema";
import { AppError } from "../errors";
import type { addCompanyBody, updateCompanyBody } from "../routes/companies/schemas";
import { isUniqueViolation } from "./credits";
import type { RowEngine } from "./engine/work";
import { requireList } from "./lists";
import { settleCellsOfRemovedRows } from "./removals";
import { domainKey, textKey } from "./normalize";
import { columnViews } from "./cell-store/progress";
import { cellColumnFields, companyCellView, companyRowView } from "./views";

export type CompanyRow = typeof companyRows.$inferSelect;

type Text = string | null | undefined;

export type CompanyInput = z.output<typeof addCompanyBody>;

/** `created`: the row was inserted by this call (false: an existing row matched and had its empty fields filled). */
export type CompanyUpsert = { row: CompanyRow; created: boolean };

/**
 * Serialises writers of a list's memberships (person rows and company rows) for the rest of the
 * transaction, and is the ownership check: another workspace's list is a 404. Dedupe by name has no
 * unique index to lean on, so without this two concurrent imports could both insert "the same" row.
 * NO KEY UPDATE leaves the foreign-key checks of concurrent cell and column writes unblocked.
 */
export async function lockListMembers(db: Queryable, workspaceId: string, listId: string): Promise<void> {
  const found = rowsOf<{ id: string }>(
    await db.execute(sql`select id from lists where id = ${listId} and workspace_id = ${workspaceId} for no key update`),
  );
  if (found.length === 0) throw AppError.notFound("List");
}

export function cleanText(text: Text): string | null {
  const trimmed = text?.trim();
  return trimmed ? trimmed : null;
}

const isEmpty = (value: unknown) => value === null || value === undefined || (typeof value === "string" && value.trim() === "");

/** The fields a company row fills from a matching input when they are empty, with their SQL column and type. */
const FILLABLE = [
  { field: "domain", column: "domain", type: "text" },
  { field: "linkedinUrl", column: "linkedin_url", type: "text" },
  { field: "industry", column: "industry", type: "text" },
  { field: "employeeCount", column: "employee_count", type: "int" },
  { field: "location", column: "location", type: "text" },
  { field: "website", column: "website", type: "text" },
  { field: "description", column: "description", type: "text" },
] as const;

type CompanyFields = {
  name: string;
  domain: string | null;
  linkedinUrl: string | null;
  industry: string | null;
  employeeCount: number | null;
  location: string | null;
  website: string | null;
  description: string | null;
};

function normaliseCompany(input: CompanyInput): CompanyFields {
  const name = cleanText(input.name);
  if (!name) throw new Error("a company needs a non-empty name");
  return {
    name,
    domain: domainKey(input.domain),
    linkedinUrl: cleanText(input.linkedinUrl),
    industry: cleanText(input.industry),
    employeeCount: input.employeeCount ?? null,
    location: cleanText(input.location),
    website: cleanText(input.website),
    description: cleanText(input.description),
  };
}

/** Fills the empty fields of `target` from `source`; true when anything changed. */
function fillEmptyCompany(target: CompanyFields, source: CompanyFields): boolean {
  let changed = false;
  for (const { field } of FILLABLE) {
    if (isEmpty(target[field]) && !isEmpty(source[field])) {
      (target as Record<string, unknown>)[field] = source[field];
      changed = true;
    }
  }
  return changed;
}

/** Snake-case record for jsonb_to_recordset, in the column names of COMPANY_RECORD. */
function companyRecord(ord: number, f: CompanyFields, extra: Record<string, unknown> = {}) {
  return {
    ord,
    name: f.name,
    domain: f.domain,
    linkedin_url: f.linkedinUrl,
    industry: f.industry,
    employee_count: f.employeeCount,
    location: f.location,
    website: f.website,
    description: f.description,
    ...extra,
  };
}

const COMPANY_RECORD = sql.raw(
  `ord int, name text, domain text, linkedin_url text, industry text, employee_count int, location text, website text, description text`,
);

// One group per distinct company of the input: the same domain, or (without a domain) the same name.
// `rowId`: the row it landed in, once known; `created`: that row was inserted by this call.
type Group = { fields: CompanyFields; rowId: string | null; created: boolean };

const groupKey = (f: CompanyFields) => (f.domain ? `domain:${f.domain}` : `name:${textKey(f.name)}`);

/** Name comparison prefilter in SQL: whitespace removed and lowercased; textKey decides exactly in JS. */
const squashed = (name: string) => name.replace(/\s+/g, "").toLowerCase();

/**
 * Finds or creates a company row of the list for each input, in input order, with a constant number of
 * statements for any number of inputs. The domain is normalised (domainKey) and is the dedupe key:
 * an input matches the list's row with that domain (or the row of the workspace's company lead with that
 * domain). An input without a domain matches the list's earliest domain-less row with the same name
 * (case- and whitespace-insensitive). A match only has its empty fields filled. Otherwise the company
 * lead is found (same domain_key in the workspace) or created, and a row inserted. Inputs that are the
 * same company merge into one row, the earlier input's values winning.
 */
export async function upsertCompanyRows(
  db: Queryable,
  params: { workspaceId: string; listId: string; companies: CompanyInput[] },
  engine?: RowEngine,
): Promise<CompanyUpsert[]> {
  const { workspaceId, listId } = params;
  if (params.companies.length === 0) return [];
  const normalised = params.companies.map(normaliseCompany);

  const groups = new Map<string, Group>();
  const groupOfInput = normalised.map((fields) => {
    const key = groupKey(fields);
    const known = groups.get(key);
    if (known) {
      fillEmptyCompany(known.fields, fields);
      return known;
    }
    const group: Group = { fields: { ...fields }, rowId: null, created: false };
    groups.set(key, group);
    return group;
  });
  const all = [...groups.values()];
  const domains = all.flatMap((g) => (g.fields.domain ? [g.fields.domain] : []));
  const names = all.flatMap((g) => (g.fields.domain ? [] : [squashed(g.fields.name)]));

  return db.transaction(async (tx) => {
    await engine?.begin(tx, workspaceId, [listId]);
    await lockListMembers(tx, workspaceId, listId);

    const candidates = rowsOf<{ id: string; name: string; domain: string | null; lead_domain_key: string | null }>(
      await tx.execute(sql`
        select c.id, c.name, c.domain, l.domain_key as lead_domain_key
        from list_company_rows c join leads l on l.id = c.lead_id
        where c.list_id = ${listId}
          and (c.domain in (select jsonb_array_elements_text(${jsonParam(domains)}))
               or l.domain_key in (select jsonb_array_elements_text(${jsonParam(domains)}))
               or (c.domain is null and lower(regexp_replace(c.name, '\\s+', '', 'g')) in (select jsonb_array_elements_text(${jsonParam(names)}))))
        order by c.position`),
    );
    for (const g of all) {
      const { domain, name } = g.fields;
      const match = domain
        ? (candidates.find((c) => c.domain === domain) ?? candidates.find((c) => c.lead_domain_key === domain))
        : candidates.find((c) => c.domain === null && textKey(c.name) === textKey(name));
      g.rowId = match?.id ?? null;
    }

    const fresh = all.filter((g) => g.rowId === null);
    if (fresh.length > 0) await insertCompanyRows(tx, workspaceId, listId, fresh);

    const matched = all.filter((g) => !g.created);
    if (matched.length > 0) await fillCompanyRows(tx, matched);

    const stored = await tx.select().from(companyRows).where(sql`${companyRows.id} in ${uuidSet(all.map((g) => g.rowId!))}`);
    const byId = new Map(stored.map((r) => [r.id, r]));
    await engine?.rowsChanged(tx, { listId, added: { company: fresh.filter((g) => g.created).map((g) => g.rowId!) } });
    return groupOfInput.map((g) => ({ row: byId.get(g.rowId!)!, created: g.created }));
  });
}

/**
 * Creates the company leads (ON CONFLICT on the workspace's domain_key: a lead another request made
 * meanwhile is reused) and then the rows. A row that a concurrent writer inserted first becomes a match.
 */
async function insertCompanyRows(tx: Queryable, workspaceId: string, listId: string, fresh: Group[]): Promise<void> {
  const records = fresh.map((g, ord) => companyRecord(ord, g.fields));
  const insertedLeads = rowsOf<{ ord: number; id: string }>(
    await tx.execute(sql`
      with input as (
        select x.*, uuid_generate_v7() as new_id
        from jsonb_to_recordset(${jsonParam(records)}) as x(${COMPANY_RECORD})
      ), inserted as (
        insert into leads (id, workspace_id, type, full_name, domain, domain_key, industry, size, location, socials, attributes)
        select new_id, ${workspaceId}, 'company', name, domain, domain, industry, employee_count::text,
               case when location is null then '{}'::jsonb else jsonb_build_object('raw', location) end,
               case when linkedin_url is null then '[]'::jsonb else jsonb_build_array(jsonb_build_object('url', linkedin_url)) end,
               jsonb_strip_nulls(jsonb_build_object('website', website, 'description', description))
        from input
        -- One order for every writer, so two imports racing on the same domains wait instead of deadlocking.
        order by domain, ord
        on conflict do nothing
        returning id
      )
      select input.ord, inserted.id from input join inserted on inserted.id = input.new_id`),
  );
  const leadOfOrd = new Map(insertedLeads.map((r) => [Number(r.ord), r.id]));
  const rowRecords = fresh.map((g, ord) => companyRecord(ord, g.fields, { lead_id: leadOfOrd.get(ord) ?? null }));
  const placed = rowsOf<{ ord: number; lead_id: string; id: string | null }>(
    await tx.execute(sql`
      with input as (
        select x.*, coalesce(x.lead_id, (select l.id from leads l where l.workspace_id = ${workspaceId} and l.domain_key = x.domain)) as resolved_lead_id
        from jsonb_to_recordset(${jsonParam(rowRecords)}) as x(${COMPANY_RECORD}, lead_id uuid)
      ), inserted as (
        insert into list_company_rows (list_id, workspace_id, lead_id, name, domain, linkedin_url, industry, employee_count, location, website, description)
        select ${listId}, ${workspaceId}, resolved_lead_id, name, domain, linkedin_url, industry, employee_count, location, website, description
        from input
        order by ord
        on conflict do nothing
        returning id, lead_id
      )
      select input.ord, input.resolved_lead_id as lead_id, inserted.id
      from input left join inserted on inserted.lead_id = input.resolved_lead_id`),
  );
  const lost: { group: Group; leadId: string }[] = [];
  for (const p of placed) {
    const group = fresh[Number(p.ord)]!;
    if (p.id) {
      group.created = true;
      group.rowId = p.id;
    } else {
      lost.push({ group, leadId: p.lead_id });
    }
  }
  if (lost.length === 0) return;
  // Rows inserted by a writer that does not take the list lock between our lookup and our insert.
  const existing = await tx
    .select({ id: companyRows.id, leadId: companyRows.leadId, domain: companyRows.domain })
    .from(companyRows)
    .where(
      sql`${companyRows.listId} = ${listId} and (${companyRows.leadId} in ${uuidSet(lost.map((l) => l.leadId))}
          or ${companyRows.domain} in (select jsonb_array_elements_text(${jsonParam(lost.map((l) => l.group.fields.domain))})))`,
    );
  for (const { group, leadId } of lost) {
    const row = existing.find((r) => r.leadId === leadId) ?? existing.find((r) => r.domain !== null && r.domain === group.fields.domain);
    if (!row) throw new Error(`company row for lead ${leadId} neither inserted nor found`);
    group.rowId = row.id;
  }
}

/** Fills the empty fields of matched rows from the inputs, in one UPDATE; rows with nothing to fill are untouched. */
async function fillCompanyRows(tx: Queryable, matched: Group[]): Promise<void> {
  // Several inputs can land on one row (its domain and its lead's domain): the earlier one wins.
  const byRow = new Map<string, CompanyFields>();
  for (const g of matched) {
    const current = byRow.get(g.rowId!);
    if (current) fillEmptyCompany(current, g.fields);
    else byRow.set(g.rowId!, { ...g.fields });
  }
  const records = [...byRow].map(([id, fields], ord) => companyRecord(ord, fields, { id }));
  const emptyIn = (column: string, type: string): SQL =>
    type === "text" ? sql.raw(`nullif(c.${column}, '')`) : sql.raw(`c.${column}`);
  const assignments = sql.join(
    FILLABLE.map(({ column, type }) => sql`${sql.raw(column)} = coalesce(${emptyIn(column, type)}, x.${sql.raw(column)})`),
    sql`, `,
  );
  const fillsSomething = sql.join(
    FILLABLE.map(({ column, type }) => sql`(${emptyIn(column, type)} is null and x.${sql.raw(column)} is not null)`),
    sql` or `,
  );
  await tx.execute(sql`
    update list_company_rows c set ${assignments}, updated_at = now()
    from jsonb_to_recordset(${jsonParam(records)}) as x(${COMPANY_RECORD}, id uuid)
    where c.id = x.id and (${fillsSomething})`);
}

/** The list's company rows by position, its company-subject columns (non-preview, by position) and their cells. */
export async function listCompanyRows(db: Queryable, workspaceId: string, listId: string) {
  await requireList(db, workspaceId, listId);
  const rows = await db.select().from(companyRows).where(eq(companyRows.listId, listId)).orderBy(asc(companyRows.position));
  const companyColumns = await db
    .select()
    .from(columns)
    .where(and(eq(columns.listId, listId), eq(columns.subject, "company"), eq(columns.isPreview, false)))
    .orderBy(asc(columns.position), asc(columns.id));
  const cells = await db
    .select({ cell: companyCells, column: cellColumnFields })
    .from(companyCells)
    .innerJoin(columns, eq(columns.id, companyCells.columnId))
    .innerJoin(companyRows, eq(companyRows.id, companyCells.companyRowId))
    .where(and(eq(companyCells.listId, listId), eq(columns.subject, "company"), eq(columns.isPreview, false)))
    .orderBy(asc(companyRows.position), asc(columns.position), asc(columns.id));
  return {
    companies: rows.map(companyRowView),
    columns: await columnViews(db, companyColumns),
    cells: cells.map((c) => companyCellView(c.cell, c.column)),
  };
}

export type CompanyPatch = z.output<typeof updateCompanyBody>;

/**
 * Overwrites the given fields of one company row (a missing field is left alone, null clears it).
 * The domain is normalised; a domain another company row of the list has is a 409.
 */
export async function patchCompanyRow(db: Queryable, workspaceId: string, listId: string, companyRowId: string, patch: CompanyPatch, engine?: RowEngine) {
  if (!engine) return patchCompanyRowIn(db, workspaceId, listId, companyRowId, patch);
  return db.transaction(async (tx) => {
    await engine.begin(tx, workspaceId, [listId]);
    const [before] = await tx.select().from(companyRows).where(and(eq(companyRows.id, companyRowId), eq(companyRows.listId, listId)));
    const row = await patchCompanyRowIn(tx, workspaceId, listId, companyRowId, patch);
    const fields = before ? COMPANY_READS.filter(([column]) => before[column] !== row[column]).map(([, read]) => read) : [];
    if (fields.length > 0) await engine.rowsChanged(tx, { listId, changed: [{ subject: "company", rowId: row.id, fields }] });
    return row;
  });
}

/** The company row's fields an auto-run column may read, with the filter-language (or placeholder) field each is. */
const COMPANY_READS: ReadonlyArray<[keyof typeof companyRows.$inferSelect, string]> = [
  ["name", "name"],
  ["name", "company"],
  ["domain", "domain"],
  ["linkedinUrl", "linkedinUrl"],
  ["industry", "industry"],
  ["employeeCount", "size"],
  ["location", "location"],
  ["website", "website"],
  ["description", "description"],
];

async function patchCompanyRowIn(db: Queryable, workspaceId: string, listId: string, companyRowId: string, patch: CompanyPatch) {
  await requireList(db, workspaceId, listId);
  const set: PgUpdateSetSource<typeof companyRows> = { updatedAt: sql`now()` };
  if (patch.name !== undefined) set.name = patch.name.trim();
  if (patch.domain !== undefined) set.domain = domainKey(patch.domain);
  if (patch.linkedinUrl !== undefined) set.linkedinUrl = cleanText(patch.linkedinUrl);
  if (patch.industry !== undefined) set.industry = cleanText(patch.industry);
  if (patch.employeeCount !== undefined) set.employeeCount = patch.employeeCount;
  if (patch.location !== undefined) set.location = cleanText(patch.location);
  if (patch.website !== undefined) set.website = cleanText(patch.website);
  if (patch.description !== undefined) set.description = cleanText(patch.description);
  try {
    const [row] = await db
      .update(companyRows)
      .set(set)
      .where(and(eq(companyRows.id, companyRowId), eq(companyRows.listId, listId)))
      .returning();
    if (!row) throw AppError.notFound("Company");
    return row;
  } catch (error) {
    // The only unique index an update of these fields can hit is (list_id, domain).
    if (isUniqueViolation(error)) throw new AppError("CONFLICT", `Another company of this list has the domain ${domainKey(patch.domain)}`);
    throw error;
  }
}

/** Deletes one company row; its cells cascade and its person rows stay, unlinked (ON DELETE SET NULL). */
export async function deleteCompanyRow(db: Db, workspaceId: string, listId: string, companyRowId: string): Promise<void> {
  await requireList(db, workspaceId, listId);
  await db.transaction(async (tx) => {
    await settleCellsOfRemovedRows(tx, workspaceId, listId, { company: sql`c.company_row_id = ${companyRowId}` }, "Refund: company deleted before the cell was filled");
    const deleted = await tx
      .delete(companyRows)
      .where(and(eq(companyRows.id, companyRowId), eq(companyRows.listId, listId)))
      .returning({ id: companyRows.id });
    if (deleted.length === 0) throw AppError.notFound("Company");
  });
}
