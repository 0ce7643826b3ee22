import { asc, eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { backgroundIdle } from "../src/after-response";
import { companyRows, leads, personRows, providerSubmissions } from "../src/db/schema";
import { RUN_SUBMISSION_INTERRUPTED } from "../src/domain/enrichment-runs/contact-submissions";
import { runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { defaultDirectory, type FakeContact, type FakeEnrichment } from "./helpers/fake-fullenrich";
import { startFullEnrichApp, taskContext, until } from "./helpers/fullenrich-app";
import { Client, ISO_DATE, UUID, useHarness, type Json } from "./helpers/harness";
import { movements } from "./helpers/ledger";

// Enrichment runs of contact enrichments through FullEnrich, end to end: the real app served on
// 127.0.0.1 (FullEnrich calls its webhook route), the real enrichment-run task, real Postgres, and a
// fake of FullEnrich's API. A run's items go out in recorded submissions of up to 100 with the signed
// webhook URL, their results come back by webhook (or polling), and the run's one charge is
// refunded, item by item, for every item that ends skipped or failed.

const h = useHarness({ max: 12 });
const API_KEY = "fe_live_test_run_51c0a2";
const SECRET = "run-contact-webhook-secret-0123456789";
const PRICE = DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!;
const CREDITS = 1_000;

// ---- the people ----

const DOMAINS = ["analytical.io", "navy.mil", "bletchley.uk"];
const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara"];

/** Person i of a list: a unique last name; a domain unless `unfit(i)` (then nothing to look them up by). */
const personAt = (i: number, unfit: (i: number) => boolean) => ({
  firstName: FIRST[i % FIRST.length]!,
  lastName: `Hopper${String(i).padStart(3, "0")}`,
  ...(unfit(i) ? {} : { domain: DOMAINS[i % DOMAINS.length]! }),
});

const indexOf = (lastName: string | null | undefined) => Number(/^Hopper(\d{3})$/.exec(lastName ?? "")?.[1] ?? NaN);

/** FullEnrich knows the email of everyone with a name and a domain, except people 4, 14, 24, … */
const unknown = (i: number) => i % 10 === 4;
const directory = (contact: FakeContact) => (unknown(indexOf(contact.last_name)) ? {} : defaultDirectory(contact));
const emailOf = (i: number) => `${FIRST[i % FIRST.length]!.toLowerCase()}.hopper${String(i).padStart(3, "0")}@${DOMAINS[i % DOMAINS.length]}`;

const noneUnfit = () => false;
/** People 7, 37, 67, … have no domain: FullEnrich cannot look them up. */
const someUnfit = (i: number) => i % 30 === 7;

// ---- the app, its services, and FullEnrich ----

const fullEnrich = await startFullEnrichApp(h, { apiKey: API_KEY, webhookSecret: SECRET, directory });
const { fake, app, served, useFullEnrich, holdingTasks, settle, urlSig } = fullEnrich;

type Fixture = {
  client: Client;
  listId: string;
  runId: string;
  n: number;
  unfit: (i: number) => boolean;
  /** Lead id → person index, and → person row (the membership). */
  index: Map<string, number>;
  rowOf: Map<string, string>;
};

/** A workspace with a list of `n` people and a work_email run over it (its task held when `hold`). */
async function listRun(n: number, unfit: (i: number) => boolean, options: { hold?: boolean } = {}): Promise<Fixture> {
  const seeded = await h.seedWorkspace({ credits: CREDITS });
  const client = new Client(app, h.db, seeded.account);
  const list = await client.post("/api/lists", { name: "Prospects" });
  expect(list.status).toBe(201);
  const listId: string = list.body.list.id;
  const added = await client.post(`/api/lists/${listId}/rows/bulk`, { rows: Array.from({ length: n }, (_, i) => personAt(i, unfit)) });
  expect(added.status).toBe(200);
  const rowIds: string[] = added.body.rowIds;
  expect(rowIds).toHaveLength(n);
  const rows = await h.db.select({ id: personRows.id, leadId: personRows.leadId }).from(personRows).where(eq(personRows.listId, listId));
  const people = await h.db.select({ id: leads.id, lastName: leads.lastName }).from(leads).where(inArray(leads.id, rows.map((r) => r.leadId)));
  const index = new Map(people.map((p) => [p.id, indexOf(p.lastName)]));
  expect([...index.values()].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
  const rowOf = new Map(rows.map((r) => [r.leadId, r.id]));

  const start = () => client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId } });
  const { result: started, held } = options.hold ? await holdingTasks(start) : { result: await start(), held: [] };
  expect(started.status).toBe(202);
  const runId: string = started.body.runId;
  if (options.hold) expect(held).toEqual([{ taskId: "enrichment-run", payload: { enrichmentRunId: runId } }]);
  return { client, listId, runId, n, unfit, index, rowOf };
}

// ---- reading back ----

const runOf = async (f: Fixture) => {
  const res = await f.client.get(`/api/enrichment/${f.runId}`);
  expect(res.status).toBe(200);
  return res.body.run;
};

/** Every item of the run through the API, by id (the order the task claims them in). */
async function itemsOf(f: Fixture): Promise<Json[]> {
  const all: Json[] = [];
  let cursor: string | null = null;
  do {
    const res = await f.client.get(`/api/enrichment/${f.runId}/items?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    all.push(...res.body.items);
    cursor = res.body.page.nextCursor;
  } while (cursor);
  expect(all).toHaveLength(f.n);
  return all;
}

const submissionsOf = (runId: string) =>
  h.db.select().from(providerSubmissions).where(eq(providerSubmissions.enrichmentRunId, runId)).orderBy(asc(providerSubmissions.id));

const webhookUrl = (submissionId: string) => `${served.url}/webhooks/fullenrich/${submissionId}?sig=${urlSig(submissionId)}`;

const timing = { startedAt: ISO_DATE, completedAt: ISO_DATE, createdAt: ISO_DATE, updatedAt: ISO_DATE };

/** What an item is expected to end as; `submissionId` is the submission that carried it (null: none). */
type Expected =
  | { status: "completed"; submissionId: string }
  | { status: "skipped"; submissionId: string | null }
  | { status: "failed"; submissionId: string; error: string };

function itemView(f: Fixture, item: Json, expected: Expected) {
  const i = f.index.get(item.leadId)!;
  return {
    id: item.id,
    runId: f.runId,
    leadId: item.leadId,
    listId: f.listId,
    membershipId: f.rowOf.get(item.leadId),
    status: expected.status,
    result: expected.status === "completed" ? emailOf(i) : null,
    skippedReason: expected.status === "skipped" ? "no_match" : null,
    error: expected.status === "failed" ? { message: expected.error, details: { retryable: false } } : null,
    attempts: 1,
    metadata: { provider: "fullenrich", providerSubmissionId: expected.submissionId },
    timing,
  };
}

/**
 * The submissions the task must have made: the items in claim order (by id), a provider batch (100)
 * at a time, each claim's items FullEnrich can look up in one submission.
 */
function plannedBatches(f: Fixture, items: Json[]): Json[][] {
  const batches: Json[][] = [];
  for (let start = 0; start < items.length; start += 100) {
    const fit = items.slice(start, start + 100).filter((item) => !f.unfit(f.index.get(item.leadId)!));
    if (fit.length > 0) batches.push(fit);
  }
  return batches;
}

/** The contacts FullEnrich must have been sent for `batch` under our submission `submissionId`. */
const contactsOf = (f: Fixture, submissionId: string, batch: Json[]) =>
  batch.map((item) => {
    const i = f.index.get(item.leadId)!;
    return {
      first_name: FIRST[i % FIRST.length],
      last_name: `Hopper${String(i).padStart(3, "0")}`,
      domain: DOMAINS[i % DOMAINS.length],
      enrich_fields: ["contact.work_emails"],
      custom: { submission_id: submissionId, cell_id: item.id, run_token: item.id, row_id: item.leadId },
    };
  });

/** A charge for the whole run at dispatch, and one refund per item that ended skipped or failed. */
function expectedLedger(f: Fixture, items: Json[]) {
  const refunded = items.filter((item) => item.status !== "completed");
  return [
    { kind: "charge", action: "EMAIL_LOOKUP", units: f.n, delta: -PRICE * f.n, referenceType: "enrichment_run", referenceId: f.runId, dedupeKey: `enrichment_run:${f.runId}:charge`, note: null },
    ...refunded.map((item) => ({
      kind: "refund",
      action: "EMAIL_LOOKUP",
      units: 1,
      delta: PRICE,
      referenceType: "enrichment_run_item",
      referenceId: item.id,
      dedupeKey: `enrichment_run_item:${item.id}:refund`,
      note: `Enrichment item ${item.status}`,
    })),
  ].sort((a, b) => a.dedupeKey.localeCompare(b.dedupeKey));
}

/** The run's view once it completed with these item counts. */
async function expectCompletedRun(f: Fixture, counts: { completed: number; skipped: number; failed: number }) {
  // The list's leads of both kinds are requested; its people are resolved.
  const companies = await h.db.select({ id: companyRows.id }).from(companyRows).where(eq(companyRows.listId, f.listId));
  const run = await runOf(f);
  expect(run).toEqual({
    id: f.runId,
    status: "completed",
    mode: "persisted",
    enrichment: { id: "work_email", slug: "work_email", version: 1 },
    scope: {
      type: "list",
      listId: f.listId,
      requested: f.n + companies.length,
      resolvedCount: f.n,
      counts: { pending: 0, running: 0, ...counts },
    },
    output: { target: "lead", attributeKey: "work_email", writePolicy: "overwrite" },
    cost: { creditAction: "EMAIL_LOOKUP", preview: PRICE * f.n, actual: PRICE * counts.completed },
    trigger: { triggerRunId: expect.stringMatching(/^run_/) },
    error: null,
    timing: { startedAt: ISO_DATE, completedAt: ISO_DATE, cancelledAt: null, createdAt: ISO_DATE, updatedAt: ISO_DATE },
  });
  return run;
}

/** The ledger is exact: the charge, a refund per unpaid item, and the balance the ledger sums to. */
async function expectLedger(f: Fixture, items: Json[]) {
  const completed = items.filter((item) => item.status === "completed").length;
  const ledger = expectedLedger(f, items);
  expect(await movements(f.client)).toEqual(ledger);
  const balance = CREDITS - PRICE * completed;
  expect(await f.client.ledgerConsistency()).toEqual({ balance, ledgerSum: balance, entries: 1 + ledger.length });
}

/** Leads' work_email attributes: set for completed items only. */
async function expectAttributes(f: Fixture, items: Json[]) {
  const rows = await h.db.select({ id: leads.id, attributes: leads.attributes }).from(leads).where(inArray(leads.id, [...f.index.keys()]));
  const byLead = Object.fromEntries(rows.map((r) => [r.id, r.attributes]));
  expect(byLead).toEqual(
    Object.fromEntries(items.map((item) => [item.leadId, item.status === "completed" ? { work_email: emailOf(f.index.get(item.leadId)!) } : {}])),
  );
}

/** A run's submission as stored once it ended: what every one of them holds, and its own `state`. */
function endedSubmission(
  f: Fixture,
  run: Json,
  state: { status: string; providerRef: string | null; cells: unknown; payload: unknown; error: string | null; submittedAt: unknown },
) {
  return {
    id: UUID,
    workspaceId: f.client.workspaceId,
    columnId: null,
    enrichmentRunId: f.runId,
    waterfall: false,
    provider: "fullenrich",
    enrichmentType: "work_email",
    runId: run.trigger.triggerRunId,
    createdAt: expect.any(Date),
    updatedAt: expect.any(Date),
    completedAt: expect.any(Date),
    ...state,
  };
}

/**
 * A run whose every submission was answered: the submissions as planned (one per claim, each ≤ 100,
 * with the signed webhook URL), FullEnrich sent exactly those contacts once, every item completed or
 * skipped as FullEnrich's directory says, and the ledger exact.
 */
async function expectAnsweredRun(f: Fixture, how: { webhooks: boolean }) {
  const items = await itemsOf(f);
  const batches = plannedBatches(f, items);
  const submissions = await submissionsOf(f.runId);
  const enrichments = fake.submitted();
  expect(submissions).toHaveLength(batches.length);
  expect(enrichments).toHaveLength(batches.length);
  expect(fake.apiRequests("submit")).toHaveLength(batches.length);
  const run = await runOf(f);

  batches.forEach((batch, k) => {
    const submission = submissions[k]!;
    const enrichment: FakeEnrichment = enrichments[k]!;
    expect(batch.length).toBeLessThanOrEqual(100);
    expect(enrichment.webhookUrl).toBe(webhookUrl(submission.id));
    expect(new URL(enrichment.webhookUrl!).searchParams.get("sig")).toBe(urlSig(submission.id));
    expect(enrichment.contacts).toEqual(contactsOf(f, submission.id, batch));
    expect(enrichment.name).toBe(`work_email run ${f.runId} (${submission.id})`);
    expect(enrichment.deliveries).toEqual(how.webhooks ? [{ status: 200, body: { received: true, duplicate: false } }] : []);
    expect(submission).toEqual(
      endedSubmission(f, run, {
        status: "completed",
        providerRef: enrichment.id,
        cells: batch.map((item) => ({ cellId: item.id, runToken: item.id, rowId: item.leadId })),
        payload: fake.resultBody(enrichment.id),
        error: null,
        submittedAt: expect.any(Date),
      }),
    );
  });

  const carrier = new Map(batches.flatMap((batch, k) => batch.map((item) => [item.id, submissions[k]!.id] as const)));
  expect(items).toEqual(
    items.map((item) => {
      const i = f.index.get(item.leadId)!;
      if (f.unfit(i)) return itemView(f, item, { status: "skipped", submissionId: null });
      const submissionId = carrier.get(item.id)!;
      return itemView(f, item, unknown(i) ? { status: "skipped", submissionId } : { status: "completed", submissionId });
    }),
  );
  return { items, submissions, enrichments };
}

const countsOf = (items: Json[]) => ({
  completed: items.filter((i) => i.status === "completed").length,
  skipped: items.filter((i) => i.status === "skipped").length,
  failed: items.filter((i) => i.status === "failed").length,
});

/** The run completed with its items' counts, its ledger exact, and work_email set for completed items only. */
async function expectOutcome(f: Fixture, items: Json[]) {
  await expectCompletedRun(f, countsOf(items));
  await expectLedger(f, items);
  await expectAttributes(f, items);
}

// ---- the tests ----

describe("a work_email run sent to FullEnrich in submissions of up to 100", () => {
  // Polls far apart, so that the webhooks land first.
  const WEBHOOKS_FIRST = { pollIntervalMs: 3_000 };

  it("sends 150 leads in 2 signed submissions, skips the unfit unsent, and fills the rest from the webhooks", async () => {
    useFullEnrich(WEBHOOKS_FIRST);
    const f = await listRun(150, someUnfit);
    await settle();

    const { items, enrichments } = await expectAnsweredRun(f, { webhooks: true });
    // The 5 people without a domain are never sent; the other 145 are, split by claim order.
    expect(enrichments.reduce((sum, e) => sum + e.contacts.length, 0)).toBe(145);
    expect(enrichments.map((e) => e.contacts.length).every((size) => size <= 100)).toBe(true);
    // The webhooks delivered the results (each delivery the first result: not a duplicate, as
    // expectAnsweredRun checks); a poll, if the load let one in first, found nothing to take.
    // 15 unknown to FullEnrich (4, 14, …, 144) and 5 unfit (7, 37, …, 127) end skipped.
    expect(countsOf(items)).toEqual({ completed: 130, skipped: 20, failed: 0 });
    await expectOutcome(f, items);

    // A replayed webhook is a duplicate and changes nothing.
    const before = { items: await itemsOf(f), ledger: await f.client.ledger(), submissions: await submissionsOf(f.runId) };
    expect(await fake.deliver(enrichments[0]!.id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await settle();
    expect({ items: await itemsOf(f), ledger: await f.client.ledger(), submissions: await submissionsOf(f.runId) }).toEqual(before);
  });

  it("sends 250 leads in 3 submissions (100, 100, 50), each answered by one accepted webhook", async () => {
    useFullEnrich(WEBHOOKS_FIRST);
    const f = await listRun(250, noneUnfit);
    await settle();

    const { items, enrichments } = await expectAnsweredRun(f, { webhooks: true });
    expect(enrichments.map((e) => e.contacts.length)).toEqual([100, 100, 50]);
    expect(enrichments.map((e) => e.deliveries)).toEqual(enrichments.map(() => [{ status: 200, body: { received: true, duplicate: false } }]));
    expect(countsOf(items)).toEqual({ completed: 225, skipped: 25, failed: 0 });
    await expectOutcome(f, items);
  });

  it("completes from polling when FullEnrich delivers no webhook, and a late webhook is a duplicate", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60 });
    const f = await listRun(150, someUnfit);
    await settle();

    const { items, enrichments } = await expectAnsweredRun(f, { webhooks: false });
    // Each enrichment was polled until it was found finished.
    const polled = fake.apiRequests("poll").map((r) => r.path.split("/").pop());
    for (const e of enrichments) expect(polled).toContain(e.id);
    expect(countsOf(items)).toEqual({ completed: 130, skipped: 20, failed: 0 });
    await expectOutcome(f, items);

    const before = { items: await itemsOf(f), ledger: await f.client.ledger(), submissions: await submissionsOf(f.runId) };
    for (const e of enrichments) expect(await fake.deliver(e.id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await settle();
    expect({ items: await itemsOf(f), ledger: await f.client.ledger(), submissions: await submissionsOf(f.runId) }).toEqual(before);
  });
});

describe("a run cancelled while its submissions are open", () => {
  it("sends nothing more, and still takes the results of what it sent: items written from the webhooks, the unsent skipped, the ledger exact", async () => {
    Object.assign(fake.options, { finishAfterMs: 400 });
    const f = await listRun(150, someUnfit);
    await until(async () => (await submissionsOf(f.runId)).filter((s) => s.status === "submitted").length === 2, "both submissions to be submitted");
    const cancelled = await f.client.post(`/api/enrichment/${f.runId}/cancel`, {});
    expect(cancelled.status).toBe(200);
    await settle();
    await until(async () => (await itemsOf(f)).every((item) => item.status !== "running"), "every item to be written", 10_000);

    const items = await itemsOf(f);
    // Both submissions were sent before the cancellation: their results are the items' outcomes.
    expect(fake.submitted()).toHaveLength(2);
    expect(countsOf(items)).toEqual({ completed: 130, skipped: 20, failed: 0 });
    expect((await runOf(f)).status).toBe("cancelled");
    expect((await submissionsOf(f.runId)).map((s) => s.status)).toEqual(["completed", "completed"]);
    await expectLedger(f, items);
  });
});

describe("FullEnrich failing a run's submission", () => {
  /** The run's items after `failedBatches` (by index) failed with `error`, the rest answered. */
  async function expectPartlyFailed(f: Fixture, failed: Map<number, string>, accepted: number) {
    const items = await itemsOf(f);
    const batches = plannedBatches(f, items);
    const submissions = await submissionsOf(f.runId);
    expect(submissions).toHaveLength(batches.length);
    const enrichments = fake.submitted();
    expect(enrichments).toHaveLength(accepted);
    let next = 0;
    const run = await runOf(f);
    const expectedItems = new Map<string, Expected>();
    batches.forEach((batch, k) => {
      const submission = submissions[k]!;
      expect(submission.cells).toEqual(batch.map((item) => ({ cellId: item.id, runToken: item.id, rowId: item.leadId })));
      const error = failed.get(k);
      if (error !== undefined) {
        expect(submission).toEqual(endedSubmission(f, run, { status: "failed", providerRef: null, cells: submission.cells, payload: null, error, submittedAt: null }));
        for (const item of batch) expectedItems.set(item.id, { status: "failed", submissionId: submission.id, error });
        return;
      }
      const enrichment = enrichments[next++]!;
      expect(enrichment.contacts).toEqual(contactsOf(f, submission.id, batch));
      expect(submission).toMatchObject({ status: "completed", providerRef: enrichment.id, payload: fake.resultBody(enrichment.id), error: null });
      for (const item of batch) {
        const i = f.index.get(item.leadId)!;
        expectedItems.set(item.id, unknown(i) ? { status: "skipped", submissionId: submission.id } : { status: "completed", submissionId: submission.id });
      }
    });
    expect(items).toEqual(items.map((item) => itemView(f, item, expectedItems.get(item.id) ?? { status: "skipped", submissionId: null })));
    return items;
  }

  it("fails and refunds the items of a submission FullEnrich answers 500 to on every attempt; the next batch goes through", async () => {
    fake.faults.push({ on: "submit", status: 500 }, { on: "submit", status: 500 });
    const f = await listRun(150, noneUnfit);
    await settle();

    const error = 'fullenrich answered 500: {"code":"error.internal","message":"Scripted fault"} (after 2 attempts)';
    // Two attempts for the first batch (both 500), one for the second.
    expect(fake.apiRequests("submit")).toHaveLength(3);
    const items = await expectPartlyFailed(f, new Map([[0, error]]), 1);
    // The first 100 failed; of the last 50 (people by claim order), the unknown ones are skipped.
    expect(countsOf(items).failed).toBe(100);
    const counts = countsOf(items);
    expect(counts.completed + counts.skipped).toBe(50);
    await expectOutcome(f, items);
  });

  it("fails and refunds every item when FullEnrich answers 401, without retrying", async () => {
    fake.faults.push({ on: "submit", status: 401, body: { code: "error.api.key", message: "Unknown api key" } });
    const f = await listRun(40, noneUnfit);
    await settle();

    const error = 'fullenrich answered 401: {"code":"error.api.key","message":"Unknown api key"}';
    expect(fake.apiRequests("submit")).toHaveLength(1);
    const items = await expectPartlyFailed(f, new Map([[0, error]]), 0);
    expect(countsOf(items)).toEqual({ completed: 0, skipped: 0, failed: 40 });
    await expectCompletedRun(f, { completed: 0, skipped: 0, failed: 40 });
    await expectLedger(f, items);
    expect(await f.client.ledgerConsistency()).toEqual({ balance: CREDITS, ledgerSum: CREDITS, entries: 2 + 40 });
  });

  it("fails and refunds the items of a submission whose result is not JSON", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false });
    fake.faults.push({ on: "poll", raw: "<html>bad gateway</html>" });
    const f = await listRun(30, noneUnfit);
    await settle();

    const error = "fullenrich answered 200 with a body that is not JSON";
    const items = await itemsOf(f);
    const [submission] = await submissionsOf(f.runId);
    const [enrichment] = fake.submitted();
    expect(await submissionsOf(f.runId)).toHaveLength(1);
    expect(submission).toMatchObject({ status: "failed", error, providerRef: enrichment!.id, payload: null, completedAt: expect.any(Date) });
    expect(items).toEqual(items.map((item) => itemView(f, item, { status: "failed", submissionId: submission!.id, error })));
    await expectCompletedRun(f, { completed: 0, skipped: 0, failed: 30 });
    await expectLedger(f, items);
    expect(await f.client.ledgerConsistency()).toMatchObject({ balance: CREDITS, ledgerSum: CREDITS });
  });

  it("fails and refunds the items of a submission whose result does not follow FullEnrich's format", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false });
    fake.faults.push({ on: "poll", raw: JSON.stringify({ id: "enr_1", status: "FINISHED", data: "none" }) });
    const f = await listRun(30, noneUnfit);
    await settle();

    const items = await itemsOf(f);
    const [submission] = await submissionsOf(f.runId);
    expect(await submissionsOf(f.runId)).toHaveLength(1);
    expect(submission).toMatchObject({ status: "failed", payload: null, completedAt: expect.any(Date) });
    const error = submission!.error!;
    expect(error).toMatch(/^fullenrich answered with an enrichment result that does not follow its format \(data: /);
    expect(items).toEqual(items.map((item) => itemView(f, item, { status: "failed", submissionId: submission!.id, error })));
    await expectCompletedRun(f, { completed: 0, skipped: 0, failed: 30 });
    await expectLedger(f, items);
    expect(await f.client.ledgerConsistency()).toMatchObject({ balance: CREDITS, ledgerSum: CREDITS });
  });
});

describe("a run's task retried after it submitted", () => {
  it("never sends a submission again: the next attempt writes the items from the webhook's stored result or by polling", async () => {
    useFullEnrich({ pollIntervalMs: 60_000 });
    Object.assign(fake.options, { finishAfterMs: 60_000 });
    const f = await listRun(150, noneUnfit, { hold: true });
    const firstAttempt = new AbortController();
    const ctx = taskContext({ signal: firstAttempt.signal });

    const first = runEnrichmentRun(fullEnrich.services, { enrichmentRunId: f.runId }, ctx);
    await until(async () => (await submissionsOf(f.runId)).filter((s) => s.status === "submitted").length === 2, "both submissions to be submitted");
    firstAttempt.abort(new Error("worker lost"));
    await first;

    expect((await submissionsOf(f.runId)).map((s) => [s.status, s.runId])).toEqual([
      ["submitted", ctx.runId],
      ["submitted", ctx.runId],
    ]);
    expect((await itemsOf(f)).map((item) => item.status)).toEqual(Array.from({ length: 150 }, () => "running"));
    const [one, two] = fake.submitted();
    expect([one!.contacts.length, two!.contacts.length]).toEqual([100, 50]);

    // FullEnrich finishes the first while no attempt runs: its webhook stores the result.
    fake.finish(one!.id);
    await fake.idle();
    await backgroundIdle();
    expect(one!.deliveries).toEqual([{ status: 200, body: { received: true, duplicate: false } }]);
    // The second finishes with no webhook: the next attempt polls for it.
    Object.assign(fake.options, { deliverWebhooks: false });
    fake.finish(two!.id);
    useFullEnrich({ pollIntervalMs: 25 });

    await runEnrichmentRun(fullEnrich.services, { enrichmentRunId: f.runId }, { ...ctx, attempt: 2, signal: new AbortController().signal });
    await settle();

    expect(fake.apiRequests("submit")).toHaveLength(2);
    expect(fake.apiRequests("poll").map((r) => r.path.split("/").pop())).toEqual(expect.arrayContaining([two!.id]));
    expect(fake.apiRequests("poll").map((r) => r.path.split("/").pop())).not.toContain(one!.id);
    const submissions = await submissionsOf(f.runId);
    expect(submissions.map((s) => [s.status, s.providerRef, s.runId, s.error])).toEqual([
      ["completed", one!.id, ctx.runId, null],
      ["completed", two!.id, ctx.runId, null],
    ]);
    // The webhook's result is kept on its submission.
    expect(submissions[0]!.payload).toEqual(fake.resultBody(one!.id));
    const items = await itemsOf(f);
    const batches = plannedBatches(f, items);
    expect(batches.map((b) => b.length)).toEqual([100, 50]);
    expect(submissions.map((s) => s.cells)).toEqual(batches.map((batch) => batch.map((item) => ({ cellId: item.id, runToken: item.id, rowId: item.leadId }))));
    const carrier = new Map(batches.flatMap((batch, k) => batch.map((item) => [item.id, submissions[k]!.id] as const)));
    expect(items).toEqual(
      items.map((item) =>
        itemView(f, item, unknown(f.index.get(item.leadId)!) ? { status: "skipped", submissionId: carrier.get(item.id)! } : { status: "completed", submissionId: carrier.get(item.id)! }),
      ),
    );
    expect(countsOf(items)).toEqual({ completed: 135, skipped: 15, failed: 0 });
    await expectOutcome(f, items);
  });

  it("fails and refunds, and never sends, a submission recorded but interrupted before FullEnrich's answer", async () => {
    useFullEnrich({ timeoutMs: 30_000 });
    fake.faults.push({ on: "submit", hang: true });
    const f = await listRun(150, noneUnfit, { hold: true });
    const firstAttempt = new AbortController();
    const ctx = taskContext({ signal: firstAttempt.signal });

    const first = runEnrichmentRun(fullEnrich.services, { enrichmentRunId: f.runId }, ctx);
    await until(async () => fake.apiRequests("submit").length === 1, "FullEnrich to receive the first submission");
    firstAttempt.abort(new Error("worker lost"));
    await first;

    const [interrupted] = await submissionsOf(f.runId);
    expect((await submissionsOf(f.runId)).map((s) => [s.status, s.providerRef])).toEqual([["submitting", null]]);
    expect(countsOf(await itemsOf(f))).toEqual({ completed: 0, skipped: 0, failed: 0 });
    expect((await runOf(f)).scope.counts).toEqual({ pending: 50, running: 100, completed: 0, skipped: 0, failed: 0 });
    expect(fake.submitted()).toEqual([]);

    await runEnrichmentRun(fullEnrich.services, { enrichmentRunId: f.runId }, { ...ctx, attempt: 2, signal: new AbortController().signal });
    await settle();

    // The hung call, then the second batch only: the interrupted one is never sent again.
    expect(fake.apiRequests("submit")).toHaveLength(2);
    const [sent] = fake.submitted();
    expect(fake.submitted()).toHaveLength(1);
    const submissions = await submissionsOf(f.runId);
    expect(submissions).toHaveLength(2);
    expect(submissions[0]).toEqual({
      ...interrupted!,
      status: "failed",
      error: RUN_SUBMISSION_INTERRUPTED,
      providerRef: null,
      payload: null,
      updatedAt: expect.any(Date),
      completedAt: expect.any(Date),
    });
    expect(submissions[1]).toMatchObject({ status: "completed", providerRef: sent!.id, runId: ctx.runId, payload: fake.resultBody(sent!.id), error: null });
    expect(sent!.deliveries).toEqual([{ status: 200, body: { received: true, duplicate: false } }]);

    const items = await itemsOf(f);
    const batches = plannedBatches(f, items);
    expect(batches.map((b) => b.length)).toEqual([100, 50]);
    expect(submissions.map((s) => s.cells)).toEqual(batches.map((batch) => batch.map((item) => ({ cellId: item.id, runToken: item.id, rowId: item.leadId }))));
    expect(sent!.contacts).toEqual(contactsOf(f, submissions[1]!.id, batches[1]!));
    const expected = new Map<string, Expected>([
      ...batches[0]!.map((item) => [item.id, { status: "failed", submissionId: interrupted!.id, error: RUN_SUBMISSION_INTERRUPTED }] as const),
      ...batches[1]!.map(
        (item) => [item.id, unknown(f.index.get(item.leadId)!) ? { status: "skipped", submissionId: submissions[1]!.id } : { status: "completed", submissionId: submissions[1]!.id }] as const,
      ),
    ] as Array<[string, Expected]>);
    expect(items).toEqual(items.map((item) => itemView(f, item, expected.get(item.id)!)));
    const counts = countsOf(items);
    expect(counts.failed).toBe(100);
    expect(counts.completed + counts.skipped).toBe(50);
    await expectOutcome(f, items);
  });
});
