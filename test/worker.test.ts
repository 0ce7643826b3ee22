import { asc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { columns, lists } from "../src/db/schema";
import { BUILT_IN_PERSON_COLUMNS } from "../src/domain/built-in-columns";
import { Client, ISO_DATE, REQUEST_ID, UUID, useHarness, type RequestTarget } from "./helpers/harness";
import { startTestWorker, workerAsApp, type TestWorker } from "./helpers/worker";

// src/worker.ts bundled by wrangler and run by workerd, talking to the test database through the
// local Hyperdrive binding; the harness's own pool only seeds and checks the database.
const h = useHarness({ max: 2 });

let worker: TestWorker | undefined;
let app: RequestTarget;

beforeAll(async () => {
  worker = await startTestWorker(inject("databaseUrl"));
  app = await workerAsApp(worker);
}, 60_000);

afterAll(async () => {
  await worker?.dispose();
});

/** A fresh account made with createAccount on the test database, whose requests go to the Worker. */
async function seedWorkerClient(credits: number) {
  const seeded = await h.seedWorkspace({ credits, email: `Grace.${crypto.randomUUID()}@example.test` });
  return new Client(app, h.db, seeded.account);
}

describe("the Worker in workerd", () => {
  it("answers 401 in the error envelope without a key", async () => {
    const res = await app.request("/api/account");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    const body = (await res.json()) as { requestId: string };
    expect(body).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
    expect(res.headers.get("x-request-id")).toBe(body.requestId);
  });

  it("GET /api/account reads the caller's account through Hyperdrive", async () => {
    const client = await seedWorkerClient(250);
    const res = await client.get("/api/account");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      account: { id: client.account.accountId, email: expect.stringMatching(/^Grace\./), fullName: expect.stringMatching(/^Test User\d+$/) },
      profile: { firstName: "Test", lastName: expect.stringMatching(/^User\d+$/) },
      workspace: { id: client.workspaceId, name: expect.stringMatching(/^Test User\d+'s workspace$/), plan: "free" },
      credits: { balance: 250 },
    });
  });

  it("POST /api/credits/preview prices an action from the balance it reads", async () => {
    const client = await seedWorkerClient(20);
    const res = await client.post("/api/credits/preview", { action: "EMAIL_LOOKUP", count: 4 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ action: "EMAIL_LOOKUP", count: 4, costPerUnit: 2, totalCredits: 8, sufficient: true, balance: 20 });
    expect(await client.ledgerConsistency()).toEqual({ balance: 20, ledgerSum: 20, entries: 1 });
  });

  it("POST /api/lists writes a list and its built-in columns in one transaction through Hyperdrive", async () => {
    const client = await seedWorkerClient(10);
    const res = await client.post("/api/lists", { name: "  Worker list  ", description: "made in workerd" });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      list: {
        id: UUID,
        name: "Worker list",
        description: "made in workerd",
        leadType: "person",
        enrichmentStatus: "idle",
        rowCount: 0,
        companyCount: 0,
        leadCount: 0,
        createdAt: ISO_DATE,
        updatedAt: ISO_DATE,
      },
    });

    const stored = await h.db.select().from(lists).where(eq(lists.workspaceId, client.workspaceId));
    expect(stored).toEqual([
      expect.objectContaining({ id: res.body.list.id, workspaceId: client.workspaceId, name: "Worker list", description: "made in workerd", leadType: "person" }),
    ]);
    const builtIns = await h.db
      .select({ builtInKey: columns.builtInKey, position: columns.position, category: columns.category })
      .from(columns)
      .where(eq(columns.listId, res.body.list.id))
      .orderBy(asc(columns.position));
    expect(builtIns).toEqual(BUILT_IN_PERSON_COLUMNS.map((c, position) => ({ builtInKey: c.key, position, category: "built-in" })));
  });

  it("serves concurrent requests (a database client shared across requests would fail in workerd)", async () => {
    const client = await seedWorkerClient(5);
    const responses = await Promise.all(Array.from({ length: 12 }, () => client.get("/api/account")));
    expect(responses.map((r) => [r.status, r.body.credits])).toEqual(Array.from({ length: 12 }, () => [200, { balance: 5 }]));
    const requestIds = new Set(responses.map((r) => r.headers.get("x-request-id")));
    expect(requestIds.size).toBe(12);
  });

  it("defaults to live providers: an AI column with no AI key configured is refused, nothing written or charged", async () => {
    const client = await seedWorkerClient(50);
    const list = await client.post("/api/lists", { name: "Live by default" });
    expect(list.status).toBe(201);
    const listId: string = list.body.list.id;
    const columnsBefore = await h.db.select({ id: columns.id }).from(columns).where(eq(columns.listId, listId));

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: "What does {{name}} work on?" });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "No provider is configured for ai: set OPENAI_API_KEY (or PROVIDERS=sandbox for offline sandbox answers)",
      code: "PROVIDER_NOT_CONFIGURED",
      requestId: REQUEST_ID,
      kind: "ai",
      settings: ["OPENAI_API_KEY"],
    });
    expect(await h.db.select({ id: columns.id }).from(columns).where(eq(columns.listId, listId))).toEqual(columnsBefore);
    expect(await client.ledgerConsistency()).toEqual({ balance: 50, ledgerSum: 50, entries: 1 });
  });

  it("describes itself: /openapi.json, /docs with its script from the Worker's static assets, and the MCP server", async () => {
    const document = await app.request("/openapi.json");
    expect(document.status).toBe(200);
    expect(((await document.json()) as { openapi: string }).openapi).toBe("3.1.0");
    const docs = await app.request("/docs");
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<script src="/assets/vendor/scalar-api-reference.js"></script>');
    const script = await app.request("/assets/vendor/scalar-api-reference.js");
    expect({ status: script.status, type: script.headers.get("content-type") }).toEqual({ status: 200, type: expect.stringMatching(/javascript/) });
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);

    const client = await seedWorkerClient(7);
    const call = await app.request("/mcp", {
      method: "POST",
      headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "getAccount", arguments: {} } }),
    });
    expect(call.status).toBe(200);
    const answer = (await call.json()) as { result: { structuredContent: { credits: unknown }; isError?: boolean } };
    expect(answer.result.isError).toBeUndefined();
    expect(answer.result.structuredContent.credits).toEqual({ balance: 7 });
  });

  it("streams a list's events from workerd, without LISTEN: a manual write arrives as a cell event", async () => {
    const client = await seedWorkerClient(5);
    const listId: string = (await client.post("/api/lists", { name: "Streamed" })).body.list.id;
    const rowId: string = (await client.post(`/api/lists/${listId}/rows`, { firstName: "Ada", lastName: "Lovelace" })).body.row.id;
    const columnId: string = (await client.post(`/api/lists/${listId}/columns`, { name: "Notes", isDynamic: false })).body.column.id;
    // Read with the test process's own fetch, straight from the Worker's URL.
    const aborter = new AbortController();
    const stream = await fetch(new URL(`/api/lists/${listId}/events`, await worker!.url), { headers: { authorization: `Bearer ${client.apiKey}` }, signal: aborter.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value: "met at the conference" })).status).toBe(200);
    let text = "";
    const deadline = Date.now() + 10_000;
    // Until the whole event is in: it may arrive split over several chunks.
    const cellEvent = /event: cell\ndata: (.*)\nid: (\d+-\d+)\n/;
    while (!cellEvent.test(text) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    aborter.abort();
    // The Worker ends the stream's request (and closes its database client) once the feed's read in
    // flight is done; the test waits for that rather than tearing workerd down under it.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const data = cellEvent.exec(text);
    expect(data).not.toBeNull();
    expect(JSON.parse(data![1]!)).toEqual({
      subject: "person",
      columnId,
      rowId,
      status: "completed",
      value: "met at the conference",
      error: null,
      updatedAt: ISO_DATE,
    });
  });
});
