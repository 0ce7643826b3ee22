import { DrizzleQueryError, eq, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { describe, expect, inject, it } from "vitest";
import { rowsOf, withPreparedStatements, type Db } from "../src/db/client";
import * as schema from "../src/db/schema";
import { columns, companyCells, companyRows, leads, personCells, personRows, type ColumnSchema } from "../src/db/schema";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import type { TaskContext } from "../src/dispatch/types";
import { planColumn, TYPED_KINDS, type EnrichmentType } from "../src/domain/column-kinds";
import { captureHold, queueCells as storeQueueCells } from "../src/domain/cell-store";
import { lockWorkspace } from "../src/domain/credits";
import { TASK_FAILED, type ColumnTaskOptions } from "../src/domain/enrichment/run-column-task";
import { createList } from "../src/domain/lists";
import {
  createSandboxProviders,
  type CellProvider,
  type CompanyData,
  type PersonData,
  type ProviderColumn,
  type ProviderKind,
  type ProviderResult,
  type Providers,
  type RowData,
} from "../src/providers";
import { createLogger, type Logger, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { UUID, useHarness, type Client } from "./helpers/harness";
import { movements } from "./helpers/ledger";

const h = useHarness();
const sandbox = createSandboxProviders();
const noSignal = new AbortController().signal;

// ---- seeding: what the column routes leave behind when they dispatch a task ----

type Sheet = { client: Client; listId: string; workspaceId: string };

async function sheet(credits = 1000): Promise<Sheet> {
  const client = await h.seedWorkspace({ credits });
  const list = await createList(h.db, client.workspaceId, { name: "Enrichment" });
  return { client, listId: list.id, workspaceId: client.workspaceId };
}

type PersonSeed = { first?: string | null; last?: string | null; company?: string | null; domain?: string | null };

async function addPersons(s: Sheet, seeds: PersonSeed[]): Promise<PersonData[]> {
  const rows: PersonData[] = [];
  for (const seed of seeds) {
    const first = seed.first === undefined ? "Ada" : seed.first;
    const last = seed.last === undefined ? `Person${rows.length}` : seed.last;
    const fullName = [first, last].filter(Boolean).join(" ") || null;
    const [lead] = await h.db.insert(leads).values({ workspaceId: s.workspaceId, type: "person", fullName }).returning();
    const [row] = await h.db
      .insert(personRows)
      .values({
        listId: s.listId,
        workspaceId: s.workspaceId,
        leadId: lead!.id,
        fullName,
        firstName: first,
        lastName: last,
        role: "Engineer",
        company: seed.company === undefined ? "Analytical Engines" : seed.company,
        domain: seed.domain === undefined ? "analytical.io" : seed.domain,
      })
      .returning();
    rows.push({
      subject: "person",
      rowId: row!.id,
      fullName,
      firstName: first,
      lastName: last,
      role: "Engineer",
      company: row!.company,
      domain: row!.domain,
      linkedinUrl: null,
      location: null,
      email: null,
    });
  }
  return rows;
}

async function addCompanies(s: Sheet, seeds: Array<{ name: string; domain?: string | null }>): Promise<CompanyData[]> {
  const rows: CompanyData[] = [];
  for (const seed of seeds) {
    const [lead] = await h.db.insert(leads).values({ workspaceId: s.workspaceId, type: "company", companyName: seed.name }).returning();
    const [row] = await h.db
      .insert(companyRows)
      .values({ listId: s.listId, workspaceId: s.workspaceId, leadId: lead!.id, name: seed.name, domain: seed.domain === undefined ? `${seed.name.toLowerCase()}.com` : seed.domain, industry: "Software" })
      .returning();
    rows.push({ subject: "company", rowId: row!.id, name: row!.name, domain: row!.domain, website: null, industry: "Software", location: null, description: null });
  }
  return rows;
}

type TestColumn = ProviderColumn & { enrichmentType: EnrichmentType | null };

let position = 100;
async function addColumn(
  s: Sheet,
  input: { subject?: "person" | "company"; prompt?: string; source?: "web" | "reasoning" | "profile"; schema?: ColumnSchema; enrichmentType?: EnrichmentType },
  db: Db = h.db,
): Promise<TestColumn> {
  const [column] = await db
    .insert(columns)
    .values({
      listId: s.listId,
      workspaceId: s.workspaceId,
      name: input.enrichmentType ?? "Insight",
      prompt: input.enrichmentType ? null : (input.prompt ?? "What does this lead work on?"),
      source: input.source ?? (input.enrichmentType ? "profile" : "web"),
      subject: input.subject ?? "person",
      isDynamic: true,
      position: position++,
      schema: input.schema ?? { type: "text" },
      enrichmentType: input.enrichmentType ?? null,
    })
    .returning();
  const { id, name, prompt, source, subject, schema: columnSchema, config } = column!;
  return { id, name, prompt, source, subject, schema: columnSchema, config, enrichmentType: input.enrichmentType ?? null };
}

/**
 * Pending cells with fresh run tokens, queued by the cell store as a column route queues them (their
 * credits held for columns charged at dispatch); returns the tokens by row.
 */
async function queueCells(s: Sheet, column: TestColumn, rows: RowData[], db: Db = h.db): Promise<string[]> {
  const plan = planColumn(column);
  const hold = plan.kind !== "static" && !plan.chargedInTask ? { price: h.services.prices.costOf(plan.creditAction)!, action: plan.creditAction } : null;
  const { queued, hold: opened } = await db.transaction(async (tx) => {
    await lockWorkspace(tx, s.workspaceId);
    return storeQueueCells(tx, { ...column, listId: s.listId, workspaceId: s.workspaceId }, rows.map((row) => row.rowId), { hold, leaseMs: h.services.work.leaseMs });
  });
  if (opened) holds.set(column.id, opened.id);
  return queued.map((cell) => cell.runToken);
}

/** The open credit hold of each column the tests queued, for chargeUpFront to capture. */
const holds = new Map<string, string>();

/** The charge a column route makes after dispatching a non-contact column: its hold captured, rows × price. */
async function chargeUpFront(s: Sheet, column: TestColumn, rows: number) {
  const plan = planColumn(column);
  if (plan.kind === "static") throw new Error("static column");
  const charged = await captureHold(h.db, s.workspaceId, holds.get(column.id)!, `column-charge:${column.id}`);
  expect(charged).toBe(rows * h.services.prices.costOf(plan.creditAction)!);
}

// ---- running: the real handlers, called as the executor calls them ----

const TASK_OF: Record<ProviderKind, Parameters<typeof runTask>[0]> = {
  ai: "sheet-ai-enrich",
  work_email: "list-contact-enrich",
  mobile_phone: "list-contact-enrich",
  hiring_status: "list-hiring-enrich",
  site_crawl: "list-generic-enrich",
  website_overview: "list-generic-enrich",
  news_articles: "list-generic-enrich",
  linkedin_posts: "list-generic-enrich",
};

const kindOf = (column: TestColumn): ProviderKind => column.enrichmentType ?? "ai";

function context(overrides: Partial<TaskContext> = {}): TaskContext {
  return { runId: `run_${crypto.randomUUID().replace(/-/g, "")}`, attempt: 1, lastAttempt: false, signal: noSignal, ...overrides };
}

type RunSetup = { services?: Partial<Services>; providers?: Partial<Providers>; options?: ColumnTaskOptions };

function registryFor(setup: RunSetup = {}) {
  const services: Services = { ...h.services, ...setup.services, providers: { ...sandbox, ...setup.providers } };
  return createTaskRegistry(() => services, setup.options);
}

async function runTask(
  taskId: "sheet-ai-enrich" | "list-contact-enrich" | "list-hiring-enrich" | "list-generic-enrich",
  column: TestColumn,
  rows: RowData[],
  ctx: TaskContext = context(),
  setup: RunSetup = {},
) {
  await registryFor(setup)[taskId]({ columnId: column.id, rowIds: rows.map((r) => r.rowId) }, ctx);
  return ctx;
}

const run = (column: TestColumn, rows: RowData[], ctx?: TaskContext, setup?: RunSetup) => runTask(TASK_OF[kindOf(column)], column, rows, ctx, setup);

/** A provider that delegates to the sandbox after `before` ran, counting calls. */
function spy(kind: ProviderKind, before: (call: number, request: Parameters<CellProvider["enrich"]>[0]) => unknown = () => {}) {
  const calls: string[] = [];
  const provider: CellProvider = {
    name: "sandbox",
    async enrich(request) {
      calls.push(request.row.rowId);
      const replaced = await before(calls.length, request);
      if (replaced) return replaced as ProviderResult;
      return sandbox[kind].enrich(request);
    },
  };
  return { provider, calls };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- reading back ----

async function cellsOf(column: TestColumn, rows: RowData[]) {
  const order = new Map(rows.map((r, i) => [r.rowId, i]));
  if (column.subject === "person") {
    const cells = await h.db.select().from(personCells).where(eq(personCells.columnId, column.id));
    return cells.sort((a, b) => order.get(a.rowId)! - order.get(b.rowId)!);
  }
  const cells = await h.db.select().from(companyCells).where(eq(companyCells.columnId, column.id));
  return cells.sort((a, b) => order.get(a.companyRowId)! - order.get(b.companyRowId)!);
}

const rowIdOf = (cell: Awaited<ReturnType<typeof cellsOf>>[number]) => ("rowId" in cell ? cell.rowId : cell.companyRowId);

async function cellCount(columnId: string): Promise<number> {
  const [row] = rowsOf<{ n: string }>(
    await h.db.execute(sql`select (select count(*) from list_cells where column_id = ${columnId}) + (select count(*) from list_company_cells where column_id = ${columnId}) as n`),
  );
  return Number(row!.n);
}

async function allFit(columnId: string): Promise<boolean> {
  const [row] = rowsOf<{ fits: boolean }>(
    await h.db.execute(sql`
      select bool_and(cell_value_fits(col.schema, c.value)) as fits
      from list_columns col
      join (select column_id, value from list_cells union all select column_id, value from list_company_cells) c on c.column_id = col.id
      where col.id = ${columnId}`),
  );
  return row!.fits;
}

async function expectConsistentLedger(client: Client) {
  const { balance, ledgerSum } = await client.ledgerConsistency();
  expect(balance).toBe(ledgerSum);
  expect(balance).toBeGreaterThanOrEqual(0);
}

const byKey = <T extends { dedupeKey: string | null }>(items: T[]) => [...items].sort((a, b) => (a.dedupeKey ?? "").localeCompare(b.dedupeKey ?? ""));

async function sandboxAnswer(column: TestColumn, row: RowData) {
  return sandbox[kindOf(column)].enrich({ column, row, signal: noSignal });
}

/** The stored cell of a row the sandbox answered with a value. */
async function completedCell(s: Sheet, column: TestColumn, row: RowData, token: string, ctx: TaskContext) {
  const answer = await sandboxAnswer(column, row);
  if (answer.outcome !== "value") throw new Error(`expected a value for ${row.rowId}`);
  return {
    id: UUID,
    listId: s.listId,
    columnId: column.id,
    ...(row.subject === "person" ? { rowId: row.rowId } : { companyRowId: row.rowId }),
    value: answer.value,
    status: "completed",
    reasoning: answer.reasoning ?? null,
    error: null,
    metadata: { provider: "sandbox", ...(answer.sources ? { sources: answer.sources } : {}), runId: ctx.runId, attempt: ctx.attempt },
    runToken: token,
    ...LEASE_FIELDS,
    createdAt: expect.any(Date),
    updatedAt: expect.any(Date),
  };
}

/** What a cell keeps of its lease and money once a result landed: no owner, credits as the test says. */
const LEASE_FIELDS = { holdId: expect.toBeOneOf([null, UUID]), paid: expect.any(Number), leaseOwner: null, leaseExpiresAt: expect.any(Date), recoveries: 0, waitingOn: [], attempts: null };

function cellState(s: Sheet, column: TestColumn, row: RowData, token: string, state: Record<string, unknown>) {
  return {
    id: UUID,
    listId: s.listId,
    columnId: column.id,
    ...(row.subject === "person" ? { rowId: row.rowId } : { companyRowId: row.rowId }),
    value: null,
    reasoning: null,
    error: null,
    runToken: token,
    ...LEASE_FIELDS,
    leaseOwner: expect.toBeOneOf([null, expect.any(String)]),
    createdAt: expect.any(Date),
    updatedAt: expect.any(Date),
    ...state,
  };
}

/** A second drizzle database over the test database whose every statement passes through `onQuery`. */
function instrumentedDb(onQuery: (query: string) => void): { db: Db; close: () => Promise<void> } {
  const client = postgres(inject("databaseUrl"), { max: 4, fetch_types: false, onnotice: () => {} });
  const db = drizzle(withPreparedStatements(client), { schema, logger: { logQuery: (query) => onQuery(query) } }) as unknown as Db;
  return { db, close: () => client.end({ timeout: 5 }) };
}

/**
 * Makes the database refuse to store a cell of the column in any of `statuses` (the statement raises
 * "cannot store a <status> cell"), as a broken cell store would, until the returned function runs.
 */
async function refuseCellWrites(column: TestColumn, statuses: ReadonlyArray<"completed" | "failed">): Promise<() => Promise<void>> {
  const table = column.subject === "person" ? "list_cells" : "list_company_cells";
  const name = `refuse_cells_${column.id.replace(/-/g, "")}`;
  const refused = statuses.map((status) => `'${status}'`).join(", ");
  await h.db.execute(sql.raw(`create function ${name}() returns trigger language plpgsql as $$ begin raise exception 'cannot store a % cell', new.status; end $$`));
  await h.db.execute(
    sql.raw(`create trigger ${name} before update on ${table} for each row when (new.column_id = '${column.id}' and new.status in (${refused})) execute function ${name}()`),
  );
  return async () => {
    await h.db.execute(sql.raw(`drop trigger ${name} on ${table}`));
    await h.db.execute(sql.raw(`drop function ${name}()`));
  };
}

/** A logger that keeps what it is told. */
function recordingLogger() {
  const entries: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void entries.push({ level, message, fields });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { logger, entries };
}

/** The error a promise rejects with (the test fails if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("expected the run to fail"),
    (error: unknown) => error,
  );
}

const isFlush = (query: string) => /^\s*with input as/.test(query);
const isClaim = (query: string) => /^\s*update list_(company_)?cells c/.test(query);

// ---- the tests ----

describe("AI columns (sheet-ai-enrich)", () => {
  it("fills a person column: every cell completed with the sandbox's typed answer, its reasoning, sources and run", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, { first: "Grace", last: "Hopper", domain: null }, { first: "José", last: "Núñez", domain: "acme.es" }]);
    const column = await addColumn(s, { prompt: "Which industries does this person sell to?", schema: { type: "multiselect", options: ["SaaS", "Retail", "Health", "Energy"], maxItems: 2 } });
    const tokens = await queueCells(s, column, rows);
    await chargeUpFront(s, column, rows.length);

    const ctx = await run(column, rows);

    const cells = await cellsOf(column, rows);
    expect(cells).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, ctx))));
    expect(await allFit(column.id)).toBe(true);
    // The up-front charge stands: nothing failed, nothing is refunded.
    expect(await movements(s.client)).toEqual([
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3, referenceType: "column", referenceId: column.id, dedupeKey: `column-charge:${column.id}`, note: null },
    ]);
    await expectConsistentLedger(s.client);
  });

  it("fills a company column from the company rows, for every schema type", async () => {
    const s = await sheet();
    const rows = await addCompanies(s, [{ name: "Acme" }, { name: "Globex", domain: null }, { name: "Initech" }]);
    const schemas: ColumnSchema[] = [
      { type: "text" },
      { type: "number" },
      { type: "boolean" },
      { type: "url" },
      { type: "enum", options: ["Seed", "Series A", "Public"] },
      { type: "multiselect", options: ["B2B", "B2C"] },
      { type: "list", itemType: "url", maxItems: 3 },
      { type: "date" },
      { type: "email" },
      { type: "phone" },
    ];
    for (const columnSchema of schemas) {
      const column = await addColumn(s, { subject: "company", source: "reasoning", schema: columnSchema });
      const tokens = await queueCells(s, column, rows);
      const ctx = await run(column, rows);
      expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, ctx))));
      expect(await allFit(column.id)).toBe(true);
    }
  });

  it("runs through the in-process executor as dispatched, with the registry's handlers", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}]);
    const column = await addColumn(s, { schema: { type: "boolean" }, source: "reasoning" });
    const tokens = await queueCells(s, column, rows);

    const { runId } = await h.dispatcher.trigger("sheet-ai-enrich", { columnId: column.id, rowIds: rows.map((r) => r.rowId) });
    await h.settle();

    const ctx = context({ runId, attempt: 1 });
    expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, ctx))));
  });

  it("fails cells whose provider errs and refunds each exactly once, retrying retryable errors first", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}, {}, {}]);
    const column = await addColumn(s, { schema: { type: "text" } });
    const tokens = await queueCells(s, column, rows);
    await chargeUpFront(s, column, rows.length);
    const [flaky, broken, down] = [rows[1]!.rowId, rows[2]!.rowId, rows[3]!.rowId];
    const seen = new Map<string, number>();
    const { provider, calls } = spy("ai", (_call, request) => {
      const n = (seen.get(request.row.rowId) ?? 0) + 1;
      seen.set(request.row.rowId, n);
      const metadata = { provider: "sandbox" };
      if (request.row.rowId === flaky && n === 1) return { outcome: "error", error: "rate limited", retryable: true, metadata };
      if (request.row.rowId === broken) return { outcome: "error", error: "prompt rejected", retryable: false, metadata };
      if (request.row.rowId === down) return { outcome: "error", error: "upstream timeout", retryable: true, metadata };
      return undefined;
    });
    const setup = { providers: { ai: provider }, options: { providerTries: 3, retryDelayMs: 1 } };

    const ctx = await run(column, rows, context(), setup);

    expect(calls.filter((id) => id === rows[0]!.rowId)).toHaveLength(1);
    expect(calls.filter((id) => id === flaky)).toHaveLength(2);
    expect(calls.filter((id) => id === broken)).toHaveLength(1);
    expect(calls.filter((id) => id === down)).toHaveLength(3);
    const failedMetadata = { provider: "sandbox", runId: ctx.runId, attempt: 1 };
    expect(await cellsOf(column, rows)).toEqual([
      await completedCell(s, column, rows[0]!, tokens[0]!, ctx),
      await completedCell(s, column, rows[1]!, tokens[1]!, ctx),
      cellState(s, column, rows[2]!, tokens[2]!, { status: "failed", error: "prompt rejected", metadata: failedMetadata }),
      cellState(s, column, rows[3]!, tokens[3]!, { status: "failed", error: "upstream timeout", metadata: failedMetadata }),
    ]);
    const refund = (token: string, note: string) => ({
      kind: "refund",
      action: "CUSTOM_ENRICHMENT_WEB",
      units: 1,
      delta: 1,
      referenceType: "column",
      referenceId: column.id,
      dedupeKey: `cell-refund:${token}`,
      note,
    });
    const expected = [
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 4, delta: -4, referenceType: "column", referenceId: column.id, dedupeKey: `column-charge:${column.id}`, note: null },
      refund(tokens[2]!, "Refund: prompt rejected"),
      refund(tokens[3]!, "Refund: upstream timeout"),
    ];
    expect(await movements(s.client)).toEqual(byKey(expected));

    // The same run again (a retry) finds every cell terminal: no write, no second refund.
    const before = await cellsOf(column, rows);
    await run(column, rows, { ...ctx, attempt: 2 }, setup);
    expect(await cellsOf(column, rows)).toEqual(before);
    expect(await movements(s.client)).toEqual(byKey(expected));
    expect(await s.client.balance()).toBe(1000 - 4 + 2);
    await expectConsistentLedger(s.client);
  });

  it("stores a value that does not fit the column's type as a failure, refunded, never as the value", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}]);
    const column = await addColumn(s, { schema: { type: "number" } });
    const [token] = await queueCells(s, column, rows);
    await chargeUpFront(s, column, 1);
    const { provider } = spy("ai", () => ({ outcome: "value", value: "about forty", reasoning: "guessed", metadata: { provider: "sandbox" } }));

    const ctx = await run(column, rows, context(), { providers: { ai: provider } });

    expect(await cellsOf(column, rows)).toEqual([
      cellState(s, column, rows[0]!, token!, { status: "failed", error: "VALUE_TYPE_MISMATCH", metadata: { provider: "sandbox", runId: ctx.runId, attempt: 1 } }),
    ]);
    expect((await movements(s.client)).filter((m) => m.kind === "refund")).toEqual([
      { kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: 1, referenceType: "column", referenceId: column.id, dedupeKey: `cell-refund:${token}`, note: "Refund: VALUE_TYPE_MISMATCH" },
    ]);
    await expectConsistentLedger(s.client);
  });

  it("keeps at most `concurrency` provider calls in flight", async () => {
    const s = await sheet();
    const rows = await addPersons(s, Array.from({ length: 9 }, () => ({})));
    const column = await addColumn(s, {});
    await queueCells(s, column, rows);
    let inFlight = 0;
    let peak = 0;
    const provider: CellProvider = {
      name: "sandbox",
      async enrich(request) {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await sleep(20);
        inFlight -= 1;
        return sandbox.ai.enrich(request);
      },
    };

    await run(column, rows, context(), { providers: { ai: provider }, options: { concurrency: 3 } });

    expect(peak).toBe(3);
    expect((await cellsOf(column, rows)).map((c) => c.status)).toEqual(rows.map(() => "completed"));
  });
});

describe("contact columns (list-contact-enrich)", () => {
  it("charges each row sent to the provider once, completes no-match rows empty and refunds them", async () => {
    const s = await sheet(100);
    const rows = await addPersons(s, [{}, { domain: null }, { first: "Grace", last: "Hopper" }, { first: null, last: null }]);
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    const tokens = await queueCells(s, column, rows);

    const ctx = await run(column, rows);

    const metadata = { provider: "sandbox", runId: ctx.runId, attempt: 1 };
    expect(await cellsOf(column, rows)).toEqual([
      cellState(s, column, rows[0]!, tokens[0]!, { status: "completed", value: "ada.person0@analytical.io", metadata }),
      cellState(s, column, rows[1]!, tokens[1]!, { status: "completed", reasoning: "No company domain to look the email up at", metadata }),
      cellState(s, column, rows[2]!, tokens[2]!, { status: "completed", value: "grace.hopper@analytical.io", metadata }),
      cellState(s, column, rows[3]!, tokens[3]!, { status: "completed", reasoning: "No name to look the email up by", metadata }),
    ]);
    const move = (kind: "charge" | "refund", token: string, note: string) => ({
      kind,
      action: "EMAIL_LOOKUP",
      units: 1,
      delta: kind === "charge" ? -2 : 2,
      referenceType: "column",
      referenceId: column.id,
      dedupeKey: `cell-${kind}:${token}`,
      note,
    });
    expect(await movements(s.client)).toEqual(
      byKey([
        ...tokens.map((token) => move("charge", token, "Contact lookup")),
        move("refund", tokens[1]!, "Refund: no match"),
        move("refund", tokens[3]!, "Refund: no match"),
      ]),
    );
    expect(await s.client.balance()).toBe(100 - 2 * 2);
    await expectConsistentLedger(s.client);
  });

  it("fails a row whose lookup errs and refunds its charge", async () => {
    const s = await sheet(100);
    const rows = await addPersons(s, [{}]);
    const column = await addColumn(s, { enrichmentType: "mobile_phone", schema: { type: "phone" } });
    const [token] = await queueCells(s, column, rows);
    const { provider } = spy("mobile_phone", () => ({ outcome: "error", error: "provider quota exceeded", retryable: false, metadata: { provider: "sandbox", status: 402 } }));

    const ctx = await run(column, rows, context(), { providers: { mobile_phone: provider } });

    expect(await cellsOf(column, rows)).toEqual([
      cellState(s, column, rows[0]!, token!, { status: "failed", error: "provider quota exceeded", metadata: { provider: "sandbox", status: 402, runId: ctx.runId, attempt: 1 } }),
    ]);
    const move = (kind: "charge" | "refund", note: string) => ({
      kind,
      action: "PHONE_LOOKUP",
      units: 1,
      delta: kind === "charge" ? -8 : 8,
      referenceType: "column",
      referenceId: column.id,
      dedupeKey: `cell-${kind}:${token}`,
      note,
    });
    expect(await movements(s.client)).toEqual([move("charge", "Contact lookup"), move("refund", "Refund: provider quota exceeded")]);
    expect(await s.client.balance()).toBe(100);
    await expectConsistentLedger(s.client);
  });

  it("writes refunds of one flush with running balances, in one statement", async () => {
    const s = await sheet(100);
    const rows = await addPersons(s, [{ domain: null }, { domain: null }, { domain: null }]);
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    await queueCells(s, column, rows);

    const queries: string[] = [];
    const counted = instrumentedDb((query) => queries.push(query));
    try {
      await run(column, rows, context(), { services: { db: counted.db }, options: { concurrency: 1 } });
    } finally {
      await counted.close();
    }

    expect(queries.filter(isFlush)).toHaveLength(1);
    const ledger = (await s.client.ledger()).filter((e) => e.kind === "refund");
    expect(ledger).toHaveLength(3);
    // Each refund row's balance is the balance right after it: consecutive, ending at the final balance.
    expect(ledger.map((e) => e.balanceAfter).sort((a, b) => a - b)).toEqual([96, 98, 100]);
    expect(await s.client.balance()).toBe(100);
    await expectConsistentLedger(s.client);
  });

  it("fails the cells it cannot pay for with INSUFFICIENT_CREDITS, charging only what the balance covers", async () => {
    const s = await sheet(2 * 3 + 1);
    const rows = await addPersons(s, Array.from({ length: 6 }, () => ({})));
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    const tokens = await queueCells(s, column, rows);
    const { provider, calls } = spy("work_email");

    const ctx = await run(column, rows, context(), { providers: { work_email: provider } });

    const cells = await cellsOf(column, rows);
    const completed = cells.filter((c) => c.status === "completed");
    const failed = cells.filter((c) => c.status === "failed");
    expect(completed).toHaveLength(3);
    expect(failed).toHaveLength(3);
    expect(calls.sort()).toEqual(completed.map(rowIdOf).sort());
    for (const cell of failed) {
      expect(cell).toEqual({
        ...cellState(s, column, rows.find((r) => r.rowId === rowIdOf(cell))!, cell.runToken!, { status: "failed", error: "INSUFFICIENT_CREDITS" }),
        metadata: { runId: ctx.runId, attempt: 1 },
      });
    }
    const moves = await movements(s.client);
    expect(moves.map((m) => m.dedupeKey).sort()).toEqual(completed.map((c) => `cell-charge:${c.runToken}`).sort());
    expect(moves.every((m) => m.kind === "charge" && m.delta === -2)).toBe(true);
    expect(tokens.filter((t) => failed.some((c) => c.runToken === t))).toHaveLength(3);
    expect(await s.client.balance()).toBe(1);
    await expectConsistentLedger(s.client);
  });

  it("survives a run that dies part-way and is retried: each row charged once, each refund once, each cell written once", async () => {
    const s = await sheet(100);
    const rows = await addPersons(s, [
      ...Array.from({ length: 9 }, () => ({})),
      ...Array.from({ length: 3 }, () => ({ domain: null })),
    ]);
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    const tokens = await queueCells(s, column, rows);

    // The first attempt loses its database connection on its second flush, after five cells landed.
    let flushes = 0;
    const faulty = instrumentedDb((query) => {
      if (isFlush(query) && ++flushes === 2) throw new Error("connection reset by peer");
    });
    let attempts = 0;
    const services = (): Services => ({ ...h.services, db: ++attempts === 1 ? faulty.db : h.db });
    const dispatcher = createInProcessDispatcher({
      registry: createTaskRegistry(services, { flushEvery: 5, concurrency: 2 }),
      retryDelay: { minMs: 5, maxMs: 10 },
      logger: createLogger("silent"),
    });
    try {
      const { runId } = await dispatcher.trigger("list-contact-enrich", { columnId: column.id, rowIds: rows.map((r) => r.rowId) });
      await dispatcher.idle();
      expect(dispatcher.executor.run(runId)).toMatchObject({ status: "COMPLETED", attempts: 2 });

      const cells = await cellsOf(column, rows);
      expect(cells.map((c) => c.status)).toEqual(rows.map(() => "completed"));
      expect(cells.filter((c) => c.metadata.attempt === 1)).toHaveLength(5);
      expect(cells.filter((c) => c.metadata.attempt === 2)).toHaveLength(7);
      expect(cells.every((c) => c.metadata.runId === runId)).toBe(true);
      expect(cells.slice(0, 9).map((c) => c.value)).toEqual(rows.slice(0, 9).map((r) => `ada.${r.lastName!.toLowerCase()}@analytical.io`));

      const moves = await movements(s.client);
      expect(moves.filter((m) => m.kind === "charge").map((m) => m.dedupeKey).sort()).toEqual(tokens.map((t) => `cell-charge:${t}`).sort());
      expect(moves.filter((m) => m.kind === "refund").map((m) => m.dedupeKey).sort()).toEqual(tokens.slice(9).map((t) => `cell-refund:${t}`).sort());
      expect(await s.client.balance()).toBe(100 - 9 * 2);

      // Calling the handler once more (a late duplicate of the run) changes nothing.
      const before = await cellsOf(column, rows);
      await runTask("list-contact-enrich", column, rows, context({ runId, attempt: 3 }));
      expect(await cellsOf(column, rows)).toEqual(before);
      expect(await movements(s.client)).toEqual(moves);
      await expectConsistentLedger(s.client);
    } finally {
      await faulty.close();
    }
  });
});

describe("typed company columns (list-hiring-enrich, list-generic-enrich)", () => {
  it("completes a company without a website empty with the reason, and refunds its up-front charge once", async () => {
    const s = await sheet();
    const rows = await addCompanies(s, [{ name: "Acme" }, { name: "Nowhere", domain: null }]);
    const column = await addColumn(s, { subject: "company", enrichmentType: "hiring_status", schema: { type: "boolean" } });
    const tokens = await queueCells(s, column, rows);
    await chargeUpFront(s, column, 2);

    const ctx = await runTask("list-hiring-enrich", column, rows);
    await runTask("list-hiring-enrich", column, rows, { ...ctx, attempt: 2 });

    expect(await cellsOf(column, rows)).toEqual([
      await completedCell(s, column, rows[0]!, tokens[0]!, ctx),
      cellState(s, column, rows[1]!, tokens[1]!, { status: "completed", reasoning: "No website to look at", metadata: { provider: "sandbox", runId: ctx.runId, attempt: 1 } }),
    ]);
    expect(await movements(s.client)).toEqual(
      byKey([
        { kind: "charge", action: "HIRING_STATUS", units: 2, delta: -2, referenceType: "column", referenceId: column.id, dedupeKey: `column-charge:${column.id}`, note: null },
        { kind: "refund", action: "HIRING_STATUS", units: 1, delta: 1, referenceType: "column", referenceId: column.id, dedupeKey: `cell-refund:${tokens[1]}`, note: "Refund: no match" },
      ]),
    );
    await expectConsistentLedger(s.client);
  });

  it("fills news, LinkedIn posts, website overviews and site crawls through list-generic-enrich, typed by their schemas", async () => {
    const s = await sheet();
    const rows = await addCompanies(s, [{ name: "Acme" }, { name: "Globex" }]);
    for (const enrichmentType of ["news_articles", "linkedin_posts", "website_overview", "site_crawl"] as const) {
      const column = await addColumn(s, { subject: "company", enrichmentType, schema: TYPED_KINDS[enrichmentType].schema });
      const tokens = await queueCells(s, column, rows);
      const ctx = await runTask("list-generic-enrich", column, rows);
      expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, ctx))));
      expect(await allFit(column.id)).toBe(true);
    }
  });
});

describe("runs that find the world changed", () => {
  it("stops quietly when its column is deleted while it runs, and leaves no cell behind", async () => {
    const s = await sheet();
    const rows = await addPersons(s, Array.from({ length: 5 }, () => ({})));
    const column = await addColumn(s, {});
    await queueCells(s, column, rows);
    const { provider, calls } = spy("ai", async (call) => {
      if (call === 2) await h.db.delete(columns).where(eq(columns.id, column.id));
    });

    await expect(run(column, rows, context(), { providers: { ai: provider }, options: { concurrency: 1, recheckMs: 0 } })).resolves.toBeDefined();

    // The provider is not asked again once the deletion is seen, and no result resurrects a cell.
    expect(calls).toEqual([rows[0]!.rowId, rows[1]!.rowId]);
    expect(await cellCount(column.id)).toBe(0);
  });

  it("writes nothing for cells whose column is deleted between the claim and the write", async () => {
    const s = await sheet();
    const rows = await addPersons(s, Array.from({ length: 4 }, () => ({})));
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    await queueCells(s, column, rows);
    const { provider } = spy("work_email", async (call) => {
      // Every row is already charged and asked when the column goes: only the write is left.
      if (call === 4) await h.db.delete(columns).where(eq(columns.id, column.id));
    });

    await run(column, rows, context(), { providers: { work_email: provider }, options: { recheckMs: 60_000 } });

    expect(await cellCount(column.id)).toBe(0);
    await expectConsistentLedger(s.client);
  });

  it("stops at its next check when the run is cancelled, writing nothing after the cancellation", async () => {
    const s = await sheet();
    const rows = await addPersons(s, Array.from({ length: 5 }, () => ({})));
    const column = await addColumn(s, {});
    const tokens = await queueCells(s, column, rows);
    const controller = new AbortController();
    const { provider, calls } = spy("ai", (call) => {
      if (call === 3) controller.abort(new Error("run cancelled"));
    });
    const ctx = context({ signal: controller.signal });

    await run(column, rows, ctx, { providers: { ai: provider }, options: { concurrency: 1 } });

    expect(calls).toHaveLength(3);
    expect(await cellsOf(column, rows)).toEqual(
      rows.map((row, i) => cellState(s, column, row, tokens[i]!, { status: "processing", metadata: { runId: ctx.runId, attempt: 1 } })),
    );
  });

  it("does not overwrite cells re-queued under a new token while it ran; the newer run fills them", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}, {}]);
    const column = await addColumn(s, {});
    await queueCells(s, column, rows);
    const gate = deferred();
    const allAsked = deferred();
    const { provider } = spy("ai", async (call) => {
      if (call === rows.length) allAsked.resolve();
      await gate.promise;
    });

    const stale = run(column, rows, context(), { providers: { ai: provider } });
    await allAsked.promise;
    // A request re-runs the rows meanwhile (as /generate does): pending again, fresh tokens.
    await h.db.execute(sql`update list_cells set status = 'pending', value = null, run_token = gen_random_uuid(), metadata = '{}' where column_id = ${column.id}`);
    const requeued = await cellsOf(column, rows);
    gate.resolve();
    await stale;

    expect(await cellsOf(column, rows)).toEqual(requeued);
    const fresh = await run(column, rows);
    expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, requeued[i]!.runToken!, fresh))));
  });

  it("leaves cells another run is working on to that run", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}]);
    const column = await addColumn(s, {});
    const tokens = await queueCells(s, column, rows);
    const gate = deferred();
    const allAsked = deferred();
    const first = spy("ai", async (call) => {
      if (call === rows.length) allAsked.resolve();
      await gate.promise;
    });
    const second = spy("ai");

    const firstCtx = context();
    const firstRun = run(column, rows, firstCtx, { providers: { ai: first.provider } });
    await allAsked.promise;
    await run(column, rows, context(), { providers: { ai: second.provider } });
    gate.resolve();
    await firstRun;

    expect(second.calls).toEqual([]);
    expect(first.calls).toHaveLength(2);
    expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, firstCtx))));
  });

  it("does nothing when its cells were already failed with DISPATCH_FAILED", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}]);
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    await queueCells(s, column, rows);
    await h.db.update(personCells).set({ status: "failed", error: "DISPATCH_FAILED" }).where(eq(personCells.columnId, column.id));
    const before = await cellsOf(column, rows);
    const { provider, calls } = spy("work_email");

    await run(column, rows, context(), { providers: { work_email: provider } });

    expect(calls).toEqual([]);
    expect(await cellsOf(column, rows)).toEqual(before);
    expect(await movements(s.client)).toEqual([]);
  });

  it("does nothing for a column that no longer exists", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}]);
    const column = await addColumn(s, {});
    await queueCells(s, column, rows);
    await h.db.delete(columns).where(eq(columns.id, column.id));
    const { provider, calls } = spy("ai");

    await expect(run(column, rows, context(), { providers: { ai: provider } })).resolves.toBeDefined();

    expect(calls).toEqual([]);
    expect(await cellCount(column.id)).toBe(0);
  });

  it("fills a column by its own plan when dispatched under another task id", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}]);
    const column = await addColumn(s, { schema: { type: "date" } });
    const tokens = await queueCells(s, column, rows);

    const ctx = await runTask("list-generic-enrich", column, rows);

    expect(await cellsOf(column, rows)).toEqual(await Promise.all(rows.map((row, i) => completedCell(s, column, row, tokens[i]!, ctx))));
  });

  it("leaves the cells of a column no task fills untouched", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}]);
    const column = await addColumn(s, { source: "profile" });
    await queueCells(s, column, rows);
    const before = await cellsOf(column, rows);

    await runTask("sheet-ai-enrich", column, rows);

    expect(await cellsOf(column, rows)).toEqual(before);
    expect(before.map((c) => c.status)).toEqual(["pending"]);
  });

});

describe("set-based writes", () => {
  async function statementsFor(rowCount: number) {
    const s = await sheet();
    const rows = await addPersons(s, Array.from({ length: rowCount }, () => ({})));
    const column = await addColumn(s, {});
    await queueCells(s, column, rows);
    const queries: string[] = [];
    const counted = instrumentedDb((query) => queries.push(query));
    try {
      await run(column, rows, context(), { services: { db: counted.db }, options: { flushEvery: 25, recheckMs: 60_000 } });
    } finally {
      await counted.close();
    }
    expect((await cellsOf(column, rows)).map((c) => c.status)).toEqual(rows.map(() => "completed"));
    return { total: queries.length, claims: queries.filter(isClaim).length, flushes: queries.filter(isFlush).length };
  }

  it("claims in one statement and writes one statement per flush of 25, not one per cell", async () => {
    const small = await statementsFor(10);
    const large = await statementsFor(60);
    // The column load, the workspace lock (the first lock of every path that locks many cells) and
    // the claim, then per flush the workspace lock and the write: ceil(n / 25) flushes, never a
    // statement per cell.
    expect(small).toEqual({ total: 5, claims: 1, flushes: 1 });
    expect(large).toEqual({ total: 9, claims: 1, flushes: 3 });
  });
});

describe("runs that fail for good", () => {
  const REFUSED = "cannot store a completed cell";

  it("leaves its cells processing for the retry, then fails and refunds each once when the last attempt fails too", async () => {
    for (const subject of ["person", "company"] as const) {
      const s = await sheet();
      const rows = subject === "person" ? await addPersons(s, [{}, {}, {}]) : await addCompanies(s, [{ name: "Acme" }, { name: "Globex" }, { name: "Initech" }]);
      const column = subject === "person" ? await addColumn(s, {}) : await addColumn(s, { subject, enrichmentType: "hiring_status", schema: { type: "boolean" } });
      const tokens = await queueCells(s, column, rows);
      await chargeUpFront(s, column, rows.length);
      const plan = planColumn(column);
      if (plan.kind === "static") throw new Error("static column");
      const taskId = TASK_OF[kindOf(column)];
      const registry = registryFor();
      const handler = registry[taskId];
      // What each attempt left behind, read as it ends.
      const attempts: Array<{ attempt: number; lastAttempt: boolean; cells: Awaited<ReturnType<typeof cellsOf>> }> = [];
      registry[taskId] = async (payload, ctx) => {
        try {
          await handler(payload, ctx);
        } finally {
          attempts.push({ attempt: ctx.attempt, lastAttempt: ctx.lastAttempt, cells: await cellsOf(column, rows) });
        }
      };
      const dispatcher = createInProcessDispatcher({ registry, maxAttempts: 2, retryDelay: { minMs: 5, maxMs: 10 }, logger: createLogger("silent") });
      const restore = await refuseCellWrites(column, ["completed"]);
      try {
        const { runId } = await dispatcher.trigger(taskId, { columnId: column.id, rowIds: rows.map((r) => r.rowId) });
        await dispatcher.idle();

        expect(dispatcher.executor.run(runId)).toMatchObject({ status: "FAILED", attempts: 2 });
        const held = rows.map((row, i) => cellState(s, column, row, tokens[i]!, { status: "processing", metadata: { runId, attempt: 1 } }));
        const failed = rows.map((row, i) =>
          cellState(s, column, row, tokens[i]!, { status: "failed", error: `${TASK_FAILED}: ${REFUSED}`, metadata: { runId, attempt: 2 } }),
        );
        expect(attempts).toEqual([
          { attempt: 1, lastAttempt: false, cells: held },
          { attempt: 2, lastAttempt: true, cells: failed },
        ]);
        expect(await cellsOf(column, rows)).toEqual(failed);

        // What a client polling the column sees: nothing left to wait for.
        const preview = await s.client.get(`/api/lists/${s.listId}/columns/${column.id}/preview-cells`);
        expect(preview.status).toBe(200);
        const byRow = (a: { rowId: string }, b: { rowId: string }) => a.rowId.localeCompare(b.rowId);
        expect({ cells: [...preview.body.cells].sort(byRow) }).toEqual({
          cells: rows
            .map((row) => ({ rowId: row.rowId, name: row.subject === "person" ? row.fullName : row.name, value: null, status: "failed", error: `${TASK_FAILED}: ${REFUSED}` }))
            .sort(byRow),
        });

        const price = h.services.prices.costOf(plan.creditAction)!;
        expect(await movements(s.client)).toEqual(
          byKey([
            { kind: "charge", action: plan.creditAction, units: 3, delta: -3 * price, referenceType: "column", referenceId: column.id, dedupeKey: `column-charge:${column.id}`, note: null },
            ...tokens.map((token) => ({
              kind: "refund",
              action: plan.creditAction,
              units: 1,
              delta: price,
              referenceType: "column",
              referenceId: column.id,
              dedupeKey: `cell-refund:${token}`,
              note: `Refund: ${TASK_FAILED}: ${REFUSED}`,
            })),
          ]),
        );
        expect(await s.client.balance()).toBe(1000);
        await expectConsistentLedger(s.client);
      } finally {
        await restore();
      }
    }
  });

  it("refunds only the contact rows it charged, and charges none of them twice across its attempts", async () => {
    const s = await sheet(2 * 2);
    const rows = await addPersons(s, [{}, {}, {}, {}]);
    const column = await addColumn(s, { enrichmentType: "work_email", schema: { type: "email" } });
    const tokens = await queueCells(s, column, rows);
    const setup = { options: { concurrency: 1 } };
    const restore = await refuseCellWrites(column, ["completed"]);
    try {
      // The balance pays for the first two rows; their results, and the other two's INSUFFICIENT_CREDITS, never land.
      const ctx = context();
      expect(await rejectionOf(run(column, rows, ctx, setup))).toBeInstanceOf(DrizzleQueryError);
      expect(await cellsOf(column, rows)).toEqual(rows.map((row, i) => cellState(s, column, row, tokens[i]!, { status: "processing", metadata: { runId: ctx.runId, attempt: 1 } })));
      const charges = tokens.slice(0, 2).map((token) => ({
        kind: "charge",
        action: "EMAIL_LOOKUP",
        units: 1,
        delta: -2,
        referenceType: "column",
        referenceId: column.id,
        dedupeKey: `cell-charge:${token}`,
        note: "Contact lookup",
      }));
      expect(await movements(s.client)).toEqual(byKey(charges));

      expect(await rejectionOf(run(column, rows, { ...ctx, attempt: 2, lastAttempt: true }, setup))).toBeInstanceOf(DrizzleQueryError);

      expect(await cellsOf(column, rows)).toEqual(
        rows.map((row, i) => cellState(s, column, row, tokens[i]!, { status: "failed", error: `${TASK_FAILED}: ${REFUSED}`, metadata: { runId: ctx.runId, attempt: 2 } })),
      );
      expect(await movements(s.client)).toEqual(
        byKey([
          ...charges,
          ...tokens.slice(0, 2).map((token) => ({
            kind: "refund",
            action: "EMAIL_LOOKUP",
            units: 1,
            delta: 2,
            referenceType: "column",
            referenceId: column.id,
            dedupeKey: `cell-refund:${token}`,
            note: `Refund: ${TASK_FAILED}: ${REFUSED}`,
          })),
        ]),
      );
      expect(await s.client.balance()).toBe(4);
      await expectConsistentLedger(s.client);
    } finally {
      await restore();
    }
  });

  it("fails only the cells it still holds: cells already written or claimed by another run are left alone", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}, {}, {}]);
    const column = await addColumn(s, {});
    const tokens = await queueCells(s, column, rows);
    await chargeUpFront(s, column, rows.length);
    // One row already has its result, one is another run's; the run claims the other two.
    const done = await run(column, rows.slice(0, 1));
    const other = context();
    await h.db.execute(sql`update list_cells set status = 'processing', metadata = ${JSON.stringify({ runId: other.runId, attempt: 1 })}::jsonb where column_id = ${column.id} and row_id = ${rows[1]!.rowId}`);
    const restore = await refuseCellWrites(column, ["completed"]);
    try {
      const ctx = context({ lastAttempt: true });
      expect(await rejectionOf(run(column, rows, ctx))).toBeInstanceOf(DrizzleQueryError);

      expect(await cellsOf(column, rows)).toEqual([
        await completedCell(s, column, rows[0]!, tokens[0]!, done),
        cellState(s, column, rows[1]!, tokens[1]!, { status: "processing", metadata: { runId: other.runId, attempt: 1 } }),
        ...[2, 3].map((i) => cellState(s, column, rows[i]!, tokens[i]!, { status: "failed", error: `${TASK_FAILED}: ${REFUSED}`, metadata: { runId: ctx.runId, attempt: 1 } })),
      ]);
      expect((await movements(s.client)).filter((m) => m.kind === "refund").map((m) => m.dedupeKey)).toEqual([2, 3].map((i) => `cell-refund:${tokens[i]}`).sort());
      await expectConsistentLedger(s.client);
    } finally {
      await restore();
    }
  });

  it("logs a failed cleanup and still rethrows the run's own error", async () => {
    const s = await sheet();
    const rows = await addPersons(s, [{}, {}]);
    const column = await addColumn(s, {});
    const tokens = await queueCells(s, column, rows);
    await chargeUpFront(s, column, rows.length);
    const { logger, entries } = recordingLogger();
    const restore = await refuseCellWrites(column, ["completed", "failed"]);
    try {
      const ctx = context({ lastAttempt: true });
      const error = await rejectionOf(run(column, rows, ctx, { services: { logger } }));

      expect(error).toBeInstanceOf(DrizzleQueryError);
      expect((error as DrizzleQueryError).cause).toMatchObject({ message: REFUSED });
      expect(entries.filter((entry) => entry.level === "error")).toEqual([
        {
          level: "error",
          message: "column task failed for good, and its cells could not be failed",
          fields: { taskId: "sheet-ai-enrich", runId: ctx.runId, attempt: 1, columnId: column.id, error: REFUSED, cleanupError: "cannot store a failed cell" },
        },
      ]);
      expect(await cellsOf(column, rows)).toEqual(rows.map((row, i) => cellState(s, column, row, tokens[i]!, { status: "processing", metadata: { runId: ctx.runId, attempt: 1 } })));
      expect((await movements(s.client)).filter((m) => m.kind === "refund")).toEqual([]);
    } finally {
      await restore();
    }
  });
});

describe("task registry", () => {
  it("hands enrichment-run to the run task, which leaves a run that does not exist alone", async () => {
    await expect(createTaskRegistry(() => h.services)["enrichment-run"]({ enrichmentRunId: crypto.randomUUID() }, context())).resolves.toBeUndefined();
  });
});
