import { sql } from "drizzle-orm";
import type { Db, Queryable } from "../../db/client";

// The request creates a run, its items and its charge, and dispatches the task, all in one
// transaction; the task may start before that transaction commits and would find no run. The request
// holds this lock (exclusive, released at commit or rollback) from the moment the run exists; the
// task takes it shared before reading, so it waits for the commit and then sees the run, or, after a
// rollback, finds none and stops. Transaction-scoped, so it also works behind Hyperdrive.

const lockKey = (runId: string) => sql`hashtextextended(${`enrichment_run:${runId}`}, 0)`;

/** Inside the creating transaction, before the task is dispatched. */
export async function holdRunForDispatch(tx: Queryable, runId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${lockKey(runId)})`);
}

/** In the task, before it reads the run: waits while the creating request is still open. */
export async function awaitRunCreationCommitted(db: Db, runId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock_shared(${lockKey(runId)})`);
  });
}
