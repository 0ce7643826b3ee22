import { and, asc, eq, sql } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { jsonParam, uuidSet } from "../db/sql";
import { columns, personRows } from "../db/schema";
import { AppError } from "../errors";
import type { personRowFields } from "../routes/rows/schemas";
import { syncBuiltInCells } from "./built-in-columns";
import { COLUMN_FIELD_PREFIX } from "./engine/conditions";
import type { RowEngine } from "./engine/work";
import { cleanText, lockListMembers, upsertCompanyRows } from "./company-rows";
import { isUniqueViolation } from "./credits";
import { requireList } from "./lists";
import { settleCellsOfRemovedRows } from "./removals";
import { domainKey, emailKey, joinName, linkedinKey, splitName, textKey } from "./normalize";

/** A person to add; `customColumns` holds values for the list's own (non-built-in) person columns. */
export type PersonInput = z.output<typeof personRowFields>;

export type PersonRow = typeof personRows.$inferSelect;

/** Per input, in input order: the row it landed in, and whether that row existed before it (a merge). */
export type PersonUpsert = { rowId: string; merged: boolean };

const PERSON_FIELDS = ["firstName", "lastName", "company", "role", "headline", "linkedinUrl", "location", "domain", "email", "phone"] as const;
type PersonFields = Record<(typeof PERSON_FIELDS)[number], string | null>;

type DedupeKeys = { linkedinKey: string | null; nameKey: string | null; companyKey: string | null; locationKey: string | null };

function normalisePerson(input: PersonInput): PersonFields {
  const role = cleanText(input.role);
  return {
    firstName: cleanText(input.firstName),
    lastName: cleanText(input.lastName),
    company: cleanText(input.company),
    role,
    headline: role,
    linkedinUrl: cleanText(input.linkedinUrl),
    location: cleanText(input.location),
    domain: domainKey(input.domain),
    email: cleanText(input.email),
    phone: cleanText(input.phone),
  };
}

function fieldsOfRow(row: PersonRow): PersonFields {
  return Object.fromEntries(PERSON_FIELDS.map((f) => [f, cleanText(row[f])])) as PersonFields;
}

function dedupeKeysOf(f: PersonFields, fullName: string | null): DedupeKeys {
  return {
    linkedinKey: linkedinKey(f.linkedinUrl),
    nameKey: textKey(fullName),
    companyKey: textKey(f.company),
    locationKey: textKey(f.location),
  };
}

/** A name, a LinkedIn URL or an email: what a person row needs at least. */
export function isIdentifiable(input: PersonInput): boolean {
  return [input.firstName, input.lastName, input.linkedinUrl, input.email].some((v) => cleanText(v) !== null);
}

/** A row of the list as the import sees it: an existing one or one this import creates. */
type Member = {
  existing: PersonRow | null;
  fields: PersonFields;
  fullName: string | null;
  keys: DedupeKeys;
  companyRowId: string | null;
  /** The company lead behind a company row linked by this import, for a new person lead. */
  companyLeadId: string | null;
  /** Existing rows: something to write back. */
  changed: boolean;
  /** Sort rank among rows with the same name: existing rows by position, then new ones in input order. */
  rank: number;
  rowId: string | null;
  cells: Map<string, unknown>;
  /** Fields a merge filled, as the filter language names them (what auto-run columns may read). */
  filled: Set<string>;
};

/** The filter-language fields a person field feeds (a name part feeds the name too). */
const FIELD_READS: Record<(typeof PERSON_FIELDS)[number], readonly string[]> = {
  firstName: ["firstName", "name"],
  lastName: ["lastName", "name"],
  company: ["company"],
  role: ["title"],
  headline: ["title"],
  linkedinUrl: ["linkedinUrl"],
  location: ["location"],
  domain: ["domain"],
  email: ["email"],
  phone: [],
};

/**
 * The list's rows by their dedupe keys, kept current while an import merges into them, so every input
 * is matched against the list as the earlier inputs left it.
 */
class ListMembers {
  private byLinkedin = new Map<string, Member>();
  private byName = new Map<string, Member[]>();

  add(member: Member): void {
    if (member.keys.linkedinKey) this.byLinkedin.set(member.keys.linkedinKey, member);
    if (member.keys.nameKey) {
      const same = this.byName.get(member.keys.nameKey) ?? [];
      const at = same.findIndex((m) => m.rank > member.rank);
      same.splice(at < 0 ? same.length : at, 0, member);
      this.byName.set(member.keys.nameKey, same);
    }
  }

  private remove(member: Member): void {
    if (member.keys.linkedinKey) this.byLinkedin.delete(member.keys.linkedinKey);
    if (member.keys.nameKey) {
      const same = this.byName.get(member.keys.nameKey)!.filter((m) => m !== member);
      this.byName.set(member.keys.nameKey, same);
    }
  }

  /**
   * The dedupe rules in order: LinkedIn URL; then name + company; name + location; name alone (only
   * for an input with neither company nor location). Each applies only when the input has its fields.
   * A name-based candidate whose LinkedIn URL differs from the input's (both present) is not a match.
   * Among several candidates the earliest row wins.
   */
  find(keys: DedupeKeys): Member | undefined {
    if (keys.linkedinKey) {
      const byUrl = this.byLinkedin.get(keys.linkedinKey);
      if (byUrl) return byUrl;
    }
    if (!keys.nameKey) return undefined;
    const sameName = (this.byName.get(keys.nameKey) ?? []).filter(
      (m) => !(m.keys.linkedinKey && keys.linkedinKey && m.keys.linkedinKey !== keys.linkedinKey),
    );
    if (keys.companyKey) {
      const match = sameName.find((m) => m.keys.companyKey === keys.companyKey);
      if (match) return match;
    }
    if (keys.locationKey) {
      const match = sameName.find((m) => m.keys.locationKey === keys.locationKey);
      if (match) return match;
    }
    if (!keys.companyKey && !keys.locationKey) return sameName[0];
    return undefined;
  }

  /** Merge: only the member's empty fields take the input's values. */
  merge(member: Member, incoming: PersonFields): void {
    const filled = PERSON_FIELDS.filter((f) => member.fields[f] === null && incoming[f] !== null);
    if (filled.length === 0) return;
    this.remove(member);
    // A full name made of the parts follows them; one stored some other way (e.g. from a lead) is kept.
    const derived = member.fullName === null || member.fullName === joinName(member.fields.firstName, member.fields.lastName);
    for (const f of filled) {
      member.fields[f] = incoming[f];
      for (const read of FIELD_READS[f]) member.filled.add(read);
    }
    if (derived) member.fullName = joinName(member.fields.firstName, member.fields.lastName);
    member.keys = dedupeKeysOf(member.fields, member.fullName);
    member.changed = true;
    this.add(member);
  }
}

/**
 * Adds people to a list, or merges them into the rows they match (see ListMembers.find), with a
 * constant number of statements for any number of inputs. Inputs are applied in order, so duplicates
 * inside one call merge too. A merge fills only the row's empty fields. A new row gets its person lead
 * (found by LinkedIn URL, then email, in the workspace, or created from the row's fields), its
 * built-in cells, and a company row for its company/domain. A row that has a company or domain but no
 * company row after the call (new or merged) is linked to one.
 */
export async function upsertPersonRows(db: Db, params: UpsertParams, engine?: RowEngine): Promise<UpsertOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await upsertPersonRowsOnce(db, params, engine);
    } catch (error) {
      // Writers that do not take the list lock (adding a lead to lists) can insert a row with the same
      // LinkedIn key between our lookup and our insert; a fresh attempt sees their row and merges.
      if (attempt >= MAX_ATTEMPTS || !isUniqueViolation(error)) throw error;
    }
  }
}

const MAX_ATTEMPTS = 3;

type UpsertParams = { workspaceId: string; listId: string; rows: PersonInput[] };
type UpsertOutcome = { results: PersonUpsert[]; inserted: number; merged: number };

async function upsertPersonRowsOnce(db: Db, params: UpsertParams, engine: RowEngine | undefined): Promise<UpsertOutcome> {
  const { workspaceId, listId } = params;
  const inputs = params.rows.map((input) => {
    const fields = normalisePerson(input);
    const fullName = joinName(fields.firstName, fields.lastName);
    return { fields, fullName, keys: dedupeKeysOf(fields, fullName), cells: Object.entries(input.customColumns ?? {}) };
  });

  return db.transaction(async (tx) => {
    await engine?.begin(tx, workspaceId, [listId]);
    await lockListMembers(tx, workspaceId, listId);
    await requireCustomColumns(tx, listId, inputs.flatMap((i) => i.cells.map(([columnId]) => columnId)));

    const keys = inputs.map((i) => i.keys);
    const candidates = await tx
      .select()
      .from(personRows)
      .where(
        sql`${personRows.listId} = ${listId} and (
          ${personRows.linkedinKey} in (select jsonb_array_elements_text(${jsonParam(keys.flatMap((k) => k.linkedinKey ?? []))}))
          or ${personRows.nameKey} in (select jsonb_array_elements_text(${jsonParam(keys.flatMap((k) => k.nameKey ?? []))})))`,
      )
      .orderBy(asc(personRows.position));

    const members = new ListMembers();
    for (const row of candidates) {
      const fields = fieldsOfRow(row);
      const fullName = cleanText(row.fullName) ?? joinName(fields.firstName, fields.lastName);
      members.add({
        existing: row,
        fields,
        fullName,
        keys: dedupeKeysOf(fields, fullName),
        companyRowId: row.companyRowId,
        companyLeadId: null,
        changed: false,
        rank: row.position,
        rowId: row.id,
        cells: new Map(),
        filled: new Set(),
      });
    }
    const created: Member[] = [];
    const touched = new Set<Member>();
    const placement = inputs.map((input) => {
      const match = members.find(input.keys);
      const member: Member = match ?? {
        existing: null,
        fields: { ...input.fields },
        fullName: input.fullName,
        keys: input.keys,
        companyRowId: null,
        companyLeadId: null,
        changed: false,
        rank: Number.MAX_SAFE_INTEGER - inputs.length + created.length,
        rowId: null,
        cells: new Map(),
        filled: new Set(),
      };
      if (match) members.merge(match, input.fields);
      else {
        members.add(member);
        created.push(member);
      }
      for (const [columnId, value] of input.cells) member.cells.set(columnId, value);
      touched.add(member);
      return { member, merged: match !== undefined };
    });

    const createdCompanies = await linkCompanyRows(tx, workspaceId, listId, [...touched]);
    await insertRows(tx, workspaceId, listId, created);
    const changed = [...touched].filter((m) => m.existing && m.changed);
    await updateRows(tx, listId, changed);
    await syncBuiltInCells(tx, [...created, ...changed].map((m) => m.rowId!));
    await writeCustomCells(tx, listId, [...touched]);
    await engine?.rowsChanged(tx, {
      listId,
      added: { person: created.map((m) => m.rowId!), company: createdCompanies },
      // Merged rows: the fields a merge filled, and the manual columns given values.
      changed: [...touched]
        .filter((m) => m.existing)
        .map((m) => ({ subject: "person" as const, rowId: m.rowId!, fields: [...m.filled, ...[...m.cells.keys()].map((id) => `${COLUMN_FIELD_PREFIX}${id}`)] }))
        .filter((m) => m.fields.length > 0),
    });

    const results = placement.map(({ member, merged }) => ({ rowId: member.rowId!, merged }));
    return { results, inserted: created.length, merged: inputs.length - created.length };
  });
}

/** Every id must be a non-built-in person column of the list, else 404 "Column not found". */
async function requireCustomColumns(tx: Queryable, listId: string, columnIds: string[]): Promise<void> {
  const wanted = [...new Set(columnIds)];
  if (wanted.length === 0) return;
  const found = await tx
    .select({ id: columns.id })
    .from(columns)
    .where(
      sql`${columns.listId} = ${listId} and ${columns.subject} = 'person' and ${columns.builtInKey} is null
          and ${columns.id} in ${uuidSet(wanted)}`,
    );
  if (found.length < wanted.length) throw AppError.notFound("Column");
}

/** Company rows for the members that have a company or a domain but no company row yet; returns the ids of the rows it created. */
async function linkCompanyRows(tx: Queryable, workspaceId: string, listId: string, touched: Member[]): Promise<string[]> {
  const unlinked = touched.filter((m) => m.companyRowId === null && (m.fields.company || m.fields.domain));
  if (unlinked.length === 0) return [];
  const companies = await upsertCompanyRows(tx, {
    workspaceId,
    listId,
    companies: unlinked.map((m) => ({ name: m.fields.company ?? m.fields.domain!, domain: m.fields.domain })),
  });
  unlinked.forEach((m, i) => {
    m.companyRowId = companies[i]!.row.id;
    m.companyLeadId = companies[i]!.row.leadId;
    m.changed = true;
  });
  return [...new Set(companies.filter((c) => c.created).map((c) => c.row.id))];
}

function rowRecord(m: Member) {
  const f = m.fields;
  return {
    first_name: f.firstName,
    last_name: f.lastName,
    full_name: m.fullName,
    company: f.company,
    role: f.role,
    headline: f.headline,
    linkedin_url: f.linkedinUrl,
    location: f.location,
    domain: f.domain,
    email: f.email,
    phone: f.phone,
    company_row_id: m.companyRowId,
    linkedin_key: m.keys.linkedinKey,
    name_key: m.keys.nameKey,
    company_key: m.keys.companyKey,
    location_key: m.keys.locationKey,
  };
}

const ROW_RECORD = sql.raw(`first_name text, last_name text, full_name text, company text, role text, headline text,
  linkedin_url text, location text, domain text, email text, phone text, company_row_id uuid,
  linkedin_key text, name_key text, company_key text, location_key text`);

/**
 * Creates the person leads of the new rows (ON CONFLICT on the workspace's LinkedIn and email keys:
 * an existing lead is reused, LinkedIn first), then the rows themselves.
 */
async function insertRows(tx: Queryable, workspaceId: string, listId: string, created: Member[]) {
  if (created.length === 0) return;
  const leadRecords = created.map((m, ord) => ({
    ord,
    ...rowRecord(m),
    email_key: emailKey(m.fields.email),
    company_lead_id: m.companyLeadId,
  }));
  const insertedLeads = rowsOf<{ ord: number; id: string }>(
    await tx.execute(sql`
      with input as (
        select x.*, uuid_generate_v7() as new_id
        from jsonb_to_recordset(${jsonParam(leadRecords)}) as x(ord int, ${ROW_RECORD}, email_key text, company_lead_id uuid)
      ), inserted as (
        insert into leads (id, workspace_id, type, full_name, first_name, last_name, title, company_name, company_domain,
                           company_lead_id, location, socials, contacts, linkedin_key, email_key)
        select new_id, ${workspaceId}, 'person', full_name, first_name, last_name, role, company, domain, company_lead_id,
               case when location is null then '{}'::jsonb else jsonb_build_object('raw', location) end,
               case when linkedin_url is null then '[]'::jsonb else jsonb_build_array(jsonb_build_object('url', linkedin_url)) end,
               coalesce((select jsonb_agg(jsonb_build_object('value', v)) from unnest(array[email, phone]) as v where v is not null), '[]'::jsonb),
               linkedin_key, email_key
        from input
        -- One order for every writer, so two imports racing on the same people wait instead of deadlocking.
        order by linkedin_key, email_key, ord
        on conflict do nothing
        returning id
      )
      select input.ord, inserted.id from input join inserted on inserted.id = input.new_id`),
  );
  const leadOfOrd = new Map(insertedLeads.map((r) => [Number(r.ord), r.id]));
  const rowRecords = created.map((m, ord) => ({
    ord,
    ...rowRecord(m),
    email_key: emailKey(m.fields.email),
    lead_id: leadOfOrd.get(ord) ?? null,
  }));
  // A lead not inserted above exists (ours in this statement's past, or a concurrent one now committed).
  const placed = rowsOf<{ ord: number; id: string }>(
    await tx.execute(sql`
      with input as (
        select x.*, uuid_generate_v7() as id
        from jsonb_to_recordset(${jsonParam(rowRecords)}) as x(ord int, ${ROW_RECORD}, email_key text, lead_id uuid)
      ), inserted as (
        insert into list_rows (id, list_id, workspace_id, lead_id, company_row_id, first_name, last_name, full_name, company, role,
                               headline, linkedin_url, location, domain, email, phone, linkedin_key, name_key, company_key, location_key)
        select id, ${listId}, ${workspaceId},
               coalesce(lead_id,
                        (select l.id from leads l where l.workspace_id = ${workspaceId} and l.linkedin_key = input.linkedin_key),
                        (select l.id from leads l where l.workspace_id = ${workspaceId} and l.email_key = input.email_key)),
               company_row_id, first_name, last_name, full_name, company, role, headline, linkedin_url, location, domain, email, phone,
               linkedin_key, name_key, company_key, location_key
        from input
        order by ord
        returning id
      )
      select input.ord, input.id from input join inserted on inserted.id = input.id`),
  );
  for (const p of placed) created[Number(p.ord)]!.rowId = p.id;
}

async function updateRows(tx: Queryable, listId: string, changed: Member[]): Promise<void> {
  if (changed.length === 0) return;
  const records = changed.map((m) => ({ id: m.rowId, ...rowRecord(m) }));
  await tx.execute(sql`
    update list_rows r set
      first_name = x.first_name, last_name = x.last_name, full_name = x.full_name, company = x.company, role = x.role,
      headline = x.headline, linkedin_url = x.linkedin_url, location = x.location, domain = x.domain, email = x.email,
      phone = x.phone, company_row_id = x.company_row_id, linkedin_key = x.linkedin_key, name_key = x.name_key,
      company_key = x.company_key, location_key = x.location_key, updated_at = now()
    from jsonb_to_recordset(${jsonParam(records)}) as x(id uuid, ${ROW_RECORD})
    where r.id = x.id and r.list_id = ${listId}`);
}

/** The customColumns values as completed cells; within one call the last value given for a cell wins. */
async function writeCustomCells(tx: Queryable, listId: string, touched: Member[]): Promise<void> {
  const records = touched.flatMap((m) => [...m.cells].map(([columnId, value]) => ({ column_id: columnId, row_id: m.rowId, value })));
  if (records.length === 0) return;
  await tx.execute(sql`
    insert into list_cells (list_id, column_id, row_id, value, status)
    select ${listId}, x.column_id, x.row_id, x.value, 'completed'
    from jsonb_to_recordset(${jsonParam(records)}) as x(column_id uuid, row_id uuid, value jsonb)
    on conflict (column_id, row_id) do update
      set value = excluded.value, status = 'completed', reasoning = null, error = null, updated_at = now()`);
}

/**
 * The list's AI and enrichment person columns (dynamic or typed, never built-in) that have no cell for
 * the row yet, by position.
 */
export async function columnsToEnrich(db: Queryable, listId: string, rowId: string): Promise<string[]> {
  const rows = await db
    .select({ id: columns.id })
    .from(columns)
    .where(
      sql`${columns.listId} = ${listId} and ${columns.subject} = 'person' and ${columns.builtInKey} is null
          and (${columns.isDynamic} or ${columns.enrichmentType} is not null)
          and not exists (select 1 from list_cells c where c.column_id = ${columns.id} and c.row_id = ${rowId})`,
    )
    .orderBy(asc(columns.position), asc(columns.id));
  return rows.map((r) => r.id);
}

export async function getPersonRow(db: Queryable, listId: string, rowId: string): Promise<PersonRow> {
  const [row] = await db.select().from(personRows).where(and(eq(personRows.id, rowId), eq(personRows.listId, listId)));
  if (!row) throw AppError.notFound("Row");
  return row;
}

/**
 * One page of the list's rows by position, each with its cells (by column position): three queries
 * per page, filtered or not. With a filter, only the rows that match it, and `total` counts those.
 */
export const PATCHABLE_FIELDS = ["name", "role", "company", "location", "domain", "linkedin"] as const;
export type PatchableField = (typeof PATCHABLE_FIELDS)[number];

/**
 * Sets one field of a row, keeping its dedupe keys and built-in cells in step. `name` splits on the
 * first whitespace; `role` sets role and headline; `linkedin` moves the row's LinkedIn key (409 when
 * another row of the list has it); `domain` is normalised and carried to the linked company row: when
 * another company row of the list already has that domain the row is re-linked to it instead, and a row
 * without a company row gets one. A `company` on a row without a company row links one too. Clearing
 * the domain (null) leaves the company row alone: other people may work there.
 */
export async function patchPersonRow(
  db: Db,
  params: { workspaceId: string; listId: string; rowId: string; field: PatchableField; value: string | null },
  engine?: RowEngine,
): Promise<void> {
  const { workspaceId, listId, rowId, field } = params;
  const value = cleanText(params.value);
  await db.transaction(async (tx) => {
    await engine?.begin(tx, workspaceId, [listId]);
    await lockListMembers(tx, workspaceId, listId);
    const row = await getPersonRow(tx, listId, rowId);
    const set: Partial<typeof personRows.$inferInsert> = {};
    let link: CompanyLink | null = null;
    switch (field) {
      case "name": {
        const { first, last } = splitName(value);
        const fullName = joinName(first, last);
        Object.assign(set, { firstName: first, lastName: last, fullName, nameKey: textKey(fullName) });
        break;
      }
      case "role":
        Object.assign(set, { role: value, headline: value });
        break;
      case "company":
        Object.assign(set, { company: value, companyKey: textKey(value) });
        if (value && !row.companyRowId) {
          link = await companyRowFor(tx, workspaceId, listId, value, row.domain);
          set.companyRowId = link.id;
        }
        break;
      case "location":
        Object.assign(set, { location: value, locationKey: textKey(value) });
        break;
      case "domain": {
        const domain = domainKey(value);
        set.domain = domain;
        if (domain) {
          link = await carryDomain(tx, workspaceId, listId, row, domain);
          set.companyRowId = link.id;
        }
        break;
      }
      case "linkedin": {
        const key = linkedinKey(value);
        if (key) {
          const [holder] = await tx
            .select({ id: personRows.id })
            .from(personRows)
            .where(sql`${personRows.listId} = ${listId} and ${personRows.linkedinKey} = ${key} and ${personRows.id} <> ${rowId}`);
          if (holder) throw linkedinConflict();
        }
        Object.assign(set, { linkedinUrl: value, linkedinKey: key });
        break;
      }
    }
    try {
      await tx
        .update(personRows)
        .set({ ...set, updatedAt: sql`now()` })
        .where(eq(personRows.id, rowId));
    } catch (error) {
      // A writer that does not take the list lock got the LinkedIn key in between.
      if (isUniqueViolation(error)) throw linkedinConflict();
      throw error;
    }
    await syncBuiltInCells(tx, [rowId]);
    const changedFields = Object.entries(PATCH_READS[field]).filter(([column]) => (row as Record<string, unknown>)[column] !== (set as Record<string, unknown>)[column]).map(([, read]) => read);
    await engine?.rowsChanged(tx, {
      listId,
      added: { company: link?.created ? [link.id] : [] },
      changed: [
        ...(changedFields.length > 0 ? [{ subject: "person" as const, rowId, fields: [...new Set(changedFields)] }] : []),
        // A domain carried to the company row changes that row's domain too.
        ...(link?.moved ? [{ subject: "company" as const, rowId: link.id, fields: ["domain"] }] : []),
      ],
    });
  });
}

/** What each PATCH field writes (row property → the filter-language field it is). */
const PATCH_READS: Record<PatchableField, Record<string, string>> = {
  name: { firstName: "firstName", lastName: "lastName", fullName: "name" },
  role: { role: "title" },
  company: { company: "company" },
  location: { location: "location" },
  domain: { domain: "domain" },
  linkedin: { linkedinUrl: "linkedinUrl" },
};

const linkedinConflict = () => new AppError("CONFLICT", "Another row of this list has this LinkedIn URL");

/** How a person row's change touched the list's company rows: the one it links to, and whether that was created or had its domain changed. */
type CompanyLink = { id: string; created: boolean; moved: boolean };

async function companyRowFor(tx: Queryable, workspaceId: string, listId: string, name: string, domain: string | null): Promise<CompanyLink> {
  const [company] = await upsertCompanyRows(tx, { workspaceId, listId, companies: [{ name, domain }] });
  return { id: company!.row.id, created: company!.created, moved: false };
}

/** The company row the row links to once its domain is `domain`. */
async function carryDomain(tx: Queryable, workspaceId: string, listId: string, row: PersonRow, domain: string): Promise<CompanyLink> {
  if (!row.companyRowId) return companyRowFor(tx, workspaceId, listId, row.company ?? domain, domain);
  const [link] = rowsOf<{ id: string; moved: boolean }>(
    await tx.execute(sql`
      with holder as (
        select id from list_company_rows where list_id = ${listId} and domain = ${domain}
      ), moved as (
        update list_company_rows set domain = ${domain}, updated_at = now()
        where id = ${row.companyRowId} and not exists (select 1 from holder) and domain is distinct from ${domain}
        returning id
      )
      select coalesce((select id from holder), ${row.companyRowId}::uuid) as id, exists (select 1 from moved) as moved`),
  );
  return { id: link!.id, created: false, moved: link!.moved };
}

/** Deletes the list's rows among `rowIds` (others are ignored); their cells cascade. */
export async function deletePersonRows(db: Db, workspaceId: string, listId: string, rowIds: string[]): Promise<number> {
  await requireList(db, workspaceId, listId);
  const ids = uuidSet(rowIds);
  return db.transaction(async (tx) => {
    await settleCellsOfRemovedRows(tx, workspaceId, listId, { person: sql`c.row_id in ${ids}` }, "Refund: row deleted before the cell was filled");
    const deleted = await tx
      .delete(personRows)
      .where(sql`${personRows.listId} = ${listId} and ${personRows.id} in ${ids}`)
      .returning({ id: personRows.id });
    return deleted.length;
  });
}
