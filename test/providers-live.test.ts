import { count, eq, sql } from "drizzle-orm";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { columns, enrichmentRunItems, enrichmentRuns, personCells } from "../src/db/schema";
import { ENRICHMENT_TYPES, TYPED_KINDS, type EnrichmentType } from "../src/domain/column-kinds";
import { addCompanies, addPeople, cellsByPosition } from "./helpers/fixtures";
import { startFakeOpenAi } from "./helpers/fake-openai";
import { REQUEST_ID, UUID, useHarness, type Client, type Json } from "./helpers/harness";

// PROVIDERS=live (spec section 10): only configured real providers answer, and a column or run whose
// provider is not configured is refused with 400 PROVIDER_NOT_CONFIGURED before anything is written
// or charged. The harness builds its providers from `providerEnv`, as an entry point does from its
// environment; tasks run in-process with the real handlers.

const live = useHarness({ providerEnv: { PROVIDERS: "live" } });

const openai = await startFakeOpenAi();
afterAll(() => openai.close());
beforeEach(() => openai.reset());
const liveWithAi = useHarness({ providerEnv: { PROVIDERS: "live", OPENAI_API_KEY: openai.apiKey, OPENAI_BASE_URL: openai.baseUrl, OPENAI_MAX_ATTEMPTS: "1" } });

/** What each kind says it needs, as the refusal names it. */
const SETTINGS: Record<"ai" | EnrichmentType, string[]> = {
  ai: ["OPENAI_API_KEY"],
  work_email: ["FULLENRICH_API_KEY"],
  mobile_phone: ["FULLENRICH_API_KEY"],
  site_crawl: ["SITE_CRAWL_ENABLED=true", "OPENAI_API_KEY"],
  website_overview: ["OPENAI_API_KEY"],
  hiring_status: ["OPENAI_API_KEY"],
  news_articles: ["NEWS_API_KEY", "OPENAI_API_KEY"],
  linkedin_posts: ["LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY", "OPENAI_API_KEY"],
};

const MESSAGES: Record<"ai" | EnrichmentType, string> = {
  ai: "No provider is configured for ai: set OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  work_email: "No provider is configured for work_email: set FULLENRICH_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  mobile_phone: "No provider is configured for mobile_phone: set FULLENRICH_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  site_crawl: "No provider is configured for site_crawl: set SITE_CRAWL_ENABLED=true or OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  website_overview: "No provider is configured for website_overview: set OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  hiring_status: "No provider is configured for hiring_status: set OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  news_articles: "No provider is configured for news_articles: set NEWS_API_KEY or OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
  linkedin_posts:
    "No provider is configured for linkedin_posts: set LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY, or OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
};

const refusal = (kind: "ai" | EnrichmentType) => ({
  error: MESSAGES[kind],
  code: "PROVIDER_NOT_CONFIGURED",
  requestId: REQUEST_ID,
  kind,
  settings: SETTINGS[kind],
});

async function newList(client: Client): Promise<string> {
  const res = await client.post("/api/lists", { name: "Live list" });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

/** A list with two people and two companies: every kind has rows to enrich, so a refusal is not for want of them. */
async function populatedList(h: typeof live, client: Client): Promise<string> {
  const listId = await newList(client);
  await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);
  await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"]);
  return listId;
}

/** Everything a refused request could have written for the workspace: columns, cells, runs, money. */
async function footprint(h: typeof live, client: Client) {
  const [row] = rowsOf<{ columns: string; cells: string; runs: string; items: string }>(
    await h.db.execute(sql`
      select (select count(*) from list_columns where workspace_id = ${client.workspaceId}) as columns,
             (select count(*) from list_cells c join list_columns lc on lc.id = c.column_id where lc.workspace_id = ${client.workspaceId})
               + (select count(*) from list_company_cells c join list_columns lc on lc.id = c.column_id where lc.workspace_id = ${client.workspaceId}) as cells,
             (select count(*) from enrichment_runs where workspace_id = ${client.workspaceId}) as runs,
             (select count(*) from enrichment_run_items where workspace_id = ${client.workspaceId}) as items`),
  );
  return {
    columns: Number(row!.columns),
    cells: Number(row!.cells),
    runs: Number(row!.runs),
    items: Number(row!.items),
    money: await client.ledgerConsistency(),
    ledger: await client.ledger(),
  };
}

const AI_PROMPT = "Summarise what {{name}} works on";

describe("PROVIDERS=live with no provider configured: columns", () => {
  it.each(ENRICHMENT_TYPES.map((type) => ({ type, subject: TYPED_KINDS[type].subjects[0]! })))(
    "refuses a $type column with PROVIDER_NOT_CONFIGURED and writes nothing",
    async ({ type, subject }) => {
      const client = await live.seedWorkspace({ credits: 100 });
      const listId = await populatedList(live, client);
      const before = await footprint(live, client);

      const res = await client.post(`/api/lists/${listId}/columns`, { name: "Enriched", isDynamic: true, enrichmentType: type, subject });

      expect(res.status).toBe(400);
      expect(res.body).toEqual(refusal(type));
      expect(await footprint(live, client)).toEqual(before);
      expect(before.money).toEqual({ balance: 100, ledgerSum: 100, entries: 1 });
    },
  );

  it.each([
    { dataSource: "web", subject: "person" },
    { dataSource: "profile", subject: "person" },
    { dataSource: "web", subject: "company" },
  ])("refuses an AI column ($dataSource, $subject rows) and writes nothing, preview or not", async ({ dataSource, subject }) => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await populatedList(live, client);
    const before = await footprint(live, client);

    for (const isPreview of [false, true]) {
      const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, dataSource, subject, isPreview });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(refusal("ai"));
    }
    expect(await footprint(live, client)).toEqual(before);
  });

  it("still creates a static column, which no provider fills", async () => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await populatedList(live, client);
    const before = await footprint(live, client);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Notes", isDynamic: false, schema: { type: "text" } });

    expect(res.status).toBe(201);
    expect(res.body.column).toMatchObject({ id: UUID, name: "Notes", source: "profile", enrichmentType: null, prompt: null });
    const stored = await live.db.select().from(columns).where(eq(columns.id, res.body.column.id));
    expect(stored).toHaveLength(1);
    const after = await footprint(live, client);
    expect(after).toEqual({ ...before, columns: before.columns + 1 });
  });
});

/** An AI preview column over the first rows, as if made before the server was switched to live. */
async function storedAiColumn(client: Client, listId: string, input: { isPreview: boolean }): Promise<string> {
  const [column] = await live.db
    .insert(columns)
    .values({
      listId,
      workspaceId: client.workspaceId,
      name: "Summary",
      prompt: AI_PROMPT,
      source: "web",
      subject: "person",
      schema: { type: "text" },
      isPreview: input.isPreview,
      position: 50,
    })
    .returning();
  return column!.id;
}

describe("PROVIDERS=live with no provider configured: existing columns", () => {
  it("refuses to promote a preview AI column: it stays a preview, no cell is queued, nothing is charged", async () => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const rowIds = await addPeople(live.db, client.workspaceId, listId, ["A One", "B Two", "C Three", "D Four"]);
    const columnId = await storedAiColumn(client, listId, { isPreview: true });
    await live.db.insert(personCells).values(rowIds.slice(0, 3).map((rowId) => ({ listId, columnId, rowId, value: "done", status: "completed" as const })));
    const before = await footprint(live, client);

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false, name: "Offering" });

    expect(res.status).toBe(400);
    expect(res.body).toEqual(refusal("ai"));
    const [stored] = await live.db.select().from(columns).where(eq(columns.id, columnId));
    expect(stored).toMatchObject({ isPreview: true, name: "Summary", triggerRunIds: [] });
    expect(await cellsByPosition(live.db, columnId)).toEqual(
      rowIds.slice(0, 3).map((rowId) => ({ rowId, status: "completed", value: "done", reasoning: null, error: null, runToken: null })),
    );
    expect(await footprint(live, client)).toEqual(before);
  });

  it("still renames a preview column without promoting it (no provider is asked)", async () => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const columnId = await storedAiColumn(client, listId, { isPreview: true });

    const res = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { name: "Renamed" });

    expect(res.status).toBe(200);
    expect(res.body.column).toMatchObject({ id: columnId, name: "Renamed", isPreview: true });
  });

  it("refuses to generate an AI column's cells: no cell is touched, nothing is charged", async () => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const rowIds = await addPeople(live.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);
    const columnId = await storedAiColumn(client, listId, { isPreview: false });
    const before = await footprint(live, client);

    const res = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds });

    expect(res.status).toBe(400);
    expect(res.body).toEqual(refusal("ai"));
    expect(await cellsByPosition(live.db, columnId)).toEqual([]);
    expect(await footprint(live, client)).toEqual(before);
  });
});

/** The provider kind behind each offered catalog entry, and a valid input for it. */
const RUNS: Array<{ enrichmentId: string; kind: "ai" | EnrichmentType; subject: "person" | "company"; input: Json }> = [
  { enrichmentId: "work_email", kind: "work_email", subject: "person", input: {} },
  { enrichmentId: "mobile_phone", kind: "mobile_phone", subject: "person", input: {} },
  { enrichmentId: "website_overview", kind: "website_overview", subject: "company", input: {} },
  { enrichmentId: "hiring_status", kind: "hiring_status", subject: "company", input: {} },
  { enrichmentId: "site_crawl", kind: "site_crawl", subject: "company", input: { maxPages: 3 } },
  { enrichmentId: "company_news", kind: "news_articles", subject: "company", input: { timePeriod: "1y" } },
  { enrichmentId: "linkedin_posts", kind: "linkedin_posts", subject: "person", input: {} },
  { enrichmentId: "custom_ai", kind: "ai", subject: "person", input: { prompt: "Is this person technical?" } },
];

describe("PROVIDERS=live with no provider configured: enrichment runs", () => {
  it.each(RUNS)("refuses a $enrichmentId run ($kind), persisted and preview, and writes no run", async ({ enrichmentId, kind, subject, input }) => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    if (subject === "person") await addPeople(live.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);
    else await addCompanies(live.db, client.workspaceId, listId, ["Acme", "Globex"]);
    const before = await footprint(live, client);

    for (const mode of ["persisted", "preview"]) {
      const res = await client.post("/api/enrichment", { enrichmentId, mode, scope: { type: "list", listId }, input, idempotencyKey: `key-${mode}` });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(refusal(kind));
    }
    expect(await footprint(live, client)).toEqual(before);
    expect(before).toMatchObject({ runs: 0, items: 0 });
    expect(await live.db.select({ n: count() }).from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, client.workspaceId))).toEqual([{ n: 0 }]);
    expect(await live.db.select({ n: count() }).from(enrichmentRunItems).where(eq(enrichmentRunItems.workspaceId, client.workspaceId))).toEqual([{ n: 0 }]);
  });

  it("still answers an unknown enrichment with 404 and a bad input with 400 VALIDATION_ERROR, before asking about providers", async () => {
    const client = await live.seedWorkspace({ credits: 100 });
    const listId = await newList(client);

    const unknown = await client.post("/api/enrichment", { enrichmentId: "no_such_thing", scope: { type: "list", listId } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: "Enrichment not found", code: "NOT_FOUND", requestId: REQUEST_ID });

    const invalid = await client.post("/api/enrichment", { enrichmentId: "custom_ai", scope: { type: "list", listId }, input: {} });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: "VALIDATION_ERROR", requestId: REQUEST_ID });
  });
});

describe("PROVIDERS=live with an AI provider configured", () => {
  it("accepts an AI column and fills it from the AI provider, charging as usual", async () => {
    const client = await liveWithAi.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const rowIds = await addPeople(liveWithAi.db, client.workspaceId, listId, ["Ada Lovelace", "Alan Turing"]);

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: AI_PROMPT, schema: { type: "text" } });

    expect(res.status).toBe(201);
    expect(res.body.column).toMatchObject({ id: UUID, name: "Summary", prompt: AI_PROMPT, source: "web", enrichmentType: null });
    await liveWithAi.settle();
    const cells = await cellsByPosition(liveWithAi.db, res.body.column.id);
    expect(cells).toEqual(rowIds.map((rowId) => ({ rowId, status: "completed", value: "example", reasoning: expect.any(String), error: null, runToken: UUID })));
    expect(openai.calls).toHaveLength(2);
    expect(await client.ledgerConsistency()).toEqual({ balance: 98, ledgerSum: 98, entries: 2 });
  });

  it("accepts a company kind the AI web search answers, and still refuses the contact kinds", async () => {
    const client = await liveWithAi.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    await addPeople(liveWithAi.db, client.workspaceId, listId, ["Ada Lovelace"]);

    const news = await client.post(`/api/lists/${listId}/columns`, { name: "News", isDynamic: true, enrichmentType: "news_articles", subject: "person" });
    expect(news.status).toBe(201);
    expect(news.body.column).toMatchObject({ enrichmentType: "news_articles", subject: "person" });

    const email = await client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: true, enrichmentType: "work_email" });
    expect(email.status).toBe(400);
    expect(email.body).toEqual(refusal("work_email"));
    await liveWithAi.settle();
  });
});
