// The one table of input limits. Route schemas take their bounds from here and README.md's
// "Input limits" section mirrors it: a value past its limit is a 400 naming the field, never a
// truncation and never a database error.
//
// Text is counted in characters (Unicode code points, as zod counts them). A character is at most
// 4 bytes of UTF-8, lowercased too, so text of N characters takes at most 4N bytes in a dedupe key.
// Every value that becomes a unique-index key (LinkedIn URLs, socials, emails, domains, a full name,
// or a first and a last name joined) is at most INDEX_KEY_CHARS long: at most 2,000 bytes beside the
// uuid it is indexed with, well under PostgreSQL's btree row limit of 2,704 bytes.

/** Largest request body the API reads (/api and /mcp); past it, 413 PAYLOAD_TOO_LARGE. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Largest value of a PostgreSQL `integer` (int4) column. */
export const INT4_MAX = 2_147_483_647;

/** Longest text that may become a unique-index key on its own (500 characters, at most 2,000 bytes). */
export const INDEX_KEY_CHARS = 500;

export const LIMITS = {
  /** firstName, lastName, name.first, name.last: two of them and a space make a row's name key. */
  namePart: 200,
  /** A full name (lead name.full, a row's name set by PATCH): a row's name key on its own. */
  fullName: INDEX_KEY_CHARS,
  /** Names of lists, columns and companies; titles, roles, company names, industries, locations. */
  text: 500,
  /** LinkedIn URLs and socials URLs: the LinkedIn dedupe key. */
  identifierUrl: INDEX_KEY_CHARS,
  /** Domains (also given as a URL): the company dedupe key. */
  domain: INDEX_KEY_CHARS,
  /** Emails and lead contacts: the email dedupe key. */
  email: 320,
  phone: 100,
  /** Other URLs (company websites). */
  url: 2_048,
  /** List and company descriptions, column prompts. */
  longText: 10_000,
  /** Machine words: enrichment ids, attribute keys, credit actions, column schema formats, row field names. */
  token: 100,
  idempotencyKey: 200,
  /** One option of an enum or multiselect column schema. */
  option: 500,
  options: 100,
  /** A column schema's maxItems. */
  maxItems: 1_000,
  socials: 50,
  contacts: 50,
  listIds: 100,
  bulkRows: 1_000,
  leadIds: 1_000,
  /** Text filters of GET /api/leads. */
  filterText: 500,
  /** Conditions of one filter (filtered scopes, `?filter=`), its `all` and `any` together. */
  filterConditions: 50,
  /** Values of one `in` condition; each value is at most filterText characters. */
  filterValues: 100,
  /** A filter's JSON text in UTF-8 bytes (as a body field or as the `filter` query parameter). */
  filterBytes: 16_384,
  catalogQuery: 200,
  /** Integers stored in int4 columns: employeeCount, position, a credit preview's count, a lead's numeric size. */
  int: INT4_MAX,
  /**
   * Free-form JSON (lead attributes and raw, cell values, customColumns values, enrichment input):
   * its JSON text in UTF-8 bytes, and how deep objects and arrays nest in it.
   */
  jsonBytes: 65_536,
  jsonDepth: 10,
  /** How deep a whole request body may nest: the scan for bad strings stops there. */
  bodyDepth: 32,
} as const;
