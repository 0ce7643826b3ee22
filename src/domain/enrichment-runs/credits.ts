import { sql } from "drizzle-orm";
import { rowsOf, type Db, type Queryable } from "../../db/client";

// A run is charged once, when it is created, for every lead it plans to enrich; each item that ends
// skipped or failed gives its share back as a refund row of its own. Dedupe keys make both happen at
// most once however often a task is retried or a cancel repeated.

export const runChargeKey = (runId: string) => `enrichment_run:${runId}:charge`;

/** Locks the run's workspace row: every credit movement of the workspace queues behind it. */
export async function lockWorkspaceOfRun(tx: Queryable, runId: string): Promise<void> {
  await tx.execute(sql`
    select w.id from workspaces w join enrichment_runs r on r.workspace_id = w.id
    where r.id = ${runId} for update of w`);
}

/**
 * Refunds, in one statement, every skipped or failed item of a charged run that has not been refunded
 * yet: one ledger row per item with its running balance, the workspace balance and the run's actual
 * cost moved by the total. Call it with the workspace row locked (`lockWorkspaceOfRun`), so the
 * "not refunded yet" check sees every refund committed before it. Returns the credits refunded.
 */
export async function refundSettledItems(tx: Queryable, runId: string): Promise<number> {
  const [row] = rowsOf<{ refunded: string | number }>(
    await tx.execute(sql`
      with run as (
        select r.id, r.workspace_id, r.credit_action, r.cost_preview / nullif(r.resolved_count, 0) as unit_price
        from enrichment_runs r
        where r.id = ${runId}
          and exists (select 1 from credit_ledger c where c.workspace_id = r.workspace_id and c.dedupe_key = ${runChargeKey(runId)})
      ), due as (
        select i.id, i.status, 'enrichment_run_item:' || i.id || ':refund' as dedupe_key,
               row_number() over (order by i.id) as n, count(*) over () as total
        from enrichment_run_items i join run on i.run_id = run.id
        where i.status in ('skipped', 'failed') and run.unit_price > 0
          and not exists (select 1 from credit_ledger c
                          where c.workspace_id = run.workspace_id and c.dedupe_key = 'enrichment_run_item:' || i.id || ':refund')
      ), moved as (
        update workspaces w set credit_balance = w.credit_balance + run.unit_price * (select count(*) from due), updated_at = now()
        from run where w.id = run.workspace_id and exists (select 1 from due)
        returning w.credit_balance
      ), entries as (
        insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
        select run.workspace_id, 'refund', run.credit_action, 1, run.unit_price,
               moved.credit_balance - run.unit_price * (due.total - due.n),
               'enrichment_run_item', due.id, due.dedupe_key, 'Enrichment item ' || due.status
        from due cross join run cross join moved
        returning delta
      ), cost as (
        update enrichment_runs r set cost_actual = r.cost_actual - (select sum(delta) from entries), updated_at = now()
        where r.id = ${runId} and exists (select 1 from entries)
      )
      select coalesce(sum(delta), 0) as refunded from entries`),
  );
  return Number(row?.refunded ?? 0);
}

/** Refunds what is due on its own transaction (the task's path). */
export async function refundSettledItemsNow(db: Db, runId: string): Promise<number> {
  return db.transaction(async (tx) => {
    await lockWorkspaceOfRun(tx, runId);
    return refundSettledItems(tx, runId);
  });
}
