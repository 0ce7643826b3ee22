import { drizzle } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import { afterAll, inject } from "vitest";
import { createApp } from "../../src/app";
import { withPreparedStatements, type Db } from "../../src/db/client";
import * as schema from "../../src/db/schema";
import type { Services } from "../../src/services";
import { Client } from "./harness";

/**
 * The app over a postgres.js client that counts every statement sent through it (BEGIN/COMMIT and
 * SAVEPOINT/RELEASE count two per transaction), so a test can show that a request's statement count
 * does not depend on how many rows it touches. `services` are the harness's (its dispatcher and
 * tasks); only the request's database handle counts.
 */
export function countingApp(harness: { db: Db; services: Services }) {
  const { db, count } = countingDatabase();
  const app = createApp(() => ({ services: { ...harness.services, db } }));
  return {
    as: (client: Client) => new Client(app, harness.db, client.account),
    count,
  };
}

/**
 * A database handle of its own (a pool of two) that counts the statements sent through it, or only
 * those whose text `counts` accepts (then transactions are not counted).
 */
export function countingDatabase(options: { counts?: (query: string) => boolean } = {}) {
  const raw = postgres(inject("databaseUrl"), { max: 2, fetch_types: false, onnotice: () => {} });
  afterAll(() => raw.end({ timeout: 5 }));
  const counter = { statements: 0 };
  const counting = (client: Sql): Sql =>
    new Proxy(client, {
      get(target, property) {
        if (property === "unsafe") {
          return (...args: Parameters<Sql["unsafe"]>) => {
            if (!options.counts || options.counts(String(args[0]))) counter.statements += 1;
            return target.unsafe(...args);
          };
        }
        if (property === "begin" || property === "savepoint") {
          return (...args: unknown[]) => {
            const callback = args.pop() as (tx: Sql) => unknown;
            if (!options.counts) counter.statements += 2;
            const method = Reflect.get(target, property, target) as (...a: unknown[]) => unknown;
            return method.apply(target, [...args, (tx: Sql) => callback(counting(tx))]);
          };
        }
        const value = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const db = drizzle(withPreparedStatements(counting(raw)), { schema }) as unknown as Db;
  return {
    db,
    /** Statements counted while `call` ran. */
    async count(call: () => Promise<unknown>): Promise<number> {
      const before = counter.statements;
      await call();
      return counter.statements - before;
    },
    /** Statements counted so far. */
    total: () => counter.statements,
  };
}
