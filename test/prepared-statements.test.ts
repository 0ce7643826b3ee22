import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres, { type Sql } from "postgres";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createPostgresDb, type Db } from "../src/db/client";
import * as schema from "../src/db/schema";
import { workspaces } from "../src/db/schema";

// One connection per client, so every statement drizzle sends and the pg_prepared_statements
// lookup share one session: prepared statements are per session.
const wrapped = createPostgresDb(inject("databaseUrl"), { max: 1 });
const plainClient = postgres(inject("databaseUrl"), { max: 1, fetch_types: false, onnotice: () => {} });
const plainDb = drizzle(plainClient, { schema }) as unknown as Db;
afterAll(async () => {
  await Promise.all([wrapped.close(), plainClient.end({ timeout: 5 })]);
});

/**
 * A plain select, then a transaction with an insert and a select, and a savepoint inside it with an
 * update: every path by which drizzle hands a query to postgres.js. Returns the SQL texts drizzle sent
 * and the workspace it wrote.
 */
async function runDrizzleQueries(db: Db) {
  const name = `prepared-${crypto.randomUUID()}`;
  const renamed = `${name}-renamed`;
  const outside = db.select({ id: workspaces.id }).from(workspaces).where(eq(workspaces.name, name));
  const insert = db.insert(workspaces).values({ name }).returning({ id: workspaces.id });
  const selectInTransaction = db.select({ name: workspaces.name, plan: workspaces.plan }).from(workspaces).where(eq(workspaces.id, crypto.randomUUID()));
  const updateInSavepoint = db.update(workspaces).set({ name: renamed }).where(eq(workspaces.id, crypto.randomUUID()));
  const sent = [outside, insert, selectInTransaction, updateInSavepoint].map((q) => q.toSQL().sql);

  expect(await outside).toEqual([]);
  const workspaceId = await db.transaction(async (tx) => {
    const [created] = await tx.insert(workspaces).values({ name }).returning({ id: workspaces.id });
    expect(await tx.select({ name: workspaces.name, plan: workspaces.plan }).from(workspaces).where(eq(workspaces.id, created!.id))).toEqual([
      { name, plan: "free" },
    ]);
    await tx.transaction(async (savepoint) => {
      await savepoint.update(workspaces).set({ name: renamed }).where(eq(workspaces.id, created!.id));
    });
    return created!.id;
  });
  return { sent, workspaceId, renamed };
}

async function preparedStatements(client: Sql, among: string[]) {
  const rows = await client<{ name: string; statement: string }[]>`select name, statement from pg_prepared_statements`;
  return rows.filter((row) => among.includes(row.statement)).map(({ name, statement }) => ({ name, statement }));
}

async function workspaceName(id: string) {
  const [row] = await wrapped.db.select({ name: workspaces.name }).from(workspaces).where(eq(workspaces.id, id));
  return row?.name;
}

describe("createPostgresDb", () => {
  it("runs drizzle's queries as named prepared statements, in transactions and savepoints too", async () => {
    const { sent, workspaceId, renamed } = await runDrizzleQueries(wrapped.db);
    expect(new Set(sent).size).toBe(4);

    const prepared = await preparedStatements(wrapped.client, sent);
    expect(prepared.map((p) => p.statement).sort()).toEqual([...sent].sort());
    for (const { name } of prepared) expect(name).toMatch(/^[a-z0-9]+$/);
    expect(await workspaceName(workspaceId)).toBe(renamed);
  });

  it("is needed: drizzle over a bare postgres.js client prepares none of them", async () => {
    const { sent, workspaceId, renamed } = await runDrizzleQueries(plainDb);

    expect(await preparedStatements(plainClient, sent)).toEqual([]);
    // The queries did run, as unnamed statements.
    expect(await workspaceName(workspaceId)).toBe(renamed);
  });
});
