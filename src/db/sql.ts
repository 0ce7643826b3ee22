import { sql, type SQL } from "drizzle-orm";

// Arrays travel as one JSON text parameter and are unpacked in SQL. postgres.js cannot serialise a
// JS array without fetching the server's types (fetch_types is off, as Workers require), and the
// same SQL must run on PGlite, so this is the one way lists of values enter a statement.

/** `uuid[]` built from a JS array: use as `col = any(${uuidArray(ids)})`. */
export function uuidArray(ids: readonly string[]): SQL {
  return sql`array(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`;
}

/** A JSON array of objects as a parameter, for `jsonb_to_recordset(${jsonRecords(rows)})`. */
export function jsonParam(value: unknown): SQL {
  return sql`${JSON.stringify(value)}::jsonb`;
}
