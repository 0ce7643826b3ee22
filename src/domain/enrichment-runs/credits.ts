import { sql } from "drizzle-orm";
import { rowsOf, type Db, type Queryable } from "../../db/client";

// A run is charged once, when it is created, for every lead it plans to enrich; each item that ends
// skipped or failed gives its share back as a refund row of its own, and so does a waterfall item
// matched by a provider cheaper than the run's price per item (the difference). Dedupe keys make both happen at
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
      ), owed as (
        -- A skipped or failed item gives back its whole share; a waterfall item matched by a
        -- provider cheaper than the run's price per item gives back the difference.
        select i.id, i.status, 'enrichment_run_item:' || i.id || ':refund' as dedupe_key,
               case when i.status = 'completed' then run.unit_price - i.cost else run.unit_price end as amount
        from enrichment_run_items i join run on i.run_id = run.id
        where (i.status in ('skipped', 'failed') or (i.status = 'completed' and i.cost is not null and i.cost < run.unit_price))
          and run.unit_price > 0
          and not exists (select 1 from credit_ledger c
                          where c.workspace_id = run.workspace_id and c.dedupe_key = 'enrichment_run_item:' || i.id || ':refund')
      ), due as (
        select o.*, sum(o.amount) over (order by o.id) as running, sum(o.amount) over () as total from owed o
      ), moved as (
        update workspaces w set credit_balance = w.credit_balance + (select sum(amount) from due), updated_at = now()
        from run where w.id = run.workspace_id and exists (select 1 from due)
        returning w.credit_balance
      ), entries as (
        insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
        select run.workspace_id, 'refund', run.credit_action, 1, due.amount,
               moved.credit_balance - (due.total - due.running),
               'enrichment_run_item', due.id, due.dedupe_key,
               case when due.status = 'completed' then 'Enrichment item matched by a cheaper provider' else 'Enrichment item ' || due.status end
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

/**
 * The run's dispatch went through: what it holds becomes its one charge (`runChargeKey`), its actual
 * cost, and the trigger run id is recorded. Items that already ended skipped or failed (a fast task,
 * a cancel) are then refunded, now that the charge exists. Recovery calls this too, after it
 * dispatches a run again; a run that holds nothing any more is only given the new trigger run id.
 */
export async function captureRunCredits(db: Db, runId: string, triggerRunId: string | null): Promise<void> {
  await db.transaction(async (tx) => {
    await lockWorkspaceOfRun(tx, runId);
    await tx.execute(sql`
      with run as (
        select id, workspace_id, credit_action, held, resolved_count from enrichment_runs where id = ${runId} and held > 0 for update
      ), captured as (
        update workspaces w set credit_balance = w.credit_balance - run.held, credit_held = w.credit_held - run.held, updated_at = now()
        from run where w.id = run.workspace_id
        returning w.credit_balance
      ), entry as (
        insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
        select run.workspace_id, 'charge', run.credit_action, run.resolved_count, -run.held, captured.credit_balance,
               'enrichment_run', run.id, ${runChargeKey(runId)}, null
        from run cross join captured
        returning id
      )
      update enrichment_runs r
      set held = 0, cost_actual = r.cost_actual + coalesce((select held from run), 0),
          trigger_run_id = coalesce(${triggerRunId}, r.trigger_run_id), updated_at = now()
      where r.id = ${runId}`);
    await refundSettledItems(tx, runId);
  });
}

/**
 * The run will never be worked on (its dispatch failed, or recovery gave up on it): it ends failed
 * with `message`, so do its open items, and its credits come back — held ones released, charged
 * items refunded.
 */
export async function releaseRunCredits(db: Db, runId: string, message: string): Promise<void> {
  await db.transaction(async (tx) => {
    await lockWorkspaceOfRun(tx, runId);
    await tx.execute(sql`
      with run as (
        select id, workspace_id, held from enrichment_runs where id = ${runId} for update
      ), released as (
        update workspaces w set credit_held = w.credit_held - run.held, updated_at = now()
        from run where w.id = run.workspace_id and run.held > 0
      ), failed as (
        update enrichment_runs r set status = case when r.status in ('pending', 'running') then 'failed' else r.status end,
               error = case when r.status in ('pending', 'running') then ${message} else r.error end,
               held = 0, lease_owner = null, updated_at = now()
        where r.id = ${runId}
      )
      update enrichment_run_items set status = 'failed', error_message = ${message}, completed_at = now(), updated_at = now()
      where run_id = ${runId} and status in ('pending', 'running')`);
    await refundSettledItems(tx, runId);
  });
}
