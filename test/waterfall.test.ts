import { sql } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { runColumnTask } from "../src/domain/enrichment/run-column-task";
import { runEnrichmentRun } from "../src/domain/enrichment-runs/task";
import { friendlyId } from "../src/dispatch/in-process";
import { defaultDirectory, startFakeFullEnrich } from "./helpers/fake-fullenrich";
import { startFakeHunter, type HunterFault, type HunterFinding, type HunterQuery } from "./helpers/fake-hunter";
import { until } from "./helpers/fullenrich-app";
import { Client, useHarness } from "./helpers/harness";
import { movements } from "./helpers/ledger";
import { switchableTasks } from "./helpers/switchable-tasks";

// Waterfalls (`config.providers`) on work_email and mobile_phone columns, end to end: the real app,
// the real contact task in-process, real Postgres, and fakes of FullEnrich's and Hunter's public
// APIs on 127.0.0.1. What is checked: which provider was asked for which row, what each cell says
// (value, status, attempts), and what was charged (ledger rows, balance).

const FE_KEY = "fe_waterfall_key_3b1";
const HUNTER_KEY = "hunter_waterfall_key_9c2";

const fullEnrich = await startFakeFullEnrich({ apiKey: FE_KEY });
const hunter = await startFakeHunter({ apiKey: HUNTER_KEY });

const PROVIDER_ENV = {
  FULLENRICH_API_KEY: FE_KEY,
  FULLENRICH_BASE_URL: fullEnrich.url,
  FULLENRICH_POLL_INTERVAL_MS: "20",
  FULLENRICH_POLL_TIMEOUT_MS: "5000",
  FULLENRICH_TIMEOUT_MS: "1000",
  FULLENRICH_MAX_ATTEMPTS: "2",
  FULLENRICH_BACKOFF_MIN_MS: "5",
  FULLENRICH_BACKOFF_MAX_MS: "20",
  HUNTER_API_KEY: HUNTER_KEY,
  HUNTER_BASE_URL: `${hunter.url}/v2`,
  HUNTER_TIMEOUT_MS: "1000",
  HUNTER_MAX_ATTEMPTS: "2",
};

let tasks: ReturnType<typeof switchableTasks>;
const h = useHarness({
  providerEnv: PROVIDER_ENV,
  dispatcher: (services) => (tasks = switchableTasks(services)).dispatcher,
});

const TIME = expect.any(Number);
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Waits until every task the requests dispatched has finished. */
const settle = () => tasks.dispatcher.idle();

// Ada: FullEnrich knows her (a name and a domain). Alan: a company but no domain, so FullEnrich's
// directory does not find him; Hunter does. Grace: a first name only, nobody can look her up.
const PEOPLE: Array<Record<string, string>> = [
  { firstName: "Ada", lastName: "Lovelace", domain: "analytical.example" },
  { firstName: "Alan", lastName: "Turing", company: "Bletchley Labs" },
  { firstName: "Grace" },
];
const hunterDirectory = (query: HunterQuery): HunterFinding =>
  query.last_name === "Turing" ? { email: "alan@bletchley.example", score: 88 } : query.last_name === "Lovelace" ? { email: "ada@hunter.example", score: 70 } : "no_email";

beforeEach(() => {
  tasks.setRunning(true);
  fullEnrich.http.requests.length = 0;
  fullEnrich.faults.length = 0;
  fullEnrich.enrichments.clear();
  fullEnrich.options.directory = defaultDirectory;
  hunter.http.requests.length = 0;
  hunter.faults.length = 0;
  hunter.directory = hunterDirectory;
});

async function listOf(client: Client, people: ReadonlyArray<Record<string, string>> = PEOPLE): Promise<{ listId: string; rowIds: string[] }> {
  const list = await client.post("/api/lists", { name: `Waterfall ${crypto.randomUUID().slice(0, 6)}` });
  expect(list.status).toBe(201);
  const listId = list.body.list.id as string;
  const rows = await client.post(`/api/lists/${listId}/rows/bulk`, { rows: people });
  expect(rows.status).toBe(200);
  const rowIds = rowsOf<{ id: string }>(await h.db.execute(sql`select id from list_rows where list_id = ${listId} order by position`)).map((r) => r.id);
  return { listId, rowIds };
}

async function waterfallColumn(client: Client, listId: string, providers: string[], enrichmentType = "work_email") {
  const res = await client.post(`/api/lists/${listId}/columns`, { name: `Email ${providers.join(">")}`, isDynamic: true, enrichmentType, config: { providers } });
  expect(res.body).toMatchObject({ column: { config: { providers } } });
  expect(res.status).toBe(201);
  return res.body.column.id as string;
}

/** The column's cells as GET /api/lists/{id}/columns/{colId}/preview-cells returns them, by row position. */
async function cellsOf(client: Client, listId: string, columnId: string) {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
  expect(res.status).toBe(200);
  return res.body.cells as Array<{ rowId: string; value: unknown; status: string; error: string | null; attempts?: unknown[] }>;
}

/** A workspace with `credits`, a list of one person, and a waterfall column over it, filled: the cell as the API shows it. */
async function fillOne(providers: string[], person: Record<string, string> = PEOPLE[0]!, credits = 100) {
  const client = await h.seedWorkspace({ credits });
  const { listId } = await listOf(client, [person]);
  const columnId = await waterfallColumn(client, listId, providers);
  await settle();
  const [cell] = await cellsOf(client, listId, columnId);
  return { client, cell: cell! };
}

const chargesOf = async (client: Client) => (await movements(client)).map(({ kind, action, delta, note }) => ({ kind, action, delta, note }));

describe("a work_email waterfall", () => {
  it("fullenrich then hunter: each row stops at its first match, Hunter is asked only for the row FullEnrich missed, charged per match at its provider's price", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId, rowIds } = await listOf(client);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "hunter"]);
    await settle();

    const cells = await cellsOf(client, listId, columnId);
    expect(cells).toEqual([
      {
        rowId: rowIds[0],
        name: "Ada Lovelace",
        value: "ada.lovelace@analytical.example",
        status: "completed",
        error: null,
        attempts: [
          { provider: "fullenrich", outcome: "matched", cost: 2, durationMs: TIME },
          { provider: "hunter", outcome: "not_run", cost: 0, durationMs: 0 },
        ],
      },
      {
        rowId: rowIds[1],
        name: "Alan Turing",
        value: "alan@bletchley.example",
        status: "completed",
        error: null,
        attempts: [
          { provider: "fullenrich", outcome: "no_match", cost: 0, durationMs: TIME, reason: expect.any(String) },
          { provider: "hunter", outcome: "matched", cost: 1, durationMs: TIME },
        ],
      },
      {
        rowId: rowIds[2],
        name: "Grace",
        value: null,
        status: "completed",
        error: null,
        attempts: [
          { provider: "fullenrich", outcome: "skipped", cost: 0, durationMs: 0, reason: expect.stringContaining("Not enough to look this person up") },
          { provider: "hunter", outcome: "skipped", cost: 0, durationMs: 0, reason: expect.stringContaining("Not enough to look this person up at Hunter") },
        ],
      },
    ]);
    // The rows page shows each cell's tries as the cell views do.
    const page = await client.get(`/api/lists/${listId}/rows`);
    expect(page.status).toBe(200);
    expect(page.body.rows.map((row: { cells: Array<{ columnId: string; attempts?: unknown }> }) => row.cells.find((c) => c.columnId === columnId)?.attempts)).toEqual(cells.map((c) => c.attempts));
    // One FullEnrich submission, of the two rows it can take; one Hunter lookup, for Alan.
    const submitted = fullEnrich.submitted();
    expect(submitted).toHaveLength(1);
    expect(submitted[0]!.contacts.map((c) => c.last_name)).toEqual(["Lovelace", "Turing"]);
    expect(hunter.lookups()).toEqual([{ company: "Bletchley Labs", first_name: "Alan", last_name: "Turing" }]);
    expect(await chargesOf(client)).toEqual(
      expect.arrayContaining([
        { kind: "charge", action: "EMAIL_LOOKUP", delta: -2, note: "Contact found by fullenrich" },
        { kind: "charge", action: "HUNTER_EMAIL_LOOKUP", delta: -1, note: "Contact found by hunter" },
      ]),
    );
    expect(await chargesOf(client)).toHaveLength(2);
    expect(await client.balance()).toBe(97);
    expect(await client.ledgerConsistency()).toEqual({ balance: 97, ledgerSum: 97, entries: 3 });
  });

  it("hunter then fullenrich: the other order asks FullEnrich only for the rows Hunter missed", async () => {
    hunter.directory = (query) => (query.last_name === "Turing" ? { email: "alan@bletchley.example" } : "not_found");
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client);
    const columnId = await waterfallColumn(client, listId, ["hunter", "fullenrich"]);
    await settle();

    const cells = await cellsOf(client, listId, columnId);
    expect(cells.map((c) => [c.value, c.status, (c.attempts as Array<{ provider: string; outcome: string; cost: number }>).map((a) => `${a.provider}:${a.outcome}:${a.cost}`)])).toEqual([
      ["ada.lovelace@analytical.example", "completed", ["hunter:no_match:0", "fullenrich:matched:2"]],
      ["alan@bletchley.example", "completed", ["hunter:matched:1", "fullenrich:not_run:0"]],
      [null, "completed", ["hunter:skipped:0", "fullenrich:skipped:0"]],
    ]);
    expect(hunter.lookups().map((q) => q.last_name)).toEqual(["Lovelace", "Turing"]);
    expect(fullEnrich.submitted().map((s) => s.contacts.map((c) => c.last_name))).toEqual([["Lovelace"]]);
    expect(await client.balance()).toBe(97);
  });

  // Each failing provider first, the other one second and matching: [case, the failing one, its faults, the error it records].
  const HUNTER_MATCH = { value: "ada@hunter.example", provider: "hunter", cost: 1, action: "HUNTER_EMAIL_LOOKUP" };
  const FULLENRICH_MATCH = { value: "ada.lovelace@analytical.example", provider: "fullenrich", cost: 2, action: "EMAIL_LOOKUP" };
  it.each([
    ["Hunter answering 401", "hunter", [{ status: 401, body: { errors: [{ id: "authentication_failed", code: 401, details: "No user found for the API key supplied" }] } }], /^hunter answered 401: .*authentication_failed/],
    ["Hunter answering 500 twice", "hunter", [{ status: 500 }, { status: 500 }], /^hunter answered 500: .*\(after 2 attempts\)$/],
    ["Hunter answering a malformed body", "hunter", [{ raw: "<html>oops</html>" }], /^malformed answer: the body is not JSON: "<html>oops<\/html>"$/],
    ["Hunter answering a body without data", "hunter", [{ raw: JSON.stringify({ meta: {} }) }], /^malformed answer: data: /],
    ["Hunter not answering in time, twice", "hunter", [{ hang: true }, { hang: true }], /^hunter did not answer within 1000 ms \(after 2 attempts\)$/],
    ["FullEnrich answering 500 twice on submit", "fullenrich", [{ on: "submit", status: 500 }, { on: "submit", status: 500 }], /^fullenrich answered 500.*\(after 2 attempts\)$/],
    ["FullEnrich answering without an enrichment_id", "fullenrich", [{ on: "submit", status: 200, body: { id: "x" } }], /^fullenrich answered with a bulk enrichment answer without an enrichment_id$/],
    ["FullEnrich answering 402 out of credits", "fullenrich", [{ on: "submit", status: 402, body: { code: "error.credits.insufficient", message: "Not enough credits" } }], /^fullenrich answered 402/],
  ] as const)("moves on past %s to the other provider's match, charging only that", async (_name, failing, faults, reason) => {
    const match = failing === "hunter" ? FULLENRICH_MATCH : HUNTER_MATCH;
    if (failing === "hunter") hunter.faults.push(...(faults as unknown as HunterFault[]));
    else fullEnrich.faults.push(...(faults as unknown as typeof fullEnrich.faults));
    const { client, cell } = await fillOne([failing, match.provider], PEOPLE[0]!, 100);
    expect(cell).toMatchObject({ value: match.value, status: "completed", error: null });
    expect(cell.attempts).toEqual([
      { provider: failing, outcome: "error", cost: 0, durationMs: TIME, reason: expect.stringMatching(reason) },
      { provider: match.provider, outcome: "matched", cost: match.cost, durationMs: TIME },
    ]);
    if (failing === "hunter") expect(hunter.lookups()).toHaveLength(faults.length);
    expect((await movements(client)).map((m) => [m.kind, m.action, m.delta])).toEqual([["charge", match.action, -match.cost]]);
    expect(await client.balance()).toBe(100 - match.cost);
  });

  it("asks Hunter with everything the row has: domain and company, both names, the LinkedIn handle, and the key", async () => {
    const person = { firstName: "Alan", lastName: "Turing", domain: "https://www.Bletchley.example/about", company: "Bletchley Labs", linkedinUrl: "https://www.linkedin.com/in/alan-turing/" };
    const { cell } = await fillOne(["hunter"], person);
    expect(cell).toMatchObject({ value: "alan@bletchley.example", status: "completed" });
    expect(hunter.lookups()).toEqual([{ domain: "bletchley.example", company: "Bletchley Labs", first_name: "Alan", last_name: "Turing", linkedin_handle: "alan-turing" }]);
    expect(hunter.http.requests[0]!.query.get("api_key")).toBe(HUNTER_KEY);
  });

  it("a 429 with Retry-After is waited for and asked again", async () => {
    hunter.faults.push({ status: 429, headers: { "retry-after": "0.2" }, body: { errors: [{ id: "too_many_requests", code: 429, details: "slow down" }] } });
    const { client, cell } = await fillOne(["hunter"], PEOPLE[1]!, 100);
    expect(cell).toMatchObject({ value: "alan@bletchley.example", status: "completed", attempts: [{ provider: "hunter", outcome: "matched", cost: 1 }] });
    expect(hunter.lookups()).toHaveLength(2);
    expect(await client.balance()).toBe(99);
  });

  it("no match anywhere: completed empty, nothing charged; every provider failing: failed, nothing charged", async () => {
    fullEnrich.options.directory = () => ({});
    hunter.directory = () => "not_found";
    const { client, cell } = await fillOne(["fullenrich", "hunter"], PEOPLE[0]!, 100);
    expect(cell).toMatchObject({ value: null, status: "completed", error: null });
    expect((cell.attempts as Array<{ outcome: string }>).map((a) => a.outcome)).toEqual(["no_match", "no_match"]);

    hunter.faults.push({ status: 401 });
    fullEnrich.faults.push({ on: "submit", status: 401, body: { code: "error.unauthorized", message: "bad key" } });
    const other = await listOf(client, [PEOPLE[0]!]);
    const failing = await waterfallColumn(client, other.listId, ["hunter", "fullenrich"]);
    await settle();
    const [failed] = await cellsOf(client, other.listId, failing);
    expect(failed).toMatchObject({ value: null, status: "failed", error: expect.stringMatching(/^hunter: hunter answered 401.*; fullenrich: fullenrich answered 401/) });
    expect(await movements(client)).toEqual([]);
    expect(await client.balance()).toBe(100);
  });

  it("does not ask a provider whose price the balance cannot pay, and tries the cheaper one", async () => {
    const { client, cell } = await fillOne(["fullenrich", "hunter"], PEOPLE[0]!, 1);
    expect(cell).toMatchObject({ value: "ada@hunter.example", status: "completed" });
    expect(cell.attempts).toEqual([
      { provider: "fullenrich", outcome: "not_run", cost: 0, durationMs: 0, reason: "INSUFFICIENT_CREDITS: the balance cannot pay this provider's price of 2" },
      { provider: "hunter", outcome: "matched", cost: 1, durationMs: TIME },
    ]);
    expect(fullEnrich.submitted()).toEqual([]);
    expect(await client.balance()).toBe(0);
  });

  it("a mobile_phone waterfall charges FullEnrich's phone price", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, [{ firstName: "Ada", lastName: "Lovelace", linkedinUrl: "https://www.linkedin.com/in/ada" }]);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "sandbox"], "mobile_phone");
    await settle();
    const [cell] = await cellsOf(client, listId, columnId);
    expect(cell).toMatchObject({ value: "+33 6 12 34 56 78", status: "completed", attempts: [{ provider: "fullenrich", outcome: "matched", cost: 8 }, { provider: "sandbox", outcome: "not_run", cost: 0 }] });
    expect(await client.balance()).toBe(92);
  });
});

describe("a waterfall's edges", () => {
  it("a value that does not fit the column is that provider's failure: not charged, and the next provider is asked", async () => {
    hunter.directory = () => ({ email: "not an email at all" });
    const { client, cell } = await fillOne(["hunter", "fullenrich"], PEOPLE[0]!, 100);
    expect(cell).toMatchObject({ value: "ada.lovelace@analytical.example", status: "completed" });
    expect(cell.attempts).toEqual([
      { provider: "hunter", outcome: "error", cost: 0, durationMs: TIME, reason: expect.stringMatching(/^malformed answer: the value does not fit the column's type email/) },
      { provider: "fullenrich", outcome: "matched", cost: 2, durationMs: TIME },
    ]);
    expect((await movements(client)).map((m) => [m.kind, m.action, m.delta])).toEqual([["charge", "EMAIL_LOOKUP", -2]]);
  });

  it("a match the balance cannot pay for goes on to the next, cheaper provider; past the last, it fails INSUFFICIENT_CREDITS", async () => {
    hunter.directory = (query) => ({ email: `${query.first_name!.toLowerCase()}@hunter.example` });
    const client = await h.seedWorkspace({ credits: 3 });
    const people = [
      { firstName: "Ada", lastName: "Lovelace", domain: "analytical.example" },
      { firstName: "Alan", lastName: "Turing", domain: "bletchley.example" },
      { firstName: "Grace", lastName: "Hopper", domain: "navy.example" },
    ];
    const { listId } = await listOf(client, people);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "hunter"]);
    await settle();
    const cells = await cellsOf(client, listId, columnId);
    // FullEnrich matched all three; 3 credits paid for one of its matches (2), and one of Hunter's (1).
    const summary = cells.map((c) => [c.status, c.value === null ? null : String(c.value).split("@")[1], (c.attempts as Array<{ outcome: string; cost: number }>).map((a) => `${a.outcome}:${a.cost}`)]);
    expect(summary.filter(([, host]) => host === "analytical.example" || host === "bletchley.example" || host === "navy.example")).toEqual([["completed", expect.any(String), ["matched:2", "not_run:0"]]]);
    expect(summary.filter(([, host]) => host === "hunter.example")).toEqual([["completed", "hunter.example", ["matched:0", "matched:1"]]]);
    expect(summary.filter(([status]) => status === "failed")).toEqual([["failed", null, ["matched:0", "matched:0"]]]);
    const failed = cells.find((c) => c.status === "failed")!;
    expect(failed.error).toBe("INSUFFICIENT_CREDITS");
    expect((failed.attempts as Array<{ reason?: string }>).map((a) => a.reason)).toEqual([
      "INSUFFICIENT_CREDITS: not charged, so not kept: the balance could not pay this provider's price of 2",
      "INSUFFICIENT_CREDITS: not charged, so not kept: the balance could not pay this provider's price of 1",
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 3 });
  });

  it("a provider failing and the other unable to take the row: failed, not an empty answer", async () => {
    fullEnrich.faults.push({ on: "submit", status: 500 }, { on: "submit", status: 500 });
    const client = await h.seedWorkspace({ credits: 100 });
    // FullEnrich takes a LinkedIn URL alone; Hunter needs a /in/ handle, or a name and a company.
    const { listId } = await listOf(client, [{ firstName: "Ada", linkedinUrl: "https://www.linkedin.com/pub/ada-lovelace" }]);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "hunter"]);
    await settle();
    const [cell] = await cellsOf(client, listId, columnId);
    expect(cell).toMatchObject({ status: "failed", value: null, error: expect.stringMatching(/^fullenrich: fullenrich answered 500/) });
    expect((cell!.attempts as Array<{ outcome: string }>).map((a) => a.outcome)).toEqual(["error", "skipped"]);
    expect(hunter.lookups()).toEqual([]);
    expect(await movements(client)).toEqual([]);
  });

  it("cells resumed at a later provider and fresh cells in one task both end: each asked only what it had not been", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId, rowIds } = await listOf(client, [PEOPLE[1]!, { firstName: "Katherine", lastName: "Johnson", company: "Langley Research" }]);
    hunter.directory = (query) => ({ email: `${query.first_name!.toLowerCase()}@hunter.example` });
    tasks.setRunning(false);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "hunter"]);
    await settle();
    tasks.setRunning(true);
    // An earlier attempt, now dead, had heard FullEnrich's no-match for Alan's cell only.
    await h.db.execute(sql`
      update list_cells set attempts = jsonb_build_object('runToken', run_token, 'attempts',
        jsonb_build_array(jsonb_build_object('provider', 'fullenrich', 'outcome', 'no_match', 'cost', 0, 'durationMs', 5, 'reason', 'fullenrich found no work email for this person')))
      where column_id = ${columnId} and row_id = ${rowIds[0]!}`);
    const summary = await runColumnTask(h.services, "list-contact-enrich", { columnId, rowIds }, { runId: friendlyId("run"), attempt: 1, lastAttempt: false, signal: new AbortController().signal });
    expect(summary).toMatchObject({ claimed: 2, completed: 2, written: 2 });
    expect(fullEnrich.submitted().map((s) => s.contacts.map((c) => c.last_name))).toEqual([["Johnson"]]);
    expect(hunter.lookups().map((q) => q.last_name).sort()).toEqual(["Johnson", "Turing"]);
    const cells = await cellsOf(client, listId, columnId);
    expect(cells.map((c) => [c.status, c.value])).toEqual([
      ["completed", "alan@hunter.example"],
      ["completed", "katherine@hunter.example"],
    ]);
    expect(await client.balance()).toBe(98);
  });
});

describe("a waterfall's configuration", () => {
  it.each([
    [{ enrichmentType: "mobile_phone", config: { providers: ["hunter"] } }, "config.providers.0", "hunter does not look up mobile_phone"],
    [{ enrichmentType: "work_email", config: { providers: ["fullenrich", "fullenrich"] } }, "config.providers", "providers must not name a provider twice"],
    [{ enrichmentType: "work_email", config: { providers: [] } }, "config.providers", "providers must name at least one provider"],
    [{ enrichmentType: "website_overview", subject: "company", config: { providers: ["hunter"] } }, "config.providers", "providers is a waterfall of contact providers: only work_email and mobile_phone take it"],
    [{ isDynamic: true, prompt: "What?", config: { providers: ["hunter"] } }, "config.providers", "providers is a waterfall of contact providers: only work_email and mobile_phone take it"],
  ])("refuses %j with 400 VALIDATION_ERROR at %s, writing nothing", async (body, path, message) => {
    const client = await h.seedWorkspace();
    const { listId } = await listOf(client, [PEOPLE[0]!]);
    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Bad", isDynamic: true, ...body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path, message }] });
    const columns = await client.get(`/api/lists/${listId}/columns`);
    expect(columns.body.columns.map((c: { name: string }) => c.name)).not.toContain("Bad");
  });

  it("refuses an unknown provider id", async () => {
    const client = await h.seedWorkspace();
    const { listId } = await listOf(client, [PEOPLE[0]!]);
    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Bad", isDynamic: true, enrichmentType: "work_email", config: { providers: ["clearbit"] } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "config.providers.0", message: expect.stringContaining('"fullenrich"') }] });
  });

  it("is returned on the column", async () => {
    const client = await h.seedWorkspace();
    const { listId } = await listOf(client, [PEOPLE[0]!]);
    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: true, enrichmentType: "work_email", config: { providers: ["hunter", "fullenrich"] } });
    expect(res.status).toBe(201);
    expect(res.body.column.config).toEqual({ providers: ["hunter", "fullenrich"] });
    await settle();
  });
});

describe("a task that dies between two providers", () => {
  it("resumes at the provider it had not heard from: FullEnrich is not asked again, the row is charged once", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId, rowIds } = await listOf(client, [PEOPLE[1]!]);
    tasks.setRunning(false);
    const columnId = await waterfallColumn(client, listId, ["fullenrich", "hunter"]);
    await settle();
    tasks.setRunning(true);

    // The first attempt gets FullEnrich's no-match stored, then dies while Hunter is answering.
    const runId = friendlyId("run");
    const death = new AbortController();
    hunter.directory = (query) => {
      death.abort(new Error("the process died"));
      return hunterDirectory(query);
    };
    await runColumnTask(h.services, "list-contact-enrich", { columnId, rowIds }, { runId, attempt: 1, lastAttempt: false, signal: death.signal });
    const [midway] = await cellsOf(client, listId, columnId);
    expect(midway).toMatchObject({ status: "processing", value: null, attempts: [{ provider: "fullenrich", outcome: "no_match", cost: 0 }] });
    expect(await movements(client)).toEqual([]);

    // The retry asks Hunter only.
    hunter.directory = hunterDirectory;
    const fullEnrichCalls = fullEnrich.submitted().length;
    const summary = await runColumnTask(h.services, "list-contact-enrich", { columnId, rowIds }, { runId, attempt: 2, lastAttempt: false, signal: new AbortController().signal });
    expect(summary).toMatchObject({ claimed: 1, completed: 1, written: 1 });
    expect(fullEnrich.submitted()).toHaveLength(fullEnrichCalls);
    expect(hunter.lookups()).toHaveLength(2);
    const [cell] = await cellsOf(client, listId, columnId);
    expect(cell).toMatchObject({ status: "completed", value: "alan@bletchley.example" });
    expect((cell!.attempts as Array<{ provider: string; outcome: string }>).map((a) => `${a.provider}:${a.outcome}`)).toEqual(["fullenrich:no_match", "hunter:matched"]);

    // A third, late attempt finds nothing to do and charges nothing more.
    const late = await runColumnTask(h.services, "list-contact-enrich", { columnId, rowIds }, { runId, attempt: 3, lastAttempt: true, signal: new AbortController().signal });
    expect(late.claimed).toBe(0);
    expect((await movements(client)).map((m) => [m.kind, m.action, m.delta])).toEqual([["charge", "HUNTER_EMAIL_LOOKUP", -1]]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 99, ledgerSum: 99, entries: 2 });
  });
});

describe("a waterfall enrichment run", () => {
  async function runOver(client: Client, listId: string, body: Record<string, unknown>) {
    const res = await client.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "list", listId }, ...body });
    return res;
  }

  async function itemsByLastName(client: Client, runId: string) {
    const res = await client.get(`/api/enrichment/${runId}/items?limit=100`);
    expect(res.status).toBe(200);
    const leads = rowsOf<{ id: string; last_name: string | null; first_name: string }>(await h.db.execute(sql`select id, last_name, first_name from leads where workspace_id = ${client.workspaceId}`));
    const nameOf = new Map(leads.map((l) => [l.id, l.last_name ?? l.first_name]));
    return Object.fromEntries((res.body.items as Array<{ leadId: string }>).map((item) => [nameOf.get(item.leadId)!, item])) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  it("asks Hunter only for the leads FullEnrich missed; charged up front at the dearer price, each item costing its match", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client);
    const preview = await runOver(client, listId, { mode: "preview", config: { providers: ["fullenrich", "hunter"] } });
    expect(preview.status).toBe(200);
    expect(preview.body).toEqual({ mode: "preview", leadCount: 3, cost: { creditAction: "EMAIL_LOOKUP", required: 6, balance: 100, sufficient: true } });

    const started = await runOver(client, listId, { config: { providers: ["fullenrich", "hunter"] } });
    expect(started.status).toBe(202);
    await settle();
    const run = await client.get(`/api/enrichment/${started.body.runId}`);
    expect(run.body.run).toMatchObject({ status: "completed", error: null, config: { providers: ["fullenrich", "hunter"] } });
    const items = await itemsByLastName(client, started.body.runId);
    expect(items.Lovelace).toMatchObject({
      status: "completed",
      result: "ada.lovelace@analytical.example",
      metadata: { provider: "fullenrich", providerSubmissionId: expect.stringMatching(UUID_PATTERN), attempts: [{ provider: "fullenrich", outcome: "matched", cost: 2, durationMs: TIME }, { provider: "hunter", outcome: "not_run", cost: 0, durationMs: 0 }] },
    });
    expect(items.Turing).toMatchObject({
      status: "completed",
      result: "alan@bletchley.example",
      metadata: { provider: "hunter", attempts: [{ provider: "fullenrich", outcome: "no_match", cost: 0 }, { provider: "hunter", outcome: "matched", cost: 1 }] },
    });
    expect(items.Grace).toMatchObject({ status: "skipped", skippedReason: "no_match", metadata: { attempts: [{ provider: "fullenrich", outcome: "skipped" }, { provider: "hunter", outcome: "skipped" }] } });
    expect(fullEnrich.submitted().map((s) => s.contacts.map((c) => c.last_name))).toEqual([["Lovelace", "Turing"]]);
    expect(hunter.lookups().map((q) => q.last_name)).toEqual(["Turing"]);

    const moves = await movements(client);
    expect(moves.map(({ kind, action, units, delta, note }) => ({ kind, action, units, delta, note })).sort((a, b) => a.delta - b.delta)).toEqual([
      { kind: "charge", action: "EMAIL_LOOKUP", units: 3, delta: -6, note: null },
      { kind: "refund", action: "EMAIL_LOOKUP", units: 1, delta: 1, note: "Enrichment item matched by a cheaper provider" },
      { kind: "refund", action: "EMAIL_LOOKUP", units: 1, delta: 2, note: "Enrichment item skipped" },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 97, ledgerSum: 97, entries: 4 });
    expect(run.body.run).toMatchObject({ cost: expect.objectContaining({ actual: 3 }) });
  });

  it("a task that dies between two providers resumes at Hunter: FullEnrich is not asked again, nothing is charged twice", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, [PEOPLE[0]!, PEOPLE[1]!]);
    tasks.setRunning(false);
    const started = await runOver(client, listId, { config: { providers: ["fullenrich", "hunter"] } });
    expect(started.status).toBe(202);
    await settle();
    tasks.setRunning(true);
    const runId = started.body.runId as string;

    const taskRun = friendlyId("run");
    const death = new AbortController();
    hunter.directory = (query) => {
      death.abort(new Error("the process died"));
      return hunterDirectory(query);
    };
    await runEnrichmentRun(h.services, { enrichmentRunId: runId }, { runId: taskRun, attempt: 1, lastAttempt: false, signal: death.signal });
    const midway = await itemsByLastName(client, runId);
    // FullEnrich's match for Ada was written as soon as FullEnrich answered, before Hunter was asked.
    expect(midway.Lovelace).toMatchObject({ status: "completed", result: "ada.lovelace@analytical.example" });
    expect(midway.Turing).toMatchObject({ status: "running", metadata: { attempts: [{ provider: "fullenrich", outcome: "no_match" }] } });

    hunter.directory = hunterDirectory;
    await runEnrichmentRun(h.services, { enrichmentRunId: runId }, { runId: taskRun, attempt: 2, lastAttempt: false, signal: new AbortController().signal });
    const items = await itemsByLastName(client, runId);
    expect(items.Turing).toMatchObject({ status: "completed", result: "alan@bletchley.example", metadata: { provider: "hunter", attempts: [{ provider: "fullenrich", outcome: "no_match" }, { provider: "hunter", outcome: "matched", cost: 1 }] } });
    expect(fullEnrich.submitted().map((s) => s.contacts.map((c) => c.last_name))).toEqual([["Lovelace", "Turing"]]);
    expect(hunter.lookups().map((q) => q.last_name)).toEqual(["Turing", "Turing"]);
    expect((await movements(client)).map((m) => [m.kind, m.delta]).sort()).toEqual([["charge", -4], ["refund", 1]]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 97, ledgerSum: 97, entries: 3 });
    expect((await client.get(`/api/enrichment/${runId}`)).body.run.status).toBe("completed");
  });

  it("cancelled while Hunter is being asked: the items still open end skipped, refunded, nothing left running", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, [PEOPLE[0]!, PEOPLE[1]!]);
    tasks.setRunning(false);
    const started = await runOver(client, listId, { config: { providers: ["fullenrich", "hunter"] } });
    await settle();
    tasks.setRunning(true);
    const runId = started.body.runId as string;
    hunter.faults.push({ hang: true }, { hang: true });
    const stop = new AbortController();
    const task = runEnrichmentRun(h.services, { enrichmentRunId: runId }, { runId: friendlyId("run"), attempt: 1, lastAttempt: false, signal: stop.signal });
    await until(async () => hunter.lookups().length > 0, "Hunter to be asked");
    expect((await client.post(`/api/enrichment/${runId}/cancel`)).status).toBe(200);
    stop.abort(new Error("cancelled"));
    await task;
    const items = await itemsByLastName(client, runId);
    expect(items.Lovelace).toMatchObject({ status: "completed", result: "ada.lovelace@analytical.example" });
    expect(items.Turing).toMatchObject({ status: "skipped", skippedReason: "run_cancelled" });
    expect((await client.get(`/api/enrichment/${runId}`)).body.run.status).toBe("cancelled");
    expect((await movements(client)).map((m) => [m.kind, m.delta]).sort()).toEqual([["charge", -4], ["refund", 2]]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 98, ledgerSum: 98, entries: 3 });
  });

  it("a Hunter-only run is charged and previewed at Hunter's price, under Hunter's action", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, [PEOPLE[1]!]);
    const preview = await runOver(client, listId, { mode: "preview", config: { providers: ["hunter"] } });
    expect(preview.body.cost).toEqual({ creditAction: "HUNTER_EMAIL_LOOKUP", required: 1, balance: 100, sufficient: true });
    expect((await runOver(client, listId, { config: { providers: ["hunter"] } })).status).toBe(202);
    await settle();
    expect((await movements(client)).map((m) => [m.kind, m.action, m.delta])).toEqual([["charge", "HUNTER_EMAIL_LOOKUP", -1]]);
  });

  it.each([
    [{ enrichmentId: "website_overview", config: { providers: ["hunter"] } }, "config.providers", "providers is a waterfall of contact providers: only work_email and mobile_phone take it"],
    [{ enrichmentId: "mobile_phone", config: { providers: ["fullenrich", "hunter"] } }, "config.providers.1", "hunter does not look up mobile_phone"],
    [{ enrichmentId: "work_email", config: { providers: ["hunter", "hunter"] } }, "config.providers", "providers must not name a provider twice"],
  ])("refuses %j with 400 VALIDATION_ERROR at %s, creating no run", async (body, path, message) => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId } = await listOf(client, [PEOPLE[0]!]);
    const res = await client.post("/api/enrichment", { scope: { type: "list", listId }, ...body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path, message }] });
    expect(rowsOf(await h.db.execute(sql`select id from enrichment_runs where workspace_id = ${client.workspaceId}`))).toEqual([]);
    expect(await client.balance()).toBe(100);
  });
});
