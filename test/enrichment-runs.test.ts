import { and, eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { creditLedger, enrichmentRunItems, enrichmentRuns, workspaces } from "../src/db/schema";
import { createTriggerSdkDispatcher } from "../src/dispatch/trigger-sdk";
import type { Dispatcher } from "../src/dispatch/types";
import { runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import { startFakeTrigger, type FakeTrigger } from "./helpers/fake-trigger";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client, type Json } from "./helpers/harness";

// The routes of spec section 7 against a fake Trigger.dev: dispatches are recorded (and can be made to
// fail), and the dispatched task does nothing, so every run stays exactly as the request left it.

let fake: FakeTrigger;
let sdk: Dispatcher;
const forwarding: Dispatcher = {
  trigger: (taskId, payload) => sdk.trigger(taskId, payload),
  batchTrigger: (taskId, payloads) => sdk.batchTrigger(taskId, payloads),
  cancel: (ids) => sdk.cancel(ids),
};
const h = useHarness({ max: 20, dispatcher: () => forwarding });

beforeAll(async () => {
  fake = await startFakeTrigger();
  sdk = createTriggerSdkDispatcher({ apiUrl: fake.url, secretKey: fake.secretKey, timeoutMs: 500 });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.clearFaults();
});

const TRIGGER_RUN_ID = expect.stringMatching(/^run_[0-9a-z]+$/);
const TASK_CTX = () => ({ runId: "run_test", attempt: 1, lastAttempt: false, signal: new AbortController().signal });

async function personLead(client: Client, name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await client.post("/api/leads", { type: "person", name: { full: name }, ...extra });
  expect(res.status).toBe(201);
  return res.body.lead.id;
}

async function companyLead(client: Client, name: string, domain: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await client.post("/api/leads", { type: "company", name: { full: name }, domain, ...extra });
  expect(res.status).toBe(201);
  return res.body.lead.id;
}

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Prospects" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

/** Counts of everything a run request may write, for "nothing was written" checks. */
async function written(client: Client) {
  const [row] = rowsOf<{ runs: string; items: string; ledger: string; balance: string }>(
    await h.db.execute(sql`
      select (select count(*) from enrichment_runs where workspace_id = ${client.workspaceId}) as runs,
             (select count(*) from enrichment_run_items where workspace_id = ${client.workspaceId}) as items,
             (select count(*) from credit_ledger where workspace_id = ${client.workspaceId}) as ledger,
             (select credit_balance from workspaces where id = ${client.workspaceId}) as balance`),
  );
  return { runs: Number(row!.runs), items: Number(row!.items), ledger: Number(row!.ledger), balance: Number(row!.balance) };
}

const runRow = async (id: string) => (await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.id, id)))[0]!;
const itemRows = (runId: string) => h.db.select().from(enrichmentRunItems).where(eq(enrichmentRunItems.runId, runId)).orderBy(enrichmentRunItems.id);
const dispatchesOf = (runId: string) => fake.runs.filter((run) => (run.payload as { enrichmentRunId?: string }).enrichmentRunId === runId);

const explicit = (leadIds: string[], extra: Record<string, unknown> = {}) => ({
  enrichmentId: "work_email",
  scope: { type: "explicit_leads", leadIds },
  ...extra,
});

const counts = (c: Partial<Record<"pending" | "running" | "completed" | "skipped" | "failed", number>>) => ({
  pending: 0,
  running: 0,
  completed: 0,
  skipped: 0,
  failed: 0,
  ...c,
});

describe("POST /api/enrichment", () => {
  it("creates a run with one item per lead, dispatches it and charges leadCount × price", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await personLead(client, "Ada Lovelace");
    const alan = await personLead(client, "Alan Turing");

    const res = await client.post("/api/enrichment", explicit([ada, alan]));

    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      enrichmentRunId: UUID,
      runId: res.body.enrichmentRunId,
      status: "pending",
      leadCount: 2,
      triggerRunId: TRIGGER_RUN_ID,
      reusedExistingRun: false,
    });
    const runId = res.body.enrichmentRunId;
    expect(dispatchesOf(runId)).toEqual([{ runId: res.body.triggerRunId, taskId: "enrichment-run", payload: { enrichmentRunId: runId }, batchId: undefined }]);
    expect(await runRow(runId)).toMatchObject({
      workspaceId: client.workspaceId,
      enrichmentSlug: "work_email",
      enrichmentVersion: 1,
      mode: "persisted",
      status: "pending",
      scopeType: "explicit_leads",
      listId: null,
      requested: 2,
      resolvedCount: 2,
      input: {},
      outputTarget: "lead",
      attributeKey: "work_email",
      writePolicy: "overwrite",
      creditAction: "EMAIL_LOOKUP",
      costPreview: 4,
      costActual: 4,
      triggerRunId: res.body.triggerRunId,
      error: null,
      idempotencyKey: null,
      requestHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const items = await itemRows(runId);
    expect(items.map((i) => [i.leadId, i.status, i.listId, i.membershipId, i.attempts])).toEqual(
      expect.arrayContaining([
        [ada, "pending", null, null, 0],
        [alan, "pending", null, null, 0],
      ]),
    );
    expect(items).toHaveLength(2);
    const ledger = await client.ledger();
    expect(ledger.map((e) => [e.kind, e.action, e.units, e.delta, e.balanceAfter, e.referenceType, e.referenceId, e.dedupeKey])).toEqual([
      ["grant", "GRANT", 100, 100, 100, null, null, null],
      ["charge", "EMAIL_LOOKUP", 2, -4, 96, "enrichment_run", runId, `enrichment_run:${runId}:charge`],
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 96, ledgerSum: 96, entries: 2 });

    const status = await client.get(`/api/enrichment/${runId}`);
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      run: {
        id: runId,
        status: "pending",
        mode: "persisted",
        enrichment: { id: "work_email", slug: "work_email", version: 1 },
        scope: { type: "explicit_leads", listId: null, requested: 2, resolvedCount: 2, counts: counts({ pending: 2 }) },
        output: { target: "lead", attributeKey: "work_email", writePolicy: "overwrite" },
        cost: { creditAction: "EMAIL_LOOKUP", preview: 4, actual: 4 },
        trigger: { triggerRunId: res.body.triggerRunId },
        error: null,
        timing: { startedAt: null, completedAt: null, cancelledAt: null, createdAt: ISO_DATE, updatedAt: ISO_DATE },
      },
    });
  });

  it("enriches a lead named twice once", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await personLead(client, "Ada Lovelace");
    const res = await client.post("/api/enrichment", explicit([ada, ada]));
    expect(res.status).toBe(202);
    expect(res.body.leadCount).toBe(1);
    expect(await runRow(res.body.runId)).toMatchObject({ requested: 1, resolvedCount: 1, costPreview: 2 });
  });

  it("takes the entry's input with its defaults, a custom attribute key and skip_existing", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const acme = await companyLead(client, "Acme", "acme.com");
    const res = await client.post("/api/enrichment", {
      enrichmentId: "company_news",
      scope: { type: "explicit_leads", leadIds: [acme] },
      output: { attributeKey: "news" },
      writePolicy: "skip_existing",
    });
    expect(res.status).toBe(202);
    expect(await runRow(res.body.runId)).toMatchObject({
      input: { timePeriod: "3m" },
      attributeKey: "news",
      writePolicy: "skip_existing",
      creditAction: "COMPANY_NEWS",
      costPreview: 4,
    });
    expect(await client.balance()).toBe(96);
  });

  describe("list scope", () => {
    it("enriches the list's leads of the enrichment's subject, each with its membership", async () => {
      const client = await h.seedWorkspace({ credits: 100 });
      const listId = await newList(client);
      // Each person brings their company into the list as a company row (and a company lead).
      const ada = await personLead(client, "Ada Lovelace", { company: { name: "Analytical", domain: "analytical.com" }, listIds: [listId] });
      const alan = await personLead(client, "Alan Turing", { company: { name: "Bletchley", domain: "bletchley.org" }, listIds: [listId] });
      await personLead(client, "Not In List");
      const rows = (await client.get(`/api/lists/${listId}/rows`)).body.rows as Json[];
      const companies = (await client.get(`/api/lists/${listId}/companies`)).body.companies as Json[];
      expect(companies).toHaveLength(2);

      const people = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId } });
      expect(people.status).toBe(202);
      expect(people.body.leadCount).toBe(2);
      expect(await runRow(people.body.runId)).toMatchObject({ scopeType: "list", listId, requested: 4, resolvedCount: 2, costPreview: 4 });
      const personItems = await itemRows(people.body.runId);
      expect(personItems.map((i) => [i.leadId, i.listId, i.membershipId]).sort()).toEqual(
        [
          [ada, listId, rows.find((r) => r.leadId === ada).id],
          [alan, listId, rows.find((r) => r.leadId === alan).id],
        ].sort(),
      );

      const firms = await client.post("/api/enrichment", { enrichmentId: "hiring_status", scope: { type: "list", listId }, output: { target: "membership" } });
      expect(firms.status).toBe(202);
      expect(firms.body.leadCount).toBe(2);
      const companyItems = await itemRows(firms.body.runId);
      expect(companyItems.map((i) => [i.leadId, i.membershipId]).sort()).toEqual(companies.map((c) => [c.leadId, c.id]).sort());
      expect(await client.balance()).toBe(100 - 4 - 2);
    });

    it("is a SUBJECT_MISMATCH when every lead of the list is of the other subject", async () => {
      const client = await h.seedWorkspace();
      const listId = await newList(client);
      await companyLead(client, "Acme", "acme.com", { listIds: [listId] });
      const res = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId } });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: expect.stringMatching(/^Enrichment work_email enriches person leads; lead .+ is a company$/), code: "SUBJECT_MISMATCH", requestId: REQUEST_ID });
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it("is an EMPTY_LEAD_SCOPE for an empty list, also in preview", async () => {
      const client = await h.seedWorkspace();
      const listId = await newList(client);
      for (const mode of ["persisted", "preview"]) {
        const res = await client.post("/api/enrichment", { enrichmentId: "work_email", mode, scope: { type: "list", listId } });
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ error: "The scope resolved to no leads", code: "EMPTY_LEAD_SCOPE", requestId: REQUEST_ID });
      }
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it("is a 404 for another workspace's list, before any planner check", async () => {
      const owner = await h.seedWorkspace();
      const listId = await newList(owner);
      const client = await h.seedWorkspace();
      for (const scope of [
        { type: "list", listId },
        { type: "filtered_list", listId, filter: {} },
        { type: "explicit_leads", leadIds: [await personLead(client, "Ada Lovelace")], listId },
      ]) {
        const res = await client.post("/api/enrichment", { enrichmentId: "work_email", scope });
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
      }
      expect(await written(client)).toMatchObject({ runs: 0, items: 0 });
    });
  });

  describe("planner rejections", () => {
    it("rejects a filtered_list scope's bad filter with INVALID_FILTER, and plans one without a filter as the whole list", async () => {
      const client = await h.seedWorkspace();
      const listId = await newList(client);
      const bad = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "filtered_list", listId, filter: { title: "CTO" } } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({
        error: "Invalid filter: scope.filter.title: is not a key of a filter (all, any)",
        code: "INVALID_FILTER",
        requestId: REQUEST_ID,
        issues: [{ path: "scope.filter.title", message: "is not a key of a filter (all, any)" }],
      });
      // `filter` is optional, as the seed documents it: the list is empty, so is the scope.
      const unfiltered = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "filtered_list", listId } });
      expect(unfiltered.status).toBe(400);
      expect(unfiltered.body).toEqual({ error: "The scope resolved to no leads", code: "EMPTY_LEAD_SCOPE", requestId: REQUEST_ID });
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it("rejects a lead of the other subject with SUBJECT_MISMATCH", async () => {
      const client = await h.seedWorkspace();
      const ada = await personLead(client, "Ada Lovelace");
      const acme = await companyLead(client, "Acme", "acme.com");
      const res = await client.post("/api/enrichment", explicit([ada, acme]));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: `Enrichment work_email enriches person leads; lead ${acme} is a company`, code: "SUBJECT_MISMATCH", requestId: REQUEST_ID });
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it("rejects membership output without a list with OUTPUT_TARGET_UNSUPPORTED", async () => {
      const client = await h.seedWorkspace();
      const ada = await personLead(client, "Ada Lovelace");
      const res = await client.post("/api/enrichment", explicit([ada], { output: { target: "membership" } }));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: "Membership output needs a list: pass scope.listId or use output.target lead",
        code: "OUTPUT_TARGET_UNSUPPORTED",
        requestId: REQUEST_ID,
      });
    });

    it("rejects membership output for a lead that is not in the list", async () => {
      const client = await h.seedWorkspace();
      const listId = await newList(client);
      const member = await personLead(client, "Ada Lovelace", { listIds: [listId] });
      const outsider = await personLead(client, "Alan Turing");
      const res = await client.post("/api/enrichment", {
        enrichmentId: "work_email",
        scope: { type: "explicit_leads", leadIds: [member, outsider], listId },
        output: { target: "membership" },
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        error: `Lead ${outsider} is not in list ${listId}, so it has no membership to write to`,
        code: "OUTPUT_TARGET_UNSUPPORTED",
        requestId: REQUEST_ID,
      });
      // With the lead as target the list only records memberships where there are some.
      const lead = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [member, outsider], listId } });
      expect(lead.status).toBe(202);
      const items = await itemRows(lead.body.runId);
      const rowOfMember = (await client.get(`/api/lists/${listId}/rows`)).body.rows[0].id;
      expect(items.map((i) => [i.leadId, i.listId, i.membershipId]).sort()).toEqual(
        [
          [member, listId, rowOfMember],
          [outsider, listId, null],
        ].sort(),
      );
    });

    it("answers 404 Lead not found for an unknown or foreign lead id, writing nothing", async () => {
      const other = await h.seedWorkspace();
      const foreign = await personLead(other, "Grace Hopper");
      const client = await h.seedWorkspace();
      const ada = await personLead(client, "Ada Lovelace");
      for (const leadIds of [[ada, foreign], [ada, "0190a000-0000-7000-8000-000000000000"]]) {
        const res = await client.post("/api/enrichment", explicit(leadIds));
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ error: "Lead not found", code: "NOT_FOUND", requestId: REQUEST_ID });
      }
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it.each([["nope"], ["deep_research"]])("answers 404 Enrichment not found for %s", async (enrichmentId) => {
      const client = await h.seedWorkspace();
      const ada = await personLead(client, "Ada Lovelace");
      const res = await client.post("/api/enrichment", explicit([ada], { enrichmentId }));
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "Enrichment not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    });
  });

  describe("validation", () => {
    const lead = "0190a000-0000-7000-8000-000000000001";
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `0190a000-0000-7000-8000-${String(i).padStart(12, "0")}`);
    it.each([
      ["a subject inside scope", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [lead], subject: "person" } }, "scope"],
      ["an unknown scope key", { enrichmentId: "work_email", scope: { type: "list", listId: lead, leadIds: [lead] } }, "scope"],
      ["an unknown scope type", { enrichmentId: "work_email", scope: { type: "everything" } }, "scope.type"],
      ["no scope", { enrichmentId: "work_email" }, "scope"],
      ["no lead ids", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [] } }, "scope.leadIds"],
      ["1001 lead ids", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: ids(1001) } }, "scope.leadIds"],
      ["a malformed lead id", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: ["nope"] } }, "scope.leadIds.0"],
      ["a malformed list id", { enrichmentId: "work_email", scope: { type: "list", listId: "nope" } }, "scope.listId"],
      ["no enrichment id", { scope: { type: "explicit_leads", leadIds: [lead] } }, "enrichmentId"],
      ["a bad mode", explicit([lead], { mode: "dry" }), "mode"],
      ["a bad write policy", explicit([lead], { writePolicy: "merge" }), "writePolicy"],
      ["a bad output target", explicit([lead], { output: { target: "cell" } }), "output.target"],
      ["an unknown output key", explicit([lead], { output: { column: "x" } }), "output"],
      ["an empty attribute key", explicit([lead], { output: { attributeKey: " " } }), "output.attributeKey"],
      ["an empty idempotency key", explicit([lead], { idempotencyKey: "" }), "idempotencyKey"],
      ["a 201-character idempotency key", explicit([lead], { idempotencyKey: "k".repeat(201) }), "idempotencyKey"],
      ["input that is not an object", explicit([lead], { input: "hello" }), "input"],
    ])("rejects %s with VALIDATION_ERROR", async (_name, body, path) => {
      const client = await h.seedWorkspace();
      const res = await client.post("/api/enrichment", body);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: expect.any(Array) });
      expect(res.body.issues.map((issue: Json) => issue.path)).toContain(path);
      expect(await written(client)).toMatchObject({ runs: 0, items: 0, ledger: 1 });
    });

    it("accepts 1000 lead ids and a 200-character idempotency key (the limits)", async () => {
      const client = await h.seedWorkspace();
      const res = await client.post("/api/enrichment", explicit(ids(1000), { idempotencyKey: "k".repeat(200) }));
      // Well-formed but unknown ids: past validation, into resolution.
      expect(res.status).toBe(404);
      expect(res.body.error).toBe("Lead not found");
    });

    it.each([
      ["custom_ai", {}, "input.prompt"],
      ["custom_ai", { prompt: "Is this person technical?", dataSource: "mind" }, "input.dataSource"],
      ["company_news", { timePeriod: "2w" }, "input.timePeriod"],
      ["work_email", { extra: true }, "input"],
    ])("validates %s input %j against the entry's schema (issue at %s)", async (enrichmentId, input, path) => {
      const client = await h.seedWorkspace();
      const res = await client.post("/api/enrichment", { enrichmentId, scope: { type: "explicit_leads", leadIds: [lead] }, input });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: expect.stringContaining(path), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] });
      expect(await written(client)).toMatchObject({ runs: 0, items: 0 });
    });
  });

  describe("credits", () => {
    it("answers 402 with required and balance, creating and dispatching nothing", async () => {
      const client = await h.seedWorkspace({ credits: 15 });
      const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing")];
      const dispatchesBefore = fake.runs.length;
      const res = await client.post("/api/enrichment", { enrichmentId: "mobile_phone", scope: { type: "explicit_leads", leadIds: leads } });
      expect(res.status).toBe(402);
      expect(res.body).toEqual({
        error: "Insufficient credits: 16 required, 15 available",
        code: "INSUFFICIENT_CREDITS",
        requestId: REQUEST_ID,
        required: 16,
        balance: 15,
      });
      expect(await written(client)).toEqual({ runs: 0, items: 0, ledger: 1, balance: 15 });
      expect(fake.runs.length).toBe(dispatchesBefore);
    });

    it("runs when the balance covers the cost exactly", async () => {
      const client = await h.seedWorkspace({ credits: 16 });
      const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing")];
      const res = await client.post("/api/enrichment", { enrichmentId: "mobile_phone", scope: { type: "explicit_leads", leadIds: leads } });
      expect(res.status).toBe(202);
      expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 2 });
    });

    it("never overspends under concurrent requests: as many runs as the balance pays for", async () => {
      const client = await h.seedWorkspace({ credits: 20 });
      const ada = await personLead(client, "Ada Lovelace");
      // Ten runs of 8 credits each against 20 credits: exactly two can be paid.
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => client.post("/api/enrichment", { enrichmentId: "mobile_phone", scope: { type: "explicit_leads", leadIds: [ada] } })),
      );
      expect(responses.filter((r) => r.status === 202)).toHaveLength(2);
      expect(responses.filter((r) => r.status === 402)).toHaveLength(8);
      expect(await written(client)).toEqual({ runs: 2, items: 2, ledger: 3, balance: 4 });
      expect(await client.ledgerConsistency()).toEqual({ balance: 4, ledgerSum: 4, entries: 3 });
    });
  });

  describe("preview mode", () => {
    it("plans and prices without writing, dispatching or charging", async () => {
      const client = await h.seedWorkspace({ credits: 10 });
      const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing")];
      const dispatchesBefore = fake.runs.length;
      const res = await client.post("/api/enrichment", {
        enrichmentId: "mobile_phone",
        mode: "preview",
        scope: { type: "explicit_leads", leadIds: leads },
        idempotencyKey: "preview-1",
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ mode: "preview", leadCount: 2, cost: { creditAction: "PHONE_LOOKUP", required: 16, balance: 10, sufficient: false } });
      expect(await written(client)).toEqual({ runs: 0, items: 0, ledger: 1, balance: 10 });
      expect(fake.runs.length).toBe(dispatchesBefore);

      const affordable = await client.post("/api/enrichment", { enrichmentId: "work_email", mode: "preview", scope: { type: "explicit_leads", leadIds: leads } });
      expect(affordable.body).toEqual({ mode: "preview", leadCount: 2, cost: { creditAction: "EMAIL_LOOKUP", required: 4, balance: 10, sufficient: true } });
      expect(await written(client)).toEqual({ runs: 0, items: 0, ledger: 1, balance: 10 });
    });

    it("applies the same planner rules", async () => {
      const client = await h.seedWorkspace();
      const acme = await companyLead(client, "Acme", "acme.com");
      const res = await client.post("/api/enrichment", explicit([acme], { mode: "preview" }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("SUBJECT_MISMATCH");
    });
  });

  describe("idempotency", () => {
    it("returns the existing run for a repeated key, without a second run or charge", async () => {
      const client = await h.seedWorkspace({ credits: 100 });
      const ada = await personLead(client, "Ada Lovelace");
      const first = await client.post("/api/enrichment", explicit([ada], { idempotencyKey: "retry-1" }));
      expect(first.status).toBe(202);
      // The same request with its defaults spelled out and its keys in another order.
      const again = await client.post("/api/enrichment", {
        writePolicy: "overwrite",
        idempotencyKey: "retry-1",
        output: { attributeKey: "work_email", target: "lead" },
        input: {},
        mode: "persisted",
        scope: { leadIds: [ada], type: "explicit_leads" },
        enrichmentId: "work_email",
      });
      expect(again.status).toBe(202);
      expect(again.body).toEqual({ ...first.body, reusedExistingRun: true });
      expect(await written(client)).toEqual({ runs: 1, items: 1, ledger: 2, balance: 98 });
      expect(dispatchesOf(first.body.runId)).toHaveLength(1);
    });

    it("answers 409 IDEMPOTENCY_KEY_REUSED for the same key with another body", async () => {
      const client = await h.seedWorkspace({ credits: 100 });
      const ada = await personLead(client, "Ada Lovelace");
      const alan = await personLead(client, "Alan Turing");
      await client.post("/api/enrichment", explicit([ada], { idempotencyKey: "retry-2" }));
      for (const body of [
        explicit([alan], { idempotencyKey: "retry-2" }),
        explicit([ada], { idempotencyKey: "retry-2", writePolicy: "skip_existing" }),
        explicit([ada], { idempotencyKey: "retry-2", enrichmentId: "mobile_phone" }),
      ]) {
        const res = await client.post("/api/enrichment", body);
        expect(res.status).toBe(409);
        expect(res.body).toEqual({
          error: "This idempotencyKey was already used with a different request body",
          code: "IDEMPOTENCY_KEY_REUSED",
          requestId: REQUEST_ID,
        });
      }
      expect(await written(client)).toEqual({ runs: 1, items: 1, ledger: 2, balance: 98 });
    });

    it("keeps keys per workspace", async () => {
      const one = await h.seedWorkspace();
      const two = await h.seedWorkspace();
      const a = await one.post("/api/enrichment", explicit([await personLead(one, "Ada Lovelace")], { idempotencyKey: "shared" }));
      const b = await two.post("/api/enrichment", explicit([await personLead(two, "Ada Lovelace")], { idempotencyKey: "shared" }));
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(b.body.reusedExistingRun).toBe(false);
      expect(b.body.runId).not.toBe(a.body.runId);
    });

    it("creates exactly one run and one charge when 50 identical requests race", async () => {
      const client = await h.seedWorkspace({ credits: 1000 });
      const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing"), await personLead(client, "Grace Hopper")];
      const body = explicit(leads, { idempotencyKey: "race-50" });

      const responses = await Promise.all(Array.from({ length: 50 }, () => client.post("/api/enrichment", body)));

      expect(responses.map((r) => r.status)).toEqual(Array(50).fill(202));
      const runIds = new Set(responses.map((r) => r.body.enrichmentRunId));
      expect(runIds.size).toBe(1);
      const [runId] = runIds;
      expect(responses.filter((r) => r.body.reusedExistingRun === true)).toHaveLength(49);
      for (const r of responses) {
        // A request that found the run while its creator was still dispatching it sees no trigger run id yet.
        const triggerRunId = r.body.reusedExistingRun ? expect.toBeOneOf([TRIGGER_RUN_ID, null]) : TRIGGER_RUN_ID;
        expect(r.body).toEqual({ enrichmentRunId: runId, runId, status: "pending", leadCount: 3, triggerRunId, reusedExistingRun: expect.any(Boolean) });
      }
      expect(await written(client)).toEqual({ runs: 1, items: 3, ledger: 2, balance: 994 });
      const charges = await h.db.select().from(creditLedger).where(and(eq(creditLedger.workspaceId, client.workspaceId), eq(creditLedger.kind, "charge")));
      expect(charges).toHaveLength(1);
      expect(dispatchesOf(runId!)).toHaveLength(1);
    });
  });

  describe("dispatch failure", () => {
    it.each([
      ["a 500 from Trigger.dev", { status: 500 }],
      ["no answer from Trigger.dev", { hang: true as const }],
    ])("answers 502 on %s; the run exists as failed and nothing is charged", async (_name, fault) => {
      const client = await h.seedWorkspace({ credits: 100 });
      const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing")];
      fake.failAlways(fault, { path: /\/trigger$/ });

      const res = await client.post("/api/enrichment", explicit(leads));

      expect(res.status).toBe(502);
      expect(res.body).toEqual({
        error: "The enrichment run could not be dispatched",
        code: "DISPATCH_FAILED",
        requestId: REQUEST_ID,
        enrichmentRunId: UUID,
        runId: res.body.enrichmentRunId,
      });
      const runId = res.body.enrichmentRunId;
      expect(await runRow(runId)).toMatchObject({ status: "failed", error: "The enrichment run could not be dispatched", triggerRunId: null, costActual: 0 });
      expect((await itemRows(runId)).map((i) => [i.status, i.errorMessage])).toEqual([
        ["failed", "The enrichment run could not be dispatched"],
        ["failed", "The enrichment run could not be dispatched"],
      ]);
      expect(await written(client)).toEqual({ runs: 1, items: 2, ledger: 1, balance: 100 });

      const status = await client.get(`/api/enrichment/${runId}`);
      expect(status.body.run).toMatchObject({
        status: "failed",
        error: "The enrichment run could not be dispatched",
        scope: { counts: counts({ failed: 2 }) },
        cost: { creditAction: "EMAIL_LOOKUP", preview: 4, actual: 0 },
        trigger: { triggerRunId: null },
      });
      // A failed run is not cancellable, and its items are never refunded: nothing was charged.
      const cancel = await client.post(`/api/enrichment/${runId}/cancel`);
      expect(cancel.status).toBe(409);
      expect(await written(client)).toEqual({ runs: 1, items: 2, ledger: 1, balance: 100 });
    });
  });
});

describe("GET /api/enrichment/{id}", () => {
  it("answers 404 for an unknown run and 400 for a malformed id", async () => {
    const client = await h.seedWorkspace();
    const unknown = await client.get("/api/enrichment/0190a000-0000-7000-8000-000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "Enrichment run not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    const malformed = await client.get("/api/enrichment/nope");
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "id", message: "Invalid UUID" }] });
  });
});

describe("GET /api/enrichment/{id}/items", () => {
  async function runOf(client: Client, n: number) {
    const leads: string[] = [];
    for (let i = 0; i < n; i++) leads.push(await personLead(client, `Person ${i}`));
    const res = await client.post("/api/enrichment", explicit(leads));
    expect(res.status).toBe(202);
    return { runId: res.body.runId as string, leads };
  }

  it("pages by id ascending with the last id as cursor", async () => {
    const client = await h.seedWorkspace();
    const { runId } = await runOf(client, 5);
    const all = await itemRows(runId);

    const first = await client.get(`/api/enrichment/${runId}/items?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      items: all.slice(0, 2).map((item) => ({
        id: item.id,
        runId,
        leadId: item.leadId,
        listId: null,
        membershipId: null,
        status: "pending",
        result: null,
        skippedReason: null,
        error: null,
        attempts: 0,
        metadata: { provider: null, providerSubmissionId: null },
        timing: { startedAt: null, completedAt: null, createdAt: ISO_DATE, updatedAt: ISO_DATE },
      })),
      page: { limit: 2, nextCursor: all[1]!.id, hasMore: true },
    });
    const second = await client.get(`/api/enrichment/${runId}/items?limit=2&cursor=${first.body.page.nextCursor}`);
    expect(second.body.items.map((i: Json) => i.id)).toEqual([all[2]!.id, all[3]!.id]);
    expect(second.body.page).toEqual({ limit: 2, nextCursor: all[3]!.id, hasMore: true });
    const last = await client.get(`/api/enrichment/${runId}/items?limit=2&cursor=${second.body.page.nextCursor}`);
    expect(last.body.items.map((i: Json) => i.id)).toEqual([all[4]!.id]);
    expect(last.body.page).toEqual({ limit: 2, nextCursor: null, hasMore: false });
    const defaults = await client.get(`/api/enrichment/${runId}/items`);
    expect(defaults.body.page).toEqual({ limit: 50, nextCursor: null, hasMore: false });
    expect(defaults.body.items).toHaveLength(5);
  });

  it("filters by status and by lead", async () => {
    const client = await h.seedWorkspace();
    const { runId, leads } = await runOf(client, 3);
    await runEnrichmentRun(h.services, { enrichmentRunId: runId }, TASK_CTX());
    // The leads have no company domain: the sandbox finds no work email, so every item is skipped.
    const skipped = await client.get(`/api/enrichment/${runId}/items?status=skipped`);
    expect(skipped.body.items).toHaveLength(3);
    expect(skipped.body.items[0]).toMatchObject({ status: "skipped", skippedReason: "no_match", attempts: 1, metadata: { provider: "sandbox", providerSubmissionId: null } });
    const pending = await client.get(`/api/enrichment/${runId}/items?status=pending`);
    expect(pending.body).toEqual({ items: [], page: { limit: 50, nextCursor: null, hasMore: false } });
    const byLead = await client.get(`/api/enrichment/${runId}/items?leadId=${leads[1]}`);
    expect(byLead.body.items.map((i: Json) => i.leadId)).toEqual([leads[1]]);
  });

  it.each([
    ["status=done", "status"],
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=ten", "limit"],
    ["cursor=nope", "cursor"],
    ["leadId=nope", "leadId"],
  ])("rejects %s with VALIDATION_ERROR", async (query, path) => {
    const client = await h.seedWorkspace();
    const { runId } = await runOf(client, 1);
    const res = await client.get(`/api/enrichment/${runId}/items?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] });
  });

  it("accepts the limits 1 and 100", async () => {
    const client = await h.seedWorkspace();
    const { runId } = await runOf(client, 2);
    expect((await client.get(`/api/enrichment/${runId}/items?limit=1`)).body.page).toMatchObject({ limit: 1, hasMore: true });
    expect((await client.get(`/api/enrichment/${runId}/items?limit=100`)).body.page).toMatchObject({ limit: 100, hasMore: false });
  });

  it("answers 404 for an unknown run", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/enrichment/0190a000-0000-7000-8000-000000000000/items");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "Enrichment run not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });
});

describe("POST /api/enrichment/{id}/cancel", () => {
  it("cancels a pending run: items skipped, every credit refunded, the task cancelled", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const leads = [await personLead(client, "Ada Lovelace"), await personLead(client, "Alan Turing"), await personLead(client, "Grace Hopper")];
    const created = await client.post("/api/enrichment", { enrichmentId: "mobile_phone", scope: { type: "explicit_leads", leadIds: leads } });
    const runId = created.body.runId;
    expect(await client.balance()).toBe(76);

    const res = await client.post(`/api/enrichment/${runId}/cancel`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ run: { id: runId, status: "cancelled", cancelledAt: ISO_DATE } });
    expect(fake.requests.some((r) => r.method === "POST" && r.path === `/api/v2/runs/${created.body.triggerRunId}/cancel`)).toBe(true);
    const items = await itemRows(runId);
    expect(items.map((i) => [i.status, i.skippedReason, i.completedAt !== null])).toEqual(Array(3).fill(["skipped", "run_cancelled", true]));
    const refunds = (await client.ledger()).filter((e) => e.kind === "refund");
    expect(refunds.map((e) => [e.action, e.units, e.delta, e.referenceType, e.referenceId, e.dedupeKey]).sort()).toEqual(
      items.map((i) => ["PHONE_LOOKUP", 1, 8, "enrichment_run_item", i.id, `enrichment_run_item:${i.id}:refund`]).sort(),
    );
    expect(refunds.map((e) => e.balanceAfter).sort((a, b) => a - b)).toEqual([84, 92, 100]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 5 });

    const status = await client.get(`/api/enrichment/${runId}`);
    expect(status.body.run).toMatchObject({
      status: "cancelled",
      scope: { counts: counts({ skipped: 3 }) },
      cost: { creditAction: "PHONE_LOOKUP", preview: 24, actual: 0 },
      timing: { cancelledAt: res.body.run.cancelledAt, completedAt: null },
    });

    // A second cancel is a conflict and refunds nothing more.
    const again = await client.post(`/api/enrichment/${runId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: "Enrichment run is cancelled and can no longer be cancelled", code: "CONFLICT", requestId: REQUEST_ID, reason: "run_not_cancellable" });
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 5 });
  });

  it("answers 409 run_not_cancellable for a completed run", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await personLead(client, "Ada Lovelace", { company: { name: "Acme", domain: "acme.com" } });
    const created = await client.post("/api/enrichment", explicit([ada]));
    await runEnrichmentRun(h.services, { enrichmentRunId: created.body.runId }, TASK_CTX());
    expect((await runRow(created.body.runId)).status).toBe("completed");

    const res = await client.post(`/api/enrichment/${created.body.runId}/cancel`);

    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: "Enrichment run is completed and can no longer be cancelled", code: "CONFLICT", requestId: REQUEST_ID, reason: "run_not_cancellable" });
    expect(await client.ledgerConsistency()).toEqual({ balance: 98, ledgerSum: 98, entries: 2 });
  });

  it("answers 409 run_status_changed when the run finishes while the cancel waits", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ada = await personLead(client, "Ada Lovelace");
    const created = await client.post("/api/enrichment", explicit([ada]));
    const runId = created.body.runId;

    let cancel: Promise<Awaited<ReturnType<Client["post"]>>> | undefined;
    await h.db.transaction(async (tx) => {
      // Hold the workspace row, so the cancel reads the run as pending and then waits for this lock.
      await tx.execute(sql`select 1 from workspaces where id = ${client.workspaceId} for update`);
      cancel = client.post(`/api/enrichment/${runId}/cancel`);
      await waitFor(async () => {
        const [row] = rowsOf<{ waiting: string }>(
          await h.db.execute(sql`select count(*) as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%for update of w%'`),
        );
        return Number(row!.waiting) > 0;
      });
      await tx.update(enrichmentRuns).set({ status: "completed" }).where(eq(enrichmentRuns.id, runId));
    });
    const res = await cancel!;

    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: "Enrichment run changed status while it was being cancelled", code: "CONFLICT", requestId: REQUEST_ID, reason: "run_status_changed" });
    expect((await itemRows(runId)).map((i) => i.status)).toEqual(["pending"]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 98, ledgerSum: 98, entries: 2 });
  });

  it("answers 404 for an unknown run and 400 for a malformed id", async () => {
    const client = await h.seedWorkspace();
    const unknown = await client.post("/api/enrichment/0190a000-0000-7000-8000-000000000000/cancel");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "Enrichment run not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    const malformed = await client.post("/api/enrichment/nope/cancel");
    expect(malformed.status).toBe(400);
    expect(malformed.body.code).toBe("VALIDATION_ERROR");
  });
});

describe("tenant isolation", () => {
  it("hides another workspace's run from every route", async () => {
    const owner = await h.seedWorkspace({ credits: 100 });
    const created = await owner.post("/api/enrichment", explicit([await personLead(owner, "Ada Lovelace")]));
    const runId = created.body.runId;
    const intruder = await h.seedWorkspace({ credits: 100 });

    for (const res of [
      await intruder.get(`/api/enrichment/${runId}`),
      await intruder.get(`/api/enrichment/${runId}/items`),
      await intruder.post(`/api/enrichment/${runId}/cancel`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "Enrichment run not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect((await runRow(runId)).status).toBe("pending");
    expect(await owner.ledgerConsistency()).toEqual({ balance: 98, ledgerSum: 98, entries: 2 });
    const [ws] = await h.db.select({ balance: workspaces.creditBalance }).from(workspaces).where(eq(workspaces.id, intruder.workspaceId));
    expect(ws!.balance).toBe(100);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
