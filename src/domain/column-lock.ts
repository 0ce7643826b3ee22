import { sql } from "drizzle-orm";
import type { Db, Queryable } from "../db/client";

// A request that queues a column's cells and dispatches its tasks does both inside one transaction,
// so a task may start before that transaction commits and would not yet see the column or its
// pending cells. The request holds this lock (exclusive, released at commit or rollback); a task
// takes it shared before reading, which makes it wait for the commit instead of mistaking an
// uncommitted column for a deleted one. Transaction-scoped, so it also works behind Hyperdrive.

const lockKey = (columnId: string) => sql`hashtextextended(${`column:${columnId}`}, 0)`;

/** Inside the request's transaction, before the column's cells are written and its tasks dispatched. */
export async function holdColumnForDispatch(tx: Queryable, columnId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${lockKey(columnId)})`);
}

/** In a task, before it reads the column: waits while a request is still queueing the column's cells. */
export async function awaitColumnDispatchCommitted(db: Db, columnId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock_shared(${lockKey(columnId)})`);
  });
}
