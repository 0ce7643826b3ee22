import { customType } from "drizzle-orm/pg-core";

/**
 * A `jsonb` column whose values read back exactly as written.
 *
 * Both drivers (postgres.js and PGlite) already JSON-parse jsonb results themselves. drizzle's own
 * `jsonb` then parses any string it is handed a second time, so a stored JSON string such as "42",
 * "true" or '{"a":1}' came back as a number, a boolean or an object. This type leaves the driver's
 * value alone on the way out and serialises once on the way in. SQL NULL never reaches either
 * mapping (drizzle passes it through), so NULL and JSON null are stored as the writer chose.
 */
const jsonbColumn = customType<{ data: unknown; driverData: unknown }>({
  dataType: () => "jsonb",
  toDriver: (value) => JSON.stringify(value),
  fromDriver: (value) => value,
});

export function jsonb<T = unknown>(name: string) {
  return jsonbColumn(name).$type<T>();
}
