import { z } from "@hono/zod-openapi";
import { Client as McpClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { eq } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { columns, creditLedger, enrichmentRuns, lists, personCells, personRows } from "../src/db/schema";
import { buildTools, type ApiDocument } from "../src/mcp/tools";
import { OPERATIONS, openApiDocument } from "../src/routes";
import { defineOperation } from "../src/routes/operation";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client, type Json } from "./helpers/harness";
import { serveOverHttp, type Served } from "./helpers/serve";

// The MCP server at /mcp driven by the SDK's own client over real HTTP, against the real app.
const h = useHarness();

let served: Served;

beforeAll(async () => {
  served = await serveOverHttp(h.app.fetch);
});

afterAll(async () => {
  await h.settle();
  await served.close();
});

const open: McpClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => client.close()));
});

/** An MCP client connected to /mcp with the given headers (the API key as a Bearer header). */
async function connect(headers: Record<string, string>): Promise<McpClient> {
  const client = new McpClient({ name: "mcp-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${served.url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  open.push(client);
  return client;
}

const connectAs = (workspace: Client, requestId?: string) =>
  connect({ authorization: `Bearer ${workspace.apiKey}`, ...(requestId ? { "x-request-id": requestId } : {}) });

async function call(client: McpClient, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** The result a tool gives for an API answer `body`. */
const success = (body: Json) => ({ content: [{ type: "text", text: JSON.stringify(body) }], structuredContent: body });
const failure = (envelope: Json) => ({ content: [{ type: "text", text: JSON.stringify(envelope) }], structuredContent: envelope, isError: true });

/** The text of a result, parsed: always the same value as its structured content. */
function bodyOf(result: CallToolResult): Json {
  const text = (result.content[0] as { type: "text"; text: string }).text;
  expect(JSON.parse(text)).toEqual(result.structuredContent);
  return result.structuredContent;
}

async function rawMcp(method: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(`${served.url}/mcp`, {
    method,
    headers: { accept: "application/json, text/event-stream", "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "1" } },
};

function collectRefs(node: unknown, refs: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((entry) => collectRefs(entry, refs));
  else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") refs.push(value);
      else collectRefs(value, refs);
    }
  }
  return refs;
}

// Every operation but the streams: a stream never ends, so it cannot be a tool's answer.
const TOOL_OPERATIONS = OPERATIONS.filter((operation) => !operation.spec.stream);

describe("tools/list", () => {
  it("lists one tool per operation, named by its operationId, each with the operation's parameters and body properties", async () => {
    const workspace = await h.seedWorkspace();
    const client = await connectAs(workspace);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(TOOL_OPERATIONS.map((operation) => operation.spec.operationId));
    expect(OPERATIONS.filter((operation) => operation.spec.stream).map((operation) => operation.spec.operationId)).toEqual(["streamListEvents"]);

    const document = openApiDocument() as unknown as { paths: Record<string, Record<string, Json>>; components: { schemas: Record<string, Json> } };
    for (const operation of TOOL_OPERATIONS) {
      const { spec } = operation;
      const tool = tools.find((entry) => entry.name === spec.operationId)!;
      const item = document.paths[spec.path]![spec.method];
      const parameters: Json[] = item.parameters ?? [];
      let body: Json = item.requestBody?.content["application/json"].schema;
      if (body?.$ref) body = document.components.schemas[body.$ref.split("/").at(-1)];
      const expected = [...parameters.map((parameter) => parameter.name), ...Object.keys(body?.properties ?? {})];
      const expectedRequired = [
        ...parameters.filter((parameter) => parameter.required).map((parameter) => parameter.name),
        ...(body?.required ?? []),
      ];

      expect(tool.inputSchema.type, spec.operationId).toBe("object");
      expect(Object.keys(tool.inputSchema.properties ?? {}), spec.operationId).toEqual(expected);
      expect(tool.inputSchema.required ?? [], spec.operationId).toEqual(expectedRequired);
      for (const parameter of parameters) {
        expect(tool.inputSchema.properties![parameter.name], `${spec.operationId} ${parameter.name}`).toMatchObject(parameter.schema);
      }
      // Self-contained: nothing refers into the OpenAPI document.
      for (const ref of collectRefs(tool.inputSchema)) expect(ref, spec.operationId).toMatch(/^#\/\$defs\//);

      expect(tool.title).toBe(spec.summary);
      expect(tool.description!.startsWith(spec.summary), spec.operationId).toBe(true);
      if (spec.description) expect(tool.description, spec.operationId).toContain(spec.description);
      expect(tool.annotations, spec.operationId).toEqual(
        spec.method === "get"
          ? { readOnlyHint: true }
          : { readOnlyHint: false, destructiveHint: spec.method === "delete", idempotentHint: spec.method === "put" || spec.method === "delete" },
      );
      if (spec.errors?.includes(402)) expect(tool.description, spec.operationId).toMatch(/INSUFFICIENT_CREDITS \(HTTP 402\) carrying `required` and `balance`/);
      if (spec.background) expect(tool.description, spec.operationId).toContain("every 2–5 seconds");
    }
  });

  it("gives a tool exactly the document's schemas, with $refs resolved in place", async () => {
    const client = await connectAs(await h.seedWorkspace());
    const { tools } = await client.listTools();
    const byName = new Map<string, Tool>(tools.map((tool) => [tool.name, tool]));
    const document = openApiDocument() as unknown as { components: { schemas: Record<string, Json> } };

    expect(byName.get("getAccount")).toEqual({
      name: "getAccount",
      title: "The caller's account, profile, workspace and credit balance",
      description: "The caller's account, profile, workspace and credit balance",
      inputSchema: { type: "object", properties: {} },
      annotations: { readOnlyHint: true },
    });
    expect(byName.get("previewCredits")!.inputSchema).toEqual({
      type: "object",
      properties: {
        action: { type: "string", minLength: 1, maxLength: 100, description: "An action of GET /api/credits/config." },
        count: { type: "integer", minimum: 1, maximum: 2147483647, description: "How many units (rows, leads)." },
      },
      required: ["action", "count"],
    });
    // The body's rows are PersonRowInput in the document: the tool carries that schema itself.
    const addRows = byName.get("addRows")!.inputSchema as Json;
    expect(addRows.required).toEqual(["id", "rows"]);
    expect(addRows.properties.rows.items).toEqual(document.components.schemas.PersonRowInput);
    // A body that is a $ref as a whole gives its properties.
    expect(Object.keys((byName.get("addRow")!.inputSchema as Json).properties)).toEqual(["id", ...Object.keys(document.components.schemas.PersonRowInput.properties)]);

    const run = byName.get("createEnrichmentRun")!;
    expect(run.description).toContain("Poll getEnrichmentRun with its `enrichmentRunId` every 2–5 seconds");
    expect(run.description).toContain("pass an `idempotencyKey` whenever the call may be retried");
    expect(run.description).toContain("IDEMPOTENCY_KEY_REUSED (HTTP 409)");
    expect(run.description).toContain("Check prices with getCreditCosts and a cost with previewCredits first");
    expect(byName.get("createColumn")!.description).toContain("until none of the cells is `pending` or `processing`");
  });

  it("gives the shared guidance as the server's instructions", async () => {
    const client = await connectAs(await h.seedWorkspace());
    expect(client.getServerVersion()).toEqual({ name: "lead-enrichment-api", title: "Lead enrichment API", version: openApiDocument().info.version });
    expect(client.getServerCapabilities()).toEqual({ tools: {} });
    const instructions = client.getInstructions()!;
    expect(instructions).toContain("Each tool is one API operation, named by its operationId");
    expect(instructions).toContain("error envelope `{ error, code, requestId, ... }`");
    expect(instructions).toContain("Poll every 2–5 seconds");
    expect(instructions).toContain("an enrichment run with getEnrichmentRun until its `status` is `completed`, `failed` or `cancelled`");
    expect(instructions).toContain("INSUFFICIENT_CREDITS (HTTP 402) carrying `required` and `balance`; nothing is written or charged");
    expect(instructions).toContain("Retries: for createEnrichmentRun, pass an `idempotencyKey`");
  });

  it("answers a plain JSON-RPC tools/list without a session (stateless)", async () => {
    const workspace = await h.seedWorkspace();
    const res = await rawMcp("POST", { authorization: `Bearer ${workspace.apiKey}` }, { jsonrpc: "2.0", id: 7, method: "tools/list" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("mcp-session-id")).toBeNull();
    const body = (await res.json()) as Json;
    expect(body.jsonrpc).toBe("2.0");
    expect(body.id).toBe(7);
    expect(body.result.tools.map((tool: Tool) => tool.name)).toEqual(TOOL_OPERATIONS.map((operation) => operation.spec.operationId));
  });
});

describe("tools/call", () => {
  it("getAccount answers what GET /api/account answers", async () => {
    const workspace = await h.seedWorkspace({ credits: 250 });
    const client = await connectAs(workspace);
    const http = await workspace.get("/api/account");
    expect(http.status).toBe(200);
    expect(await call(client, "getAccount")).toEqual(success(http.body));
  });

  it("creates a list, adds rows, a manual column and a cell, and reads them back, as the API writes them", async () => {
    const workspace = await h.seedWorkspace({ credits: 100 });
    const client = await connectAs(workspace, "mcp-flow-1");

    const created = bodyOf(await call(client, "createList", { name: "Founders", description: "Seed-stage founders" }));
    expect(created).toEqual({
      list: {
        id: UUID,
        name: "Founders",
        description: "Seed-stage founders",
        leadType: "person",
        enrichmentStatus: "idle",
        rowCount: 0,
        companyCount: 0,
        leadCount: 0,
        createdAt: ISO_DATE,
        updatedAt: ISO_DATE,
      },
    });
    const listId = created.list.id;

    const listed = bodyOf(await call(client, "listLists"));
    expect(listed).toEqual((await workspace.get("/api/lists")).body);
    expect(listed.lists.map((list: Json) => list.id)).toEqual([listId]);

    const added = bodyOf(
      await call(client, "addRows", {
        id: listId,
        rows: [
          { firstName: "Ada", lastName: "Lovelace", company: "Analytical Engines", linkedinUrl: "https://www.linkedin.com/in/ada" },
          { firstName: "Grace", lastName: "Hopper", company: "Navy", role: "Rear Admiral" },
        ],
      }),
    );
    expect(added).toEqual({ inserted: 2, merged: 0, rowIds: [UUID, UUID] });

    const column = bodyOf(await call(client, "createColumn", { id: listId, name: "Notes", isDynamic: false }));
    expect(column).toEqual({
      column: {
        id: UUID,
        listId,
        name: "Notes",
        prompt: null,
        responseType: "auto",
        source: "profile",
        subject: "person",
        isFilter: false,
        position: 11,
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
        // A manual column: no cells yet, nothing charged.
        progress: { total: 0, pending: 0, processing: 0, completed: 0, empty: 0, failed: 0 },
        credits: { charged: 0, refunded: 0, held: 0 },
      },
    });
    const columnId = column.column.id;

    const [adaRow] = added.rowIds;
    const written = bodyOf(await call(client, "writeCell", { id: listId, rowId: adaRow, columnId, value: "Met at the meetup" }));
    expect(written).toEqual({
      cell: {
        id: UUID,
        list_id: listId,
        column_id: columnId,
        row_id: adaRow,
        value: "Met at the meetup",
        status: "completed",
        reasoning: null,
        error: null,
        created_at: ISO_DATE,
        updated_at: ISO_DATE,
      },
    });

    const rows = bodyOf(await call(client, "listRows", { id: listId, limit: 10 }));
    expect(rows).toEqual((await workspace.get(`/api/lists/${listId}/rows?limit=10`)).body);
    expect(rows.rows.map((row: Json) => [row.id, row.fullName])).toEqual([
      [added.rowIds[0], "Ada Lovelace"],
      [added.rowIds[1], "Grace Hopper"],
    ]);
    expect(rows.rows.map((row: Json) => row.cells.filter((cell: Json) => cell.columnId === columnId))).toEqual([
      [
        {
          id: written.cell.id,
          listId,
          columnId,
          rowId: adaRow,
          value: "Met at the meetup",
          status: "completed",
          reasoning: null,
          error: null,
          createdAt: written.cell.created_at,
          updatedAt: written.cell.updated_at,
        },
      ],
      [],
    ]);

    // What the tools wrote is in the database, in this workspace.
    const [list] = await h.db.select().from(lists).where(eq(lists.id, listId));
    expect(list).toMatchObject({ workspaceId: workspace.workspaceId, name: "Founders", description: "Seed-stage founders" });
    const people = await h.db.select().from(personRows).where(eq(personRows.listId, listId)).orderBy(personRows.position);
    expect(people.map((row) => [row.id, row.firstName, row.lastName, row.workspaceId])).toEqual([
      [added.rowIds[0], "Ada", "Lovelace", workspace.workspaceId],
      [added.rowIds[1], "Grace", "Hopper", workspace.workspaceId],
    ]);
    const [manual] = await h.db.select().from(columns).where(eq(columns.id, columnId));
    expect(manual).toMatchObject({ listId, workspaceId: workspace.workspaceId, name: "Notes", isDynamic: false, category: "custom" });
    const cells = await h.db.select().from(personCells).where(eq(personCells.columnId, columnId));
    expect(cells.map((cell) => [cell.rowId, cell.value, cell.status])).toEqual([[adaRow, "Met at the meetup", "completed"]]);
    // A manual column is free.
    expect(await workspace.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 1 });
  });

  it("previews an enrichment run: the lead count and the cost, nothing written or charged", async () => {
    const workspace = await h.seedWorkspace({ credits: 50 });
    const client = await connectAs(workspace);
    const listId = bodyOf(await call(client, "createList", { name: "Leads" })).list.id;
    await call(client, "addRows", { id: listId, rows: [{ firstName: "Ada", lastName: "Lovelace" }, { firstName: "Alan", lastName: "Turing" }] });

    const result = await call(client, "createEnrichmentRun", { enrichmentId: "work_email", mode: "preview", scope: { type: "list", listId } });
    expect(result).toEqual(success({ mode: "preview", leadCount: 2, cost: { creditAction: "EMAIL_LOOKUP", required: 4, balance: 50, sufficient: true } }));
    expect(await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, workspace.workspaceId))).toEqual([]);
    expect(await workspace.ledgerConsistency()).toEqual({ balance: 50, ledgerSum: 50, entries: 1 });
  });

  it("puts query arguments in the query string", async () => {
    const workspace = await h.seedWorkspace({ credits: 30 });
    const client = await connectAs(workspace);
    const result = await call(client, "listLedgerEntries", { limit: 1 });
    expect(result).toEqual(success((await workspace.get("/api/credits/ledger?limit=1")).body));
    expect(bodyOf(result).entries).toHaveLength(1);
  });
});

describe("tool errors", () => {
  it("an invalid argument is a tool error carrying the VALIDATION_ERROR envelope, and nothing is written", async () => {
    const workspace = await h.seedWorkspace();
    const client = await connectAs(workspace, "mcp-invalid-1");
    const result = await call(client, "createList", { name: 42 });
    expect(result).toEqual(
      failure({
        error: "name: Invalid input: expected string, received number",
        code: "VALIDATION_ERROR",
        requestId: "mcp-invalid-1",
        issues: [{ path: "name", message: "Invalid input: expected string, received number" }],
      }),
    );
    // The same answer as the route's, but for the request id.
    const http = await workspace.post("/api/lists", { name: 42 });
    expect(result.structuredContent).toEqual({ ...http.body, requestId: "mcp-invalid-1" });
    expect(await h.db.select().from(lists).where(eq(lists.workspaceId, workspace.workspaceId))).toEqual([]);
  });

  it("a missing path argument is a VALIDATION_ERROR naming it", async () => {
    const client = await connectAs(await h.seedWorkspace(), "mcp-missing-1");
    expect(await call(client, "getList", {})).toEqual(
      failure({ error: "id: Required", code: "VALIDATION_ERROR", requestId: "mcp-missing-1", issues: [{ path: "id", message: "Required" }] }),
    );
  });

  it("a resource of another workspace is NOT_FOUND", async () => {
    const owner = await h.seedWorkspace();
    const listId = (await owner.post("/api/lists", { name: "Mine" })).body.list.id;
    const stranger = await h.seedWorkspace();
    const client = await connectAs(stranger, "mcp-foreign-1");
    expect(await call(client, "getList", { id: listId })).toEqual(failure({ error: "List not found", code: "NOT_FOUND", requestId: "mcp-foreign-1" }));
    expect(await call(client, "addRows", { id: listId, rows: [{ firstName: "Eve" }] })).toEqual(
      failure({ error: "List not found", code: "NOT_FOUND", requestId: "mcp-foreign-1" }),
    );
    expect(await h.db.select().from(personRows).where(eq(personRows.listId, listId))).toEqual([]);
  });

  it("a call the balance does not cover is a tool error with INSUFFICIENT_CREDITS, required and balance; nothing written or charged", async () => {
    const workspace = await h.seedWorkspace({ credits: 3 });
    const client = await connectAs(workspace, "mcp-credits-1");
    const listId = bodyOf(await call(client, "createList", { name: "Leads" })).list.id;
    await call(client, "addRows", { id: listId, rows: [{ firstName: "Ada", lastName: "Lovelace" }, { firstName: "Alan", lastName: "Turing" }] });

    const result = await call(client, "createEnrichmentRun", { enrichmentId: "work_email", scope: { type: "list", listId }, idempotencyKey: "mcp-402" });
    expect(result).toEqual(
      failure({ error: "Insufficient credits: 4 required, 3 available", code: "INSUFFICIENT_CREDITS", requestId: "mcp-credits-1", required: 4, balance: 3 }),
    );
    expect(await h.db.select().from(enrichmentRuns).where(eq(enrichmentRuns.workspaceId, workspace.workspaceId))).toEqual([]);
    expect((await h.db.select().from(creditLedger).where(eq(creditLedger.workspaceId, workspace.workspaceId))).map((entry) => entry.kind)).toEqual(["grant"]);
    expect(await workspace.ledgerConsistency()).toEqual({ balance: 3, ledgerSum: 3, entries: 1 });
  });

  it("an unknown tool is a protocol error, not a tool result", async () => {
    const client = await connectAs(await h.seedWorkspace());
    await expect(call(client, "dropDatabase")).rejects.toMatchObject({ code: -32602, message: expect.stringContaining("Unknown tool: dropDatabase") });
  });
});

describe("the /mcp endpoint", () => {
  it.each([
    ["no key", {}],
    ["a wrong key", { authorization: "Bearer pk_live_notakeynotakeynotakeynotakeynotakey" }],
  ])("refuses %s with 401, the envelope and WWW-Authenticate: Bearer, and the client cannot connect", async (_, headers: Record<string, string>) => {
    const res = await rawMcp("POST", headers, INITIALIZE);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    const body = (await res.json()) as Json;
    expect(body).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
    expect(res.headers.get("x-request-id")).toBe(body.requestId);

    const error = await connect(headers).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(401);
  });

  it("answers GET with 405: a stateless server has no stream to open", async () => {
    const workspace = await h.seedWorkspace();
    const res = await fetch(`${served.url}/mcp`, { headers: { authorization: `Bearer ${workspace.apiKey}`, accept: "text/event-stream" } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await res.json()).toEqual({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed." }, id: null });
  });

  it("initializes without a session id", async () => {
    const workspace = await h.seedWorkspace();
    const res = await rawMcp("POST", { authorization: `Bearer ${workspace.apiKey}`, "x-request-id": "mcp-init-1" }, INITIALIZE);
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeNull();
    expect(res.headers.get("x-request-id")).toBe("mcp-init-1");
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      jsonrpc: "2.0",
      id: 1,
      result: { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "lead-enrichment-api" }, instructions: expect.any(String) },
    });
  });
});

describe("building the tools", () => {
  const thing = z.object({ id: z.string() });
  const operation = (body: z.ZodType) =>
    defineOperation(
      {
        method: "patch",
        path: "/api/things/{id}",
        operationId: "updateThing",
        tag: "lists",
        command: "update",
        summary: "Update a thing",
        params: thing,
        body,
        responses: { 200: { description: "The thing", schema: thing } },
      },
      (c) => c.json({ id: "x" }),
    );
  const documentWith = (body: object, components: Record<string, object> = {}): ApiDocument => ({
    paths: {
      "/api/things/{id}": {
        patch: {
          operationId: "updateThing",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          requestBody: { content: { "application/json": { schema: body } } },
        },
      },
    },
    components: { schemas: components },
  });

  it("fails loudly when a parameter and a body property share a name", () => {
    expect(() => buildTools(documentWith({ type: "object", properties: { id: { type: "string" } } }), [operation(thing)])).toThrow(
      'updateThing (PATCH /api/things/{id}): "id" is both a path parameter and a body property; its tool\'s arguments cannot hold both',
    );
  });

  it("fails loudly on a body that is not an object", () => {
    expect(() => buildTools(documentWith({ type: "array", items: { type: "string" } }), [operation(z.array(z.string()))])).toThrow(
      "updateThing (PATCH /api/things/{id}): the body is not an object schema, so it has no properties to be arguments",
    );
  });

  it("keeps a schema that refers to itself in the tool schema's own $defs", () => {
    const { tools } = buildTools(
      documentWith(
        { type: "object", properties: { tree: { $ref: "#/components/schemas/Tree" } } },
        { Tree: { type: "object", properties: { label: { type: "string" }, children: { type: "array", items: { $ref: "#/components/schemas/Tree" } } } } },
      ),
      [operation(z.object({ tree: z.unknown() }))],
    );
    const tree = { type: "object", properties: { label: { type: "string" }, children: { type: "array", items: { $ref: "#/$defs/Tree" } } } };
    expect(tools[0]!.tool.inputSchema).toEqual({
      type: "object",
      properties: { id: { type: "string" }, tree },
      required: ["id"],
      $defs: { Tree: tree },
    });
  });
});
