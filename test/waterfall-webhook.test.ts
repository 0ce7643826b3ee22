import { asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { providerSubmissions } from "../src/db/schema";
import { runColumnTask } from "../src/domain/enrichment/run-column-task";
import { hunterProvider } from "../src/providers/hunter";
import { startFakeHunter, type HunterQuery } from "./helpers/fake-hunter";
import { startFullEnrichApp, taskContext, until } from "./helpers/fullenrich-app";
import { Client, useHarness } from "./helpers/harness";
import { movements } from "./helpers/ledger";

// A waterfall's FullEnrich step exactly as a contact column's submissions go: recorded, at most 100
// rows each, with the signed webhook (the real app served on 127.0.0.1 takes FullEnrich's calls),
// its result read by the waterfall, which asks Hunter for the rows FullEnrich missed. Fakes of both
// APIs on 127.0.0.1; real Postgres; the real tasks in-process.

const h = useHarness({ max: 12 });
const FE_KEY = "fe_waterfall_webhook_7d2";
const SECRET = "waterfall-webhook-secret-0123456789";
const HUNTER_KEY = "hunter_waterfall_webhook_1a9";

const hunter = await startFakeHunter({ apiKey: HUNTER_KEY });
const app = await startFullEnrichApp(h, { apiKey: FE_KEY, webhookSecret: SECRET });
const hunterAdapter = hunterProvider({ apiKey: HUNTER_KEY, baseUrl: `${hunter.url}/v2`, timeoutMs: 1_000, concurrency: 4, maxAttempts: 1 });

/** The app's services with Hunter configured beside the helper's FullEnrich, and FullEnrich polled rarely: results must come by webhook. */
function configure() {
  app.useFullEnrich({ pollIntervalMs: 60_000 });
  app.services = { ...app.services, contactSources: { ...app.services.contactSources, hunter: { work_email: hunterAdapter } } };
  hunter.http.requests.length = 0;
  hunter.directory = (query: HunterQuery) => (query.last_name?.startsWith("Known") ? { email: `${query.last_name.toLowerCase()}@hunter.example` } : "no_email");
}

/** People i = 0..n-1: even ones have a domain (FullEnrich finds them), odd ones a company only (Hunter finds those named Known…). */
const person = (i: number) =>
  i % 2 === 0 ? { firstName: "Ada", lastName: `Even${i}`, domain: "analytical.example" } : { firstName: "Alan", lastName: `Known${i}`, company: "Bletchley Labs" };

async function listOf(n: number) {
  const seeded = await h.seedWorkspace({ credits: 10_000 });
  const client = new Client(app.app, h.db, seeded.account);
  const list = await client.post("/api/lists", { name: "Waterfall by webhook" });
  const listId = list.body.list.id as string;
  expect((await client.post(`/api/lists/${listId}/rows/bulk`, { rows: Array.from({ length: n }, (_, i) => person(i)) })).status).toBe(200);
  return { client, listId };
}

const submissionsOf = (where: { columnId?: string; enrichmentRunId?: string }) =>
  h.db
    .select()
    .from(providerSubmissions)
    .where(where.columnId ? eq(providerSubmissions.columnId, where.columnId) : eq(providerSubmissions.enrichmentRunId, where.enrichmentRunId!))
    .orderBy(asc(providerSubmissions.id));

describe("a waterfall's FullEnrich step", () => {
  it("sends a column's rows in recorded submissions with the signed webhook, reads each result from it, and asks Hunter for the rest", async () => {
    configure();
    const { client, listId } = await listOf(6);
    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: true, enrichmentType: "work_email", config: { providers: ["fullenrich", "hunter"] } });
    expect(res.status).toBe(201);
    const columnId = res.body.column.id as string;
    await app.settle();

    const submitted = app.fake.submitted();
    expect(submitted).toHaveLength(1);
    expect(submitted[0]!.webhookUrl).toBe(`${app.served.url}/webhooks/fullenrich/${(await submissionsOf({ columnId }))[0]!.id}?sig=${app.urlSig((await submissionsOf({ columnId }))[0]!.id)}`);
    expect(submitted[0]!.deliveries).toEqual([{ status: 200, body: { received: true, duplicate: false } }]);
    expect(app.fake.apiRequests("poll")).toEqual([]);
    expect((await submissionsOf({ columnId })).map((s) => ({ waterfall: s.waterfall, status: s.status, cells: s.cells.length }))).toEqual([{ waterfall: true, status: "completed", cells: 6 }]);
    expect(hunter.lookups().map((q) => q.last_name)).toEqual(["Known1", "Known3", "Known5"]);

    const cells = (await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`)).body.cells as Array<{ value: string; status: string; attempts: Array<{ provider: string; outcome: string }> }>;
    expect(cells.map((c) => [c.status, c.value, c.attempts.map((a) => `${a.provider}:${a.outcome}`).join(" ")])).toEqual([
      ["completed", "ada.even0@analytical.example", "fullenrich:matched hunter:not_run"],
      ["completed", "known1@hunter.example", "fullenrich:no_match hunter:matched"],
      ["completed", "ada.even2@analytical.example", "fullenrich:matched hunter:not_run"],
      ["completed", "known3@hunter.example", "fullenrich:no_match hunter:matched"],
      ["completed", "ada.even4@analytical.example", "fullenrich:matched hunter:not_run"],
      ["completed", "known5@hunter.example", "fullenrich:no_match hunter:matched"],
    ]);
    expect((await movements(client)).map((m) => m.delta).sort()).toEqual([-2, -2, -2, -1, -1, -1].sort());
  });

  it("sends a 150-lead run in two submissions (100 and 50), each answered by one accepted webhook", async () => {
    configure();
    const { client, listId } = await listOf(150);
    const started = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId }, config: { providers: ["fullenrich", "hunter"] } });
    expect(started.status).toBe(202);
    const runId = started.body.runId as string;
    await until(async () => (await client.get(`/api/enrichment/${runId}`)).body.run.status === "completed", "the run to complete", 20_000);
    await app.settle();
    const submitted = app.fake.submitted();
    expect(submitted.map((s) => s.contacts.length)).toEqual([100, 50]);
    for (const s of submitted) expect(s.deliveries).toEqual([{ status: 200, body: { received: true, duplicate: false } }]);
    expect(app.fake.apiRequests("poll")).toEqual([]);
    expect(hunter.lookups()).toHaveLength(75);
    const run = (await client.get(`/api/enrichment/${runId}`)).body.run;
    expect(run.scope.counts).toEqual({ pending: 0, running: 0, completed: 150, skipped: 0, failed: 0 });
    expect(run.cost).toMatchObject({ preview: 300, actual: 75 * 2 + 75 * 1 });
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 10_000 - 225 });
  });

  it("a task that dies after FullEnrich accepted the submission never sends it again: its retry reads the result the webhook stored", async () => {
    configure();
    const { client, listId } = await listOf(2);
    // The first attempt dies right after FullEnrich accepted the batch: before its webhook lands.
    app.fake.options.deliverWebhooks = false;
    const { result: created, held } = await app.holdingTasks(() =>
      client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: true, enrichmentType: "work_email", config: { providers: ["fullenrich", "hunter"] } }),
    );
    expect(created.status).toBe(201);
    const columnId = created.body.column.id as string;
    const payload = held[0]!.payload as { columnId: string; rowIds: string[] };
    const death = new AbortController();
    const first = taskContext({ signal: death.signal });
    const dying = runColumnTask(app.services, "list-contact-enrich", payload, first);
    await until(async () => (await submissionsOf({ columnId })).some((s) => s.status === "submitted"), "the submission to be accepted");
    death.abort(new Error("the process died"));
    await dying;
    expect(app.fake.submitted()).toHaveLength(1);

    // The webhook comes while nobody works on the column: it is stored, and no cell is written.
    const [submission] = await submissionsOf({ columnId });
    const delivery = await app.fake.deliver(submission!.providerRef!);
    expect(delivery).toEqual({ status: 200, body: { received: true, duplicate: false } });
    await app.settle();
    expect(rowsOf<{ status: string }>(await h.db.execute(sql`select status from list_cells where column_id = ${columnId}`)).map((c) => c.status)).toEqual(["processing", "processing"]);

    const retry = await runColumnTask(app.services, "list-contact-enrich", payload, taskContext({ runId: first.runId, attempt: 2 }));
    expect(retry).toMatchObject({ claimed: 2, completed: 2, written: 2 });
    expect(app.fake.submitted()).toHaveLength(1);
    expect(hunter.lookups().map((q) => q.last_name)).toEqual(["Known1"]);
    expect((await movements(client)).map((m) => m.delta).sort()).toEqual([-2, -1].sort());
  });
});
