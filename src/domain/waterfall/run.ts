import { sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import type { CellAttempt, CellAttempts } from "../../db/schema";
import { jsonParam, uuidSet } from "../../db/sql";
import type { TaskContext } from "../../dispatch/types";
import type { ContactField } from "../../providers/bulk";
import type { PersonData, ProviderResult } from "../../providers/types";
import type { Services } from "../../services";
import { BUDGET_EXCEEDED, INSUFFICIENT_CREDITS, type CellResult, type ClaimedCell, type Refunds, type TaskColumn } from "../cell-store";
import { SUBJECT_TABLES } from "../cell-store/tables";
import { TYPED_KINDS } from "../column-kinds";
import { lockWorkspace } from "../credits";
import { conditionHolds, conditionNotMetResult } from "../engine/conditions";
import { committedOf, startReleased, writeResultsAdvancing } from "../engine/work";
import { watchColumn } from "../enrichment/column-watch";
import type { ColumnTaskSummary } from "../enrichment/run-column-task";
import { askStep, attemptOf, endWithoutMatch, notRunAfter, type Answer } from "./ask";
import { misfitFailure } from "../../providers/common";
import type { WaterfallStep } from "./steps";

// A contact column with a waterfall (`config.providers`): for each row the providers are tried in
// order until one finds a value, step by step over all the run's cells, so each provider is asked
// only for the rows every provider before it missed, in the batches it takes.
//
// Money: a row is charged once, when a provider matched, at that provider's price, in the same
// transaction that writes the value (a charge and its value land together or not at all). Nothing
// is charged for a row no provider matched. Before a step, a provider whose price the workspace (or
// the column's budget) cannot pay is not asked (`not_run`): a match could not be paid for.
//
// Crashes: after each step, in one transaction, every cell's tries so far are stored under its run
// token (`attempts`), or its result is written. A retried or recovered task claims the same cells
// under the same tokens and resumes each at the first provider it has no stored try of: a provider
// the row had not been answered by is never skipped, one that answered is not asked again, and a
// row that matched is done and paid. A crash during a provider's call leaves no try of it stored,
// so it is asked again (our charge happens only on the recorded match, so never twice).

export type WaterfallRun = { column: TaskColumn; field: ContactField; steps: readonly WaterfallStep[] };

type Open = { cell: ClaimedCell; attempts: CellAttempt[] };

/** What one step decided for a cell: final (a result to write) or on to the next provider. */
type StepOutcome = { open: Open; answer: ProviderResult | null };

export type WaterfallSettings = { concurrency: number; recheckMs: number };

export async function runWaterfall(
  services: Services,
  run: WaterfallRun,
  cells: readonly ClaimedCell[],
  ctx: TaskContext,
  summary: ColumnTaskSummary,
  settings: WaterfallSettings,
): Promise<void> {
  const { db } = services;
  const { column, steps } = run;
  const runMeta = { runId: ctx.runId, attempt: ctx.attempt };
  const watch = watchColumn(db, column.id, ctx.signal, settings.recheckMs);
  const refunds: Refunds = { workspaceId: column.workspaceId, action: TYPED_KINDS[run.field].creditAction("person"), columnId: column.id };

  const stored = await storedAttempts(db, column, cells);
  const skippedByCondition: CellResult[] = [];
  let open: Open[] = [];
  for (const cell of cells) {
    // Checked on what was claimed: the row or a column it reads may have changed since it was queued.
    if (!conditionHolds(column, cell)) {
      summary.noMatch += 1;
      skippedByCondition.push(conditionNotMetResult(cell, runMeta));
    } else {
      open.push({ cell, attempts: stored.get(cell.cellId) ?? [] });
    }
  }
  // Tried by every provider already, yet still open (an interrupted last write): ended as no match.
  const exhausted = open.filter((entry) => entry.attempts.length >= steps.length);
  open = open.filter((entry) => entry.attempts.length < steps.length);
  const early = [...skippedByCondition, ...exhausted.map((entry) => noneMatched(entry.cell, entry.attempts, runMeta, summary))];
  if (early.length > 0 && (await watch.alive())) await flushResults(services, column, early, refunds, summary);

  for (let index = 0; index < steps.length && open.length > 0; index++) {
    const step = steps[index]!;
    // Cells a stored try shows past this step are taken up again at their own step.
    const due = open.filter((entry) => entry.attempts.length === index);
    if (due.length === 0) continue;
    // Fresh: this step may charge the workspace, and a deleted column must not be paid for.
    if (!(await watch.alive({ fresh: true }))) return;
    const affordable = await canPay(db, column, step.price);
    const asked: Open[] = [];
    for (const entry of due) {
      const unfit = step.provider.unfit?.({ column, row: entry.cell.row }) ?? null;
      if (!affordable.ok) entry.attempts.push({ provider: step.id, outcome: "not_run", cost: 0, durationMs: 0, reason: affordable.reason });
      else if (unfit) entry.attempts.push({ provider: step.id, outcome: "skipped", cost: 0, durationMs: 0, reason: unfit });
      else asked.push(entry);
    }
    const answers = await askStep(
      services,
      step.provider,
      { column, field: run.field, owner: { workspaceId: column.workspaceId, columnId: column.id, enrichmentRunId: null, taskRunId: ctx.runId, label: column.name }, concurrency: settings.concurrency },
      asked.map((entry) => ({ key: entry.cell.cellId, token: entry.cell.runToken, rowId: entry.cell.row.rowId, row: entry.cell.row as PersonData })),
      ctx.signal,
    );
    // Cancelled mid-step: nothing of it is stored, so a retry asks this provider again for these rows.
    if (!answers) return;
    const outcomes: StepOutcome[] = due.map((entry) => ({ open: entry, answer: fittingOrError(column, answers.get(entry.cell.cellId) ?? null) }));
    if (!(await watch.alive())) return;
    const onward = new Set(await recordStep(services, run, index, outcomes, runMeta, refunds, summary));
    // Cells at a later step (resumed from stored tries) wait for theirs; of this step's, those that go on.
    const atThisStep = new Set(due.map((entry) => entry.cell.cellId));
    open = open.filter((entry) => !atThisStep.has(entry.cell.cellId) || onward.has(entry.cell.cellId));
  }
}

/**
 * A value that does not fit the column's type is this provider's failure, not a match: it is
 * neither charged nor kept, and the next provider is asked.
 */
function fittingOrError(column: TaskColumn, answer: Answer | null): Answer | null {
  if (answer?.outcome !== "value") return answer;
  const misfit = misfitFailure(column.schema, answer.value, answer.metadata);
  return misfit ? { ...misfit, durationMs: answer.durationMs } : answer;
}

/** Each cell's stored tries of its current enrichment (a try under an older token is not this one's). */
async function storedAttempts(db: Queryable, column: TaskColumn, cells: readonly ClaimedCell[]): Promise<Map<string, CellAttempt[]>> {
  if (cells.length === 0) return new Map();
  const { cells: table } = SUBJECT_TABLES[column.subject];
  const rows = rowsOf<{ id: string; run_token: string; attempts: CellAttempts | null }>(
    await db.execute(sql`select id, run_token, attempts from ${table} where id in ${uuidSet(cells.map((cell) => cell.cellId))} and attempts is not null`),
  );
  return new Map(rows.filter((row) => row.attempts?.runToken === row.run_token).map((row) => [row.id, row.attempts!.attempts]));
}

/** Whether a match at `price` could be paid now, by the balance and by the column's budget. */
async function canPay(db: Queryable, column: TaskColumn, price: number): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (price <= 0) return { ok: true };
  const [row] = rowsOf<{ available: string | number }>(
    await db.execute(sql`select credit_balance - credit_held as available from workspaces where id = ${column.workspaceId}`),
  );
  if (Number(row?.available ?? 0) < price) return { ok: false, reason: `${INSUFFICIENT_CREDITS}: the balance cannot pay this provider's price of ${price}` };
  if (column.maxCredits !== null && (await committedOf(db, column.id)) + price > column.maxCredits) {
    return { ok: false, reason: `${BUDGET_EXCEEDED}: the column's budget cannot pay this provider's price of ${price}` };
  }
  return { ok: true };
}

/**
 * Stores one step for its cells in one transaction, under the workspace lock and the cells' locks:
 * the matches are charged at the step's price while the balance and the budget cover them and
 * written; the rows with providers left keep their tries and go on; the rest end without a value.
 * Returns the cells that go on to the next step. Cells deleted or queued again meanwhile are left alone.
 */
async function recordStep(
  services: Services,
  run: WaterfallRun,
  index: number,
  outcomes: readonly StepOutcome[],
  runMeta: { runId: string; attempt: number },
  refunds: Refunds,
  summary: ColumnTaskSummary,
): Promise<string[]> {
  const { column, steps } = run;
  const step = steps[index]!;
  const last = index === steps.length - 1;
  const { cells: table } = SUBJECT_TABLES[column.subject];
  const settled = await services.db.transaction(async (tx) => {
    const { available } = await lockWorkspace(tx, column.workspaceId);
    const live = rowsOf<{ id: string; paid: number }>(
      await tx.execute(sql`
        select c.id, c.paid from ${table} c
        join jsonb_to_recordset(${jsonParam(outcomes.map((o) => ({ cell_id: o.open.cell.cellId, run_token: o.open.cell.runToken })))}) as i(cell_id uuid, run_token uuid)
          on c.id = i.cell_id and c.run_token = i.run_token
        where c.status = 'processing'
        order by c.id
        for update of c`),
    );
    const paidBefore = new Map(live.map((row) => [row.id, Number(row.paid)]));
    const mine = outcomes.filter((o) => paidBefore.has(o.open.cell.cellId));

    // The matches, in claim order, charged while the balance and the budget cover them.
    const matched = mine.filter((o) => o.answer?.outcome === "value");
    let room = step.price > 0 ? Math.floor(available / step.price) : Number.POSITIVE_INFINITY;
    let overBudget = false;
    if (column.maxCredits !== null && step.price > 0) {
      const budgetRoom = Math.floor(Math.max(0, column.maxCredits - (await committedOf(tx, column.id))) / step.price);
      overBudget = budgetRoom < room;
      room = Math.min(room, budgetRoom);
    }
    const toCharge: ClaimedCell[] = [];
    const unpaid = new Set<string>();
    const unpaidCode = overBudget ? BUDGET_EXCEEDED : INSUFFICIENT_CREDITS;
    for (const o of matched) {
      const cell = o.open.cell;
      if (step.price === 0 || paidBefore.get(cell.cellId)! > 0) continue;
      if (toCharge.length < room) toCharge.push(cell);
      else unpaid.add(cell.cellId);
    }
    if (toCharge.length > 0) await chargeMatches(tx, column, toCharge, step);

    const results: CellResult[] = [];
    const onward: Array<{ cell_id: string; run_token: string; attempts: CellAttempts }> = [];
    for (const o of mine) {
      const { cell, attempts } = o.open;
      const answer = o.answer;
      if (answer) attempts.push(attemptOf(step, answer, unpaid.has(cell.cellId) ? unpaidCode : null));
      if (answer?.outcome === "value" && !unpaid.has(cell.cellId)) {
        summary.completed += 1;
        results.push({
          cellId: cell.cellId,
          runToken: cell.runToken,
          status: "completed",
          value: answer.value ?? null,
          reasoning: answer.reasoning ?? `Found by ${step.id}`,
          error: null,
          metadata: { ...answer.metadata, provider: step.id, ...runMeta },
          refund: false,
          attempts: [...attempts, ...notRunAfter(steps, index)],
        });
      } else if (!last) {
        // Nothing found, a failure, or a match that could not be paid for: the next provider is asked.
        onward.push({ cell_id: cell.cellId, run_token: cell.runToken, attempts: { runToken: cell.runToken, attempts } });
      } else {
        results.push(noneMatched(cell, attempts, runMeta, summary));
      }
    }
    if (onward.length > 0) {
      await tx.execute(sql`
        update ${table} c set attempts = i.attempts, updated_at = now()
        from jsonb_to_recordset(${jsonParam(onward)}) as i(cell_id uuid, run_token uuid, attempts jsonb)
        where c.id = i.cell_id and c.run_token = i.run_token`);
    }
    const flush = results.length > 0 ? await writeResultsAdvancing(tx, services, column, results, refunds) : null;
    return { onward: onward.map((o) => o.cell_id), flush };
  });
  if (settled.flush) await accountFlush(services, summary, settled.flush);
  return settled.onward;
}

/** Writes final results in their own transaction. */
async function flushResults(services: Services, column: TaskColumn, results: readonly CellResult[], refunds: Refunds, summary: ColumnTaskSummary): Promise<void> {
  await accountFlush(services, summary, await writeResultsAdvancing(services.db, services, column, results, refunds));
}

async function accountFlush(services: Services, summary: ColumnTaskSummary, flush: Awaited<ReturnType<typeof writeResultsAdvancing>>): Promise<void> {
  summary.flushes += 1;
  summary.written += flush.written;
  summary.refunded += flush.refunded;
  summary.openCells = flush.open;
  // The cells that read the ones just written, and were waiting for them, start now.
  if (flush.released) await startReleased(services, [flush.released]);
}

/** The cell's end when no provider matched and was paid for (endWithoutMatch). Nothing was charged. */
function noneMatched(cell: ClaimedCell, attempts: CellAttempt[], runMeta: Record<string, unknown>, summary: ColumnTaskSummary): CellResult {
  const end = endWithoutMatch(attempts);
  const base = { cellId: cell.cellId, runToken: cell.runToken, value: null, metadata: { ...runMeta }, refund: true, attempts };
  if (end.kind === "no_match") {
    summary.noMatch += 1;
    return { ...base, status: "completed", reasoning: end.reasoning, error: null };
  }
  if (end.unpaid) summary.insufficientCredits += 1;
  else summary.failed += 1;
  return { ...base, status: "failed", reasoning: null, error: end.error };
}

/** Charges each cell the step's price once (per token), one ledger row each, in one statement. */
async function chargeMatches(tx: Queryable, column: TaskColumn, cells: readonly ClaimedCell[], step: WaterfallStep): Promise<void> {
  const { cells: table } = SUBJECT_TABLES[column.subject];
  const input = cells.map((cell, ord) => ({ ord, cell_id: cell.cellId, run_token: cell.runToken }));
  await tx.execute(sql`
    with input as (
      select * from jsonb_to_recordset(${jsonParam(input)}) as i(ord int, cell_id uuid, run_token uuid)
    ), paid as (
      update ${table} c set paid = ${step.price}, updated_at = now()
      from input i where c.id = i.cell_id and c.run_token = i.run_token and c.paid = 0
      returning i.ord, i.run_token
    ), ranked as (
      select p.*, row_number() over (order by p.ord) as n, count(*) over () as total from paid p
    ), moved as (
      update workspaces set credit_balance = credit_balance - ${step.price}::bigint * (select count(*) from paid), updated_at = now()
      where id = ${column.workspaceId} and exists (select 1 from paid)
      returning credit_balance
    )
    insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
    select ${column.workspaceId}, 'charge', ${step.creditAction}, 1, ${-step.price}, moved.credit_balance + ${step.price}::bigint * (r.total - r.n),
           'column', ${column.id}, 'cell-charge:' || r.run_token, ${`Contact found by ${step.id}`}
    from ranked r cross join moved`);
}
