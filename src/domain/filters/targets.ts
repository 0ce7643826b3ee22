import { sql, type SQL } from "drizzle-orm";
import type { companyRows, leads, personRows } from "../../db/schema";
import type { FieldReader } from "./evaluate";
import { ATTRIBUTE_PREFIX, type StandardField } from "./language";
import type { FieldTable } from "./sql";

/*
 * What the standard fields are on each target, twice: as SQL over the target's table (for the
 * statement that selects rows) and as a reader over the same row in memory (for the evaluator). The
 * two halves of a target are kept side by side because they must say exactly the same thing.
 *
 * List rows (list_rows): name = full_name, title = role, company, domain, location, email,
 * linkedinUrl = linkedin_url, the row's attributes. Rows have no industry or size: those read as
 * empty.
 *
 * Leads (the members of a filtered_list scope): name = full_name (a company's name for a company
 * lead); company = company_name, else a company lead's own name; domain = the lead's domain, else its
 * company's domain; location = `raw`, else its city, state and country (those given) joined with
 * ", "; email = the lead's email as the workspace knows it (its first email contact, lowercased);
 * linkedinUrl = its LinkedIn profile as the workspace knows it, normalised
 * ("linkedin.com/in/ada-lovelace": no scheme, www, query or trailing slash); the lead's attributes
 * (not the list row's).
 */

type StandardColumns = Record<StandardField, SQL | null>;

function standardTable(columns: StandardColumns, attributes: SQL): FieldTable {
  return (field) => {
    if (field.startsWith(ATTRIBUTE_PREFIX)) return { kind: "json", sql: sql`(${attributes} -> ${field.slice(ATTRIBUTE_PREFIX.length)}::text)` };
    const column = Object.hasOwn(columns, field) ? columns[field as StandardField] : undefined;
    if (column === undefined) throw new Error(`The filter field ${field} has no mapping`);
    return column === null ? null : { kind: "text", sql: column };
  };
}

function standardReader(values: Record<StandardField, string | null>, attributes: Record<string, unknown> | null | undefined): FieldReader {
  return (field) => {
    if (field.startsWith(ATTRIBUTE_PREFIX)) {
      const key = field.slice(ATTRIBUTE_PREFIX.length);
      return attributes && Object.hasOwn(attributes, key) ? attributes[key] : undefined;
    }
    if (!Object.hasOwn(values, field)) throw new Error(`The filter field ${field} has no mapping`);
    return values[field as StandardField];
  };
}

/** The fields of a list row, over `alias` (the alias or name of list_rows in the statement). */
export function rowFieldTable(alias: string): FieldTable {
  const row = sql`${sql.identifier(alias)}`;
  return standardTable(
    {
      name: sql`${row}.full_name`,
      firstName: sql`${row}.first_name`,
      lastName: sql`${row}.last_name`,
      title: sql`${row}.role`,
      company: sql`${row}.company`,
      domain: sql`${row}.domain`,
      location: sql`${row}.location`,
      industry: null,
      size: null,
      email: sql`${row}.email`,
      linkedinUrl: sql`${row}.linkedin_url`,
    },
    sql`${row}.attributes`,
  );
}

type RowFields = Pick<typeof personRows.$inferSelect, "fullName" | "firstName" | "lastName" | "role" | "company" | "domain" | "location" | "email" | "linkedinUrl" | "attributes">;

export function rowReader(row: RowFields): FieldReader {
  return standardReader(
    {
      name: row.fullName,
      firstName: row.firstName,
      lastName: row.lastName,
      title: row.role,
      company: row.company,
      domain: row.domain,
      location: row.location,
      industry: null,
      size: null,
      email: row.email,
      linkedinUrl: row.linkedinUrl,
    },
    row.attributes,
  );
}

/**
 * The fields of a company row of a list, over `alias` (the alias or name of list_company_rows): name
 * and company = its name, domain, location, industry, size = employee_count, linkedinUrl, its
 * attributes. Company rows have no first or last name, title or email: those read as empty.
 */
export function companyRowFieldTable(alias: string): FieldTable {
  const row = sql`${sql.identifier(alias)}`;
  return standardTable(
    {
      name: sql`${row}.name`,
      firstName: null,
      lastName: null,
      title: null,
      company: sql`${row}.name`,
      domain: sql`${row}.domain`,
      location: sql`${row}.location`,
      industry: sql`${row}.industry`,
      size: sql`${row}.employee_count::text`,
      email: null,
      linkedinUrl: sql`${row}.linkedin_url`,
    },
    sql`${row}.attributes`,
  );
}

type CompanyRowFields = Pick<typeof companyRows.$inferSelect, "name" | "domain" | "location" | "industry" | "employeeCount" | "linkedinUrl" | "attributes">;

export function companyRowReader(row: CompanyRowFields): FieldReader {
  return standardReader(
    {
      name: row.name,
      firstName: null,
      lastName: null,
      title: null,
      company: row.name,
      domain: row.domain,
      location: row.location,
      industry: row.industry,
      size: row.employeeCount === null ? null : String(row.employeeCount),
      email: null,
      linkedinUrl: row.linkedinUrl,
    },
    row.attributes,
  );
}

/** A location part, when it is a string. */
const locationPart = (lead: SQL, part: string) => sql`(case when jsonb_typeof(${lead}.location -> ${part}::text) = 'string' then ${lead}.location ->> ${part}::text end)`;

/** The fields of a lead, over `alias` (the alias or name of leads in the statement). */
export function leadFieldTable(alias: string): FieldTable {
  const lead = sql`${sql.identifier(alias)}`;
  return standardTable(
    {
      name: sql`${lead}.full_name`,
      firstName: sql`${lead}.first_name`,
      lastName: sql`${lead}.last_name`,
      title: sql`${lead}.title`,
      company: sql`coalesce(${lead}.company_name, case when ${lead}.type = 'company' then ${lead}.full_name end)`,
      domain: sql`coalesce(${lead}.domain, ${lead}.company_domain)`,
      location: sql`coalesce(${locationPart(lead, "raw")}, nullif(concat_ws(', ', ${locationPart(lead, "city")}, ${locationPart(lead, "state")}, ${locationPart(lead, "country")}), ''))`,
      industry: sql`${lead}.industry`,
      size: sql`${lead}.size`,
      email: sql`${lead}.email_key`,
      linkedinUrl: sql`${lead}.linkedin_key`,
    },
    sql`${lead}.attributes`,
  );
}

type LeadFields = Pick<
  typeof leads.$inferSelect,
  "type" | "fullName" | "firstName" | "lastName" | "title" | "companyName" | "companyDomain" | "domain" | "location" | "industry" | "size" | "emailKey" | "linkedinKey" | "attributes"
>;

export function leadReader(lead: LeadFields): FieldReader {
  const location = (lead.location ?? {}) as Record<string, unknown>;
  const part = (name: string) => (typeof location[name] === "string" ? (location[name] as string) : null);
  const joined = [part("city"), part("state"), part("country")].filter((p) => p !== null).join(", ");
  return standardReader(
    {
      name: lead.fullName,
      firstName: lead.firstName,
      lastName: lead.lastName,
      title: lead.title,
      company: lead.companyName ?? (lead.type === "company" ? lead.fullName : null),
      domain: lead.domain ?? lead.companyDomain,
      location: part("raw") ?? (joined === "" ? null : joined),
      industry: lead.industry,
      size: lead.size,
      email: lead.emailKey,
      linkedinUrl: lead.linkedinKey,
    },
    lead.attributes,
  );
}
