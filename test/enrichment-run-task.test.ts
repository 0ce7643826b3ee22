import { eq, inArray, sql } from "drizzle-orm";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { enrichmentRunItems, enrichmentRuns, leads, personRows } from "../src/db/schema";
import { createInProcessDispatcher, type InProcessDispatcher } from "../src/dispatch/in-process";
import { TASK_IDS, type TaskContext, type TaskRegistry } from "../src/dispatch/types";
import { refundSettledItemsNow } from "../src/domain/enrichment-runs/credits";
import { ENRICHMENT_RUN_CONCURRENCY, runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import type { CellProvider, CellRequest, ProviderKind, ProviderResult, Providers } from "../src/providers/types";
import { createLogger, type Services } from "../src/services";
import { ISO_DATE, UUID, useHarness, type Client, type Json } from "./helpers/harness";

// The enrichment-run task against real Postgres. Runs are created through the API; the task runs
// through an in-process dispatcher whose enrichment-run handler is the real one (automatic mode), or
// is called directly by the test (manual mode), with providers the test controls where it must.

let inProcess: InProcessDispatcher;
let automatic = true;
let overrides: Partial<Record<ProviderKind, CellProvider>> = {};

const withOverrides = (services: Services): Services => ({ ...services, providers: { ...services.providers, ...overrides } as Providers });

const h = useHarness({
  max: 20,
  dispatcher: (services) => {
    const registry = Object.fromEntries(TASK_IDS.map((taskId) => [taskId, async () => {}])) as unknown as TaskRegistry;
    registry["enrichment-run"] = async (payload, ctx) => {
      if (automatic) await runEnrichmentRun(withOverrides(services()), payload, ctx);
    };
    inProcess = createInProcessDispatcher({ registry, logger: createLogger("silent"), retryDelay: { minMs: 10, maxMs: 50 } });
    return inProcess;
  },
});
const settle = () => inProcess.idle();

afterEach(async () => {
  await settle();
  automatic = true;
  overrides = {};
});
afterAll(settle);

const ctx = (attempt = 1, signal = new AbortController().signal): TaskContext => ({ runId: "run_test", attempt, lastAttempt: false, signal });
const runTask = (runId: string, context: TaskContext = ctx()) => runEnrichmentRun(withOverrides(h.services), { enrichmentRunId: runId }, context);

/** A provider answering with `answer(request)`, counting its calls per lead. */
function testProvider(answer: (request: CellRequest, call: number) => ProviderResult | Promise<ProviderResult>) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const provider: CellProvider = {
    name: "test",
    async enrich(request) {
      calls.push(request.row.rowId);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await answer(request, calls.length);
      } finally {
        inFlight -= 1;
      }
    },
  };
  return { provider, calls, inFlight: () => inFlight, maxInFlight: () => maxInFlight };
}

const value = (v: unknown, submissionId?: string): ProviderResult => ({
  outcome: "value",
  value: v,
  metadata: submissionId ? { provider: "test", submissionId } : { provider: "test" },
});

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function person(client: Client, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await client.post("/api/leads", { type: "person", name: { full: name }, ...extra });
  expect(res.status).toBe(201);
  return res.body.lead.id;
}

async function people(client: Client, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await person(client, `Person ${i}`));
  return ids;
}

async function start(client: Client, body: Record<string, unknown>): Promise<string> {
  const res = await client.post("/api/enrichment", body);
  expect(res.status).toBe(202);
  return res.body.runId;
}

const explicit = (enrichmentId: string, leadIds: string[], extra: Record<string, unknown> = {}) => ({
  enrichmentId,
  scope: { type: "explicit_leads", leadIds },
  ...extra,
});

const items = (runId: string) => h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId)).orderBy(enrichmentRunItems.id);
const run = async (runId: string) => (await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.id, runId)))[0]!;
const attributesOf = async (leadIds: string[]) => {
  const rows = await h.db.select({ id: leads.id, attributes: leads.attributes }).from(leads).where(inArray(leads.id, leadIds));
  return Object.fromEntries(rows.map((r) => [r.id, r.attributes]));
};
const refundsOf = async (client: Client) => (await client.ledger()).filter((e) => e.kind === "refund");

describe("through the in-process dispatcher", () => {
  it("enriches every lead with the sandbox provider and completes the run", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await person(client, "Ada Lovelace", { company: { name: "Analytical", domain: "analytical.com" } });
    const alan = await person(client, "Alan Turing", { company: { name: "Bletchley", domain: "bletchley.org" } });
    // No company domain: the sandbox finds no work email for this one.
    const anon = await person(client, "Anon Ymous");

    const runId = await start(client, explicit("work_email", [ada, alan, anon]));
    await settle();

    const status = await client.get(`/api/enrichment/${runId}`);
    expect(status.body).toEqual({
      run: {
        id: runId,
        status: "completed",
        mode: "persisted",
        enrichment: { id: "work_email", slug: "work_email", version: 1 },
        scope: { type: "explicit_leads", listId: null, requested: 3, resolvedCount: 3, counts: { pending: 0, running: 0, completed: 2, skipped: 1, failed: 0 } },
        output: { target: "lead", attributeKey: "work_email", writePolicy: "overwrite" },
        cost: { creditAction: "EMAIL_LOOKUP", preview: 6, actual: 4 },
        trigger: { triggerRunId: expect.stringMatching(/^run_/) },
        error: null,
        timing: { startedAt: ISO_DATE, completedAt: ISO_DATE, cancelledAt: null, createdAt: ISO_DATE, updatedAt: ISO_DATE },
      },
    });

    const page = await client.get(`/api/enrichment/${runId}/items`);
    const byLead = Object.fromEntries(page.body.items.map((item: Json) => [item.leadId, item]));
    expect(byLead[ada]).toEqual({
      id: UUID,
      runId,
      leadId: ada,
      listId: null,
      membershipId: null,
      status: "completed",
      result: "ada.lovelace@analytical.com",
      skippedReason: null,
      error: null,
      attempts: 1,
      metadata: { provider: "sandbox", providerSubmissionId: null },
      timing: { startedAt: ISO_DATE, completedAt: ISO_DATE, createdAt: ISO_DATE, updatedAt: ISO_DATE },
    });
    expect(byLead[alan]).toMatchObject({ status: "completed", result: "alan.turing@bletchley.org" });
    expect(byLead[anon]).toMatchObject({ status: "skipped", skippedReason: "no_match", result: null, attempts: 1 });

    expect(await attributesOf([ada, alan, anon])).toEqual({
      [ada]: { work_email: "ada.lovelace@analytical.com" },
      [alan]: { work_email: "alan.turing@bletchley.org" },
      [anon]: {},
    });
    const lead = await client.get(`/api/leads?id=${ada}`);
    expect(lead.body.leads[0].attributes).toEqual({ work_email: "ada.lovelace@analytical.com" });

    // Charged for three, refunded the one that was skipped.
    expect((await refundsOf(client)).map((r) => [r.action, r.delta, r.referenceId])).toEqual([["EMAIL_LOOKUP", 2, byLead[anon].id]]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 96, ledgerSum: 96, entries: 3 });
  });

  it("writes to the list memberships, person rows or company rows, when the target is membership", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const list = (await client.post("/api/lists", { name: "Targets" })).body.list.id;
    const ada = await person(client, "Ada Lovelace", { company: { name: "Analytical", domain: "analytical.com" }, listIds: [list] });
    overrides = { hiring_status: testProvider(() => value(true)).provider };

    const emails = await start(client, { enrichmentId: "work_email", scope: { type: "list", listId: list }, output: { target: "membership", attributeKey: "email" } });
    const hiring = await start(client, { enrichmentId: "hiring_status", scope: { type: "list", listId: list }, output: { target: "membership" } });
    await settle();

    const rows = (await client.get(`/api/lists/${list}/rows`)).body.rows;
    expect(rows.map((r: Json) => [r.leadId, r.attributes])).toEqual([[ada, { email: "ada.lovelace@analytical.com" }]]);
    const companies = (await client.get(`/api/lists/${list}/companies`)).body.companies;
    expect(companies.map((c: Json) => c.attributes)).toEqual([{ hiring_status: true }]);
    // Nothing lands on the leads themselves.
    expect(await attributesOf([ada, companies[0].leadId])).toEqual({ [ada]: {}, [companies[0].leadId]: {} });
    expect((await items(emails)).map((i) => [i.status, i.membershipId])).toEqual([["completed", rows[0].id]]);
    expect((await items(hiring)).map((i) => [i.status, i.membershipId, i.result])).toEqual([["completed", companies[0].id, true]]);
    expect((await run(hiring)).status).toBe("completed");
  });

  it("runs custom_ai with its input steering the provider", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await person(client, "Ada Lovelace");
    const seen: CellRequest[] = [];
    overrides = {
      ai: testProvider((request) => {
        seen.push(request);
        return value("Yes, a mathematician.", "sub_1");
      }).provider,
    };
    const runId = await start(client, explicit("custom_ai", [ada], { input: { prompt: "Is this person technical?", dataSource: "profile" } }));
    await settle();
    expect(seen.map((r) => [r.column.prompt, r.column.source, r.column.subject, r.row.subject, r.row.rowId])).toEqual([
      ["Is this person technical?", "reasoning", "person", "person", ada],
    ]);
    expect((await items(runId)).map((i) => [i.status, i.result, i.provider, i.providerSubmissionId])).toEqual([
      ["completed", "Yes, a mathematician.", "test", "sub_1"],
    ]);
    expect(await attributesOf([ada])).toEqual({ [ada]: { custom_ai: "Yes, a mathematician." } });
  });
});

describe("write policy", () => {
  it("skip_existing skips (and refunds) leads whose attribute holds a value, without asking the provider", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const known = await person(client, "Ada Lovelace", { attributes: { work_email: "ada@old.example", note: "kept" } });
    const blank = await person(client, "Alan Turing", { attributes: { work_email: "" } });
    const fresh = await person(client, "Grace Hopper");
    const test = testProvider((request) => value(`${request.row.rowId.slice(0, 8)}@new.example`));
    overrides = { work_email: test.provider };

    const runId = await start(client, explicit("work_email", [known, blank, fresh], { writePolicy: "skip_existing" }));
    await settle();

    expect(test.calls.sort()).toEqual([blank, fresh].sort());
    const byLead = Object.fromEntries((await items(runId)).map((i) => [i.leadId, i]));
    expect([byLead[known]!.status, byLead[known]!.skippedReason, byLead[known]!.attempts]).toEqual(["skipped", "existing_value", 0]);
    expect(byLead[blank]!.status).toBe("completed");
    expect(byLead[fresh]!.status).toBe("completed");
    expect(await attributesOf([known, blank, fresh])).toEqual({
      [known]: { work_email: "ada@old.example", note: "kept" },
      [blank]: { work_email: `${blank.slice(0, 8)}@new.example` },
      [fresh]: { work_email: `${fresh.slice(0, 8)}@new.example` },
    });
    expect((await refundsOf(client)).map((r) => [r.referenceId, r.delta])).toEqual([[byLead[known]!.id, 2]]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 96, ledgerSum: 96, entries: 3 });
  });

  it("skip_existing keeps a value written while the provider was answering", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await person(client, "Ada Lovelace");
    overrides = {
      work_email: testProvider(async (request) => {
        await h.db.execute(sql`update leads set attributes = attributes || '{"work_email":"manual@example.com"}'::jsonb where id = ${request.row.rowId}`);
        return value("ada@provider.example");
      }).provider,
    };
    const runId = await start(client, explicit("work_email", [ada], { writePolicy: "skip_existing" }));
    await settle();
    expect((await items(runId)).map((i) => [i.status, i.skippedReason, i.result])).toEqual([["skipped", "existing_value", null]]);
    expect(await attributesOf([ada])).toEqual({ [ada]: { work_email: "manual@example.com" } });
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 3 });
  });

  it("overwrite replaces an existing value and keeps the other attributes", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await person(client, "Ada Lovelace", { attributes: { work_email: "ada@old.example", note: "kept" } });
    overrides = { work_email: testProvider(() => value("ada@new.example")).provider };
    await start(client, explicit("work_email", [ada]));
    await settle();
    expect(await attributesOf([ada])).toEqual({ [ada]: { work_email: "ada@new.example", note: "kept" } });
  });
});

describe("failures and refunds", () => {
  it("fails items the provider cannot answer, refunds each once, and a retried task changes nothing", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const [errored, thrown, invalid, fine] = await people(client, 4);
    overrides = {
      mobile_phone: testProvider((request) => {
        if (request.row.rowId === errored) return { outcome: "error", error: "Upstream rate limited", retryable: true, metadata: { provider: "test" } };
        if (request.row.rowId === thrown) throw new Error("socket hang up");
        if (request.row.rowId === invalid) return value("not a phone number");
        return value("+1 415 555 0100");
      }).provider,
    };
    const runId = await start(client, explicit("mobile_phone", [errored!, thrown!, invalid!, fine!]));
    await settle();

    const page = (await client.get(`/api/enrichment/${runId}/items?status=failed`)).body.items;
    const byLead = Object.fromEntries(page.map((item: Json) => [item.leadId, item]));
    expect(byLead[errored!]).toMatchObject({ status: "failed", result: null, error: { message: "Upstream rate limited", details: { retryable: true } }, metadata: { provider: "test" } });
    expect(byLead[thrown!]).toMatchObject({ status: "failed", error: { message: "Provider call failed: socket hang up", details: null }, metadata: { provider: "test" } });
    expect(byLead[invalid!]).toMatchObject({
      status: "failed",
      error: { message: "The provider's answer does not fit the enrichment's output schema", details: { issues: [{ path: "", message: expect.any(String) }] } },
    });
    expect(page).toHaveLength(3);
    const status = (await client.get(`/api/enrichment/${runId}`)).body.run;
    expect(status).toMatchObject({ status: "completed", scope: { counts: { completed: 1, failed: 3 } }, cost: { preview: 32, actual: 8 }, error: null });
    expect((await refundsOf(client)).map((r) => r.delta)).toEqual([8, 8, 8]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 92, ledgerSum: 92, entries: 5 });

    // A late retry of the task and a repeated refund pass find nothing left to do.
    await runTask(runId, ctx(2));
    expect(await refundSettledItemsNow(h.db, runId)).toBe(0);
    expect((await run(runId)).status).toBe("completed");
    expect(await client.ledgerConsistency()).toEqual({ balance: 92, ledgerSum: 92, entries: 5 });
  });

  it("resumes after a crashed attempt without asking for or writing a finished lead twice", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 12);
    const poisoned = new Set<string>();
    const test = testProvider((request, call) => {
      // The second batch of the first attempt answers with text Postgres cannot store, which makes
      // the batch's write fail: the attempt dies with those items left running.
      if (call > ENRICHMENT_RUN_CONCURRENCY && !poisoned.has(request.row.rowId) && poisoned.size < 4) {
        poisoned.add(request.row.rowId);
        return value("bad \u0000 text");
      }
      return value(`answer for ${request.row.rowId}`);
    });
    overrides = { ai: test.provider };

    const runId = await start(client, explicit("custom_ai", leadIds, { input: { prompt: "Summarise" } }));
    await settle();

    expect((await run(runId)).status).toBe("completed");
    const all = await items(runId);
    expect(all.every((i) => i.status === "completed")).toBe(true);
    const retried = all.filter((i) => i.attempts === 2).map((i) => i.leadId);
    expect(retried.sort()).toEqual([...poisoned].sort());
    expect(all.filter((i) => i.attempts === 1)).toHaveLength(8);
    // Every lead was asked once, the poisoned ones once more on the retry.
    const callsPerLead = Object.fromEntries(leadIds.map((id) => [id, test.calls.filter((c) => c === id).length]));
    expect(callsPerLead).toEqual(Object.fromEntries(leadIds.map((id) => [id, poisoned.has(id) ? 2 : 1])));
    expect(await attributesOf(leadIds)).toEqual(Object.fromEntries(leadIds.map((id) => [id, { custom_ai: `answer for ${id}` }])));
    expect(await client.ledgerConsistency()).toEqual({ balance: 88, ledgerSum: 88, entries: 2 });
  });

  it("fails the run when the worker fails on its last attempt, refunding what was not enriched", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 12);
    let firstBatch: Set<string> | undefined;
    const seen = new Set<string>();
    overrides = {
      ai: testProvider((request) => {
        seen.add(request.row.rowId);
        if (seen.size === ENRICHMENT_RUN_CONCURRENCY && !firstBatch) firstBatch = new Set(seen);
        return value(firstBatch?.has(request.row.rowId) === false ? "bad \u0000 text" : `answer for ${request.row.rowId}`);
      }).provider,
    };

    const runId = await start(client, explicit("custom_ai", leadIds, { input: { prompt: "Summarise" } }));
    await settle();

    expect(await run(runId)).toMatchObject({ status: "failed", error: "The enrichment worker failed", completedAt: null });
    const all = await items(runId);
    expect(all.filter((i) => i.status === "completed").map((i) => i.leadId).sort()).toEqual([...firstBatch!].sort());
    const failed = all.filter((i) => i.status === "failed");
    expect(failed).toHaveLength(4);
    expect(failed.every((i) => i.errorMessage === "The enrichment worker failed" && i.attempts === 3)).toBe(true);
    expect((await refundsOf(client)).map((r) => r.referenceId).sort()).toEqual(failed.map((i) => i.id).sort());
    expect(await client.ledgerConsistency()).toEqual({ balance: 92, ledgerSum: 92, entries: 6 });
  });

  it("fails the run on the attempt its executor calls the last, whatever that attempt's number", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 3);
    // Every answer is text Postgres cannot store: each attempt dies writing its batch.
    overrides = { ai: testProvider(() => value("bad \u0000 text")).provider };
    automatic = false;
    const runId = await start(client, explicit("custom_ai", leadIds, { input: { prompt: "Summarise" } }));

    await expect(runTask(runId, ctx(1))).rejects.toThrow();
    expect((await run(runId)).status).toBe("running");
    expect((await items(runId)).map((i) => [i.status, i.attempts])).toEqual(leadIds.map(() => ["running", 1]));
    expect(await client.ledgerConsistency()).toEqual({ balance: 97, ledgerSum: 97, entries: 2 });

    await expect(runTask(runId, { ...ctx(2), lastAttempt: true })).rejects.toThrow();
    expect(await run(runId)).toMatchObject({ status: "failed", error: "The enrichment worker failed", completedAt: null });
    const failed = await items(runId);
    expect(failed.map((i) => [i.status, i.errorMessage, i.attempts])).toEqual(leadIds.map(() => ["failed", "The enrichment worker failed", 2]));
    expect((await refundsOf(client)).map((r) => r.referenceId).sort()).toEqual(failed.map((i) => i.id).sort());
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 5 });
  });

  it("skips an item whose membership is gone before the task reaches it", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const list = (await client.post("/api/lists", { name: "Targets" })).body.list.id;
    await person(client, "Ada Lovelace", { listIds: [list] });
    await person(client, "Alan Turing", { listIds: [list] });
    overrides = { linkedin_posts: testProvider(() => value(["https://www.linkedin.com/posts/x-1"])).provider };
    automatic = false;
    const runId = await start(client, { enrichmentId: "linkedin_posts", scope: { type: "list", listId: list }, output: { target: "membership" } });
    const [gone, kept] = (await client.get(`/api/lists/${list}/rows`)).body.rows;
    expect((await client.delete(`/api/lists/${list}/rows`, { rowIds: [gone.id] })).status).toBe(200);

    await runTask(runId);

    const byMembership = Object.fromEntries((await items(runId)).map((i) => [i.membershipId, i]));
    expect([byMembership[gone.id]!.status, byMembership[gone.id]!.skippedReason]).toEqual(["skipped", "target_missing"]);
    expect(byMembership[kept.id]!.status).toBe("completed");
    const [row] = await h.db.select().from(personRows).where(eq(personRows.id, kept.id));
    expect(row!.attributes).toEqual({ linkedin_posts: ["https://www.linkedin.com/posts/x-1"] });
    expect(await client.ledgerConsistency()).toEqual({ balance: 99, ledgerSum: 99, entries: 3 });
  });
});

describe("cancellation", () => {
  it("skips and refunds pending items while the running ones finish, with at most 8 provider calls at once", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 20);
    const release = gate();
    const test = testProvider(async (request) => {
      await release.opened;
      return value([`https://www.linkedin.com/posts/${request.row.rowId}`]);
    });
    overrides = { linkedin_posts: test.provider };
    const runId = await start(client, explicit("linkedin_posts", leadIds));
    await waitFor(() => test.inFlight() === ENRICHMENT_RUN_CONCURRENCY);
    expect((await run(runId)).status).toBe("running");

    const cancel = await client.post(`/api/enrichment/${runId}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body).toEqual({ run: { id: runId, status: "cancelled", cancelledAt: ISO_DATE } });
    const during = (await client.get(`/api/enrichment/${runId}`)).body.run.scope.counts;
    expect(during).toEqual({ pending: 0, running: 8, completed: 0, skipped: 12, failed: 0 });
    expect(await client.ledgerConsistency()).toEqual({ balance: 92, ledgerSum: 92, entries: 14 });

    release.open();
    await settle();

    expect(test.maxInFlight()).toBe(ENRICHMENT_RUN_CONCURRENCY);
    expect(test.calls).toHaveLength(8);
    const all = await items(runId);
    const completed = all.filter((i) => i.status === "completed");
    const skipped = all.filter((i) => i.status === "skipped");
    expect(completed.map((i) => i.leadId).sort()).toEqual([...test.calls].sort());
    expect(skipped).toHaveLength(12);
    expect(skipped.every((i) => i.skippedReason === "run_cancelled" && i.attempts === 0)).toBe(true);
    expect(await run(runId)).toMatchObject({ status: "cancelled", completedAt: null, costActual: 8 });
    const refunds = await refundsOf(client);
    expect(refunds.map((r) => r.referenceId).sort()).toEqual(skipped.map((i) => i.id).sort());
    expect(await client.ledgerConsistency()).toEqual({ balance: 92, ledgerSum: 92, entries: 14 });
    const attributes = await attributesOf(leadIds);
    expect(leadIds.filter((id) => Object.keys(attributes[id]!).length > 0).sort()).toEqual([...test.calls].sort());
  });

  it("does nothing for a run cancelled before the task starts, or for an unknown run", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 2);
    const test = testProvider(() => value("+1 415 555 0100"));
    overrides = { mobile_phone: test.provider };
    automatic = false;
    const runId = await start(client, explicit("mobile_phone", leadIds));
    expect((await client.post(`/api/enrichment/${runId}/cancel`)).status).toBe(200);

    await runTask(runId);
    await runTask("0190a000-0000-7000-8000-000000000000");

    expect(test.calls).toEqual([]);
    expect(await run(runId)).toMatchObject({ status: "cancelled", startedAt: null });
    expect((await items(runId)).map((i) => i.status)).toEqual(["skipped", "skipped"]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 4 });
  });
});

describe("ordering and consistency", () => {
  it("pages through items while the task is writing them: none twice, none missing", async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const leadIds = await people(client, 24);
    let allowed = 0;
    const waiters: Array<() => void> = [];
    const test = testProvider(async () => {
      if (allowed <= 0) await new Promise<void>((resolve) => waiters.push(resolve));
      allowed -= 1;
      return value("+1 415 555 0100");
    });
    const allow = (n: number) => {
      allowed += n;
      for (const resolve of waiters.splice(0, n)) resolve();
    };
    overrides = { mobile_phone: test.provider };
    automatic = false;
    const runId = await start(client, explicit("mobile_phone", leadIds));
    const expected = (await items(runId)).map((i) => i.id);

    const task = runTask(runId);
    await waitFor(() => test.inFlight() === ENRICHMENT_RUN_CONCURRENCY);
    const seen: { id: string; status: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { body: Json } = await client.get(`/api/enrichment/${runId}/items?limit=5${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...res.body.items.map((i: Json) => ({ id: i.id, status: i.status })));
      cursor = res.body.page.nextCursor;
      pages += 1;
      // Let the task finish one batch between two pages.
      const completedBefore = (await items(runId)).filter((i) => i.status === "completed").length;
      allow(ENRICHMENT_RUN_CONCURRENCY);
      await waitFor(async () => (await items(runId)).filter((i) => i.status === "completed").length >= Math.min(24, completedBefore + ENRICHMENT_RUN_CONCURRENCY));
    } while (cursor);
    allow(1000);
    await task;

    expect(pages).toBe(5);
    expect(seen.map((s) => s.id)).toEqual(expected);
    // The statuses moved under the pager: it saw items before and after they were written.
    expect(seen[0]!.status).toBe("running");
    expect(seen[seen.length - 1]!.status).toBe("completed");
    expect((await run(runId)).status).toBe("completed");
  });

  it("counts always match the items, in one read", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leadIds = await people(client, 3);
    automatic = false;
    const runId = await start(client, explicit("mobile_phone", leadIds));
    await h.db.execute(sql`update enrichment_run_items set status = 'failed' where id = (select id from enrichment_run_items where run_id = ${runId} order by id limit 1)`);
    const [row] = rowsOf<{ n: string }>(await h.db.execute(sql`select count(*) as n from enrichment_run_items where run_id = ${runId} and status = 'pending'`));
    const status = (await client.get(`/api/enrichment/${runId}`)).body.run.scope.counts;
    expect(status).toEqual({ pending: Number(row!.n), running: 0, completed: 0, skipped: 0, failed: 1 });
  });
});
