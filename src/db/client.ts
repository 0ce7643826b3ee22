import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import * as schema from "./schema";

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
// A transaction handle has the same query surface as the database.
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type Queryable = Db | Tx;

/**
 * drizzle's postgres-js driver sends every query as an unnamed statement (prepare: false), which can
 * hang behind Hyperdrive's transaction-mode pool. This wraps a postgres.js client so that every query
 * drizzle sends, inside transactions and savepoints too, runs as a named prepared statement.
 */
export function withPreparedStatements(client: Sql): Sql {
  return new Proxy(client, {
    get(target, property) {
      if (property === "unsafe") {
        return (query: string, params?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, params as never, { ...options, prepare: true });
      }
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => {
          const callback = args.pop() as (tx: Sql) => unknown;
          const wrapped = (tx: Sql) => callback(withPreparedStatements(tx));
          const method = Reflect.get(target, property, target) as (...a: unknown[]) => unknown;
          return method.apply(target, [...args, wrapped]);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

export type PostgresOptions = { max?: number; fetchTypes?: boolean; idleTimeoutSeconds?: number };

export function createPostgresDb(url: string, options: PostgresOptions = {}): { db: Db; client: Sql; close: () => Promise<void> } {
  const client = postgres(url, {
    max: options.max ?? 10,
    fetch_types: options.fetchTypes ?? false,
    idle_timeout: options.idleTimeoutSeconds ?? 20,
    onnotice: () => {},
  });
  const db = drizzlePostgres(withPreparedStatements(client), { schema }) as unknown as Db;
  return { db, client, close: () => client.end({ timeout: 5 }) };
}

// Raw `db.execute` results differ by driver (postgres.js: an array; PGlite: `{ rows }`).
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
