import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { describe, expect, inject, it } from "vitest";
import { createApp } from "../src/app";
import { withPreparedStatements, type Db } from "../src/db/client";
import * as schema from "../src/db/schema";
import { personCells, personRows, providerSubmissions } from "../src/db/schema";
import type { ColumnTaskPayload, TaskContext } from "../src/dispatch/types";
import { chargeCredits } from "../src/domain/credits";
import { SUBMISSION_INTERRUPTED } from "../src/domain/enrichment/contacts";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { createSandboxProviders } from "../src/providers";
import { defaultDirectory, signBody, type FakeContact } from "./helpers/fake-fullenrich";
import { startFullEnrichApp, taskContext, until } from "./helpers/fullenrich-app";
import { Client, REQUEST_ID, UUID, useHarness } from "./helpers/harness";
import { movements } from "./helpers/ledger";

// Contact columns end to end with FullEnrich: the real app served on 127.0.0.1 (FullEnrich must reach
// its webhook route), the real task handlers, real Postgres, and a fake of FullEnrich's API that
// calls back with signed webhooks. What is checked is what a caller and the ledger see: every cell
// ends filled, empty or failed, each row sent is charged once, and no empty or failed cell stays charged.

const h = useHarness({ max: 12 });
const API_KEY = "fe_live_test_7c1d93";
const SECRET = "contact-webhook-secret-0123456789";
const EMAIL_PRICE = DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!;
const PHONE_PRICE = DEFAULT_CREDIT_COSTS.PHONE_LOOKUP!;

const fullEnrich = await startFullEnrichApp(h, { apiKey: API_KEY, webhookSecret: SECRET });
const { fake, app, served, registry, useFullEnrich, holdingTasks, settle, urlSig } = fullEnrich;

// ---- seeding through the API ----

type Person = { firstName: string; lastName?: string; domain?: string; company?: string; linkedinUrl?: string };

async function workspace(credits: number): Promise<Client> {
  const seeded = await h.seedWorkspace({ credits });
  return new Client(app, h.db, seeded.account);
}

async function listWith(client: Client, people: Person[]): Promise<{ listId: string; rowIds: string[] }> {
  const list = await client.post("/api/lists", { name: "Contacts" });
  expect(list.status).toBe(201);
  const rows = await client.post(`/api/lists/${list.body.list.id}/rows/bulk`, { rows: people });
  expect(rows.status).toBe(200);
  return { listId: list.body.list.id, rowIds: rows.body.rowIds };
}

async function contactColumn(client: Client, listId: string, enrichmentType: "work_email" | "mobile_phone"): Promise<string> {
  const res = await client.post(`/api/lists/${listId}/columns`, { name: enrichmentType === "work_email" ? "Work email" : "Mobile", isDynamic: true, enrichmentType });
  expect(res.status).toBe(201);
  return res.body.column.id;
}

/** A contact column whose task is held, for the test to run as (and when) it wants. */
async function heldColumn(client: Client, people: Person[], enrichmentType: "work_email" | "mobile_phone" = "work_email") {
  const { listId, rowIds } = await listWith(client, people);
  const { result: columnId, held } = await holdingTasks(() => contactColumn(client, listId, enrichmentType));
  expect(held.flatMap(({ payload }) => (payload as ColumnTaskPayload).rowIds)).toEqual(rowIds);
  return { listId, rowIds, columnId };
}

const runTask = (columnId: string, rowIds: string[], ctx: TaskContext) => registry["list-contact-enrich"]({ columnId, rowIds }, ctx);

// ---- reading back ----

async function cellsOf(columnId: string, rowIds: string[]) {
  const cells = await h.db.select().from(personCells).where(eq(personCells.columnId, columnId));
  return cells.sort((a, b) => rowIds.indexOf(a.rowId) - rowIds.indexOf(b.rowId));
}

const submissionsOf = (workspaceId: string) =>
  h.db.select().from(providerSubmissions).where(eq(providerSubmissions.workspaceId, workspaceId)).orderBy(asc(providerSubmissions.id));

const charge = (action: string, price: number, columnId: string, token: string) => ({
  kind: "charge",
  action,
  units: 1,
  delta: -price,
  referenceType: "column",
  referenceId: columnId,
  dedupeKey: `cell-charge:${token}`,
  note: "Contact lookup",
});

const refund = (action: string, price: number, columnId: string, token: string, note: string) => ({
  kind: "refund",
  action,
  units: 1,
  delta: price,
  referenceType: "column",
  referenceId: columnId,
  dedupeKey: `cell-refund:${token}`,
  note,
});

const byKey = <T extends { dedupeKey: string | null }>(items: T[]) => [...items].sort((a, b) => (a.dedupeKey ?? "").localeCompare(b.dedupeKey ?? ""));

async function expectBalance(client: Client, balance: number) {
  expect(await client.ledgerConsistency()).toMatchObject({ balance, ledgerSum: balance });
}

function cell(listId: string, columnId: string, rowId: string, runToken: string, state: Record<string, unknown>) {
  return {
    id: UUID,
    listId,
    columnId,
    rowId,
    value: null,
    status: "completed",
    reasoning: null,
    error: null,
    metadata: {},
    runToken,
    // The ledger assertions say what each cell cost; a settled cell holds nothing and has no owner.
    // Contact cells are charged in the task, never under a hold.
    holdId: null,
    paid: expect.any(Number),
    leaseOwner: null,
    leaseExpiresAt: expect.any(Date),
    recoveries: 0,
    waitingOn: [],
    attempts: null,
    createdAt: expect.any(Date),
    updatedAt: expect.any(Date),
    ...state,
  };
}

const submissionIn = (workspaceId: string, status: string) => async () => (await submissionsOf(workspaceId)).some((s) => s.status === status);

/** A webhook POSTed by hand to our route, signed as FullEnrich signs it unless told otherwise. */
async function postWebhook(path: string, body: string, signature: string | null = signBody(API_KEY, body)) {
  const res = await fetch(`${served.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(signature !== null ? { "x-signature-sha1": signature } : {}) },
    body,
  });
  return { status: res.status, body: await res.json() };
}

const webhookPath = (submissionId: string, sig: string | null = urlSig(submissionId)) => `/webhooks/fullenrich/${submissionId}${sig === null ? "" : `?sig=${sig}`}`;

const NOT_FOUND_EMAIL = "fullenrich found no work email for this person";
const UNFIT = "Not enough to look this person up: needs a first and last name with a company or domain, or a LinkedIn URL";

// ---- the tests ----

describe("a work-email column filled through FullEnrich's webhook", () => {
  const people: Person[] = [
    { firstName: "Ada", lastName: "Lovelace", domain: "analytical.io", company: "Analytical Engines" },
    { firstName: "Grace", lastName: "Hopper", domain: "navy.mil" },
    { firstName: "Alan", lastName: "Turing", domain: "bletchley.uk" },
    { firstName: "Cher" },
  ];
  const directory = (contact: FakeContact) => (contact.last_name === "Turing" ? {} : defaultDirectory(contact));

  async function filledColumn() {
    fake.options.directory = directory;
    const client = await workspace(100);
    const { listId, rowIds } = await listWith(client, people);
    const columnId = await contactColumn(client, listId, "work_email");
    await settle();
    return { client, listId, rowIds, columnId };
  }

  it("fills found emails, completes the rest empty and refunded, and charges once per row sent", async () => {
    const { client, listId, rowIds, columnId } = await filledColumn();

    // The webhook came before the first poll: FullEnrich was never polled.
    expect(fake.apiRequests("poll")).toEqual([]);
    const [enrichment] = fake.submitted();
    expect(fake.submitted()).toHaveLength(1);
    expect(enrichment!.deliveries).toEqual([{ status: 200, body: { received: true, duplicate: false } }]);

    const [submission] = await submissionsOf(client.workspaceId);
    const cells = await cellsOf(columnId, rowIds);
    const tokens = cells.map((c) => c.runToken!);
    expect(await submissionsOf(client.workspaceId)).toEqual([
      {
        id: UUID,
        workspaceId: client.workspaceId,
        columnId,
        enrichmentRunId: null,
        waterfall: false,
        provider: "fullenrich",
        enrichmentType: "work_email",
        status: "completed",
        providerRef: enrichment!.id,
        runId: expect.stringMatching(/^run_/),
        cells: [0, 1, 2].map((i) => ({ cellId: cells[i]!.id, runToken: tokens[i], rowId: rowIds[i] })),
        payload: fake.resultBody(enrichment!.id),
        error: null,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        submittedAt: expect.any(Date),
        completedAt: expect.any(Date),
      },
    ]);
    // What FullEnrich was sent: the three rows it can look up, our ids in `custom`.
    expect(enrichment!.contacts.map((c) => c.custom)).toEqual(
      [0, 1, 2].map((i) => ({ submission_id: submission!.id, cell_id: cells[i]!.id, run_token: tokens[i], row_id: rowIds[i] })),
    );

    const found = { provider: "fullenrich", enrichmentId: enrichment!.id, runId: submission!.runId, submissionId: submission!.id };
    expect(cells).toEqual([
      cell(listId, columnId, rowIds[0]!, tokens[0]!, { value: "ada.lovelace@analytical.io", metadata: { ...found, emailStatus: "DELIVERABLE" } }),
      cell(listId, columnId, rowIds[1]!, tokens[1]!, { value: "grace.hopper@navy.mil", metadata: { ...found, emailStatus: "DELIVERABLE" } }),
      cell(listId, columnId, rowIds[2]!, tokens[2]!, { reasoning: NOT_FOUND_EMAIL, metadata: found }),
      cell(listId, columnId, rowIds[3]!, tokens[3]!, { reasoning: UNFIT, metadata: { provider: "fullenrich", runId: submission!.runId, attempt: 1 } }),
    ]);
    const preview = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
    expect(preview.body.cells.map((c: { value: unknown; status: string }) => [c.value, c.status])).toEqual([
      ["ada.lovelace@analytical.io", "completed"],
      ["grace.hopper@navy.mil", "completed"],
      [null, "completed"],
      [null, "completed"],
    ]);

    expect(await movements(client)).toEqual(
      byKey([
        ...[0, 1, 2].map((i) => charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, tokens[i]!)),
        refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, tokens[2]!, "Refund: no match"),
      ]),
    );
    await expectBalance(client, 100 - 2 * EMAIL_PRICE);
  });

  it("answers a replayed webhook 200 duplicate and writes, charges and refunds nothing again", async () => {
    const { client, rowIds, columnId } = await filledColumn();
    const [enrichment] = fake.submitted();
    const before = { cells: await cellsOf(columnId, rowIds), submissions: await submissionsOf(client.workspaceId), ledger: await client.ledger() };

    const replays = [await fake.deliver(enrichment!.id), await fake.deliver(enrichment!.id)];
    await settle();

    expect(replays).toEqual([
      { status: 200, body: { received: true, duplicate: true } },
      { status: 200, body: { received: true, duplicate: true } },
    ]);
    expect({ cells: await cellsOf(columnId, rowIds), submissions: await submissionsOf(client.workspaceId), ledger: await client.ledger() }).toEqual(before);
  });
});

describe("polling, when no webhook comes", () => {
  it("fills a mobile-phone column from FullEnrich's GET, and a late webhook changes nothing", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 120 });
    const client = await workspace(100);
    const people: Person[] = [
      { firstName: "Ada", lastName: "Lovelace", company: "Analytical Engines", linkedinUrl: "https://www.linkedin.com/in/ada" },
      { firstName: "Alan", lastName: "Turing", company: "Bletchley" },
    ];
    const { listId, rowIds } = await listWith(client, people);
    const columnId = await contactColumn(client, listId, "mobile_phone");
    await settle();

    const [enrichment] = fake.submitted();
    // At least one poll found it still running (400 in_progress) before the one that found it done.
    expect(fake.apiRequests("poll").length).toBeGreaterThanOrEqual(2);
    expect(enrichment!.deliveries).toEqual([]);
    const [submission] = await submissionsOf(client.workspaceId);
    expect(submission).toMatchObject({ status: "completed", providerRef: enrichment!.id, payload: fake.resultBody(enrichment!.id), error: null });
    const cells = await cellsOf(columnId, rowIds);
    const tokens = cells.map((c) => c.runToken!);
    const meta = { provider: "fullenrich", enrichmentId: enrichment!.id, runId: submission!.runId, submissionId: submission!.id };
    expect(cells).toEqual([
      cell(listId, columnId, rowIds[0]!, tokens[0]!, { value: "+33 6 12 34 56 78", metadata: { ...meta, region: "FR" } }),
      cell(listId, columnId, rowIds[1]!, tokens[1]!, { reasoning: "fullenrich found no mobile phone for this person", metadata: meta }),
    ]);
    const ledger = await movements(client);
    expect(ledger).toEqual(
      byKey([
        charge("PHONE_LOOKUP", PHONE_PRICE, columnId, tokens[0]!),
        charge("PHONE_LOOKUP", PHONE_PRICE, columnId, tokens[1]!),
        refund("PHONE_LOOKUP", PHONE_PRICE, columnId, tokens[1]!, "Refund: no match"),
      ]),
    );

    // FullEnrich's webhook after the poll settled the submission: a no-op.
    expect(await fake.deliver(enrichment!.id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await settle();
    expect(await cellsOf(columnId, rowIds)).toEqual(cells);
    expect(await movements(client)).toEqual(ledger);
    await expectBalance(client, 100 - PHONE_PRICE);
  });

  it("fails and refunds the cells when FullEnrich does not finish within the poll timeout; a webhook after that is a no-op", async () => {
    useFullEnrich({ pollIntervalMs: 25, pollTimeoutMs: 150 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { listId, rowIds } = await listWith(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const columnId = await contactColumn(client, listId, "work_email");
    await settle();

    const [submission] = await submissionsOf(client.workspaceId);
    const error = "fullenrich did not deliver results within 150 ms";
    expect(submission).toMatchObject({ status: "failed", error, payload: null });
    const [stored] = await cellsOf(columnId, rowIds);
    expect(stored).toEqual(
      cell(listId, columnId, rowIds[0]!, stored!.runToken!, {
        status: "failed",
        error,
        metadata: { provider: "fullenrich", failure: "timeout", status: null, runId: submission!.runId, submissionId: submission!.id },
      }),
    );
    expect(await movements(client)).toEqual(
      byKey([charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, stored!.runToken!), refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, stored!.runToken!, `Refund: ${error}`)]),
    );

    const id = fake.submitted()[0]!.id;
    fake.finish(id);
    expect(await fake.deliver(id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await settle();
    expect(await cellsOf(columnId, rowIds)).toEqual([stored]);
    await expectBalance(client, 100);
  });

  it("fails and refunds the cells on a poll answer that is not JSON", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false });
    fake.faults.push({ on: "poll", raw: "<html>bad gateway</html>" });
    const client = await workspace(100);
    const { listId, rowIds } = await listWith(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const columnId = await contactColumn(client, listId, "work_email");
    await settle();

    const error = "fullenrich answered 200 with a body that is not JSON";
    const [submission] = await submissionsOf(client.workspaceId);
    expect(submission).toMatchObject({ status: "failed", error });
    const [stored] = await cellsOf(columnId, rowIds);
    expect(stored).toMatchObject({ status: "failed", value: null, error, metadata: { provider: "fullenrich", failure: "malformed", status: 200 } });
    await expectBalance(client, 100);
  });
});

describe("FullEnrich refusing or failing a submission", () => {
  it("fails the cells with FullEnrich's error after the retries and refunds them", async () => {
    fake.faults.push({ on: "submit", status: 500 }, { on: "submit", status: 503 });
    const client = await workspace(100);
    const { listId, rowIds } = await listWith(client, [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" },
      { firstName: "Grace", lastName: "Hopper", domain: "navy.mil" },
    ]);
    const columnId = await contactColumn(client, listId, "work_email");
    await settle();

    const error = 'fullenrich answered 503: {"code":"error.internal","message":"Scripted fault"} (after 2 attempts)';
    const [submission] = await submissionsOf(client.workspaceId);
    expect(submission).toMatchObject({ status: "failed", error, providerRef: null });
    const cells = await cellsOf(columnId, rowIds);
    expect(cells).toEqual(
      cells.map((c, i) =>
        cell(listId, columnId, rowIds[i]!, c.runToken!, {
          status: "failed",
          error,
          metadata: { provider: "fullenrich", failure: "http", status: 503, runId: submission!.runId, submissionId: submission!.id },
        }),
      ),
    );
    expect(await movements(client)).toEqual(
      byKey(cells.flatMap((c) => [charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!), refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!, `Refund: ${error}`)])),
    );
    await expectBalance(client, 100);
  });

  it("waits out a 429's Retry-After on submit and then fills the column", async () => {
    fake.faults.push({ on: "submit", status: 429, headers: { "retry-after": "1" } });
    const client = await workspace(100);
    const { listId, rowIds } = await listWith(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const started = Date.now();
    const columnId = await contactColumn(client, listId, "work_email");
    await settle();

    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.apiRequests("submit")).toHaveLength(2);
    expect((await cellsOf(columnId, rowIds)).map((c) => [c.status, c.value])).toEqual([["completed", "ada.lovelace@analytical.io"]]);
    await expectBalance(client, 100 - EMAIL_PRICE);
  });
});

describe("credits", () => {
  it("sends and charges only the rows the balance covers; the rest fail INSUFFICIENT_CREDITS, unsent and uncharged", async () => {
    const client = await workspace(10);
    const people = ["Ada", "Grace", "Alan", "Edsger"].map((firstName) => ({ firstName, lastName: "Example", domain: "example.org" }));
    const { rowIds, columnId } = await heldColumn(client, people);
    // Spent elsewhere after the column was queued: 5 left, enough for two lookups.
    expect((await chargeCredits(h.db, { workspaceId: client.workspaceId, action: "FIND_PERSON", units: 5, amount: 5 })).status).toBe("applied");
    const ctx = taskContext();

    await runTask(columnId, rowIds, ctx);
    await settle();

    expect(fake.submitted().map((e) => e.contacts.map((c) => c.custom!.row_id))).toEqual([rowIds.slice(0, 2)]);
    const cells = await cellsOf(columnId, rowIds);
    const [submission] = await submissionsOf(client.workspaceId);
    expect(cells.map((c) => [c.status, c.value, c.error])).toEqual([
      ["completed", "ada.example@example.org", null],
      ["completed", "grace.example@example.org", null],
      ["failed", null, "INSUFFICIENT_CREDITS"],
      ["failed", null, "INSUFFICIENT_CREDITS"],
    ]);
    expect(cells[2]!.metadata).toEqual({ runId: ctx.runId, attempt: 1 });
    expect(submission!.cells.map((c) => c.rowId)).toEqual(rowIds.slice(0, 2));
    expect((await movements(client)).filter((m) => m.action === "EMAIL_LOOKUP")).toEqual(
      byKey(cells.slice(0, 2).map((c) => charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!))),
    );
    await expectBalance(client, 1);
  });

  it("sends 250 rows of one task as three submissions of at most 100, each row charged once", async () => {
    const client = await workspace(1000);
    const people = Array.from({ length: 250 }, (_, i) => ({ firstName: "Ada", lastName: `Person${i}`, domain: `company${i % 9}.com` }));
    const { rowIds, columnId } = await heldColumn(client, people);

    await runTask(columnId, rowIds, taskContext());
    await settle();

    expect(fake.submitted().map((e) => e.contacts.length)).toEqual([100, 100, 50]);
    expect(fake.submitted().map((e) => e.deliveries)).toEqual(Array.from({ length: 3 }, () => [{ status: 200, body: { received: true, duplicate: false } }]));
    const submissions = await submissionsOf(client.workspaceId);
    expect(submissions.map((s) => [s.status, s.cells.length])).toEqual([
      ["completed", 100],
      ["completed", 100],
      ["completed", 50],
    ]);
    const cells = await cellsOf(columnId, rowIds);
    expect(cells.every((c, i) => c.status === "completed" && c.value === `ada.person${i}@company${i % 9}.com`)).toBe(true);
    const ledger = await movements(client);
    expect(ledger).toEqual(byKey(cells.map((c) => charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!))));
    await expectBalance(client, 1000 - 250 * EMAIL_PRICE);
  });
});

describe("set-based SQL", () => {
  /** Statements the task and the webhook send for a column of `rowCount` rows, filled through the webhook. */
  async function statementsFor(rowCount: number): Promise<number> {
    const client = await workspace(1000);
    const people = Array.from({ length: rowCount }, (_, i) => ({ firstName: "Ada", lastName: `Person${i}`, domain: "example.org" }));
    const { rowIds, columnId } = await heldColumn(client, people);
    let statements = 0;
    const connection = postgres(inject("databaseUrl"), { max: 4, fetch_types: false, onnotice: () => {} });
    const counted = drizzle(withPreparedStatements(connection), { schema, logger: { logQuery: () => void (statements += 1) } }) as unknown as Db;
    const uncounted = fullEnrich.services;
    fullEnrich.services = { ...uncounted, db: counted };
    try {
      await runTask(columnId, rowIds, taskContext());
      await settle();
    } finally {
      fullEnrich.services = uncounted;
      await connection.end({ timeout: 5 });
    }
    expect((await cellsOf(columnId, rowIds)).map((c) => c.status)).toEqual(rowIds.map(() => "completed"));
    return statements;
  }

  it("charges, records, and writes a submission's results in as many statements for 90 rows as for 5", async () => {
    expect(await statementsFor(90)).toBe(await statementsFor(5));
  });
});

describe("retries of a contact task", () => {
  it("polls the submission its first attempt recorded, without submitting or charging again", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { rowIds, columnId } = await heldColumn(client, [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" },
      { firstName: "Grace", lastName: "Hopper", domain: "navy.mil" },
    ]);
    const firstAttempt = new AbortController();
    const ctx = taskContext({ signal: firstAttempt.signal });

    // The first attempt dies while it waits for FullEnrich.
    const first = runTask(columnId, rowIds, ctx);
    await until(submissionIn(client.workspaceId, "submitted"), "the submission to be submitted");
    firstAttempt.abort(new Error("worker lost"));
    await first;
    const afterFirst = await movements(client);

    const second = runTask(columnId, rowIds, { ...ctx, attempt: 2, signal: new AbortController().signal });
    fake.finish(fake.submitted()[0]!.id);
    await second;

    expect(fake.apiRequests("submit")).toHaveLength(1);
    expect(await movements(client)).toEqual(afterFirst);
    const cells = await cellsOf(columnId, rowIds);
    expect(afterFirst).toEqual(byKey(cells.map((c) => charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!))));
    expect(cells.map((c) => [c.status, c.value])).toEqual([
      ["completed", "ada.lovelace@analytical.io"],
      ["completed", "grace.hopper@navy.mil"],
    ]);
    expect((await submissionsOf(client.workspaceId)).map((s) => [s.status, s.runId])).toEqual([["completed", ctx.runId]]);
    await expectBalance(client, 100 - 2 * EMAIL_PRICE);
  });

  it("fails and refunds, and never resends, a submission interrupted before FullEnrich's answer was recorded", async () => {
    useFullEnrich({ timeoutMs: 30_000 });
    fake.faults.push({ on: "submit", hang: true });
    const client = await workspace(100);
    const { listId, rowIds, columnId } = await heldColumn(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const firstAttempt = new AbortController();
    const ctx = taskContext({ signal: firstAttempt.signal });

    const first = runTask(columnId, rowIds, ctx);
    await until(async () => fake.apiRequests("submit").length === 1, "FullEnrich to receive the submission");
    firstAttempt.abort(new Error("worker lost"));
    await first;
    expect((await submissionsOf(client.workspaceId)).map((s) => s.status)).toEqual(["submitting"]);

    await runTask(columnId, rowIds, { ...ctx, attempt: 2, signal: new AbortController().signal });

    expect(fake.apiRequests("submit")).toHaveLength(1);
    const [submission] = await submissionsOf(client.workspaceId);
    expect(submission).toMatchObject({ status: "failed", error: SUBMISSION_INTERRUPTED, providerRef: null });
    const [stored] = await cellsOf(columnId, rowIds);
    expect(stored).toEqual(
      cell(listId, columnId, rowIds[0]!, stored!.runToken!, {
        status: "failed",
        error: SUBMISSION_INTERRUPTED,
        metadata: { provider: "fullenrich", runId: ctx.runId, submissionId: submission!.id },
      }),
    );
    expect(await movements(client)).toEqual(
      byKey([
        charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, stored!.runToken!),
        refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, stored!.runToken!, `Refund: ${SUBMISSION_INTERRUPTED}`),
      ]),
    );
    await expectBalance(client, 100);
  });

  it("fails and refunds the cells and closes the submission when its last attempt fails too, so a late webhook writes nothing", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false });
    const client = await workspace(100);
    const { listId, rowIds, columnId } = await heldColumn(client, [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" },
      { firstName: "Grace", lastName: "Hopper", domain: "navy.mil" },
    ]);
    // Every attempt loses its database connection as it stores the result its poll fetched.
    const lost = "connection reset by peer";
    const connection = postgres(inject("databaseUrl"), { max: 4, fetch_types: false, onnotice: () => {} });
    const storesResult = (query: string) => /^update "provider_submissions" set .*"payload" = /.test(query);
    const failing = drizzle(withPreparedStatements(connection), {
      schema,
      logger: {
        logQuery: (query) => {
          if (storesResult(query)) throw new Error(lost);
        },
      },
    }) as unknown as Db;
    const working = fullEnrich.services;
    fullEnrich.services = { ...working, db: failing };
    const ctx = taskContext();
    try {
      await expect(runTask(columnId, rowIds, ctx)).rejects.toThrow(lost);
      expect((await cellsOf(columnId, rowIds)).map((c) => [c.status, c.metadata])).toEqual(rowIds.map(() => ["processing", { runId: ctx.runId, attempt: 1 }]));
      expect((await submissionsOf(client.workspaceId)).map((s) => s.status)).toEqual(["submitted"]);

      await expect(runTask(columnId, rowIds, { ...ctx, attempt: 2, lastAttempt: true })).rejects.toThrow(lost);
    } finally {
      fullEnrich.services = working;
      await connection.end({ timeout: 5 });
    }

    const error = `TASK_FAILED: ${lost}`;
    expect(fake.apiRequests("submit")).toHaveLength(1);
    const [submission] = await submissionsOf(client.workspaceId);
    expect(submission).toMatchObject({ status: "failed", error, runId: ctx.runId, payload: null, completedAt: expect.any(Date) });
    const cells = await cellsOf(columnId, rowIds);
    expect(cells).toEqual(cells.map((c, i) => cell(listId, columnId, rowIds[i]!, c.runToken!, { status: "failed", error, metadata: { runId: ctx.runId, attempt: 2 } })));
    const ledger = byKey(
      cells.flatMap((c) => [charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!), refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, c.runToken!, `Refund: ${error}`)]),
    );
    expect(await movements(client)).toEqual(ledger);

    // FullEnrich delivers after the run gave up: answered, and nothing lands on the refunded cells.
    expect(await fake.deliver(fake.submitted()[0]!.id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await settle();
    expect(await cellsOf(columnId, rowIds)).toEqual(cells);
    expect(await submissionsOf(client.workspaceId)).toEqual([submission]);
    expect(await movements(client)).toEqual(ledger);
    await expectBalance(client, 100);
  });
});

describe("webhook authentication and unknown submissions", () => {
  it("answers 401 to a bad, missing or foreign signature and writes nothing; the genuine call then fills the cells", async () => {
    useFullEnrich({ pollIntervalMs: 60_000 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { rowIds, columnId } = await heldColumn(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const waiting = new AbortController();
    const task = runTask(columnId, rowIds, taskContext({ signal: waiting.signal }));
    await until(submissionIn(client.workspaceId, "submitted"), "the submission to be submitted");
    const id = fake.submitted()[0]!.id;
    fake.finish(id);
    const [submission] = await submissionsOf(client.workspaceId);
    const before = { cells: await cellsOf(columnId, rowIds), submissions: await submissionsOf(client.workspaceId), ledger: await client.ledger() };
    const body = JSON.stringify(fake.resultBody(id));

    const refused = [
      await fake.deliver(id, { signature: signBody("not-the-api-key", body) }),
      await fake.deliver(id, { body: body.replace("ada.lovelace", "eve"), signature: signBody(API_KEY, body) }),
      await fake.deliver(id, { signature: null }),
      await postWebhook(webhookPath(submission!.id, null), body),
      await postWebhook(webhookPath(submission!.id, urlSig(crypto.randomUUID())), body),
    ];
    await settle();

    for (const res of refused) expect(res).toEqual({ status: 401, body: { error: "Invalid webhook signature", code: "UNAUTHORIZED", requestId: REQUEST_ID } });
    expect({ cells: await cellsOf(columnId, rowIds), submissions: await submissionsOf(client.workspaceId), ledger: await client.ledger() }).toEqual(before);
    expect(before.cells.map((c) => c.status)).toEqual(["processing"]);

    expect(await fake.deliver(id)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await settle();
    waiting.abort(new Error("test done"));
    await task;
    expect((await cellsOf(columnId, rowIds)).map((c) => [c.status, c.value])).toEqual([["completed", "ada.lovelace@analytical.io"]]);
    expect(fake.apiRequests("poll")).toEqual([]);
  });

  it("answers 404 for an unknown submission, 400 for a malformed id or a body that is not a finished result, and writes nothing", async () => {
    const client = await workspace(10);
    const unknown = crypto.randomUUID();
    const finished = JSON.stringify({ id: crypto.randomUUID(), name: "x", status: "FINISHED", cost: { credits: 0 }, data: [] });
    const running = JSON.stringify({ id: crypto.randomUUID(), name: "x", status: "IN_PROGRESS", data: [] });

    expect(await postWebhook(webhookPath(unknown), finished)).toEqual({ status: 404, body: { error: "Submission not found", code: "NOT_FOUND", requestId: REQUEST_ID } });
    expect(await postWebhook("/webhooks/fullenrich/not-a-uuid?sig=x", finished)).toEqual({
      status: 400,
      body: { error: "submissionId: Invalid UUID", code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "submissionId", message: "Invalid UUID" }] },
    });
    const unfinished = "fullenrich answered with an unfinished enrichment (IN_PROGRESS) where a finished one was expected";
    expect(await postWebhook(webhookPath(unknown), running)).toEqual({
      status: 400,
      body: { error: unfinished, code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "", message: unfinished }] },
    });
    expect(await postWebhook(webhookPath(unknown), "{not json")).toEqual({
      status: 400,
      body: { error: "Body is not JSON", code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "", message: "Body is not JSON" }] },
    });
    expect(await submissionsOf(client.workspaceId)).toEqual([]);
  });

  it("answers 409 to a signed result of another enrichment than the submission's, and writes nothing", async () => {
    useFullEnrich({ pollIntervalMs: 60_000 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { rowIds, columnId } = await heldColumn(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const waiting = new AbortController();
    const task = runTask(columnId, rowIds, taskContext({ signal: waiting.signal }));
    await until(submissionIn(client.workspaceId, "submitted"), "the submission to be submitted");
    const [submission] = await submissionsOf(client.workspaceId);
    const id = fake.submitted()[0]!.id;
    fake.finish(id);
    const other = JSON.stringify({ ...fake.resultBody(id), id: crypto.randomUUID() });

    expect(await postWebhook(webhookPath(submission!.id), other)).toEqual({
      status: 409,
      body: { error: "This result belongs to another enrichment than the submission's", code: "CONFLICT", requestId: REQUEST_ID },
    });
    expect(await submissionsOf(client.workspaceId)).toEqual([submission]);
    waiting.abort(new Error("test done"));
    await task;
  });

  it("on Workers, answers first and keeps the request's services open until the background writes end", async () => {
    useFullEnrich({ pollIntervalMs: 60_000 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { rowIds, columnId } = await heldColumn(client, [{ firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" }]);
    const waiting = new AbortController();
    const task = runTask(columnId, rowIds, taskContext({ signal: waiting.signal }));
    await until(submissionIn(client.workspaceId, "submitted"), "the submission to be submitted");
    const [submission] = await submissionsOf(client.workspaceId);
    const id = fake.submitted()[0]!.id;
    fake.finish(id);
    const body = JSON.stringify(fake.resultBody(id));

    // A Worker's request: services released by the entry point, work after the response under waitUntil.
    let statusAtRelease: string | undefined;
    const workerApp = createApp(() => ({
      services: fullEnrich.services,
      release: async () => {
        statusAtRelease = (await submissionsOf(client.workspaceId))[0]!.status;
      },
    }));
    const extended: Promise<unknown>[] = [];
    const executionCtx = { waitUntil: (p: Promise<unknown>) => void extended.push(p), passThroughOnException: () => {}, props: {} };
    const res = await workerApp.fetch(
      new Request(`https://worker.example${webhookPath(submission!.id)}`, { method: "POST", headers: { "x-signature-sha1": signBody(API_KEY, body) }, body }),
      {},
      executionCtx,
    );

    expect([res.status, await res.json()]).toEqual([200, { received: true, duplicate: false }]);
    expect(extended).toHaveLength(1);
    await Promise.all(extended);
    expect(statusAtRelease).toBe("completed");
    expect((await cellsOf(columnId, rowIds)).map((c) => [c.status, c.value])).toEqual([["completed", "ada.lovelace@analytical.io"]]);
    waiting.abort(new Error("test done"));
    await task;
  });

  it("has no webhook when FullEnrich is not configured", async () => {
    fullEnrich.services = { ...fullEnrich.services, providers: createSandboxProviders() };
    const body = JSON.stringify({ id: "x", status: "FINISHED", data: [] });
    expect(await postWebhook(webhookPath(crypto.randomUUID()), body)).toEqual({ status: 404, body: { error: "Webhook not found", code: "NOT_FOUND", requestId: REQUEST_ID } });
  });
});

describe("a column deleted while its submission waits", () => {
  it("refunds the sent rows once at deletion; the webhook then writes nothing and answers 200", async () => {
    useFullEnrich({ pollIntervalMs: 25 });
    Object.assign(fake.options, { deliverWebhooks: false, finishAfterMs: 60_000 });
    const client = await workspace(100);
    const { listId, rowIds, columnId } = await heldColumn(client, [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.io" },
      { firstName: "Grace", lastName: "Hopper", domain: "navy.mil" },
    ]);
    const task = runTask(columnId, rowIds, taskContext());
    await until(submissionIn(client.workspaceId, "submitted"), "the submission to be submitted");
    const tokens = (await cellsOf(columnId, rowIds)).map((c) => c.runToken!);

    expect(await client.delete(`/api/lists/${listId}/columns/${columnId}`)).toMatchObject({ status: 200, body: { success: true } });
    await task;
    const id = fake.submitted()[0]!.id;
    fake.finish(id);
    expect(await fake.deliver(id)).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await settle();

    expect(await cellsOf(columnId, rowIds)).toEqual([]);
    expect(await h.db.select().from(personRows).where(eq(personRows.listId, listId))).toHaveLength(2);
    expect((await submissionsOf(client.workspaceId)).map((s) => [s.status, s.columnId, s.providerRef])).toEqual([["completed", null, id]]);
    const deleted = "Refund: column deleted before the cell was filled";
    expect(await movements(client)).toEqual(
      byKey(tokens.flatMap((token) => [charge("EMAIL_LOOKUP", EMAIL_PRICE, columnId, token), refund("EMAIL_LOOKUP", EMAIL_PRICE, columnId, token, deleted)])),
    );
    // A replay after that is still answered cleanly.
    expect(await fake.deliver(id)).toEqual({ status: 200, body: { received: true, duplicate: true } });
    await expectBalance(client, 100);
  });
});
