import { sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { jsonParam, uuidArray, uuidSet } from "../../db/sql";
import type { Subject } from "../column-kinds";
import { settleManyCtes } from "../credits";
import { leaseFromNow, OPEN_CELL, SUBJECT_TABLES } from "./tables";

// The spreadsheet engine's cell states, between queued and claimed. A queued cell of a column that
// reads other columns, or has a run condition, starts *unreleased* (pending, no lease: no task may
// claim it, recovery does not re-dispatch it). Advancing looks at its row's inputs:
//
//   an input cell failed            → failed UPSTREAM_FAILED, its credits given back
//   an input cell still open        → stays unreleased; waiting_on = those input columns
//   the run condition does not hold → completed, no value, "Run condition not met", credits given back
//   otherwise                       → released: pending under a lease, to dispatch
//
// A cell ending here can release or fail the cells that read it, so advancing repeats until a round
// ends nothing (at most once per column along a chain). Whoever ends an input cell (a task's flush,
// a manual write, a failure) advances the cells that read it in the same transaction, and recovery
// advances unreleased cells nobody advanced (src/domain/recovery.ts), so none waits forever.
//
// Cells given back here return what they paid exactly as any cell ending without a value does
// (released from their open hold, else refunded once under `cell-refund:<token>`).

export const UPSTREAM_FAILED = "UPSTREAM_FAILED";

/** lease_owner of a released cell no dispatch has been asked for yet (see takeReleased). */
export const RELEASED = "released";
// A literal, not a parameter, so that the partial index on it (list_cells_gathered_idx) applies.
const RELEASED_SQL = sql.raw(`'${RELEASED}'`);

/** Released cells of a column are dispatched once this many are gathered, ... */
export const RELEASE_BATCH = 1_000;
/** ... or once the oldest of them waited this long, or once no cell of the column waits any more. */
export const RELEASE_DELAY_MS = 2_000;

/**
 * The released cells of `columnIds` that are due for dispatch, marked dispatched (lease_owner null)
 * in the caller's transaction: per column, all of them once RELEASE_BATCH are gathered, the oldest
 * waited RELEASE_DELAY_MS, or no cell of the column is unreleased any more (nothing else will join
 * them). So a chain over any number of rows makes a few dispatches per column, not one per flush; a
 * released cell nobody dispatches runs out its lease and recovery dispatches it.
 */
export async function takeReleased(tx: Queryable, subject: Subject, columnIds: readonly string[]): Promise<CellRef[]> {
  if (columnIds.length === 0) return [];
  const { cells, rowKey } = SUBJECT_TABLES[subject];
  const taken = rowsOf<{ column_id: string; row_id: string }>(
    await tx.execute(sql`
      with gathered as (
        select g.column_id, count(*) as ready, min(g.updated_at) as oldest
        from ${cells} g
        where g.column_id in ${uuidSet(columnIds)} and g.status = 'pending' and g.lease_owner = ${RELEASED_SQL}
        group by g.column_id
      ), due as (
        select column_id from gathered
        where ready >= ${RELEASE_BATCH} or oldest < now() - ${RELEASE_DELAY_MS} * interval '1 millisecond'
           or not exists (select 1 from ${cells} w where w.column_id = gathered.column_id and w.status = 'pending' and w.lease_expires_at is null)
      )
      update ${cells} c set lease_owner = null
      where c.column_id in (select column_id from due) and c.status = 'pending' and c.lease_owner = ${RELEASED_SQL}
      returning c.column_id, c.${rowKey} as row_id`),
  );
  return taken.map((t) => ({ columnId: t.column_id, rowId: t.row_id }));
}
export const BUDGET_EXCEEDED = "BUDGET_EXCEEDED";

/** A cell of a column's subject, by row. */
export type CellRef = { columnId: string; rowId: string };

/** A column as advancing needs it: its dependencies and its compiled condition (over the row `r`), and its credit action. */
export type AdvanceColumn = { id: string; dependsOn: readonly string[]; condition: SQL | null; creditAction: string };

/**
 * Advances the unreleased cells of `columns` (in the list, of `rowIds` or of every row), round after
 * round. Call it with the workspace locked. Returns the cells released, to dispatch after the
 * transaction commits, and how many ended.
 */
export async function advanceCells(
  tx: Queryable,
  input: AdvanceInput,
): Promise<{ released: CellRef[]; ended: number }> {
  const released: CellRef[] = [];
  let ended = 0;
  if (input.columns.length === 0 || (input.rowIds !== null && input.rowIds.length === 0)) return { released, ended };
  for (let round = 0; round <= input.columns.length; round++) {
    const outcome = await advanceRound(tx, input);
    released.push(...outcome.released);
    ended += outcome.ended;
    if (outcome.ended === 0) break;
  }
  return { released, ended };
}

type AdvanceInput = {
  workspaceId: string;
  listId: string;
  subject: Subject;
  columns: readonly AdvanceColumn[];
  rowIds: readonly string[] | null;
  leaseMs: number;
  /**
   * Mark the released cells as not dispatched yet (lease_owner RELEASED), for takeReleased to gather
   * into few dispatches; otherwise the caller dispatches them itself right after the transaction.
   */
  gather?: boolean;
};

async function advanceRound(tx: Queryable, input: AdvanceInput): Promise<{ released: CellRef[]; ended: number }> {
  const { cells, rows, rowKey } = SUBJECT_TABLES[input.subject];
  const conditional = input.columns.filter((c) => c.condition !== null);
  const holds = conditional.length === 0 ? sql`true` : sql`(case k.column_id ${sql.join(conditional.map((c) => sql`when ${c.id}::uuid then ${c.condition}`), sql` `)} else true end)`;
  const actions = Object.fromEntries(input.columns.map((c) => [c.id, c.creditAction]));
  const [outcome] = rowsOf<{ released: Array<{ column_id: string; row_id: string }> | null; ended: string | number }>(
    await tx.execute(sql`
      with candidate as (
        select c.id, c.column_id, c.${rowKey} as row_id, c.run_token, c.paid::bigint as paid, c.hold_id, c.waiting_on, col.depends_on
        from ${
          // Given rows, each (column, row) cell is looked up by the cells' unique index, so a flush's
          // work follows its own rows, not the size of the list.
          input.rowIds
            ? sql`unnest(${uuidArray(input.columns.map((c) => c.id))}) as t(column_id)
                  cross join unnest(${uuidArray(input.rowIds)}) as w(row_id)
                  join ${cells} c on c.column_id = t.column_id and c.${rowKey} = w.row_id`
            : sql`${cells} c`
        }
        join list_columns col on col.id = c.column_id
        where c.list_id = ${input.listId} and c.column_id in ${uuidSet(input.columns.map((c) => c.id))}
          and c.status = 'pending' and c.lease_expires_at is null
        order by c.id
        for update of c
      ), decided as (
        -- Each cell's inputs by a lateral lookup per cell (the unique index of its row's input cells),
        -- so the work grows with the cells, never with their square.
        select k.*, i.open_deps, i.failed_deps,
               case when cardinality(i.failed_deps) > 0 then 'upstream_failed'
                    when cardinality(i.open_deps) > 0 then 'waiting'
                    when not ${holds} then 'not_met'
                    else 'released' end as decision
        from candidate k
        cross join lateral (
          select coalesce(array_agg(d.dep order by d.dep) filter (where u.status in ${OPEN_CELL}), '{}'::uuid[]) as open_deps,
                 coalesce(array_agg(d.dep order by d.dep) filter (where u.status = 'failed'), '{}'::uuid[]) as failed_deps
          from unnest(k.depends_on) as d(dep)
          left join ${cells} u on u.column_id = d.dep and u.${rowKey} = k.row_id
        ) i
        join ${rows} r on r.id = k.row_id
      ), written as (
        update ${cells} c
        set status = case d.decision when 'upstream_failed' then 'failed' when 'not_met' then 'completed' else 'pending' end,
            error = case when d.decision = 'upstream_failed' then ${UPSTREAM_FAILED} end,
            reasoning = case d.decision
                          when 'not_met' then 'Run condition not met'
                          when 'upstream_failed' then (select 'Upstream column ' || string_agg('"' || x.name || '"', ', ' order by x.name) || ' failed for this row'
                                                       from list_columns x where x.id = any(d.failed_deps))
                        end,
            waiting_on = case when d.decision = 'waiting' then d.open_deps else '{}'::uuid[] end,
            paid = case when d.decision in ('upstream_failed', 'not_met') then 0 else c.paid end,
            lease_expires_at = case when d.decision = 'released' then ${leaseFromNow(input.leaseMs)} end,
            lease_owner = case when d.decision = 'released' and ${input.gather === true} then ${RELEASED_SQL} end,
            updated_at = now()
        from decided d
        where c.id = d.id and (d.decision <> 'waiting' or c.waiting_on is distinct from d.open_deps)
        returning c.column_id, c.${rowKey} as row_id, d.run_token, d.decision, d.paid, d.hold_id
      ), ${settleManyCtes(
        input.workspaceId,
        sql`select 'cell-refund:' || w.run_token as dedupe_key, coalesce(${jsonParam(actions)} ->> w.column_id::text, 'UNKNOWN') as action,
                   w.paid, w.hold_id, 'column'::text as reference_type, w.column_id as reference_id,
                   case w.decision when 'not_met' then 'Refund: run condition not met' else 'Refund: ' || ${UPSTREAM_FAILED} end as note
            from written w where w.decision in ('upstream_failed', 'not_met')`,
      )}
      select (select json_agg(json_build_object('column_id', column_id, 'row_id', row_id)) from written where decision = 'released') as released,
             (select count(*) from written where decision in ('upstream_failed', 'not_met')) as ended`),
  );
  return {
    released: (outcome?.released ?? []).map((r) => ({ columnId: r.column_id, rowId: r.row_id })),
    ended: Number(outcome?.ended ?? 0),
  };
}

/**
 * What each column has spent or set aside: its charges less its refunds, and what its open holds
 * hold. A column's budget (max_credits) bounds this. SQL over a column id expression.
 */
export const committedCredits = (columnId: SQL) => sql`(
  coalesce((select -sum(l.delta) from credit_ledger l where l.reference_type = 'column' and l.reference_id = ${columnId}), 0)
  + coalesce((select sum(h.amount) from credit_holds h where h.column_id = ${columnId} and h.settled_at is null), 0))`;

/** A column that follow-on cells are queued for, with what one of its cells costs now (0 when charged in the task). */
export type FollowOnColumn = {
  id: string;
  price: number;
  creditAction: string;
  /** Where the column stands in the cut: the columns it reads come first, so credits go to inputs before what reads them. */
  order: number;
};

export type Enqueued = {
  /** One credit hold per column that held anything: captured once the work is dispatched. */
  holds: Array<{ id: string; columnId: string; amount: number }>;
  queued: number;
  /** Cells that ended failed at once: over their column's budget, or beyond what the workspace may spend. */
  overBudget: number;
  overBalance: number;
};

/**
 * Queues follow-on cells (auto-run rows, re-runs of dependents, changed inputs) for `targets`, in one
 * statement whatever the number of cells and columns, credit-gated cell by cell instead of all or
 * nothing: by column (inputs before their readers, then position), then row position, each cell is queued while its column's budget and
 * what the workspace may spend (`available`) still cover it, and ends failed BUDGET_EXCEEDED or
 * INSUFFICIENT_CREDITS (nothing charged) otherwise. Queued cells are unreleased (advance them next)
 * and hold their credits under one hold per column. A target whose cell is open keeps its credits
 * and goes back to unreleased (to run on the inputs being re-run; taken by a task, under a new token,
 * so that task's stale result never lands). Call it with the workspace locked.
 */
export async function enqueueFollowOnCells(
  tx: Queryable,
  input: { workspaceId: string; listId: string; subject: Subject; columns: readonly FollowOnColumn[]; targets: readonly CellRef[]; available: number; leaseMs: number },
): Promise<Enqueued> {
  const none: Enqueued = { holds: [], queued: 0, overBudget: 0, overBalance: 0 };
  if (input.targets.length === 0 || input.columns.length === 0) return none;
  const { cells, rows, rowKey } = SUBJECT_TABLES[input.subject];
  const prices = input.columns.map((c) => ({ column_id: c.id, price: c.price, action: c.creditAction, ord: c.order }));
  const targets = input.targets.map((t) => ({ column_id: t.columnId, row_id: t.rowId }));
  const [outcome] = rowsOf<{ holds: Array<{ id: string; column_id: string; amount: number }> | null; queued: string | number; over_budget: string | number; over_balance: string | number }>(
    await tx.execute(sql`
      with target as (
        select distinct on (t.column_id, t.row_id) t.column_id, t.row_id, p.ord as col_pos, r.position as row_pos,
               p.price, p.action, col.max_credits
        from jsonb_to_recordset(${jsonParam(targets)}) as t(column_id uuid, row_id uuid)
        join list_columns col on col.id = t.column_id and col.list_id = ${input.listId}
        join ${rows} r on r.id = t.row_id and r.list_id = ${input.listId}
        join jsonb_to_recordset(${jsonParam(prices)}) as p(column_id uuid, price int, action text, ord int) on p.column_id = t.column_id
        where not exists (select 1 from ${cells} o where o.column_id = t.column_id and o.${rowKey} = t.row_id and o.status in ${OPEN_CELL})
      ), spent as (
        select s.column_id, ${committedCredits(sql`s.column_id`)} as committed
        from (select distinct column_id from target where max_credits is not null) s
      ), budgeted as (
        select t.*,
               t.max_credits is null
                 or coalesce(s.committed, 0) + sum(t.price) over (partition by t.column_id order by t.row_pos, t.row_id) <= t.max_credits as within_budget
        from target t left join spent s on s.column_id = t.column_id
      ), allocated as (
        select b.*,
               case when not b.within_budget then 'budget'
                    when sum(case when b.within_budget then b.price else 0 end) over (order by b.col_pos, b.column_id, b.row_pos, b.row_id) > ${input.available} then 'credits'
                    else 'queued' end as verdict
        from budgeted b
      ), hold as (
        insert into credit_holds (workspace_id, column_id, action, amount, units, lease_expires_at)
        select ${input.workspaceId}, a.column_id, min(a.action), sum(a.price), count(*), ${leaseFromNow(input.leaseMs)}
        from allocated a where a.verdict = 'queued' and a.price > 0
        group by a.column_id
        returning id, column_id, amount
      ), queued as (
        insert into ${cells} (list_id, column_id, ${rowKey}, value, status, reasoning, error, metadata, run_token,
                              paid, hold_id, lease_owner, lease_expires_at, recoveries, waiting_on)
        select ${input.listId}, a.column_id, a.row_id, null,
               case when a.verdict = 'queued' then 'pending' else 'failed' end, null,
               case a.verdict when 'budget' then ${BUDGET_EXCEEDED} when 'credits' then 'INSUFFICIENT_CREDITS' end,
               '{}'::jsonb, uuid_generate_v7(),
               case when a.verdict = 'queued' and h.id is not null then a.price else 0 end,
               case when a.verdict = 'queued' then h.id end,
               null, null, 0, '{}'::uuid[]
        from allocated a left join hold h on h.column_id = a.column_id
        on conflict (column_id, ${rowKey}) do update
          set value = null, status = excluded.status, reasoning = null, error = excluded.error, metadata = '{}'::jsonb,
              run_token = excluded.run_token, paid = excluded.paid, hold_id = excluded.hold_id, lease_owner = null,
              lease_expires_at = null, recoveries = 0, waiting_on = '{}'::uuid[], updated_at = now()
        returning 1
      ), holding as (
        update workspaces set credit_held = credit_held + (select sum(amount) from hold), updated_at = now()
        where id = ${input.workspaceId} and exists (select 1 from hold)
        returning id
      ), held_back as (
        -- A target still open keeps its credits and goes back to unreleased, so that it runs (again)
        -- on the inputs being re-run now. One a task is working on gets a new token: that task's
        -- result, made from the old inputs, is then stale and never lands.
        update ${cells} c
        set status = 'pending', lease_expires_at = null, lease_owner = null, waiting_on = '{}'::uuid[],
            run_token = case when c.status = 'processing' then uuid_generate_v7() else c.run_token end, updated_at = now()
        from jsonb_to_recordset(${jsonParam(targets)}) as t(column_id uuid, row_id uuid)
        where c.column_id = t.column_id and c.${rowKey} = t.row_id and c.status in ${OPEN_CELL} and c.lease_expires_at is not null
        returning 1
      )
      select (select json_agg(json_build_object('id', id, 'column_id', column_id, 'amount', amount)) from hold) as holds,
             (select count(*) from allocated where verdict = 'queued') as queued,
             (select count(*) from allocated where verdict = 'budget') as over_budget,
             (select count(*) from allocated where verdict = 'credits') as over_balance`),
  );
  return {
    holds: (outcome?.holds ?? []).map((h) => ({ id: h.id, columnId: h.column_id, amount: Number(h.amount) })),
    queued: Number(outcome?.queued ?? 0),
    overBudget: Number(outcome?.over_budget ?? 0),
    overBalance: Number(outcome?.over_balance ?? 0),
  };
}
