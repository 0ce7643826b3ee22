import { and, desc, eq, ilike, lt, or, sql, type SQL } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { uuidSet } from "../db/sql";
import { leads, lists, type LeadLocation } from "../db/schema";
import { AppError } from "../errors";
import type { createLeadBody, listLeadsQuery, updateLeadBody } from "../routes/leads/schemas";
import { syncBuiltInCells } from "./built-in-columns";
import { upsertCompanyRows } from "./company-rows";
import type { RowChange, RowEngine } from "./engine/work";
import { isUniqueViolation } from "./credits";
import { domainKey, emailKey, joinName, linkedinKey, splitName, textKey } from "./normalize";

export type LeadType = "person" | "company";

type Text = string | null | undefined;

export type NewLead = z.output<typeof createLeadBody>;

/**
 * The writable fields of a lead as the API takes them. On create a missing or null field is empty;
 * on update a missing field is left alone and null clears it.
 */
export type LeadFields = Omit<z.output<typeof updateLeadBody>, "id" | "type">;

type LeadRow = typeof leads.$inferSelect;

type LeadColumns = Pick<
  LeadRow,
  | "fullName"
  | "firstName"
  | "lastName"
  | "title"
  | "companyName"
  | "companyDomain"
  | "location"
  | "socials"
  | "contacts"
  | "domain"
  | "industry"
  | "size"
  | "attributes"
  | "raw"
>;

const TEXT_COLUMNS = [
  "fullName",
  "firstName",
  "lastName",
  "title",
  "companyName",
  "companyDomain",
  "domain",
  "industry",
  "size",
] as const satisfies readonly (keyof LeadColumns)[];

const LOCATION_PARTS = ["city", "state", "country", "raw"] as const;

const EMPTY_COLUMNS: LeadColumns = {
  fullName: null,
  firstName: null,
  lastName: null,
  title: null,
  companyName: null,
  companyDomain: null,
  location: {},
  socials: [],
  contacts: [],
  domain: null,
  industry: null,
  size: null,
  attributes: {},
  raw: {},
};

type KeyColumn = "linkedinKey" | "emailKey" | "domainKey";
type LeadKeys = Record<KeyColumn, string | null>;

// In the order a create looks for an existing lead: the most specific identifier wins.
const KEY_COLUMNS: readonly KeyColumn[] = ["linkedinKey", "emailKey", "domainKey"];
const KEY_NAMES: Record<KeyColumn, string> = { linkedinKey: "LinkedIn URL", emailKey: "email", domainKey: "domain" };

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// linkedinKey normalises any URL (case, scheme, query, trailing slash) and collapses LinkedIn's
// hosts, so it also tells whether two social links are the same one.
const socialKey = (social: { url: string }) => linkedinKey(social.url);
const contactKey = (contact: { value: string }) => textKey(contact.value);

function clean(text: Text): string | null {
  const trimmed = text?.trim();
  return trimmed ? trimmed : null;
}

/** The given value (cleaned) when the field was given, else the current one. */
const given = (value: Text, current: string | null) => (value === undefined ? current : clean(value));

/** `current` followed by the `incoming` items whose key it does not hold yet (nor an earlier incoming one). */
function appendUnique<T>(current: T[], incoming: T[], keyOf: (item: T) => string | null): T[] {
  const seen = new Set(current.map(keyOf));
  const added = incoming.filter((item) => {
    const key = keyOf(item);
    if (key === null || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return added.length ? [...current, ...added] : current;
}

const linkedinSocial = (socials: { url: string }[]) => socials.find((s) => socialKey(s)?.startsWith("linkedin.com/"));
const emailContact = (contacts: { value: string }[]) => contacts.find((c) => EMAIL.test(c.value));

function keysOf(type: LeadType, columns: LeadColumns): LeadKeys {
  const social = linkedinSocial(columns.socials);
  return {
    linkedinKey: social ? socialKey(social) : null,
    emailKey: emailKey(emailContact(columns.contacts)?.value),
    domainKey: type === "company" ? domainKey(columns.domain) : null,
  };
}

function applyName(type: LeadType, current: LeadColumns, name: LeadFields["name"]) {
  let full = given(name?.full, current.fullName);
  let first = given(name?.first, current.firstName);
  let last = given(name?.last, current.lastName);
  const partsGiven = name?.first !== undefined || name?.last !== undefined;
  if (name?.full === undefined && partsGiven) full = joinName(first, last);
  // A company's name is one name, not a first and a last.
  if (name?.full !== undefined && !partsGiven && type === "person") ({ first, last } = splitName(full));
  return { fullName: full, firstName: first, lastName: last };
}

function applyLocation(current: LeadLocation, location: LeadFields["location"]): LeadLocation {
  const next: LeadLocation = {};
  for (const part of LOCATION_PARTS) {
    const value = given(location?.[part], current[part] ?? null);
    if (value !== null) next[part] = value;
  }
  return next;
}

/**
 * The columns after applying `fields` to `current`: text fields are replaced, name and location per
 * part, socials and contacts as whole lists (deduplicated), attributes and raw merged key by key.
 */
function applyFields(type: LeadType, current: LeadColumns, fields: LeadFields): LeadColumns {
  return {
    ...applyName(type, current, fields.name),
    title: given(fields.title, current.title),
    companyName: given(fields.company?.name, current.companyName),
    companyDomain: given(fields.company?.domain, current.companyDomain),
    location: applyLocation(current.location, fields.location),
    socials: fields.socials ? appendUnique([], fields.socials.map((s) => ({ url: s.url.trim() })), socialKey) : current.socials,
    contacts: fields.contacts ? appendUnique([], fields.contacts.map((c) => ({ value: c.value.trim() })), contactKey) : current.contacts,
    domain: given(fields.domain, current.domain),
    industry: given(fields.industry, current.industry),
    size: given(fields.size, current.size),
    attributes: fields.attributes ? { ...current.attributes, ...fields.attributes } : current.attributes,
    raw: fields.raw ? { ...current.raw, ...fields.raw } : current.raw,
  };
}

/** The changes that fill the existing lead's empty fields from `incoming`, leaving every set one alone. */
function fillEmpty(existing: LeadRow, incoming: LeadColumns): Partial<LeadColumns> {
  const fill: Partial<LeadColumns> = {};
  for (const column of TEXT_COLUMNS) {
    if (clean(existing[column]) === null && incoming[column] !== null) fill[column] = incoming[column];
  }
  const emptyParts = LOCATION_PARTS.filter((part) => clean(existing.location[part]) === null && incoming.location[part]);
  if (emptyParts.length) {
    fill.location = { ...existing.location, ...Object.fromEntries(emptyParts.map((part) => [part, incoming.location[part]])) };
  }
  const socials = appendUnique(existing.socials, incoming.socials, socialKey);
  if (socials !== existing.socials) fill.socials = socials;
  const contacts = appendUnique(existing.contacts, incoming.contacts, contactKey);
  if (contacts !== existing.contacts) fill.contacts = contacts;
  for (const column of ["attributes", "raw"] as const) {
    if (Object.keys(incoming[column]).some((key) => !(key in existing[column]))) {
      fill[column] = { ...incoming[column], ...existing[column] };
    }
  }
  return fill;
}

/**
 * Locks, in id order (so concurrent writers cannot deadlock), the lead `id` and every lead of the
 * workspace holding one of `keys`.
 */
async function lockLeads(db: Queryable, workspaceId: string, target: { id?: string; keys: Partial<LeadKeys> }): Promise<LeadRow[]> {
  const conditions = KEY_COLUMNS.flatMap((column) => {
    const key = target.keys[column];
    return key ? [eq(leads[column], key)] : [];
  });
  if (target.id) conditions.push(eq(leads.id, target.id));
  if (conditions.length === 0) return [];
  return db
    .select()
    .from(leads)
    .where(and(eq(leads.workspaceId, workspaceId), or(...conditions)))
    .orderBy(leads.id)
    .for("update");
}

/** The workspace's company lead for a company domain, the one a person lead links to. */
async function companyLeadIdFor(db: Queryable, workspaceId: string, companyDomain: string | null): Promise<string | null> {
  const key = domainKey(companyDomain);
  if (!key) return null;
  const [company] = await db
    .select({ id: leads.id })
    .from(leads)
    .where(and(eq(leads.workspaceId, workspaceId), eq(leads.type, "company"), eq(leads.domainKey, key)));
  return company?.id ?? null;
}

/**
 * The ownership check of `listIds` (any list not the caller's is a 404), locking them for the rest of
 * the transaction as every writer of a list's memberships does, so that two writers cannot both add
 * the same member. In id order, so that writers of several lists cannot deadlock.
 */
async function lockLists(db: Queryable, workspaceId: string, listIds: string[]): Promise<void> {
  if (listIds.length === 0) return;
  const found = await db
    .select({ id: lists.id })
    .from(lists)
    .where(and(eq(lists.workspaceId, workspaceId), sql`${lists.id} in ${uuidSet(listIds)}`))
    .orderBy(lists.id)
    .for("no key update");
  if (found.length < listIds.length) throw AppError.notFound("List");
}

// A create that lost an insert race to an identical one: retried, and then finds the winner's lead.
class LostRace extends Error {}

const MAX_CREATE_ATTEMPTS = 4;

/**
 * Creates a lead, or, when a lead of the same type in the workspace already holds one of its
 * identifiers (LinkedIn URL, then email, then company domain), fills that lead's empty fields.
 * An identifier already held by another lead stays with that lead. Then adds the lead to `listIds`.
 */
export async function createLead(db: Db, workspaceId: string, input: NewLead, now: Date, engine?: RowEngine): Promise<{ lead: Lead; created: boolean }> {
  const columns = applyFields(input.type, EMPTY_COLUMNS, input);
  const keys = keysOf(input.type, columns);
  const listIds = [...new Set(input.listIds ?? [])];
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (tx) => {
        await engine?.begin(tx, workspaceId, listIds);
        await lockLists(tx, workspaceId, listIds);
        const holders = await lockLeads(tx, workspaceId, { keys });
        const match = KEY_COLUMNS.flatMap((k) => holders.filter((h) => keys[k] !== null && h.type === input.type && h[k] === keys[k]))[0];
        const heldElsewhere = (k: KeyColumn) => holders.some((h) => h !== match && h[k] === keys[k]);
        const claimable = (k: KeyColumn) => (keys[k] && !heldElsewhere(k) ? keys[k] : null);
        const { row, created } = match
          ? await fillLead(tx, workspaceId, match, columns, claimable, now)
          : await insertLead(tx, workspaceId, input.type, columns, claimable);
        const joined = await addToLists(tx, row, listIds);
        // Rows that joined lists run those lists' auto-run columns.
        for (const change of joined) await engine?.rowsChanged(tx, change);
        return { lead: await getLead(tx, workspaceId, row.id), created };
      });
    } catch (error) {
      const raced = error instanceof LostRace || isUniqueViolation(error);
      if (!raced) throw error;
      if (attempt >= MAX_CREATE_ATTEMPTS) throw new AppError("CONFLICT", "The lead is being changed concurrently; retry the request");
    }
  }
}

async function insertLead(
  db: Queryable,
  workspaceId: string,
  type: LeadType,
  columns: LeadColumns,
  claimable: (k: KeyColumn) => string | null,
) {
  const companyLeadId = type === "person" ? await companyLeadIdFor(db, workspaceId, columns.companyDomain) : null;
  const [row] = await db
    .insert(leads)
    .values({
      workspaceId,
      type,
      ...columns,
      companyLeadId,
      linkedinKey: claimable("linkedinKey"),
      emailKey: claimable("emailKey"),
      domainKey: claimable("domainKey"),
    })
    // A concurrent create inserted a lead with one of these keys after our lookup.
    .onConflictDoNothing()
    .returning();
  if (!row) throw new LostRace();
  return { row, created: true };
}

async function fillLead(
  db: Queryable,
  workspaceId: string,
  existing: LeadRow,
  incoming: LeadColumns,
  claimable: (k: KeyColumn) => string | null,
  now: Date,
) {
  const fill: Partial<LeadRow> = fillEmpty(existing, incoming);
  for (const column of KEY_COLUMNS) {
    const key = claimable(column);
    if (existing[column] === null && key !== null) fill[column] = key;
  }
  if (existing.type === "person" && existing.companyLeadId === null) {
    const companyLeadId = await companyLeadIdFor(db, workspaceId, existing.companyDomain ?? incoming.companyDomain);
    if (companyLeadId) fill.companyLeadId = companyLeadId;
  }
  if (Object.keys(fill).length === 0) return { row: existing, created: false };
  const [row] = await db
    .update(leads)
    .set({ ...fill, updatedAt: now })
    .where(eq(leads.id, existing.id))
    .returning();
  return { row: row!, created: false };
}

function locationText(location: LeadLocation): string | null {
  return clean(location.raw) ?? clean([location.city, location.state, location.country].filter((p) => clean(p)).join(", "));
}

/**
 * Makes the lead a member of each list it is not in yet: a person row in list_rows for a person
 * lead, a company row in list_company_rows for a company lead. One statement for all the lists.
 */
async function addToLists(db: Queryable, lead: LeadRow, listIds: string[]): Promise<RowChange[]> {
  if (listIds.length === 0) return [];
  if (lead.type === "company") {
    const added = rowsOf<{ id: string; list_id: string }>(
      await db.execute(sql`
        insert into list_company_rows (list_id, workspace_id, lead_id, name, domain, industry)
        select l.id, l.workspace_id, ${lead.id}::uuid, ${lead.fullName ?? lead.companyName ?? lead.domain ?? "Unnamed company"},
               ${domainKey(lead.domain)}, ${lead.industry}
        from lists l
        where l.id in ${uuidSet(listIds)}
        on conflict do nothing
        returning id, list_id`),
    );
    return added.map((r) => ({ listId: r.list_id, added: { company: [r.id] } }));
  }
  const linkedinUrl = linkedinSocial(lead.socials)?.url ?? null;
  const location = locationText(lead.location);
  const inserted = await db.execute(sql`
    insert into list_rows (list_id, workspace_id, lead_id, first_name, last_name, full_name, company, role, headline,
                           linkedin_url, location, domain, email, linkedin_key, name_key, company_key, location_key)
    select l.id, l.workspace_id, ${lead.id}::uuid, ${lead.firstName}, ${lead.lastName}, ${lead.fullName}, ${lead.companyName},
           ${lead.title}, ${lead.title}, ${linkedinUrl}, ${location}, ${domainKey(lead.companyDomain)},
           ${emailContact(lead.contacts)?.value ?? null}, ${linkedinKey(linkedinUrl)}, ${textKey(lead.fullName)},
           ${textKey(lead.companyName)}, ${textKey(location)}
    from lists l
    where l.id in ${uuidSet(listIds)}
      and not exists (select 1 from list_rows r where r.list_id = l.id and r.lead_id = ${lead.id}::uuid)
    on conflict do nothing
    returning id, list_id`);
  const added = rowsOf<{ id: string; list_id: string }>(inserted);
  // The new rows get what every person row has: built-in cells, and a company row for their company.
  await syncBuiltInCells(db, added.map((r) => r.id));
  const changes: RowChange[] = added.map((r) => ({ listId: r.list_id, added: { person: [r.id] } }));
  const companyName = lead.companyName ?? domainKey(lead.companyDomain);
  if (!companyName) return changes;
  // One upsert per list the lead joined (listIds are capped), each a constant number of statements.
  for (const [i, row] of added.entries()) {
    const [company] = await upsertCompanyRows(db, {
      workspaceId: lead.workspaceId,
      listId: row.list_id,
      companies: [{ name: companyName, domain: lead.companyDomain }],
    });
    await db.execute(sql`update list_rows set company_row_id = ${company!.row.id} where id = ${row.id}`);
    if (company!.created) changes[i] = { ...changes[i]!, added: { person: [row.id], company: [company!.row.id] } };
  }
  return changes;
}

/**
 * Applies `fields` to the lead: see applyFields. Changing socials, contacts or (for a company) domain
 * moves the lead's dedupe keys; a key another lead holds is a 409. Changing a person's company domain
 * re-links it to the company lead of that domain (or to none).
 */
export async function updateLead(db: Db, workspaceId: string, id: string, fields: LeadFields, now: Date): Promise<Lead> {
  // Only given fields move keys, and each key depends on its own field alone, so the keys to check
  // are known before the lead is read (a person has no domain key; that is settled once it is).
  const proposed = keysOf("company", applyFields("company", EMPTY_COLUMNS, fields));
  const moving: KeyColumn[] = [];
  if (fields.socials) moving.push("linkedinKey");
  if (fields.contacts) moving.push("emailKey");
  if (fields.domain !== undefined) moving.push("domainKey");
  const probe = Object.fromEntries(moving.map((k) => [k, proposed[k]]));
  try {
    return await db.transaction(async (tx) => {
      const locked = await lockLeads(tx, workspaceId, { id, keys: probe });
      const lead = locked.find((l) => l.id === id);
      if (!lead) throw AppError.notFound("Lead");
      const columns = applyFields(lead.type, lead, fields);
      const keys = keysOf(lead.type, columns);
      const changes: Partial<LeadRow> = { ...columns, updatedAt: now };
      for (const column of moving) {
        const holder = keys[column] && locked.find((l) => l.id !== id && l[column] === keys[column]);
        if (holder) {
          throw new AppError("CONFLICT", `Another lead already has this ${KEY_NAMES[column]}`, { extra: { leadId: holder.id } });
        }
        changes[column] = keys[column];
      }
      if (lead.type === "person" && fields.company?.domain !== undefined) {
        changes.companyLeadId = await companyLeadIdFor(tx, workspaceId, columns.companyDomain);
      }
      await tx.update(leads).set(changes).where(eq(leads.id, id));
      return getLead(tx, workspaceId, id);
    });
  } catch (error) {
    // Another lead took one of the keys between our check and our write.
    if (isUniqueViolation(error)) throw new AppError("CONFLICT", "Another lead already has one of these identifiers");
    throw error;
  }
}

// Spelled out with its table: drizzle leaves columns unqualified in a one-table select, and inside
// the subquery a bare "id" would mean the row's or the list's id.
const leadId = sql`${leads}.${sql.identifier(leads.id.name)}`;

// The lists a lead belongs to, by name: through person rows or company rows.
const listsOfLead = sql<{ id: string; name: string }[]>`coalesce((
  select json_agg(json_build_object('id', l.id, 'name', l.name) order by l.name, l.id)
  from lists l
  where l.id in (select r.list_id from list_rows r where r.lead_id = ${leadId}
                 union select cr.list_id from list_company_rows cr where cr.lead_id = ${leadId})
), '[]'::json)`;

async function selectLeads(db: Queryable, where: SQL | undefined, limit: number): Promise<Lead[]> {
  const rows = await db.select({ lead: leads, lists: listsOfLead }).from(leads).where(where).orderBy(desc(leads.id)).limit(limit);
  return rows.map((r) => leadView(r.lead, r.lists));
}

/** The caller's lead, or 404 "Lead not found" (also for another workspace's lead). */
export async function getLead(db: Queryable, workspaceId: string, id: string): Promise<Lead> {
  const [lead] = await selectLeads(db, and(eq(leads.workspaceId, workspaceId), eq(leads.id, id)), 1);
  if (!lead) throw AppError.notFound("Lead");
  return lead;
}

export type LeadFilters = Omit<z.output<typeof listLeadsQuery>, "id" | "type" | "limit" | "cursor">;

/** `%text%` for ILIKE, with the caller's own wildcards matched literally. */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

const FILTERS: Record<Exclude<keyof LeadFilters, "q">, (pattern: string) => SQL | undefined> = {
  name: (p) => or(ilike(leads.fullName, p), ilike(leads.firstName, p), ilike(leads.lastName, p)),
  title: (p) => ilike(leads.title, p),
  company: (p) => ilike(leads.companyName, p),
  domain: (p) => or(ilike(leads.domain, p), ilike(leads.companyDomain, p)),
  email: (p) =>
    sql`exists (select 1 from jsonb_array_elements(${leads.contacts}) c
                where c ->> 'value' ilike ${p} and strpos(c ->> 'value', '@') > 0)`,
  industry: (p) => ilike(leads.industry, p),
  location: (p) => or(...LOCATION_PARTS.map((part) => sql`${leads.location} ->> ${part}::text ilike ${p}`)),
};

// What the free-text `q` searches.
const Q_FIELDS = ["name", "title", "company", "domain", "email"] as const;

/** One page of the workspace's leads, newest first; every filter is a case-insensitive substring match. */
export async function listLeads(
  db: Queryable,
  workspaceId: string,
  options: { type?: LeadType; limit: number; cursor?: string; filters: LeadFilters },
): Promise<{ leads: Lead[]; nextCursor: string | null }> {
  const conditions: (SQL | undefined)[] = [eq(leads.workspaceId, workspaceId)];
  if (options.type) conditions.push(eq(leads.type, options.type));
  if (options.cursor) conditions.push(lt(leads.id, options.cursor));
  for (const [name, value] of Object.entries(options.filters) as [keyof LeadFilters, string | undefined][]) {
    const text = clean(value);
    if (!text) continue;
    const pattern = containing(text);
    conditions.push(name === "q" ? or(...Q_FIELDS.map((field) => FILTERS[field](pattern))) : FILTERS[name](pattern));
  }
  const page = await selectLeads(db, and(...conditions), options.limit + 1);
  const hasMore = page.length > options.limit;
  const leadsOnPage = page.slice(0, options.limit);
  return { leads: leadsOnPage, nextCursor: hasMore ? leadsOnPage[leadsOnPage.length - 1]!.id : null };
}

export type Lead = ReturnType<typeof leadView>;

export function leadView(row: LeadRow, memberOf: { id: string; name: string }[]) {
  return {
    id: row.id,
    type: row.type,
    name: { full: row.fullName, short: row.firstName ?? row.fullName, first: row.firstName, last: row.lastName },
    title: row.title,
    company: { name: row.companyName, id: row.companyLeadId, domain: row.companyDomain },
    location: {
      city: row.location.city ?? null,
      state: row.location.state ?? null,
      country: row.location.country ?? null,
      raw: row.location.raw ?? null,
    },
    socials: row.socials,
    contacts: row.contacts,
    domain: row.domain,
    industry: row.industry,
    size: row.size,
    attributes: row.attributes,
    lists: memberOf,
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}
