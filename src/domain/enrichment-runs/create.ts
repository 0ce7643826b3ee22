import { and, eq, sql } from "drizzle-orm";
import type { z } from "zod";
import type { Queryable } from "../../db/client";
import { jsonParam } from "../../db/sql";
import { enrichmentRuns } from "../../db/schema";
import { AppError } from "../../errors";
import type { createEnrichmentRunBody } from "../../routes/enrichment-runs/schemas";
import type { Services } from "../../services";
import { parseOrThrow } from "../../validation";
import { offeredEntry } from "../catalog";
import { balanceOf, lockWorkspace } from "../credits";
import { captureRunCredits, releaseRunCredits } from "./credits";
import { requireConfiguredProvider } from "../provider-guard";
import { planRun, type Plan, type RunRequest } from "./planner";
import type { ContactField } from "../../providers/bulk";
import { waterfallIssues, waterfallSteps } from "../waterfall/steps";

/** The body of POST /api/enrichment after the route's validation. */
export type EnrichmentRunBody = z.output<typeof createEnrichmentRunBody>;

export type StartedRun = {
  enrichmentRunId: string;
  runId: string;
  status: string;
  leadCount: number;
  triggerRunId: string | null;
  reusedExistingRun: boolean;
};

export type RunPreview = {
  mode: "preview";
  leadCount: number;
  cost: { creditAction: string; required: number; balance: number; sufficient: boolean };
};

/**
 * The entry (404 when not offered), its validated input, its waterfall (each provider configured) and
 * the output defaults; without a waterfall, the entry's provider must be configured.
 */
function resolveRequest(services: Services, body: EnrichmentRunBody): RunRequest {
  const entry = offeredEntry(body.enrichmentId);
  if (!entry) throw AppError.notFound("Enrichment");
  const input = parseOrThrow(entry.input, body.input, "input");
  const providers = body.config?.providers ?? null;
  if (providers) {
    const issues = waterfallIssues(entry.provider.kind, providers, ["config", "providers"]);
    if (issues.length > 0) throw AppError.validation(issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })));
  } else {
    requireConfiguredProvider(services.providers, entry.provider.kind);
  }
  return {
    waterfall: providers ? waterfallSteps(services, entry.provider.kind as ContactField, providers) : null,
    entry,
    input,
    scope: body.scope,
    target: body.output.target ?? entry.defaultOutput.target,
    attributeKey: body.output.attributeKey ?? entry.defaultOutput.attributeKey,
    writePolicy: body.writePolicy,
  };
}

/** Plans without writing anything: the answer of `mode: "preview"`. */
export async function previewEnrichmentRun(services: Services, workspaceId: string, body: EnrichmentRunBody): Promise<RunPreview> {
  const request = resolveRequest(services, body);
  const plan = await planRun(services.db, services.prices, workspaceId, request);
  const balance = await balanceOf(services.db, workspaceId);
  return {
    mode: "preview",
    leadCount: plan.leads.length,
    cost: { creditAction: plan.creditAction, required: plan.required, balance, sufficient: balance >= plan.required },
  };
}

/** JSON with object keys sorted at every depth, so equal requests hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** SHA-256 of the request with every default applied, the idempotency key excluded. */
async function requestHash(request: RunRequest): Promise<string> {
  const canonical = canonicalJson({
    enrichmentId: request.entry.slug,
    scope: request.scope,
    input: request.input,
    output: { target: request.target, attributeKey: request.attributeKey },
    writePolicy: request.writePolicy,
    // Absent without a waterfall, so the hashes of runs stored before waterfalls existed stay the same.
    providers: request.waterfall?.map((step) => step.id),
  });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

type KeyedRun = Pick<typeof enrichmentRuns.$inferSelect, "id" | "status" | "resolvedCount" | "triggerRunId" | "requestHash">;

async function runWithKey(db: Queryable, workspaceId: string, key: string): Promise<KeyedRun | undefined> {
  const [run] = await db
    .select({
      id: enrichmentRuns.id,
      status: enrichmentRuns.status,
      resolvedCount: enrichmentRuns.resolvedCount,
      triggerRunId: enrichmentRuns.triggerRunId,
      requestHash: enrichmentRuns.requestHash,
    })
    .from(enrichmentRuns)
    .where(and(eq(enrichmentRuns.workspaceId, workspaceId), eq(enrichmentRuns.idempotencyKey, key)));
  return run;
}

function reuse(run: KeyedRun, hash: string): StartedRun {
  if (run.requestHash !== hash) {
    throw new AppError("IDEMPOTENCY_KEY_REUSED", "This idempotencyKey was already used with a different request body");
  }
  return started(run, true);
}

const started = (run: Pick<KeyedRun, "id" | "status" | "resolvedCount" | "triggerRunId">, reusedExistingRun: boolean): StartedRun => ({
  enrichmentRunId: run.id,
  runId: run.id,
  status: run.status,
  leadCount: run.resolvedCount,
  triggerRunId: run.triggerRunId,
  reusedExistingRun,
});

async function insertRun(tx: Queryable, workspaceId: string, plan: Plan, key: string | undefined, hash: string, leaseMs: number) {
  const [run] = await tx
    .insert(enrichmentRuns)
    .values({
      workspaceId,
      enrichmentSlug: plan.entry.slug,
      enrichmentVersion: plan.entry.version,
      mode: "persisted",
      scopeType: plan.scope.type,
      listId: plan.listId,
      requested: plan.requested,
      resolvedCount: plan.leads.length,
      input: plan.input,
      outputTarget: plan.target,
      attributeKey: plan.attributeKey,
      writePolicy: plan.writePolicy,
      creditAction: plan.creditAction,
      providers: plan.waterfall?.map((step) => step.id) ?? null,
      costPreview: plan.required,
      idempotencyKey: key ?? null,
      requestHash: hash,
      // Held until the dispatch is confirmed; the lease says by when a task must have taken the run.
      held: plan.required,
      leaseExpiresAt: sql`now() + ${leaseMs} * interval '1 millisecond'`,
    })
    .onConflictDoNothing({ target: [enrichmentRuns.workspaceId, enrichmentRuns.idempotencyKey], where: sql`idempotency_key is not null` })
    .returning();
  return run;
}

async function insertItems(tx: Queryable, workspaceId: string, runId: string, plan: Plan): Promise<void> {
  const rows = plan.leads.map((lead) => ({ lead_id: lead.leadId, membership_id: lead.membershipId }));
  await tx.execute(sql`
    insert into enrichment_run_items (run_id, workspace_id, lead_id, list_id, membership_id)
    select ${runId}::uuid, ${workspaceId}::uuid, x.lead_id, ${plan.listId}::uuid, x.membership_id
    from jsonb_to_recordset(${jsonParam(rows)}) as x(lead_id uuid, membership_id uuid)`);
}

const DISPATCH_FAILED_MESSAGE = "The enrichment run could not be dispatched";

type Creation = { kind: "reused"; run: StartedRun } | { kind: "created"; run: StartedRun };

/**
 * Validates, plans, gates credits, writes the run and its items with their credits held, dispatches
 * the task, then charges, in that order. The writing happens in one transaction that holds the
 * workspace row (concurrent requests of a workspace queue there, so a balance can never be spent
 * twice and a repeated idempotency key always finds the run the first request committed); the
 * dispatch happens after it commits, so no lock is held while Trigger.dev is called. A dispatch
 * failure ends the run failed and releases its credits: nothing is charged. A crash in between
 * leaves a pending run under a lease, which recovery dispatches (and charges) once it runs out.
 */
export async function createEnrichmentRun(services: Services, workspaceId: string, body: EnrichmentRunBody): Promise<StartedRun> {
  const { db, prices, dispatcher, logger } = services;
  const request = resolveRequest(services, body);
  const key = body.idempotencyKey;
  const hash = await requestHash(request);
  if (key) {
    const existing = await runWithKey(db, workspaceId, key);
    if (existing) return reuse(existing, hash);
  }

  const creation = await db.transaction(async (tx): Promise<Creation> => {
    const { available } = await lockWorkspace(tx, workspaceId);
    if (key) {
      const existing = await runWithKey(tx, workspaceId, key);
      if (existing) return { kind: "reused", run: reuse(existing, hash) };
    }
    const plan = await planRun(tx, prices, workspaceId, request);
    if (plan.required > available) throw AppError.insufficientCredits(plan.required, available);

    const run = await insertRun(tx, workspaceId, plan, key, hash, services.work.leaseMs);
    if (!run) {
      // Only reachable by a writer that skipped the workspace lock; the unique index still holds.
      const existing = key ? await runWithKey(tx, workspaceId, key) : undefined;
      if (!existing) throw new Error("enrichment run insert conflicted without an idempotency key");
      return { kind: "reused", run: reuse(existing, hash) };
    }
    await insertItems(tx, workspaceId, run.id, plan);
    if (plan.required > 0) {
      await tx.execute(sql`update workspaces set credit_held = credit_held + ${plan.required}, updated_at = now() where id = ${workspaceId}`);
    }
    return { kind: "created", run: started({ ...run, triggerRunId: null }, false) };
  });
  if (creation.kind === "reused") return creation.run;

  const runId = creation.run.enrichmentRunId;
  let triggerRunId: string;
  try {
    ({ runId: triggerRunId } = await dispatcher.trigger("enrichment-run", { enrichmentRunId: runId }));
  } catch (error) {
    logger.error("enrichment run dispatch failed", { enrichmentRunId: runId, error: error instanceof Error ? error.message : String(error) });
    await releaseRunCredits(db, runId, DISPATCH_FAILED_MESSAGE);
    throw new AppError("DISPATCH_FAILED", DISPATCH_FAILED_MESSAGE, {
      status: 502,
      extra: { enrichmentRunId: runId, runId },
    });
  }
  await captureRunCredits(db, runId, triggerRunId);
  return { ...creation.run, triggerRunId };
}
