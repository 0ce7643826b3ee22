import { sql, type SQL } from "drizzle-orm";
import { rowsOf, type Db } from "../../db/client";
import { jsonParam } from "../../db/sql";
import type { TaskContext } from "../../dispatch/types";
import type { Services } from "../../services";
import { catalogEntry, type CatalogEntry } from "../catalog";
import { captureRunCredits, refundSettledItemsNow, releaseRunCredits } from "./credits";
import { keepLeased } from "../lease";
import { enrichLead, type ItemOutcome, type LeadJson } from "./provider-call";
import { awaitRunSubmissions, inRunSubmission, settleStoredRunSubmission, submitRunItems, type ContactRunDeps } from "./contact-submissions";
import { isBulkContactProvider, isContactField, type BulkContactProvider, type ContactField } from "../../providers/bulk";
import type { CellAttempt } from "../../db/schema";
import type { ContactSourceId } from "../../providers/contact-sources";
import { configuredWaterfall } from "../waterfall/steps";
import { runItemsThroughWaterfall, type WaterfallItemOutcome } from "./waterfall-items";

// The `enrichment-run` task: enriches a run's items batch by batch. Each batch is claimed in one
// statement (pending → running, only while the run is running), answered by the provider with bounded
// concurrency, and written in one statement (items and their targets together, so a crash leaves
// either both or neither). Refunds for items that end skipped or failed follow each batch.

export const ENRICHMENT_RUN_CONCURRENCY = 8;
/** How stale the task's view of "is the run cancelled?" may be before a provider call. */
export const CANCEL_CHECK_INTERVAL_MS = 250;

type RunState = {
  id: string;
  enrichment_slug: string;
  input: Record<string, unknown>;
  output_target: "lead" | "membership";
  attribute_key: string;
  write_policy: "overwrite" | "skip_existing";
  providers: string[] | null;
  workspace_id: string;
  /** What the run was charged per item. */
  unit_price: number;
};

type ClaimedItem = { id: string; leadId: string; membershipId: string | null; attempts: number; lead: LeadJson; providerAttempts?: CellAttempt[] | null };

/** Where results land: the table, and the item column that points at its row. */
type Target = { table: SQL; itemKey: SQL; attributeKey: string; skipExisting: boolean };

function targetOf(run: RunState, entry: CatalogEntry | undefined): Target {
  const common = { attributeKey: run.attribute_key, skipExisting: run.write_policy === "skip_existing" };
  if (run.output_target === "lead") return { table: sql.raw("leads"), itemKey: sql.raw("lead_id"), ...common };
  const table = entry?.subject === "company" ? "list_company_rows" : "list_rows";
  return { table: sql.raw(table), itemKey: sql.raw("membership_id"), ...common };
}

/** `t` (the target row) already holds a value under the attribute key. */
const holdsValue = (target: Target) => sql`coalesce(t.attributes ->> ${target.attributeKey}::text, '') <> ''`;
const mustSkip = (target: Target) => (target.skipExisting ? holdsValue(target) : sql`false`);

/**
 * Takes the run's lease, marks it running and returns it; nothing when it is gone, already over, or
 * leased by another live attempt (a duplicate dispatch). Items a dead or failed attempt left running
 * go back to pending, to be claimed (and counted) again.
 */
async function startRun(db: Db, runId: string, owner: string, leaseMs: number): Promise<RunState | undefined> {
  const [run] = rowsOf<RunState>(
    await db.execute(sql`
      with run as (
        update enrichment_runs
        set status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
            lease_owner = ${owner}, lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
        where id = ${runId} and status in ('pending', 'running')
          and (lease_owner is null or lease_owner = ${owner} or lease_expires_at is null or lease_expires_at < now())
        returning id, workspace_id, enrichment_slug, input, output_target, attribute_key, write_policy, to_json(providers) as providers,
                  coalesce(cost_preview / nullif(resolved_count, 0), 0)::int as unit_price
      ), reclaimed as (
        -- Items sent in a submission stay running: the submission's result is theirs.
        update enrichment_run_items i set status = 'pending', updated_at = now()
        where i.run_id in (select id from run) and i.status = 'running' and not ${inRunSubmission(runId, sql`i.id`)}
      )
      select * from run`),
  );
  return run;
}

async function runStatus(db: Db, runId: string): Promise<string | null> {
  const [row] = rowsOf<{ status: string }>(await db.execute(sql`select status from enrichment_runs where id = ${runId}`));
  return row?.status ?? null;
}

/** Renews the run's lease while its task works on it. */
async function renewRunLease(db: Db, runId: string, owner: string, leaseMs: number): Promise<void> {
  await db.execute(sql`
    update enrichment_runs set lease_expires_at = now() + ${leaseMs} * interval '1 millisecond'
    where id = ${runId} and lease_owner = ${owner} and status = 'running'`);
}

/**
 * Claims up to `size` pending items while the run is running. Items whose target is gone, or (with
 * skip_existing) already holds a value, are settled as skipped on the way instead of claimed.
 */
async function claimBatch(db: Db, runId: string, target: Target, size: number): Promise<{ claimed: ClaimedItem[]; skipped: number }> {
  const [row] = rowsOf<{ skipped: string | number; claimed: ClaimedItem[] }>(
    await db.execute(sql`
      with candidates as (
        select i.id from enrichment_run_items i
        where i.run_id = ${runId} and i.status = 'pending'
          and exists (select 1 from enrichment_runs r where r.id = ${runId} and r.status = 'running')
        order by i.id limit ${size}
        for update of i skip locked
      ), checked as (
        select c.id, t.id is null as missing, ${mustSkip(target)} as has_value
        from candidates c
        join enrichment_run_items i on i.id = c.id
        left join ${target.table} t on t.id = i.${target.itemKey}
      ), skipped as (
        update enrichment_run_items i
        set status = 'skipped', skipped_reason = case when k.missing then 'target_missing' else 'existing_value' end,
            completed_at = now(), updated_at = now()
        from checked k where i.id = k.id and (k.missing or k.has_value)
        returning i.id
      ), claimed as (
        update enrichment_run_items i
        set status = 'running', attempts = i.attempts + 1, started_at = now(), updated_at = now()
        from checked k where i.id = k.id and not (k.missing or k.has_value)
        returning i.id, i.lead_id, i.membership_id, i.attempts, i.provider_attempts
      )
      select (select count(*) from skipped) as skipped,
             coalesce((select json_agg(json_build_object('id', c.id, 'leadId', c.lead_id, 'membershipId', c.membership_id,
                                                         'attempts', c.attempts, 'providerAttempts', c.provider_attempts, 'lead', to_jsonb(l)) order by c.id)
                       from claimed c join leads l on l.id = c.lead_id), '[]'::json) as claimed`),
  );
  return { claimed: row?.claimed ?? [], skipped: Number(row?.skipped ?? 0) };
}

/**
 * Writes a batch's outcomes and their results in one statement. Only items still running under the
 * same claim (attempt number) are written, so a stale or repeated flush changes nothing. With
 * skip_existing, a target that gained a value meanwhile keeps it and the item is skipped. Target rows
 * are locked in id order, so two runs writing the same leads cannot deadlock. Returns how many items
 * ended skipped or failed (owed a refund).
 */
async function flushBatch(db: Db, runId: string, target: Target, items: ClaimedItem[], outcomes: Array<ItemOutcome & Partial<Pick<WaterfallItemOutcome, "providerAttempts" | "cost">>>): Promise<number> {
  const records = items.map((item, index) => {
    const outcome = outcomes[index]!;
    return {
      id: item.id,
      attempts: item.attempts,
      status: outcome.status,
      result: outcome.status === "completed" ? outcome.result : null,
      skipped_reason: outcome.status === "skipped" ? outcome.skippedReason : null,
      error_message: outcome.status === "failed" ? outcome.errorMessage : null,
      error_details: outcome.status === "failed" ? outcome.errorDetails : null,
      provider: outcome.provider,
      provider_submission_id: outcome.providerSubmissionId,
      provider_attempts: outcome.providerAttempts ?? null,
      cost: outcome.cost ?? null,
    };
  });
  const [row] = rowsOf<{ unpaid: string | number }>(
    await db.execute(sql`
      with outcome as (
        select * from jsonb_to_recordset(${jsonParam(records)}) as o(
          id uuid, attempts int, status text, result jsonb, skipped_reason text, error_message text,
          error_details jsonb, provider text, provider_submission_id text, provider_attempts jsonb, cost int)
      ), settled as (
        select o.*, (o.status = 'completed' and ${mustSkip(target)}) as already_set
        from outcome o
        join enrichment_run_items i on i.id = o.id
        left join ${target.table} t on t.id = i.${target.itemKey}
      ), done as (
        update enrichment_run_items i
        set status = case when s.already_set then 'skipped' else s.status end,
            result = case when s.already_set then null else s.result end,
            skipped_reason = case when s.already_set then 'existing_value' else s.skipped_reason end,
            error_message = s.error_message, error_details = s.error_details,
            provider = s.provider, provider_submission_id = s.provider_submission_id,
            provider_attempts = coalesce(s.provider_attempts, i.provider_attempts),
            cost = case when s.already_set then null else s.cost end,
            completed_at = now(), updated_at = now()
        from settled s
        where i.id = s.id and i.run_id = ${runId} and i.status = 'running' and i.attempts = s.attempts
        returning i.id, i.status, i.result, i.cost, i.${target.itemKey} as target_id
      ), locked as (
        select t.id from ${target.table} t
        where t.id in (select target_id from done where status = 'completed')
        order by t.id for update
      ), written as (
        update ${target.table} t
        set attributes = t.attributes || jsonb_build_object(${target.attributeKey}::text, d.result), updated_at = now()
        from done d join locked on locked.id = d.target_id
        where d.status = 'completed' and t.id = d.target_id
      )
      select count(*) filter (where status <> 'completed' or cost is not null) as unpaid from done`),
  );
  return Number(row?.unpaid ?? 0);
}

/** The run is completed once no item is pending or running (a cancelled run stays cancelled). */
async function completeIfSettled(db: Db, runId: string): Promise<void> {
  await db.execute(sql`
    update enrichment_runs set status = 'completed', completed_at = now(), updated_at = now(), lease_owner = null
    where id = ${runId} and status = 'running'
      and not exists (select 1 from enrichment_run_items i where i.run_id = ${runId} and i.status in ('pending', 'running'))`);
}

/**
 * Whether the task should stop before another provider call: the run was cancelled (the task's
 * signal, or the run's status, read at most every CANCEL_CHECK_INTERVAL_MS).
 */
function cancellationWatch(db: Db, runId: string, signal: AbortSignal) {
  let checkedAt = 0;
  let stopped = false;
  let pending: Promise<boolean> | undefined;
  const read = async () => {
    const [row] = rowsOf<{ status: string }>(await db.execute(sql`select status from enrichment_runs where id = ${runId}`));
    stopped = row?.status !== "running";
    checkedAt = Date.now();
    return stopped;
  };
  return {
    /** The claim statement just saw the run running. */
    seenRunning() {
      checkedAt = Date.now();
    },
    async stopped(): Promise<boolean> {
      if (signal.aborted || stopped) return true;
      if (Date.now() - checkedAt < CANCEL_CHECK_INTERVAL_MS) return false;
      pending ??= read().finally(() => (pending = undefined));
      return pending;
    },
  };
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * A contact run with a waterfall: items are claimed a hundred at a time (FullEnrich's batch) and go
 * through the providers step by step (src/domain/enrichment-runs/waterfall-items.ts); each batch's
 * outcomes are written, and what is owed back (no match, failures, cheaper matches) refunded.
 */
async function runWaterfallItems(
  services: Services,
  input: { run: RunState; entry: CatalogEntry; field: ContactField; target: Target; ctx: TaskContext; watch: ReturnType<typeof cancellationWatch>; concurrency: number },
): Promise<void> {
  const { db } = services;
  const { run, entry, target, ctx, watch } = input;
  const configured = configuredWaterfall(services, input.field, run.providers as ContactSourceId[]);
  while (!ctx.signal.aborted) {
    const { claimed, skipped } = await claimBatch(db, run.id, target, WATERFALL_BATCH);
    watch.seenRunning();
    if (claimed.length === 0 && skipped === 0) break;
    if (skipped > 0) await refundSettledItemsNow(db, run.id);
    const written = new Set<string>();
    const write = async (items: ClaimedItem[], outcomes: Array<ItemOutcome & Partial<WaterfallItemOutcome>>) => {
      for (const item of items) written.add(item.id);
      if ((await flushBatch(db, run.id, target, items, outcomes)) > 0) await refundSettledItemsNow(db, run.id);
    };
    const cancelled = (items: ClaimedItem[]) => items.map((): ItemOutcome => ({ status: "skipped", skippedReason: "run_cancelled", provider: null, providerSubmissionId: null }));
    if (await watch.stopped()) await write(claimed, cancelled(claimed));
    else if ("error" in configured) await write(claimed, claimed.map(() => ({ status: "failed", errorMessage: configured.error, errorDetails: null, provider: null, providerSubmissionId: null })));
    else if (!(await runItemsThroughWaterfall(services, { runId: run.id, workspaceId: run.workspace_id, taskRunId: ctx.runId, field: input.field, entry, input: run.input, steps: configured.steps, unitPrice: run.unit_price }, claimed, ctx.signal, input.concurrency, write))) {
      // Stopped mid-step. The run cancelled: its items still open end skipped now, refunded. The
      // process stopping instead: they stay running under the run's lease, for the next attempt or recovery.
      if ((await runStatus(db, run.id)) !== "running") {
        const open = claimed.filter((item) => !written.has(item.id));
        if (open.length > 0) await write(open, cancelled(open));
      }
      return;
    }
  }
}

/** The most items one batch of a waterfall run takes through its providers (FullEnrich's largest submission). */
const WATERFALL_BATCH = 100;

/**
 * A contact enrichment with a bulk provider: what an earlier attempt sent is settled first (never
 * sent again), then the items are claimed a provider batch at a time and sent in submissions, and
 * their results awaited (webhook, else polling).
 */
async function runContactItems(
  services: Services,
  input: { runId: string; entry: CatalogEntry; field: ContactField; provider: BulkContactProvider; target: Target; ctx: TaskContext; watch: ReturnType<typeof cancellationWatch> },
): Promise<void> {
  const { db } = services;
  const { runId, target, ctx, watch } = input;
  const deps = await contactRunDeps(services, { ...input, stopped: () => watch.stopped() });
  if (!deps) return;
  await awaitRunSubmissions(deps, { interruptedAreFailed: true });
  while (!ctx.signal.aborted) {
    const { claimed, skipped } = await claimBatch(db, runId, target, input.provider.bulk.maxBatch);
    watch.seenRunning();
    if (skipped > 0) await refundSettledItemsNow(db, runId);
    if (claimed.length === 0 && skipped === 0) break;
    if (await watch.stopped()) {
      await deps.write(claimed, claimed.map(() => ({ status: "skipped", skippedReason: "run_cancelled", provider: null, providerSubmissionId: null })));
      break;
    }
    await submitRunItems(deps, claimed);
  }
  await awaitRunSubmissions(deps, { interruptedAreFailed: false });
}

async function contactRunDeps(
  services: Services,
  input: { runId: string; entry: CatalogEntry; field: ContactField; provider: BulkContactProvider; target: Target; ctx: TaskContext; stopped: () => Promise<boolean> },
): Promise<ContactRunDeps | null> {
  const { db } = services;
  const { runId, target } = input;
  const [owner] = rowsOf<{ workspace_id: string }>(await db.execute(sql`select workspace_id from enrichment_runs where id = ${runId}`));
  if (!owner) return null;
  return {
    services,
    runId,
    workspaceId: owner.workspace_id,
    entry: input.entry,
    field: input.field,
    provider: input.provider,
    ctx: input.ctx,
    async write(items, outcomes) {
      const unpaid = await flushBatch(db, runId, target, items, outcomes);
      if (unpaid > 0) await refundSettledItemsNow(db, runId);
    },
    stopped: input.stopped,
  };
}

/**
 * A webhook stored the result of a submission: when it is an enrichment run's, its items are written
 * from it now (a no-op for a column's submission, or when the run's task already wrote them), so a
 * result arriving after the task stopped, a cancelled run's above all, still lands.
 */
export async function settleRunSubmission(services: Services, submissionId: string): Promise<void> {
  const { db } = services;
  const [run] = rowsOf<RunState>(
    await db.execute(sql`
      select r.id, r.enrichment_slug, r.input, r.output_target, r.attribute_key, r.write_policy
      from provider_submissions s join enrichment_runs r on r.id = s.enrichment_run_id
      where s.id = ${submissionId} and not s.waterfall`),
  );
  const entry = run ? catalogEntry(run.enrichment_slug) : undefined;
  if (!run || !entry || !isContactField(entry.provider.kind)) return;
  const provider = services.providers[entry.provider.kind];
  if (!isBulkContactProvider(provider)) return;
  const ctx: TaskContext = { runId: "webhook", attempt: 1, lastAttempt: true, signal: new AbortController().signal };
  const deps = await contactRunDeps(services, { runId: run.id, entry, field: entry.provider.kind, provider, target: targetOf(run, entry), ctx, stopped: async () => true });
  if (deps) await settleStoredRunSubmission(deps, submissionId);
}

/** The `enrichment-run` task handler: `runEnrichmentRun(services, { enrichmentRunId }, ctx)`. */
export async function runEnrichmentRun(
  services: Services,
  payload: { enrichmentRunId: string },
  ctx: TaskContext,
  options: { concurrency?: number } = {},
): Promise<void> {
  const { db, logger } = services;
  const runId = payload.enrichmentRunId;
  const concurrency = Math.max(1, options.concurrency ?? ENRICHMENT_RUN_CONCURRENCY);
  try {
    const { leaseMs } = services.work;
    const run = await startRun(db, runId, ctx.runId, leaseMs);
    if (!run) return;
    // A task running proves the dispatch went through: what the run still holds (its request may
    // have died before capturing it) is charged now, once.
    await captureRunCredits(db, runId, null);
    const entry = catalogEntry(run.enrichment_slug);
    const target = targetOf(run, entry);
    const watch = cancellationWatch(db, runId, ctx.signal);

    const bulk = entry && isContactField(entry.provider.kind) ? services.providers[entry.provider.kind] : null;
    await keepLeased(leaseMs, () => renewRunLease(db, runId, ctx.runId, leaseMs), logger, async () => {
      if (entry && run.providers && isContactField(entry.provider.kind)) {
        await runWaterfallItems(services, { run, entry, field: entry.provider.kind, target, ctx, watch, concurrency });
        return;
      }
      if (entry && bulk && isBulkContactProvider(bulk)) {
        await runContactItems(services, { runId, entry, field: entry.provider.kind as ContactField, provider: bulk, target, ctx, watch });
        return;
      }
      while (!ctx.signal.aborted) {
        const { claimed, skipped } = await claimBatch(db, runId, target, concurrency);
        watch.seenRunning();
        if (claimed.length === 0 && skipped === 0) break;
        const outcomes = await Promise.all(
          claimed.map(async (item): Promise<ItemOutcome> => {
            if (await watch.stopped()) return { status: "skipped", skippedReason: "run_cancelled", provider: null, providerSubmissionId: null };
            if (!entry) {
              return {
                status: "failed",
                errorMessage: `Enrichment ${run.enrichment_slug} is no longer available`,
                errorDetails: null,
                provider: null,
                providerSubmissionId: null,
              };
            }
            return enrichLead(services.providers[entry.provider.kind], entry, run.input, item.lead);
          }),
        );
        // Aborted while the run is still running: the process is stopping, not the run. The claimed
        // items stay running under the run's lease, for recovery or the next attempt to redo.
        if (ctx.signal.aborted && (await runStatus(db, runId)) === "running") return;
        const unpaid = claimed.length > 0 ? await flushBatch(db, runId, target, claimed, outcomes) : 0;
        if (skipped + unpaid > 0) await refundSettledItemsNow(db, runId);
      }
    });
    // Stopped by its signal (cancelled, or the process is shutting down): what is left is the next attempt's or recovery's.
    if (ctx.signal.aborted) return;
    await completeIfSettled(db, runId);
  } catch (error) {
    // No attempt follows: a run left running would never finish, and its unenriched items stay paid for.
    if (ctx.lastAttempt) {
      logger.error("enrichment run failed for good", { enrichmentRunId: runId, attempt: ctx.attempt, error: describe(error) });
      await releaseRunCredits(db, runId, "The enrichment worker failed").catch((cleanup: unknown) =>
        logger.error("could not mark the enrichment run failed", { enrichmentRunId: runId, error: describe(cleanup) }),
      );
    }
    throw error;
  }
}
