import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lists } from "../src/db/schema";
import { createInProcessDispatcher, type InProcessDispatcher } from "../src/dispatch/in-process";
import type { TaskRegistry } from "../src/dispatch/types";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { openApiDocument, OPERATIONS } from "../src/routes";
import { TAGS } from "../src/routes/operation";
import { createLogger } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client, type Json } from "./helpers/harness";
import { serveOverHttp, type Served } from "./helpers/serve";

// The command-line client as a caller runs it: a child process of the project's node, talking HTTP
// to the real app (real Postgres, the real tasks in-process) served on a random port. Each task
// starts a moment after its dispatch, as behind a queue, so --wait sees the work still to do.
const TASK_LATENCY_MS = 1000;
let tasks: InProcessDispatcher | undefined;
const h = useHarness({
  max: 12,
  dispatcher: (services) => {
    const registry = Object.fromEntries(
      Object.entries(createTaskRegistry(services)).map(([taskId, handler]) => [
        taskId,
        async (payload: never, ctx: never) => {
          await new Promise((resolve) => setTimeout(resolve, TASK_LATENCY_MS));
          return (handler as (p: never, c: never) => Promise<void>)(payload, ctx);
        },
      ]),
    ) as unknown as TaskRegistry;
    tasks = createInProcessDispatcher({ registry, logger: createLogger("silent"), retryDelay: { minMs: 10, maxMs: 50 } });
    return tasks;
  },
});

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
const MAIN = fileURLToPath(new URL("../src/client-cli/main.ts", import.meta.url));
const BIN = fileURLToPath(new URL("../bin/lead-api.mjs", import.meta.url));

let served: Served;

beforeAll(async () => {
  served = await serveOverHttp(h.app.fetch);
});

afterAll(async () => {
  await served.close();
  await tasks?.idle();
});

type Run = { code: number | null; stdout: string; stderr: string; json: Json };

/** Runs the CLI with only PATH, HOME and the LEAD_API_* variables given; `key: null` sends none. */
function cli(args: string[], options: { key?: string | null; url?: string; bin?: boolean } = {}): Promise<Run> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LEAD_API_URL: options.url ?? served.url };
  if (options.key) env.LEAD_API_KEY = options.key;
  const argv = options.bin ? [BIN, ...args] : [TSX, MAIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      let json: Json;
      try {
        json = stdout ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** Help text with its line wrapping undone, for comparing against the document's sentences. */
const flat = (text: string) => text.replace(/\s+/g, " ");

async function listCount(client: Client): Promise<number> {
  const [row] = await h.db.select({ n: sql<number>`count(*)::int` }).from(lists).where(eq(lists.workspaceId, client.workspaceId));
  return row!.n;
}

async function listWithPeople(client: Client, rows: Array<Record<string, string>>): Promise<{ listId: string; rowIds: string[] }> {
  const listId = (await client.post("/api/lists", { name: "People" })).body.list.id as string;
  const res = await client.post(`/api/lists/${listId}/rows/bulk`, { rows });
  expect(res.status).toBe(200);
  return { listId, rowIds: res.body.rowIds };
}

describe("help", () => {
  it("is generated from the document at every level, with no server and no key", async () => {
    const document = openApiDocument();
    const unreachable = { url: "http://127.0.0.1:1", key: null };
    const [top, resource, operation] = await Promise.all([
      cli(["--help"], unreachable),
      cli(["lists", "--help"], unreachable),
      cli(["columns", "create", "--help"], unreachable),
    ]);

    expect([top.code, top.stderr]).toEqual([0, ""]);
    for (const tag of new Set(OPERATIONS.map((o) => o.spec.tag))) expect(flat(top.stdout)).toContain(`${tag} ${TAGS[tag]}`);

    expect([resource.code, resource.stderr]).toEqual([0, ""]);
    const listOperations = OPERATIONS.filter((o) => o.spec.tag === "lists");
    expect(listOperations.length).toBeGreaterThan(0);
    for (const { spec } of listOperations) expect(flat(resource.stdout)).toMatch(new RegExp(`${spec.command}( \\[options\\])? ${escape(spec.summary)}`));

    expect([operation.code, operation.stderr]).toEqual([0, ""]);
    const text = flat(operation.stdout);
    const create = document.paths!["/api/lists/{id}/columns"]!.post!;
    expect(text).toContain(flat(create.summary!));
    expect(text).toContain(flat(create.description!));
    expect(text).toContain("POST /api/lists/{id}/columns");
    expect(text).toMatch(/--id <string> \(required\) The list's id\./);
    expect(text).toMatch(/--name <string> \(required\)/);
    expect(text).toMatch(/--is-dynamic \[boolean\] \(required\) true: filled by AI or an enrichment/);
    expect(text).toContain("--enrichment-type <string>");
    expect(text).toContain("One of: work_email, mobile_phone");
    expect(text).toMatch(/--schema <json>/);
    for (const flag of ["--body <json>", "--wait", "--timeout <seconds>", "--poll-ms <ms>", "--key <key>", "--url <url>"]) expect(text).toContain(flag);
  });
});

describe("calls", () => {
  it("account get prints what GET /api/account answers (through the bin launcher)", async () => {
    const client = await h.seedWorkspace({ credits: 120 });
    const run = await cli(["account", "get"], { key: client.apiKey, bin: true });
    expect([run.code, run.stderr]).toEqual([0, ""]);
    expect(run.json).toEqual((await client.get("/api/account")).body);
    // 2-space indented JSON, one trailing newline.
    expect(run.stdout).toBe(`${JSON.stringify(run.json, null, 2)}\n`);
  });

  it("lists create then lists list; rows bulk-create", async () => {
    const client = await h.seedWorkspace();
    const created = await cli(["lists", "create", "--name", "From the CLI"], { key: client.apiKey });
    expect([created.code, created.stderr]).toEqual([0, ""]);
    const listId = created.json.list.id;
    expect(created.json).toEqual({
      list: {
        id: UUID,
        name: "From the CLI",
        description: null,
        leadType: expect.any(String),
        enrichmentStatus: expect.anything(),
        rowCount: 0,
        companyCount: 0,
        leadCount: 0,
        createdAt: ISO_DATE,
        updatedAt: ISO_DATE,
      },
    });
    const [stored] = await h.db.select().from(lists).where(and(eq(lists.id, listId), eq(lists.workspaceId, client.workspaceId)));
    expect(stored).toMatchObject({ name: "From the CLI" });

    const listed = await cli(["lists", "list"], { key: client.apiKey });
    expect([listed.code, listed.stderr]).toEqual([0, ""]);
    expect(listed.json).toEqual({ lists: [created.json.list] });

    const rows = [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.example" },
      { firstName: "Alan", lastName: "Turing", company: "Bletchley" },
    ];
    const bulk = await cli(["rows", "bulk-create", "--id", listId, "--rows", JSON.stringify(rows)], { key: client.apiKey });
    expect([bulk.code, bulk.stderr]).toEqual([0, ""]);
    expect(bulk.json).toEqual({ inserted: 2, merged: 0, rowIds: [UUID, UUID] });
    const page = await client.get(`/api/lists/${listId}/rows`);
    expect(page.body.rows.map((r: { id: string; firstName: string }) => [r.id, r.firstName])).toEqual([
      [bulk.json.rowIds[0], "Ada"],
      [bulk.json.rowIds[1], "Alan"],
    ]);
  });

  it("columns create --wait follows an AI column to its end; columns generate --wait re-runs chosen rows", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const people = Array.from({ length: 5 }, (_, i) => ({ firstName: `P${i}`, lastName: "Doe", company: `Co ${i}`, domain: `co${i}.example` }));
    const { listId, rowIds } = await listWithPeople(client, people);
    const price = DEFAULT_CREDIT_COSTS.CUSTOM_ENRICHMENT_WEB!;

    const created = await cli(
      ["columns", "create", "--id", listId, "--name", "B2B?", "--is-dynamic", "true", "--prompt", "Is this company B2B?", "--wait", "--poll-ms", "200"],
      { key: client.apiKey },
    );
    expect(created.code).toBe(0);
    // Not a terminal: plain progress lines, the first with every cell still to do, the last with none.
    expect(created.stderr.split("\n")).toEqual(["cells: 0/5 0 completed, 0 failed, 5 to go", "cells: 5/5 5 completed, 0 failed, 0 to go", ""]);
    const columnId = created.json.column.id;
    const listed = await client.get(`/api/lists/${listId}/columns?subject=person`);
    const column = listed.body.columns.find((c: { id: string }) => c.id === columnId);
    expect(created.json).toEqual({ column, cells: { total: 5, completed: 5, failed: 0 } });
    // Every cell was done when the CLI said so, and each row was charged the price once.
    const cells = (await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`)).body.cells;
    expect(cells.map((c: { status: string }) => c.status)).toEqual(Array(5).fill("completed"));
    expect(await client.ledgerConsistency()).toEqual({ balance: 100 - 5 * price, ledgerSum: 100 - 5 * price, entries: 2 });

    const generated = await cli(["columns", "generate", "--id", listId, "--col-id", columnId, "--row-ids", `${rowIds[1]},${rowIds[3]}`, "--wait", "--poll-ms", "200"], {
      key: client.apiKey,
    });
    expect(generated.code).toBe(0);
    expect(generated.stderr.split("\n")).toEqual(["cells: 0/2 0 completed, 0 failed, 2 to go", "cells: 2/2 2 completed, 0 failed, 0 to go", ""]);
    expect(generated.json).toEqual({ success: true, taskId: expect.any(String), rowCount: 2, cells: { total: 2, completed: 2, failed: 0 } });
    expect(await client.ledgerConsistency()).toEqual({ balance: 100 - 7 * price, ledgerSum: 100 - 7 * price, entries: 3 });
  });

  it("enrichment create --wait follows a work_email run over a list to completed", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const people = Array.from({ length: 6 }, (_, i) => ({ firstName: `F${i}`, lastName: `L${i}`, company: `Company ${i}`, domain: `company${i}.example` }));
    const { listId } = await listWithPeople(client, people);

    const run = await cli(
      ["enrichment", "create", "--enrichment-id", "work_email", "--scope", JSON.stringify({ type: "list", listId }), "--wait", "--poll-ms", "200"],
      { key: client.apiKey },
    );
    expect(run.code).toBe(0);
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^enrichment run: 0\/6 (pending|running): 0 completed, 0 skipped, 0 failed$/);
    expect(lines.at(-1)).toMatch(/^enrichment run: 6\/6 completed: /);
    const runId = run.json.run.id;
    expect(run.json).toEqual((await client.get(`/api/enrichment/${runId}`)).body);
    expect(run.json.run).toMatchObject({ status: "completed", enrichment: { id: "work_email" }, scope: { type: "list", listId } });
    const counts = run.json.run.scope.counts;
    expect([counts.pending, counts.running, counts.completed + counts.skipped + counts.failed]).toEqual([0, 0, 6]);
    const charged = run.json.run.cost.actual;
    expect(await client.ledgerConsistency()).toMatchObject({ balance: 100 - charged, ledgerSum: 100 - charged });
  });
});

describe("failures", () => {
  it("an API error prints the envelope on stdout and one line on stderr, exit 1", async () => {
    const client = await h.seedWorkspace();
    const run = await cli(["lists", "get", "--id", crypto.randomUUID()], { key: client.apiKey });
    expect(run.code).toBe(1);
    expect(run.json).toEqual({ error: expect.any(String), code: "NOT_FOUND", requestId: REQUEST_ID });
    expect(run.stderr).toBe(`error: NOT_FOUND (404): ${run.json.error}\n`);
  });

  it("no key: the API's 401", async () => {
    const run = await cli(["account", "get"], { key: null });
    expect(run.code).toBe(1);
    expect(run.json).toEqual({ error: expect.any(String), code: "UNAUTHORIZED", requestId: REQUEST_ID });
    expect(run.stderr).toBe(`error: UNAUTHORIZED (401): ${run.json.error}\n`);
  });

  it("usage errors exit 2 and send nothing", async () => {
    const client = await h.seedWorkspace();
    const before = await listCount(client);
    const [unknownFlag, badInteger] = await Promise.all([
      cli(["lists", "create", "--name", "X", "--nmae", "Y"], { key: client.apiKey }),
      cli(["rows", "list", "--id", crypto.randomUUID(), "--limit", "many"], { key: client.apiKey }),
    ]);
    expect([unknownFlag.code, unknownFlag.stdout]).toEqual([2, ""]);
    expect(unknownFlag.stderr).toContain("error: unknown option '--nmae'");
    expect([badInteger.code, badInteger.stdout]).toEqual([2, ""]);
    expect(badInteger.stderr).toContain("--limit <integer>");
    expect(await listCount(client)).toBe(before);
  });

  it("a server that cannot be reached: one line on stderr, exit 1", async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const run = await cli(["account", "get"], { key: "pk_live_nothing", url: `http://127.0.0.1:${closed}` });
    expect([run.code, run.stdout]).toEqual([1, ""]);
    expect(run.stderr).toBe(`error: cannot reach http://127.0.0.1:${closed}: ECONNREFUSED\n`);
  });
});

function escape(text: string): string {
  return flat(text).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
