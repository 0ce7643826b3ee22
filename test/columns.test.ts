import { and, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { columns, personCells, type ColumnSchema } from "../src/db/schema";
import { TYPED_KINDS, type EnrichmentType } from "../src/domain/column-kinds";
import { inferSchema } from "../src/domain/schema-inference";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import type { RecordedRequest } from "./helpers/fake-trigger";
import { credits, progress } from "./helpers/column-stats";
import { addColumn, addCompanies, addPeople, cellsByPosition, type CellState } from "./helpers/fixtures";
import { useHarnessOverFakeTrigger } from "./helpers/fake-trigger-harness";
import { ISO_DATE, REQUEST_ID, UUID, type Client } from "./helpers/harness";

// Dispatch goes through the real Trigger.dev SDK to a fake Trigger.dev whose tasks finish at once
// without touching the database, so the cells stay as the routes left them.
const { fake, h } = await useHarnessOverFakeTrigger();

const BUILT_IN_COUNT = 11;
const RUN_ID = expect.stringMatching(/^run_[0-9a-z]+$/);
const BATCH_ID = expect.stringMatching(/^batch_[0-9a-z]+$/);
const AI_PROMPT = "What does the company sell?";

type Subject = "person" | "company";

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Prospects" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

/** `count` person rows written in one statement, named Person 0001…, returned by position. */
async function seedPeople(client: Client, listId: string, count: number): Promise<string[]> {
  const rows = rowsOf<{ id: string }>(
    await h.db.execute(sql`
      with new_leads as (
        insert into leads (workspace_id, type, full_name)
        select ${client.workspaceId}, 'person', 'Person ' || lpad(g::text, 4, '0') from generate_series(1, ${count}) g
        returning id, full_name
      ), new_rows as (
        insert into list_rows (list_id, workspace_id, lead_id, full_name)
        select ${listId}, ${client.workspaceId}, id, full_name from new_leads order by full_name
        returning id, position
      )
      select id from new_rows order by position`),
  );
  return rows.map((r) => r.id);
}

function columnBody(listId: string, overrides: Record<string, unknown> = {}) {
  return {
    id: UUID,
    listId,
    name: "Summary",
    prompt: null,
    responseType: "auto",
    source: "profile",
    subject: "person",
    isFilter: false,
    position: BUILT_IN_COUNT,
    schema: { type: "text" },
    enrichmentType: null,
    config: {},
    createdAt: ISO_DATE,
    isPreview: false,
    category: "custom",
    builtInKey: null,
    autoRun: false,
    runIf: null,
    maxCredits: null,
    budgetLeft: null,
    dependsOn: [],
    // A column without cells or charges, as a static one is; the fake Trigger.dev never runs the
    // tasks, so a queued column's cells stay pending.
    progress: progress(),
    credits: credits(),
    ...overrides,
  };
}

const cellsOf = (columnId: string, subject?: "person" | "company") => cellsByPosition(h.db, columnId, subject);

const pending = (rowId: string): CellState => ({ rowId, status: "pending", value: null, reasoning: null, error: null, runToken: UUID });
const dispatchFailed = (rowId: string): CellState => ({ rowId, status: "failed", value: null, reasoning: null, error: "DISPATCH_FAILED", runToken: UUID });

async function storedColumn(id: string) {
  const [column] = await h.db.select().from(columns).where(eq(columns.id, id));
  return column;
}

async function columnCount(listId: string): Promise<number> {
  return (await h.db.select({ id: columns.id }).from(columns).where(eq(columns.listId, listId))).length;
}

/** The workspace's charges, oldest first. */
async function charges(client: Client) {
  return (await client.ledger())
    .filter((entry) => entry.kind === "charge")
    .map((entry) => ({ action: entry.action, units: entry.units, delta: entry.delta, balanceAfter: entry.balanceAfter, reference: { type: entry.referenceType, id: entry.referenceId } }));
}

const paths = (requests: RecordedRequest[]) => requests.map((request) => `${request.method} ${request.path}`);

/** The HTTP calls of one successful batch dispatch through the SDK. */
function batchDispatchPaths(batchId: string) {
  return ["POST /api/v3/batches", `POST /api/v3/batches/${batchId}/items`, `GET /api/v2/batches/${batchId}`];
}

function validationError(path: string) {
  return { error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] };
}

describe("schema inference", () => {
  it.each<[string, ColumnSchema]>([
    ["Is the company hiring engineers?", { type: "boolean" }],
    ["Does this person have a personal blog?", { type: "boolean" }],
    ["Has the company raised a Series A?", { type: "boolean" }],
    ["Are they based in Europe?", { type: "boolean" }],
    ["Is the company B2B", { type: "boolean" }],
    ["Look at their site. Do they sell to banks?", { type: "boolean" }],
    ["Does the company have a website?", { type: "boolean" }],
    ["Does the person have a work email?", { type: "boolean" }],
    ["Answer yes or no: do they use Salesforce", { type: "boolean" }],
    ["Uses Kubernetes (yes/no)", { type: "boolean" }],
    ["Open to remote work, true or false", { type: "boolean" }],
    ["How many employees does the company have?", { type: "number" }],
    ["How much funding have they raised in total?", { type: "number" }],
    ["Number of open engineering roles", { type: "number" }],
    ["Count the offices they operate", { type: "number" }],
    ["How many emails does the team publish?", { type: "number" }],
    ["List their main competitors", { type: "list", itemType: "text" }],
    ["Top 5 products of the company", { type: "list", itemType: "text", maxItems: 5 }],
    ["What are their top three customers?", { type: "list", itemType: "text", maxItems: 3 }],
    ["List up to 4 recent press release links", { type: "list", itemType: "url", maxItems: 4 }],
    ["List the founders' email addresses", { type: "list", itemType: "email" }],
    ["Could you list the top 10 investors?", { type: "list", itemType: "text", maxItems: 10 }],
    ["When was the company founded?", { type: "date" }],
    ["Date of their last funding round", { type: "date" }],
    ["When did they launch their website?", { type: "date" }],
    ["What is the CEO's email?", { type: "email" }],
    ["Check their website for a contact e-mail", { type: "email" }],
    ["Find the person's direct phone number", { type: "phone" }],
    ["Mobile number of the founder", { type: "phone" }],
    ["Find the company's careers page URL", { type: "url" }],
    ["What is their website?", { type: "url" }],
    ["Link to their pricing page", { type: "url" }],
    ["Can you find the company's homepage?", { type: "url" }],
    ["What does the company sell?", { type: "text", textFormat: "short" }],
    ["Summarise their positioning", { type: "text", textFormat: "short" }],
    ["Which country is the account based in?", { type: "text", textFormat: "short" }],
    ["Their most up-to-date job title", { type: "text", textFormat: "short" }],
    ["Is listed under", { type: "text", textFormat: "short" }],
    ["Do research on their tech stack", { type: "text", textFormat: "short" }],
  ])("%s → %j", (prompt, schema) => {
    expect(inferSchema(prompt)).toEqual(schema);
  });
});

describe("POST /api/lists/{id}/columns", () => {
  it("creates an AI column over 250 rows: 250 pending cells, one batch of 100/100/50 row ids in three HTTP calls, one charge", async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const listId = await newList(client);
    const rowIds = await seedPeople(client, listId, 250);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: " Summary ", isDynamic: true, prompt: `  ${AI_PROMPT} ` });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        prompt: AI_PROMPT,
        source: "web",
        schema: { type: "text", textFormat: "short" },
        progress: progress({ pending: 250 }),
        credits: credits(250),
      }),
    });
    const columnId = res.body.column.id;
    const stored = await storedColumn(columnId);
    expect(stored).toMatchObject({ isDynamic: true, workspaceId: client.workspaceId, triggerRunIds: [BATCH_ID, RUN_ID, RUN_ID, RUN_ID] });
    const [batchId, ...runIds] = stored!.triggerRunIds;

    const cells = await cellsOf(columnId);
    expect(cells).toEqual(rowIds.map(pending));
    expect(new Set(cells.map((c) => c.runToken)).size).toBe(250);

    expect(paths(fake.requests)).toEqual(batchDispatchPaths(batchId!));
    expect(fake.requests[0]!.body).toMatchObject({ runCount: 3, taskIdentifiers: ["sheet-ai-enrich"] });
    expect(fake.requests[1]!.body).toHaveLength(3);
    expect(fake.runs).toEqual([
      { runId: runIds[0], taskId: "sheet-ai-enrich", batchId, payload: { columnId, rowIds: rowIds.slice(0, 100) } },
      { runId: runIds[1], taskId: "sheet-ai-enrich", batchId, payload: { columnId, rowIds: rowIds.slice(100, 200) } },
      { runId: runIds[2], taskId: "sheet-ai-enrich", batchId, payload: { columnId, rowIds: rowIds.slice(200) } },
    ]);

    expect(await charges(client)).toEqual([
      { action: "CUSTOM_ENRICHMENT_WEB", units: 250, delta: -250, balanceAfter: 750, reference: { type: "column", id: columnId } },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 750, ledgerSum: 750, entries: 2 });
  });

  it("uses source reasoning and CUSTOM_ENRICHMENT_AI for dataSource profile", async () => {
    const client = await h.seedWorkspace({ credits: 10 });
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, dataSource: "profile" });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        prompt: AI_PROMPT,
        source: "reasoning",
        schema: { type: "text", textFormat: "short" },
        progress: progress({ pending: 2 }),
        credits: credits(2),
      }),
    });
    expect(await cellsOf(res.body.column.id)).toEqual(rowIds.map(pending));
    expect(await charges(client)).toEqual([
      { action: "CUSTOM_ENRICHMENT_AI", units: 2, delta: -2, balanceAfter: 8, reference: { type: "column", id: res.body.column.id } },
    ]);
    expect(fake.runs).toEqual([{ runId: RUN_ID, taskId: "sheet-ai-enrich", batchId: BATCH_ID, payload: { columnId: res.body.column.id, rowIds } }]);
  });

  it("creates a company AI column with pending company cells, positioned after the list's company columns", async () => {
    const client = await h.seedWorkspace({ credits: 10 });
    const listId = await newList(client);
    const companyIds = await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex", "Initech"]);
    await addColumn(h.db, client.workspaceId, listId, { subject: "company", position: 4 });

    const res = await client.post(`/api/lists/${listId}/columns`, {
      name: "Employees",
      isDynamic: true,
      prompt: "How many employees does the company have?",
      subject: "company",
    });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        name: "Employees",
        prompt: "How many employees does the company have?",
        source: "web",
        subject: "company",
        position: 5,
        schema: { type: "number" },
        progress: progress({ pending: 3 }),
        credits: credits(3),
      }),
    });
    expect(await cellsOf(res.body.column.id, "company")).toEqual(companyIds.map(pending));
    expect(await cellsOf(res.body.column.id, "person")).toEqual([]);
    expect(fake.runs).toEqual([
      { runId: RUN_ID, taskId: "sheet-ai-enrich", batchId: BATCH_ID, payload: { columnId: res.body.column.id, rowIds: companyIds } },
    ]);
    expect(await client.balance()).toBe(7);
  });

  it("keeps the caller's schema on an AI column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const schema = { type: "enum", options: ["SMB", "Mid-market", "Enterprise"] };

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Segment", isDynamic: true, prompt: "Which segment?", schema });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({ column: columnBody(listId, { name: "Segment", prompt: "Which segment?", source: "web", schema }) });
  });

  it("places each new column after the last one of its subject", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);

    const first = await client.post(`/api/lists/${listId}/columns`, { name: "A", isDynamic: false });
    const second = await client.post(`/api/lists/${listId}/columns`, { name: "B", isDynamic: false });
    const company = await client.post(`/api/lists/${listId}/columns`, { name: "C", isDynamic: false, subject: "company" });

    expect([first.body.column.position, second.body.column.position, company.body.column.position]).toEqual([11, 12, 0]);
  });

  it("creates a static column: no cells, no dispatch, no charge", async () => {
    const client = await h.seedWorkspace({ credits: 0 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);

    const res = await client.post(`/api/lists/${listId}/columns`, {
      name: "Notes",
      isDynamic: false,
      prompt: "ignored on a static column",
      dataSource: "web",
    });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({ column: columnBody(listId, { name: "Notes" }) });
    expect(await storedColumn(res.body.column.id)).toMatchObject({ isDynamic: false, triggerRunIds: [] });
    expect(await cellsOf(res.body.column.id)).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 0 });
  });

  it("keeps the caller's schema on a static company column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const schema = { type: "number", format: "currency", currency: "USD", scale: "millions" };

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Revenue", isDynamic: false, subject: "company", schema });

    expect(res.body).toEqual({ column: columnBody(listId, { name: "Revenue", subject: "company", position: 0, schema }) });
  });

  it.each([["robots"], [42], [null], ["Company"], [{ subject: "company" }]])("coerces subject %j to person", async (subject) => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Notes", isDynamic: false, subject });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({ column: columnBody(listId, { name: "Notes" }) });
    expect(await storedColumn(res.body.column.id)).toMatchObject({ subject: "person" });
  });

  it("creates an AI column on a list without rows: no cells, no dispatch, no charge", async () => {
    const client = await h.seedWorkspace({ credits: 0 });
    const listId = await newList(client);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({ column: columnBody(listId, { prompt: AI_PROMPT, source: "web", schema: { type: "text", textFormat: "short" } }) });
    expect(await storedColumn(res.body.column.id)).toMatchObject({ triggerRunIds: [] });
    expect(await cellsOf(res.body.column.id)).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 0 });
  });

  const TYPED_CASES: Array<{ type: EnrichmentType; subject: Subject; task: string; action: string; chargedAtCreation: boolean; config: Record<string, unknown> }> = [
    { type: "work_email", subject: "person", task: "list-contact-enrich", action: "EMAIL_LOOKUP", chargedAtCreation: false, config: {} },
    { type: "mobile_phone", subject: "person", task: "list-contact-enrich", action: "PHONE_LOOKUP", chargedAtCreation: false, config: {} },
    { type: "hiring_status", subject: "company", task: "list-hiring-enrich", action: "HIRING_STATUS", chargedAtCreation: true, config: {} },
    { type: "site_crawl", subject: "company", task: "list-generic-enrich", action: "SITE_CRAWL_ENRICHMENT", chargedAtCreation: true, config: {} },
    { type: "website_overview", subject: "company", task: "list-generic-enrich", action: "WEBSITE_ENRICHMENT", chargedAtCreation: true, config: {} },
    { type: "news_articles", subject: "company", task: "list-generic-enrich", action: "COMPANY_NEWS", chargedAtCreation: true, config: { timePeriod: "3m" } },
    { type: "news_articles", subject: "person", task: "list-generic-enrich", action: "PERSON_NEWS", chargedAtCreation: true, config: { timePeriod: "3m" } },
    { type: "linkedin_posts", subject: "company", task: "list-generic-enrich", action: "LINKEDIN_POSTS", chargedAtCreation: true, config: {} },
    { type: "linkedin_posts", subject: "person", task: "list-generic-enrich", action: "LINKEDIN_POSTS", chargedAtCreation: true, config: {} },
  ];

  it.each(TYPED_CASES)("creates a $type column for $subject rows: $task, $action", async ({ type, subject, task, action, chargedAtCreation, config }) => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const rowIds =
      subject === "person"
        ? await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"])
        : await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);

    const res = await client.post(`/api/lists/${listId}/columns`, {
      name: "Enriched",
      isDynamic: true,
      prompt: "ignored on a typed column",
      dataSource: "web",
      enrichmentType: type,
      subject,
    });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        name: "Enriched",
        subject,
        position: subject === "person" ? BUILT_IN_COUNT : 0,
        schema: TYPED_KINDS[type].schema,
        enrichmentType: type,
        config,
        category: "enrichment",
        progress: progress({ pending: 2 }),
        // A contact column is charged per result found, by its task, not at creation.
        credits: credits(chargedAtCreation ? DEFAULT_CREDIT_COSTS[action]! * 2 : 0),
      }),
    });
    const columnId = res.body.column.id;
    expect(await cellsOf(columnId, subject)).toEqual(rowIds.map(pending));
    expect(fake.runs).toEqual([{ runId: RUN_ID, taskId: task, batchId: BATCH_ID, payload: { columnId, rowIds } }]);
    const cost = DEFAULT_CREDIT_COSTS[action]! * 2;
    expect(await charges(client)).toEqual(
      chargedAtCreation ? [{ action, units: 2, delta: -cost, balanceAfter: 100 - cost, reference: { type: "column", id: columnId } }] : [],
    );
    expect(await client.ledgerConsistency()).toMatchObject({ balance: chargedAtCreation ? 100 - cost : 100, ledgerSum: chargedAtCreation ? 100 - cost : 100 });
  });

  it("keeps a caller's schema and time period on a typed column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const schema = { type: "list", itemType: "url", maxItems: 3 };

    const res = await client.post(`/api/lists/${listId}/columns`, {
      name: "News",
      isDynamic: true,
      enrichmentType: "news_articles",
      subject: "company",
      schema,
      config: { timePeriod: "1y" },
    });

    expect(res.body).toEqual({
      column: columnBody(listId, { name: "News", subject: "company", position: 0, schema, enrichmentType: "news_articles", config: { timePeriod: "1y" }, category: "enrichment" }),
    });
  });

  it("does not charge a contact column at creation but refuses one the balance could not cover", async () => {
    const client = await h.seedWorkspace({ credits: 15 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Mobile", isDynamic: true, enrichmentType: "mobile_phone" });

    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: expect.any(String), code: "INSUFFICIENT_CREDITS", requestId: REQUEST_ID, required: 16, balance: 15 });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 15, ledgerSum: 15, entries: 1 });
  });

  it("answers 402 with the exact required and balance and writes nothing", async () => {
    const client = await h.seedWorkspace({ credits: 4 });
    const listId = await newList(client);
    await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Crawl", isDynamic: true, enrichmentType: "site_crawl", subject: "company" });

    expect(res.status).toBe(402);
    expect(res.body).toEqual({
      error: "Insufficient credits: 8 required, 4 available",
      code: "INSUFFICIENT_CREDITS",
      requestId: REQUEST_ID,
      required: 8,
      balance: 4,
    });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT);
    expect(rowsOf(await h.db.execute(sql`select id from list_company_cells where list_id = ${listId}`))).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 4, ledgerSum: 4, entries: 1 });
  });

  it("creates a preview column on exactly the first 3 rows and charges only those", async () => {
    const client = await h.seedWorkspace({ credits: 3 });
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["A One", "B Two", "C Three", "D Four", "E Five"]);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, isPreview: true });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        prompt: AI_PROMPT,
        source: "web",
        schema: { type: "text", textFormat: "short" },
        isPreview: true,
        progress: progress({ pending: 3 }),
        credits: credits(3),
      }),
    });
    expect(await cellsOf(res.body.column.id)).toEqual(rowIds.slice(0, 3).map(pending));
    expect(fake.runs.map((run) => run.payload)).toEqual([{ columnId: res.body.column.id, rowIds: rowIds.slice(0, 3) }]);
    expect(await charges(client)).toEqual([
      { action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3, balanceAfter: 0, reference: { type: "column", id: res.body.column.id } },
    ]);
    const listed = await client.get(`/api/lists/${listId}/columns?subject=person`);
    expect(listed.body.columns.map((c: { id: string }) => c.id)).not.toContain(res.body.column.id);
  });

  it.each([
    ["the fake answering 500", { status: 500 }],
    ["the fake hanging", { hang: true as const }],
  ])("answers 500 DISPATCH_FAILED with %s: no charge, cells failed, column kept", async (_, fault) => {
    const client = await h.seedWorkspace({ credits: 50 });
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper"]);
    fake.failAlways(fault);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT });

    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: expect.any(String), code: "DISPATCH_FAILED", requestId: REQUEST_ID });
    const [column] = await h.db.select().from(columns).where(and(eq(columns.listId, listId), eq(columns.name, "Summary")));
    expect(column).toMatchObject({ source: "web", isPreview: false, triggerRunIds: [] });
    expect(await cellsOf(column!.id)).toEqual(rowIds.map(dispatchFailed));
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.runs).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 50, ledgerSum: 50, entries: 1 });
  });

  it("lets exactly one of two concurrent creations through when the balance affords one", async () => {
    const client = await h.seedWorkspace({ credits: 3 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper"]);

    const results = await Promise.all(
      ["First", "Second"].map((name) => client.post(`/api/lists/${listId}/columns`, { name, isDynamic: true, prompt: AI_PROMPT })),
    );

    expect(results.map((r) => r.status).sort()).toEqual([201, 402]);
    const refused = results.find((r) => r.status === 402)!;
    expect(refused.body).toEqual({ error: expect.any(String), code: "INSUFFICIENT_CREDITS", requestId: REQUEST_ID, required: 3, balance: 0 });
    const created = results.find((r) => r.status === 201)!;
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT + 1);
    expect(await charges(client)).toEqual([
      { action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3, balanceAfter: 0, reference: { type: "column", id: created.body.column.id } },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 2 });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ isDynamic: false }, "name"],
    [{ name: "", isDynamic: false }, "name"],
    [{ name: "   ", isDynamic: false }, "name"],
    [{ name: 7, isDynamic: false }, "name"],
    [{ name: "Notes" }, "isDynamic"],
    [{ name: "Notes", isDynamic: "yes" }, "isDynamic"],
    [{ name: "Summary", isDynamic: true }, "prompt"],
    [{ name: "Summary", isDynamic: true, prompt: "   " }, "prompt"],
    [{ name: "Summary", isDynamic: true, prompt: 12 }, "prompt"],
    [{ name: "Summary", isDynamic: true, prompt: AI_PROMPT, dataSource: "crystal-ball" }, "dataSource"],
    [{ name: "Summary", isDynamic: true, enrichmentType: "horoscope" }, "enrichmentType"],
    [{ name: "Notes", isDynamic: false, schema: { type: "color" } }, "schema.type"],
    [{ name: "Notes", isDynamic: false, schema: {} }, "schema.type"],
    [{ name: "Notes", isDynamic: false, schema: { type: "list", maxItems: 0 } }, "schema.maxItems"],
    [{ name: "Notes", isDynamic: false, schema: { type: "list", maxItems: 2.5 } }, "schema.maxItems"],
    [{ name: "Notes", isDynamic: false, schema: { type: "enum", options: ["SMB", 2] } }, "schema.options.1"],
    [{ name: "News", isDynamic: true, enrichmentType: "news_articles", config: { timePeriod: "2y" } }, "config.timePeriod"],
    [{ name: "Notes", isDynamic: false, isPreview: "yes" }, "isPreview"],
  ])("rejects %j with VALIDATION_ERROR at %s and writes nothing", async (body, path) => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);

    const res = await client.post(`/api/lists/${listId}/columns`, body);

    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 1000, ledgerSum: 1000, entries: 1 });
  });

  it("rejects a malformed list id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/lists/not-a-uuid/columns", { name: "Notes", isDynamic: false });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("id"));
  });

  it("answers 404 for an unknown list and for another workspace's list, writing nothing", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const foreignList = await newList(other);

    const unknown = await client.post(`/api/lists/${crypto.randomUUID()}/columns`, { name: "Notes", isDynamic: false });
    const foreign = await client.post(`/api/lists/${foreignList}/columns`, { name: "Notes", isDynamic: false });

    for (const res of [unknown, foreign]) {
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect(await columnCount(foreignList)).toBe(BUILT_IN_COUNT);
  });

  it.each<[EnrichmentType, Subject]>([
    ["work_email", "company"],
    ["mobile_phone", "company"],
    ["hiring_status", "person"],
    ["site_crawl", "person"],
    ["website_overview", "person"],
  ])("rejects a %s column for %s rows with SUBJECT_MISMATCH", async (enrichmentType, subject) => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Typed", isDynamic: true, enrichmentType, subject });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: `A ${enrichmentType} column needs subject ${TYPED_KINDS[enrichmentType].subjects.join(" or ")}, not ${subject}`,
      code: "SUBJECT_MISMATCH",
      requestId: REQUEST_ID,
      allowedSubjects: [...TYPED_KINDS[enrichmentType].subjects],
    });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT);
  });

  it("treats a typed column without a subject as a person column (SUBJECT_MISMATCH for company-only types)", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "robots" });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("SUBJECT_MISMATCH");
  });

  it("rejects a second hiring_status column with DUPLICATE_HIRING_STATUS", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    await addCompanies(h.db, client.workspaceId, listId, ["Acme"]);
    const body = { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" };

    const first = await client.post(`/api/lists/${listId}/columns`, body);
    const second = await client.post(`/api/lists/${listId}/columns`, { ...body, isPreview: true });

    expect(first.status).toBe(201);
    expect(second.status).toBe(400);
    expect(second.body).toEqual({
      error: "This list already has a hiring_status column; a list can have only one",
      code: "DUPLICATE_HIRING_STATUS",
      requestId: REQUEST_ID,
    });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT + 1);
    expect(await client.balance()).toBe(999);
  });

  it("lets exactly one of two concurrent hiring_status creations through", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);
    const body = { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" };

    const results = await Promise.all([client.post(`/api/lists/${listId}/columns`, body), client.post(`/api/lists/${listId}/columns`, body)]);

    expect(results.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(results.find((r) => r.status === 400)!.body).toEqual({
      error: "This list already has a hiring_status column; a list can have only one",
      code: "DUPLICATE_HIRING_STATUS",
      requestId: REQUEST_ID,
    });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT + 1);
    expect(fake.runs).toHaveLength(1);
    expect(await client.ledgerConsistency()).toEqual({ balance: 998, ledgerSum: 998, entries: 2 });
  });

  it("allows a hiring_status column in each of two lists", async () => {
    const client = await h.seedWorkspace();
    const body = { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" };
    const first = await client.post(`/api/lists/${await newList(client)}/columns`, body);
    const second = await client.post(`/api/lists/${await newList(client)}/columns`, body);
    expect([first.status, second.status]).toEqual([201, 201]);
  });
});

describe("GET /api/lists/{id}/columns", () => {
  it("lists the non-preview columns of a subject by position, then id", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const late = await addColumn(h.db, client.workspaceId, listId, { name: "Late", position: 30 });
    const early = await addColumn(h.db, client.workspaceId, listId, { name: "Early", position: 3 });
    const tieA = await addColumn(h.db, client.workspaceId, listId, { name: "Tie A", position: 20 });
    const tieB = await addColumn(h.db, client.workspaceId, listId, { name: "Tie B", position: 20 });
    await addColumn(h.db, client.workspaceId, listId, { name: "Preview", position: 25, isPreview: true });
    const company = await addColumn(h.db, client.workspaceId, listId, { name: "Company col", subject: "company", position: 0 });

    const people = await client.get(`/api/lists/${listId}/columns?subject=person`);
    const companies = await client.get(`/api/lists/${listId}/columns?subject=company`);
    const all = await client.get(`/api/lists/${listId}/columns`);

    expect(people.status).toBe(200);
    const builtIns = (await h.db.select().from(columns).where(and(eq(columns.listId, listId), sql`${columns.builtInKey} is not null`))).sort(
      (a, b) => a.position - b.position,
    );
    const personOrder = [
      ...builtIns.slice(0, 4).map((c) => c.id),
      early,
      ...builtIns.slice(4).map((c) => c.id),
      ...[tieA, tieB].sort(),
      late,
    ];
    expect(people.body.columns.map((c: { id: string }) => c.id)).toEqual(personOrder);
    expect(people.body.columns[4]).toEqual(columnBody(listId, { id: early, name: "Early", position: 3 }));
    expect(companies.body).toEqual({ columns: [columnBody(listId, { id: company, name: "Company col", subject: "company", position: 0 })] });
    expect(all.body.columns.map((c: { id: string }) => c.id)).toEqual([...personOrder, company]);
  });

  it("rejects an invalid subject", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const res = await client.get(`/api/lists/${listId}/columns?subject=robots`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("subject"));
  });

  it("answers 404 for an unknown or foreign list", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    for (const listId of [crypto.randomUUID(), await newList(other)]) {
      const res = await client.get(`/api/lists/${listId}/columns`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    }
  });
});

/** 404s every column route answers: unknown column, another list's column of the same workspace, another workspace's list and column. */
async function notFoundCases(client: Client) {
  const other = await h.seedWorkspace();
  const listId = await newList(client);
  const siblingList = await newList(client);
  const siblingColumn = await addColumn(h.db, client.workspaceId, siblingList, { name: "Sibling" });
  const foreignList = await newList(other);
  const foreignColumn = await addColumn(h.db, other.workspaceId, foreignList, { name: "Foreign" });
  return {
    siblingColumn,
    foreignColumn,
    cases: [
      { listId, columnId: crypto.randomUUID(), error: "Column not found" },
      { listId, columnId: siblingColumn, error: "Column not found" },
      { listId, columnId: foreignColumn, error: "Column not found" },
      { listId: foreignList, columnId: foreignColumn, error: "List not found" },
      { listId: crypto.randomUUID(), columnId: siblingColumn, error: "List not found" },
    ],
  };
}

describe("PATCH /api/lists/{id}/columns/{colId}", () => {
  it("renames, flags and moves a column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes" });

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { name: "  Remarks ", isFilter: true, position: 0 });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ column: columnBody(listId, { id: columnId, name: "Remarks", isFilter: true, position: 0 }) });
    expect(await storedColumn(columnId)).toMatchObject({ name: "Remarks", isFilter: true, position: 0 });
    expect(fake.requests).toEqual([]);
  });

  it.each<[Record<string, unknown>, string]>([
    [{}, ""],
    [{ name: "" }, "name"],
    [{ name: "   " }, "name"],
    [{ isFilter: "yes" }, "isFilter"],
    [{ position: -1 }, "position"],
    [{ position: 1.5 }, "position"],
    [{ position: 2 ** 31 }, "position"],
    [{ isPreview: true }, "isPreview"],
  ])("rejects %j with VALIDATION_ERROR and changes nothing", async (body, path) => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes", isPreview: true });

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, body);

    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect(await storedColumn(columnId)).toMatchObject({ name: "Notes", isFilter: false, position: 100, isPreview: true });
  });

  it("answers 404 for unknown, sibling and foreign columns and lists", async () => {
    const client = await h.seedWorkspace();
    const { cases, siblingColumn, foreignColumn } = await notFoundCases(client);
    for (const { listId, columnId, error } of cases) {
      const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { name: "Renamed" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect((await storedColumn(siblingColumn))!.name).toBe("Sibling");
    expect((await storedColumn(foreignColumn))!.name).toBe("Foreign");
  });

  /** A preview column over the first 3 of 5 rows, its results landed, and `credits` left once it was charged. */
  async function previewColumn(credits: number) {
    const client = await h.seedWorkspace({ credits: credits + 3 });
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["A One", "B Two", "C Three", "D Four", "E Five"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, isPreview: true });
    expect(created.status).toBe(201);
    const columnId: string = created.body.column.id;
    await h.db.update(personCells).set({ status: "completed", value: "done" }).where(eq(personCells.columnId, columnId));
    fake.clearRecords();
    return { client, listId, rowIds, columnId };
  }

  const completed = (rowId: string): CellState => ({ rowId, status: "completed", value: "done", reasoning: null, error: null, runToken: UUID });

  it("promotes a preview column: queues the rows the preview did not cover and charges only those", async () => {
    const { client, listId, rowIds, columnId } = await previewColumn(2);

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false, name: "Offering" });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        id: columnId,
        name: "Offering",
        prompt: AI_PROMPT,
        source: "web",
        schema: { type: "text", textFormat: "short" },
        // The preview's 3 answers, the 2 rows it did not cover queued; 3 credits for the preview, 2 now.
        progress: progress({ completed: 3, pending: 2 }),
        credits: credits(5),
      }),
    });
    expect(await cellsOf(columnId)).toEqual([...rowIds.slice(0, 3).map(completed), ...rowIds.slice(3).map(pending)]);
    expect(fake.runs).toEqual([{ runId: RUN_ID, taskId: "sheet-ai-enrich", batchId: BATCH_ID, payload: { columnId, rowIds: rowIds.slice(3) } }]);
    const stored = await storedColumn(columnId);
    expect(stored!.triggerRunIds).toEqual([BATCH_ID, RUN_ID, fake.runs[0]!.batchId, fake.runs[0]!.runId]);
    expect((await charges(client)).at(-1)).toEqual({
      action: "CUSTOM_ENRICHMENT_WEB",
      units: 2,
      delta: -2,
      balanceAfter: 0,
      reference: { type: "column", id: columnId },
    });
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 0, ledgerSum: 0 });
    const listed = await client.get(`/api/lists/${listId}/columns?subject=person`);
    expect(listed.body.columns.map((c: { id: string }) => c.id)).toContain(columnId);
  });

  it("answers 402 before promoting when the balance does not cover the uncovered rows", async () => {
    const { client, listId, rowIds, columnId } = await previewColumn(1);

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false, name: "Offering" });

    expect(res.status).toBe(402);
    expect(res.body).toEqual({ error: expect.any(String), code: "INSUFFICIENT_CREDITS", requestId: REQUEST_ID, required: 2, balance: 1 });
    expect(await storedColumn(columnId)).toMatchObject({ isPreview: true, name: "Summary" });
    expect(await cellsOf(columnId)).toEqual(rowIds.slice(0, 3).map(completed));
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 1, ledgerSum: 1 });
  });

  it("answers 500 DISPATCH_FAILED when the promotion's dispatch fails: no charge, new cells failed, column promoted", async () => {
    const { client, listId, rowIds, columnId } = await previewColumn(10);
    fake.failAlways({ status: 500 });

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false });

    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: expect.any(String), code: "DISPATCH_FAILED", requestId: REQUEST_ID });
    expect(await storedColumn(columnId)).toMatchObject({ isPreview: false });
    expect(await cellsOf(columnId)).toEqual([...rowIds.slice(0, 3).map(completed), ...rowIds.slice(3).map(dispatchFailed)]);
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 10, ledgerSum: 10 });
  });

  it("leaves the cells alone when isPreview: false is sent for a column that is not a preview", async () => {
    const client = await h.seedWorkspace({ credits: 0 });
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes" });

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ column: columnBody(listId, { id: columnId, name: "Notes", position: 100 }) });
    expect(await cellsOf(columnId)).toEqual([]);
    expect(fake.requests).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 0 });
  });
});

describe("DELETE /api/lists/{id}/columns/{colId}", () => {
  it("deletes the column and its cells, cancels its stored runs, and a second delete is a 404", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    await seedPeople(client, listId, 150);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT });
    const columnId = created.body.column.id;
    const [batchId, ...runIds] = (await storedColumn(columnId))!.triggerRunIds;
    fake.clearRecords();

    const res = await client.delete(`/api/lists/${listId}/columns/${columnId}`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await storedColumn(columnId)).toBeUndefined();
    expect(await cellsOf(columnId)).toEqual([]);
    expect(paths(fake.requests).sort()).toEqual(
      [`GET /api/v2/batches/${batchId}`, ...runIds.map((runId) => `POST /api/v2/runs/${runId}/cancel`)].sort(),
    );

    const again = await client.delete(`/api/lists/${listId}/columns/${columnId}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ error: "Column not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });

  it("deletes a static column without calling Trigger.dev", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes" });

    const res = await client.delete(`/api/lists/${listId}/columns/${columnId}`);

    expect(res.body).toEqual({ success: true });
    expect(await storedColumn(columnId)).toBeUndefined();
    expect(fake.requests).toEqual([]);
  });

  it("refuses to delete a built-in column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const [name] = await h.db.select().from(columns).where(and(eq(columns.listId, listId), eq(columns.builtInKey, "name")));

    const res = await client.delete(`/api/lists/${listId}/columns/${name!.id}`);

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: 'colId: Built-in column "Name" cannot be deleted',
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "colId", message: 'Built-in column "Name" cannot be deleted' }],
    });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT);
  });

  it("answers 404 for unknown, sibling and foreign columns and lists, deleting nothing", async () => {
    const client = await h.seedWorkspace();
    const { cases, siblingColumn, foreignColumn } = await notFoundCases(client);
    for (const { listId, columnId, error } of cases) {
      const res = await client.delete(`/api/lists/${listId}/columns/${columnId}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect(await storedColumn(siblingColumn)).toBeDefined();
    expect(await storedColumn(foreignColumn)).toBeDefined();
  });

  it("rejects malformed ids", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const res = await client.delete(`/api/lists/${listId}/columns/nope`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("colId"));
  });
});

describe("POST /api/lists/{id}/columns/cleanup-previews", () => {
  it("deletes every preview column of the list, cancels their runs, and is idempotent", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const otherList = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const previews = [];
    for (const name of ["P1", "P2"]) {
      const res = await client.post(`/api/lists/${listId}/columns`, { name, isDynamic: true, prompt: AI_PROMPT, isPreview: true });
      previews.push(res.body.column.id as string);
    }
    const kept = await addColumn(h.db, client.workspaceId, listId, { name: "Kept" });
    const elsewhere = await addColumn(h.db, client.workspaceId, otherList, { name: "Elsewhere", isPreview: true });
    const stored = await Promise.all(previews.map(async (id) => (await storedColumn(id))!.triggerRunIds));
    fake.clearRecords();

    const res = await client.post(`/api/lists/${listId}/columns/cleanup-previews`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    for (const id of previews) expect(await storedColumn(id)).toBeUndefined();
    expect(await storedColumn(kept)).toBeDefined();
    expect(await storedColumn(elsewhere)).toBeDefined();
    expect(paths(fake.requests).sort()).toEqual(
      stored.flatMap(([batchId, ...runIds]) => [`GET /api/v2/batches/${batchId}`, ...runIds.map((runId) => `POST /api/v2/runs/${runId}/cancel`)]).sort(),
    );

    fake.clearRecords();
    const again = await client.post(`/api/lists/${listId}/columns/cleanup-previews`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ success: true });
    expect(await columnCount(listId)).toBe(BUILT_IN_COUNT + 1);
    expect(fake.requests).toEqual([]);
  });

  it("answers 404 for an unknown or foreign list", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const foreignList = await newList(other);
    const foreignPreview = await addColumn(h.db, other.workspaceId, foreignList, { isPreview: true });
    for (const listId of [crypto.randomUUID(), foreignList]) {
      const res = await client.post(`/api/lists/${listId}/columns/cleanup-previews`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    }
    expect(await storedColumn(foreignPreview)).toBeDefined();
  });
});

describe("GET /api/lists/{id}/columns/{colId}/preview-cells", () => {
  it("lists a person column's cells by row position with the person's full name", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const rowIds = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, isPreview: true });
    const columnId = created.body.column.id;
    await h.db.update(personCells).set({ status: "completed", value: "Analytical engines" }).where(and(eq(personCells.columnId, columnId), eq(personCells.rowId, rowIds[0]!)));
    await h.db.update(personCells).set({ status: "failed", error: "PROVIDER_ERROR" }).where(and(eq(personCells.columnId, columnId), eq(personCells.rowId, rowIds[2]!)));

    const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      cells: [
        { rowId: rowIds[0], name: "Ada Lovelace", value: "Analytical engines", status: "completed", error: null },
        { rowId: rowIds[1], name: "Alan Turing", value: null, status: "pending", error: null },
        { rowId: rowIds[2], name: "Grace Hopper", value: null, status: "failed", error: "PROVIDER_ERROR" },
      ],
    });
  });

  it("names company rows by the company name and works for any column", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const companyIds = await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" });

    const res = await client.get(`/api/lists/${listId}/columns/${created.body.column.id}/preview-cells`);

    expect(res.body).toEqual({
      cells: [
        { rowId: companyIds[0], name: "Acme", value: null, status: "pending", error: null },
        { rowId: companyIds[1], name: "Globex", value: null, status: "pending", error: null },
      ],
    });
  });

  it("shows built-in cells with their values", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    const [rowId] = await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    const [role] = await h.db.select().from(columns).where(and(eq(columns.listId, listId), eq(columns.builtInKey, "role")));

    const res = await client.get(`/api/lists/${listId}/columns/${role!.id}/preview-cells`);

    expect(res.body).toEqual({ cells: [{ rowId, name: "Ada Lovelace", value: "Engineer", status: "completed", error: null }] });
  });

  it("answers 404 for unknown, sibling and foreign columns and lists", async () => {
    const client = await h.seedWorkspace();
    const { cases } = await notFoundCases(client);
    for (const { listId, columnId, error } of cases) {
      const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error, code: "NOT_FOUND", requestId: REQUEST_ID });
    }
  });
});

describe("DELETE /api/lists/{id} with columns at work", () => {
  it("cancels the runs of every column of the list after deleting it", async () => {
    const client = await h.seedWorkspace();
    const listId = await newList(client);
    await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"]);
    await addCompanies(h.db, client.workspaceId, listId, ["Acme"]);
    const person = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT });
    const company = await client.post(`/api/lists/${listId}/columns`, { name: "Hiring", isDynamic: true, enrichmentType: "hiring_status", subject: "company" });
    const stored = await Promise.all([person, company].map(async (res) => (await storedColumn(res.body.column.id))!.triggerRunIds));
    fake.clearRecords();

    const res = await client.delete(`/api/lists/${listId}`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await columnCount(listId)).toBe(0);
    expect(paths(fake.requests).sort()).toEqual(
      stored.flatMap(([batchId, ...runIds]) => [`GET /api/v2/batches/${batchId}`, ...runIds.map((runId) => `POST /api/v2/runs/${runId}/cancel`)]).sort(),
    );
  });
});
