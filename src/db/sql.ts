import { sql, type SQL } from "drizzle-orm";

// Arrays travel as one JSON text parameter and are unpacked in SQL. postgres.js cannot serialise a
// JS array without fetching the server's types (fetch_types is off, as Workers require), and the
// same SQL must run on PGlite, so this is the one way lists of values enter a statement.

/**
 * A set of uuids built from a JS array, as a subquery: use as `col in ${uuidSet(ids)}`. A subquery
 * (not `= any(array)`) lets Postgres hash it into a semi-join, so matching n rows against n ids
 * stays linear, where an `= any(array)` filter on a column without an index compares every row
 * with every id (100,000 cells took minutes).
 */
export function uuidSet(ids: readonly string[]): SQL {
  return sql`(select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`;
}

/** Ids as one uuid[] value (one parameter), e.g. for `unnest(${uuidArray(ids)})`. */
export function uuidArray(ids: readonly string[]): SQL {
  return sql`(select coalesce(array_agg(v::uuid), '{}'::uuid[]) from jsonb_array_elements_text(${jsonParam(ids)}) as v)`;
}

/** A JSON array of objects as a parameter, for `jsonb_to_recordset(${jsonRecords(rows)})`. */
export function jsonParam(value: unknown): SQL {
  return sql`${JSON.stringify(value)}::jsonb`;
}
