import { sql, type SQL } from "drizzle-orm";
import { rowsOf } from "../db/client";
import { jsonParam, uuidSet } from "../db/sql";
import type { Logger, Services } from "../services";
import { captureHold, failOpenCells, loadColumn, OPEN_CELL, recordColumnRuns, SUBJECT_TABLES } from "./cell-store";
import { columnTaskPayloads, planColumn, type Subject } from "./column-kinds";
import { lockWorkspace } from "./credits";
import { pruneEvents } from "./events";
import { advanceQueued, advanceReaders, startReleased } from "./engine/work";
import { captureRunCredits, lockWorkspaceOfRun, releaseRunCredits } from "./enrichment-runs/credits";

// Recovery: the other half of the leases. Work in flight is either held by a live attempt (which
// renews its lease) or its lease runs out and a sweep picks it up again:
//
//   open cell, lease out, recoveries < max   → pending again under a new lease (longer each time:
//                                              lease × 2^recoveries), and re-dispatched
//   open cell, lease out, recoveries = max   → failed ABANDONED, its credits released or refunded
//   open credit hold, lease out, none of its → its request died after writing the work: the work
//   cells pending (never claimed)              was dispatched (by the request or by recovery), so
//                                              the hold is captured; cells that ended without a
//                                              value gave their share back before
//   open run, lease out                      → the same, as one unit: re-dispatched (and its held
//                                              credits captured), or failed ABANDONED and refunded
//
// Every step is idempotent and takes the workspace lock first, so two sweeps (two processes, or a
// sweep racing a live task) can run at once: a duplicate dispatch finds nothing to claim, a capture
// finds nothing held. Dispatches happen after the transaction that picked the work commits.

export const ABANDONED = "ABANDONED";

export type RecoverySummary = {
  cellsRedispatched: number;
  cellsAbandoned: number;
  creditsCaptured: number;
  runsRedispatched: number;
  runsAbandoned: number;
  dispatchFailures: number;
};

const emptySummary = (): RecoverySummary => ({ cellsRedispatched: 0, cellsAbandoned: 0, creditsCaptured: 0, runsRedispatched: 0, runsAbandoned: 0, dispatchFailures: 0 });

/** At most this many columns and runs are picked up per sweep; the next sweep takes the rest. */
const PER_SWEEP = 100;

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * One sweep: expired cells, then expired runs, of every workspace (or of `workspaceId` alone, for
 * a targeted sweep).
 */
export async function recoverExpiredWork(services: Services, options: { workspaceId?: string } = {}): Promise<RecoverySummary> {
  const summary = emptySummary();
  const ofWorkspace = (table: SQL) =>
    options.workspaceId ? sql`and exists (select 1 from ${table} o where o.id = list_id and o.workspace_id = ${options.workspaceId})` : sql``;
  const stale = rowsOf<{ column_id: string; subject: Subject }>(
    await services.db.execute(sql`
      (select distinct column_id, 'person' as subject from list_cells
       where status in ${OPEN_CELL} and lease_expires_at < now() ${ofWorkspace(sql.raw("lists"))} limit ${PER_SWEEP})
      union all
      (select distinct column_id, 'company' as subject from list_company_cells
       where status in ${OPEN_CELL} and lease_expires_at < now() ${ofWorkspace(sql.raw("lists"))} limit ${PER_SWEEP})`),
  );
  for (const { column_id } of stale) {
    try {
      await recoverColumn(services, column_id, summary);
    } catch (error) {
      services.logger.error("recovery of a column failed", { columnId: column_id, error: describe(error) });
    }
  }
  await advanceStaleCells(services, options.workspaceId, summary);
  // Holds whose request died: captured once every released cell they cover was claimed by an attempt
  // (a pending cell may never have been dispatched, and what was never dispatched is never charged;
  // unreleased cells wait for their inputs, and were part of the work the request queued).
  const holds = rowsOf<{ id: string; workspace_id: string }>(
    await services.db.execute(sql`
      select h.id, h.workspace_id from credit_holds h
      where h.settled_at is null and h.lease_expires_at < now()
        ${options.workspaceId ? sql`and h.workspace_id = ${options.workspaceId}` : sql``}
        and not exists (select 1 from list_cells c where c.column_id = h.column_id and c.hold_id = h.id and c.status = 'pending' and c.lease_expires_at is not null)
        and not exists (select 1 from list_company_cells c where c.column_id = h.column_id and c.hold_id = h.id and c.status = 'pending' and c.lease_expires_at is not null)
      order by h.lease_expires_at limit ${PER_SWEEP}`),
  );
  for (const hold of holds) {
    try {
      summary.creditsCaptured += await captureHold(services.db, hold.workspace_id, hold.id, null);
    } catch (error) {
      services.logger.error("recovery could not capture a credit hold", { holdId: hold.id, error: describe(error) });
    }
  }
  const runs = rowsOf<{ id: string }>(
    await services.db.execute(sql`
      select id from enrichment_runs where status in ('pending', 'running') and lease_expires_at < now()
        ${options.workspaceId ? sql`and workspace_id = ${options.workspaceId}` : sql``}
      order by lease_expires_at limit ${PER_SWEEP}`),
  );
  for (const { id } of runs) {
    try {
      await recoverRun(services, id, summary);
    } catch (error) {
      services.logger.error("recovery of an enrichment run failed", { enrichmentRunId: id, error: describe(error) });
    }
  }
  await settleEndedRuns(services, options.workspaceId, summary);
  const acted = Object.values(summary).some((n) => n > 0);
  if (acted) services.logger.info("recovered expired work", summary);
  // The sweep is also what keeps the change record of the event streams to its retention.
  if (!options.workspaceId) {
    try {
      const pruned = await pruneEvents(services.db, new Date(services.clock.now().getTime() - services.eventSettings.retentionMs));
      if (pruned > 0) services.logger.info("pruned list events", { pruned });
    } catch (error) {
      services.logger.error("pruning list events failed", { error: describe(error) });
    }
  }
  return summary;
}

/**
 * Unreleased cells nobody advanced for a lease period (whoever ended their inputs died before it
 * could, or never could): advanced now, list by list, and what is released dispatched.
 */
async function advanceStaleCells(services: Services, workspaceId: string | undefined, summary: RecoverySummary): Promise<void> {
  const { db, work } = services;
  const ofWorkspace = workspaceId ? sql`and c.list_id in (select id from lists where workspace_id = ${workspaceId})` : sql``;
  // Only cells none of whose inputs is still open: a cell that waits on work under way is fine.
  const stuck = (subject: Subject) => {
    const { cells, rowKey } = SUBJECT_TABLES[subject];
    return sql`
      select c.list_id, c.column_id, c.${rowKey} as row_id from ${cells} c
      where c.status = 'pending' and c.lease_expires_at is null and c.updated_at < now() - ${work.leaseMs} * interval '1 millisecond'
        ${ofWorkspace}
        and not exists (select 1 from unnest(c.waiting_on) as w(dep)
                        join ${cells} u on u.column_id = w.dep and u.${rowKey} = c.${rowKey}
                        where u.status in ${OPEN_CELL})
      limit ${PER_SWEEP * 100}`;
  };
  const stale = rowsOf<{ list_id: string; workspace_id: string; subject: Subject; column_ids: string[]; row_ids: string[] }>(
    await db.execute(sql`
      select s.list_id, l.workspace_id, s.subject, json_agg(distinct s.column_id) as column_ids, json_agg(distinct s.row_id) as row_ids
      from ((select *, 'person' as subject from (${stuck("person")}) p) union all (select *, 'company' as subject from (${stuck("company")}) c)) s
      join lists l on l.id = s.list_id
      group by s.list_id, l.workspace_id, s.subject`),
  );
  for (const list of stale) {
    try {
      const released = await db.transaction(async (tx) => {
        await lockWorkspace(tx, list.workspace_id);
        return advanceQueued(tx, services, { workspaceId: list.workspace_id, listId: list.list_id, subject: list.subject, columnIds: list.column_ids, rowIds: list.row_ids });
      });
      summary.cellsRedispatched += released.length;
      await startReleased(services, [{ workspaceId: list.workspace_id, subject: list.subject, released, holds: [] }]);
    } catch (error) {
      services.logger.error("recovery could not advance waiting cells", { listId: list.list_id, error: describe(error) });
    }
  }
}

async function recoverColumn(services: Services, columnId: string, summary: RecoverySummary): Promise<void> {
  const { db, work } = services;
  const column = await loadColumn(db, columnId);
  if (!column) return;
  const plan = planColumn(column);
  const { cells, rowKey } = SUBJECT_TABLES[column.subject];
  const expired = sql`c.lease_expires_at < now()`;

  const picked = await db.transaction(async (tx) => {
    await lockWorkspace(tx, column.workspaceId);
    if (plan.kind === "static") {
      // Nothing can fill a static column's cells: they end, their credits returned.
      summary.cellsAbandoned += await failOpenCells(tx, column, { where: expired }, { error: ABANDONED, action: "UNKNOWN" });
      return { rowIds: [] as string[] };
    }
    const abandoned = await failOpenCells(tx, column, { where: sql`${expired} and c.recoveries >= ${work.maxRecoveries}` }, { error: ABANDONED, action: plan.creditAction });
    summary.cellsAbandoned += abandoned;
    // The cells that read them end with them (UPSTREAM_FAILED).
    if (abandoned > 0) await advanceReaders(tx, services, { workspaceId: column.workspaceId, listId: column.listId, subject: column.subject, columnIds: [column.id], rowIds: null, take: false });
    const reopened = rowsOf<{ row_id: string; run_token: string }>(
      await tx.execute(sql`
        update ${cells} c
        set status = 'pending', lease_owner = null, recoveries = c.recoveries + 1,
            lease_expires_at = now() + ${work.leaseMs} * power(2, c.recoveries) * interval '1 millisecond', updated_at = now()
        where c.column_id = ${columnId} and c.status in ${OPEN_CELL} and ${expired} and c.recoveries < ${work.maxRecoveries}
        returning c.${rowKey} as row_id, c.run_token`),
    );
    return { rowIds: reopened.map((r) => r.row_id) };
  });
  if (plan.kind === "static" || picked.rowIds.length === 0) return;

  let batch;
  try {
    batch = await services.dispatcher.batchTrigger(
      plan.taskId,
      columnTaskPayloads(columnId, picked.rowIds),
    );
  } catch (error) {
    // The cells stay pending under their new lease: the next sweep tries again, and counts it.
    summary.dispatchFailures += 1;
    services.logger.warn("recovery could not dispatch a column's cells", { columnId, cells: picked.rowIds.length, error: describe(error) });
    return;
  }
  summary.cellsRedispatched += picked.rowIds.length;
  await recordColumnRuns(db, [{ columnId, runIds: [batch.batchId, ...batch.runIds] }]);
}

async function recoverRun(services: Services, runId: string, summary: RecoverySummary): Promise<void> {
  const { db, work } = services;
  const decision = await db.transaction(async (tx) => {
    await lockWorkspaceOfRun(tx, runId);
    const [run] = rowsOf<{ recoveries: number }>(
      await tx.execute(sql`
        select recoveries from enrichment_runs
        where id = ${runId} and status in ('pending', 'running') and lease_expires_at < now()
        for update`),
    );
    if (!run) return "gone" as const;
    if (run.recoveries >= work.maxRecoveries) return "abandon" as const;
    await tx.execute(sql`
      update enrichment_runs
      set recoveries = recoveries + 1, lease_owner = null, updated_at = now(),
          lease_expires_at = now() + ${work.leaseMs} * power(2, recoveries) * interval '1 millisecond'
      where id = ${runId}`);
    return "redispatch" as const;
  });
  if (decision === "gone") return;
  if (decision === "abandon") {
    await releaseRunCredits(db, runId, ABANDONED);
    summary.runsAbandoned += 1;
    return;
  }
  let triggerRunId: string;
  try {
    ({ runId: triggerRunId } = await services.dispatcher.trigger("enrichment-run", { enrichmentRunId: runId }));
  } catch (error) {
    summary.dispatchFailures += 1;
    services.logger.warn("recovery could not dispatch an enrichment run", { enrichmentRunId: runId, error: describe(error) });
    return;
  }
  summary.runsRedispatched += 1;
  await captureRunCredits(db, runId, triggerRunId);
}

/**
 * Runs that ended but still owe a settlement: a run whose task finished (or that was cancelled)
 * before its request captured its held credits, the request having died — captured now, its
 * skipped and failed items refunded; and a cancelled run whose task died holding running items —
 * those items end skipped (run_cancelled) and are refunded.
 */
async function settleEndedRuns(services: Services, workspaceId: string | undefined, summary: RecoverySummary): Promise<void> {
  const { db } = services;
  const scope = workspaceId ? sql`and r.workspace_id = ${workspaceId}` : sql``;
  const owing = rowsOf<{ id: string; held: number }>(
    await db.execute(sql`
      (select r.id, r.held from enrichment_runs r
       where r.held > 0 and r.status not in ('pending', 'running') and r.lease_expires_at < now() ${scope}
       limit ${PER_SWEEP})
      union
      (select r.id, r.held from enrichment_runs r
       where r.status = 'cancelled' and r.lease_expires_at < now() ${scope}
         and r.id in (select i.run_id from enrichment_run_items i where i.status = 'running')
       limit ${PER_SWEEP})`),
  );
  for (const run of owing) {
    try {
      await db.transaction(async (tx) => {
        await lockWorkspaceOfRun(tx, run.id);
        await tx.execute(sql`
          update enrichment_run_items i set status = 'skipped', skipped_reason = 'run_cancelled', completed_at = now(), updated_at = now()
          from enrichment_runs r
          where r.id = ${run.id} and i.run_id = r.id and r.status = 'cancelled' and i.status = 'running'`);
      });
      await captureRunCredits(db, run.id, null);
      summary.creditsCaptured += Number(run.held);
    } catch (error) {
      services.logger.error("recovery could not settle an ended enrichment run", { enrichmentRunId: run.id, error: describe(error) });
    }
  }
}

/**
 * Ends every lease now, for a process that knows it is the only one working on this database (the
 * Node server over its embedded database, which it owns alone): the leases left in it belonged to a
 * process that is gone, so the first sweep recovers their work at once.
 */
export async function expireAllLeases(db: Services["db"]): Promise<void> {
  await db.execute(sql`update list_cells set lease_expires_at = now() where status in ${OPEN_CELL} and lease_expires_at > now()`);
  await db.execute(sql`update list_company_cells set lease_expires_at = now() where status in ${OPEN_CELL} and lease_expires_at > now()`);
  await db.execute(sql`update credit_holds set lease_expires_at = now() where settled_at is null and lease_expires_at > now()`);
  await db.execute(sql`update enrichment_runs set lease_expires_at = now() where status in ('pending', 'running') and lease_expires_at > now()`);
}

/** Work a process has accepted and not started yet: what its executor's queued runs will work on. */
export type WaitingWork = ReadonlyArray<{ taskId: string; payload: unknown }>;

/**
 * Renews the leases of pending work that waits in this process's own queue, so that a long queue
 * (a big column behind a few executor slots) is not mistaken for work whose process died. One
 * statement per table whatever the number of runs waiting.
 */
export async function renewWaitingLeases(db: Services["db"], waiting: WaitingWork, leaseMs: number): Promise<void> {
  const cells = waiting.filter((w) => w.taskId !== "enrichment-run").map((w) => w.payload as { columnId: string; rowIds: string[] });
  const runs = waiting.filter((w) => w.taskId === "enrichment-run").map((w) => (w.payload as { enrichmentRunId: string }).enrichmentRunId);
  const until = sql`now() + ${leaseMs} * interval '1 millisecond'`;
  if (cells.length > 0) {
    const pairs = sql`(select (e ->> 'columnId')::uuid as column_id, jsonb_array_elements_text(e -> 'rowIds')::uuid as row_id
                       from jsonb_array_elements(${jsonParam(cells)}) e)`;
    for (const subject of ["person", "company"] as const) {
      const { cells: table, rowKey } = SUBJECT_TABLES[subject];
      // skip locked: cells being written right now need no renewal, and a renewal never waits.
      await db.execute(sql`
        update ${table} set lease_expires_at = ${until}
        where id in (select c.id from ${table} c join ${pairs} w on c.column_id = w.column_id and c.${rowKey} = w.row_id
                     where c.status = 'pending' and c.lease_expires_at is not null for update of c skip locked)`);
    }
  }
  if (runs.length > 0) {
    await db.execute(sql`update enrichment_runs set lease_expires_at = ${until} where id in ${uuidSet(runs)} and status = 'pending'`);
  }
}

/**
 * Sweeps at once and then every `work.recoveryIntervalMs` until stopped; a sweep never overlaps the
 * previous one. For processes that run work (the Node server, the local runner); `waiting` is what
 * their executor has queued, whose leases are renewed every third of a lease. `stop()` waits for a
 * sweep in progress.
 */
export function startRecoveryLoop(
  services: () => Services,
  logger: Logger,
  options: { waiting?: () => WaitingWork } = {},
): { stop(): Promise<void>; sweep(): Promise<RecoverySummary | null> } {
  let stopped = false;
  let running: Promise<RecoverySummary | null> | null = null;
  const { leaseMs } = services().work;
  let renewing: Promise<void> | null = null;
  const renewal = options.waiting
    ? setInterval(() => {
        const waiting = options.waiting!();
        if (stopped || renewing || waiting.length === 0) return;
        renewing = renewWaitingLeases(services().db, waiting, leaseMs)
          .catch((error: unknown) => logger.warn("renewing the leases of queued work failed", { error: describe(error) }))
          .finally(() => (renewing = null));
      }, Math.max(250, Math.floor(leaseMs / 3)))
    : null;
  renewal?.unref?.();
  const sweep = () => {
    if (stopped) return Promise.resolve(null);
    running ??= recoverExpiredWork(services())
      .catch((error: unknown) => {
        logger.error("recovery sweep failed", { error: describe(error) });
        return null;
      })
      .finally(() => (running = null));
    return running;
  };
  void sweep();
  const timer = setInterval(() => void sweep(), services().work.recoveryIntervalMs);
  timer.unref?.();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (renewal) clearInterval(renewal);
      await Promise.all([running, renewing]);
    },
  };
}
