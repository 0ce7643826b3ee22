import { companyRow, personRow } from "./helpers/provider-rows";
import { inArray, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { leads, type ColumnSchema } from "../src/db/schema";
import { BUILT_IN_PERSON_COLUMNS } from "../src/domain/built-in-columns";
import { createSandboxProviders, type CompanyData, type PersonData, type ProviderColumn, type Providers } from "../src/providers";
import { createAiColumnProvider, renderPrompt, rowInput } from "../src/providers/ai-column";
import type { OpenAiClientOptions } from "../src/providers/openai";
import { valueFits, valueMisfit, valueSchemaOf } from "../src/providers/value-schema";
import { FAKE_OPENAI_MODEL, fakeAnswer, fakeHttpError, fakeNotFound, fakeOpenAiClient, startFakeOpenAi } from "./helpers/fake-openai";
import { credits, expectEarlierProgress, progress, progressFromCells } from "./helpers/column-stats";
import { addPeople } from "./helpers/fixtures";
import { ISO_DATE, UUID, useHarness, type Client, type Json } from "./helpers/harness";

const fake = await startFakeOpenAi();
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const MODEL = FAKE_OPENAI_MODEL;

const aiOver = (overrides: Partial<OpenAiClientOptions> = {}) => fakeOpenAiClient(fake, overrides);

// Every column task and enrichment run of this file runs in-process with the real handlers, over
// providers whose `ai` is the OpenAI-backed column provider talking to the fake.
const providers: Providers = { ...createSandboxProviders(), ai: createAiColumnProvider(aiOver()) };
const h = useHarness({ providers, taskRetryDelayMs: 1 });
const settle = () => h.settle();
afterEach(settle);

const RESPONSE_ID = expect.stringMatching(/^resp_[0-9a-f]+$/);
const RUN_ID = expect.stringMatching(/^run_[0-9a-z]+$/);
const noSignal = () => new AbortController().signal;

// ---- rows and columns as the runner hands them to providers ----

const ADA: PersonData = personRow({ rowId: "0190f1c2-0000-7000-8000-000000000001" });

const ACME: CompanyData = companyRow({ rowId: "0190f1c2-0000-7000-8000-000000000002", industry: "Manufacturing", location: null, description: "Makes anvils." });

function column(overrides: Partial<ProviderColumn> = {}): ProviderColumn {
  return {
    id: "0190f1c2-0000-7000-8000-0000000000c1",
    name: "Homepage",
    prompt: "What is {{name}}'s website?",
    source: "web",
    subject: "person",
    schema: { type: "url" },
    config: {},
    ...overrides,
  };
}

const enrich = (col: ProviderColumn, row: PersonData | CompanyData = ADA, signal = noSignal()) =>
  createAiColumnProvider(aiOver()).enrich({ column: col, row, signal });

/** The task the column provider gave the model: what follows the client's own framing. */
const taskOf = (instructions: string) => instructions.split("\nTask:\n")[1];

describe("the column schema as JSON Schema for structured output", () => {
  it.each<[string, ColumnSchema | null, Record<string, unknown>]>([
    ["no schema", null, { type: "string", description: "A short answer, at most one sentence." }],
    ["short text", { type: "text" }, { type: "string", description: "A short answer, at most one sentence." }],
    ["long text", { type: "text", textFormat: "long" }, { type: "string", description: "A few sentences." }],
    ["a number", { type: "number" }, { type: "number", description: "A plain number, no units or separators." }],
    [
      "money",
      { type: "number", format: "currency", currency: "EUR", scale: "millions" },
      { type: "number", description: "A plain number, no units or separators; an amount in EUR; expressed in millions." },
    ],
    ["a percentage", { type: "number", format: "percent" }, { type: "number", description: "A plain number, no units or separators; a percentage, e.g. 12.5 for 12.5 %." }],
    ["a boolean", { type: "boolean" }, { type: "boolean" }],
    ["a URL", { type: "url" }, { type: "string", description: "An absolute URL, starting with https://." }],
    ["a LinkedIn URL", { type: "url", linkType: "linkedin" }, { type: "string", description: "The absolute https URL of the LinkedIn page." }],
    ["an email", { type: "email" }, { type: "string", format: "email", description: "One email address." }],
    ["a phone", { type: "phone" }, { type: "string", pattern: "^\\+?[0-9 ().-]{5,32}$", description: "One phone number in international format, e.g. +1 415 555 0100." }],
    ["a date", { type: "date" }, { type: "string", format: "date", description: "A calendar date, YYYY-MM-DD." }],
    ["an enum", { type: "enum", options: ["Seed", "Series A"] }, { type: "string", enum: ["Seed", "Series A"] }],
    ["an enum without options", { type: "enum" }, { type: "string", description: "One short label." }],
    [
      "a multiselect",
      { type: "multiselect", options: ["SaaS", "Retail"], maxItems: 2 },
      { type: "array", items: { type: "string", enum: ["SaaS", "Retail"] }, maxItems: 2, description: "Every option that applies." },
    ],
    ["a multiselect without options", { type: "multiselect" }, { type: "array", items: { type: "string" }, description: "Every option that applies." }],
    [
      "a list of URLs",
      { type: "list", itemType: "url", maxItems: 10 },
      { type: "array", items: { type: "string", description: "An absolute URL, starting with https://." }, maxItems: 10 },
    ],
    ["a list of nested lists (text items)", { type: "list", itemType: "list" }, { type: "array", items: { type: "string", description: "A short answer, at most one sentence." } }],
  ])("%s", (_name, schema, expected) => {
    expect(valueSchemaOf(schema)).toEqual(expected);
  });
});

describe("a value fits its column exactly when the database says so (cell_value_fits)", () => {
  const cases: Array<[schema: unknown, value: unknown, fits: boolean]> = [
    [{ type: "text" }, "anything", true],
    [{ type: "text" }, 12, false],
    [{ type: "text" }, null, true],
    [{ type: "number" }, 1.5, true],
    [{ type: "number" }, "1.5", false],
    [{ type: "boolean" }, false, true],
    [{ type: "boolean" }, "true", false],
    [{ type: "url" }, "https://acme.com/about?x=1#team", true],
    [{ type: "url" }, "acme.co.uk", true],
    [{ type: "url" }, "HTTP://ACME.COM:8080/A", true],
    [{ type: "url" }, "ftp://acme.com", false],
    [{ type: "url" }, "https://acme", false],
    [{ type: "url" }, "https://acme.com/a b", false],
    [{ type: "url" }, "acme.com:123456", false],
    [{ type: "url" }, 42, false],
    [{ type: "email" }, "Jane.Roe+x@Acme.co.uk", true],
    [{ type: "email" }, "jane@acme", false],
    [{ type: "email" }, "jane roe@acme.com", false],
    [{ type: "email" }, "jane@acme_co.com", false],
    [{ type: "phone" }, "+1 415 555 0100", true],
    [{ type: "phone" }, "(415) 555-0100", true],
    [{ type: "phone" }, "+1 -- - 5 -", false],
    [{ type: "phone" }, "1234", false],
    [{ type: "phone" }, "call 415 555", false],
    [{ type: "date" }, "2024-02-29", true],
    [{ type: "date" }, "2024-05-17T09:30Z", true],
    [{ type: "date" }, "2024-05-17T09:30:00.125+0200", true],
    [{ type: "date" }, "2024-13-01", false],
    [{ type: "date" }, "2024-05-17t09:30", false],
    [{ type: "date" }, "17/05/2024", false],
    [{ type: "enum", options: ["A", "B"] }, "B", true],
    [{ type: "enum", options: ["A", "B"] }, "b", false],
    [{ type: "enum", options: ["A", "B"] }, ["A"], false],
    [{ type: "enum" }, "anything", true],
    [{ type: "enum", options: [] }, "anything", true],
    [{ type: "enum" }, 3, false],
    [{ type: "multiselect", options: ["A", "B", "C"] }, ["A", "C"], true],
    [{ type: "multiselect", options: ["A", "B", "C"] }, ["A", "Z"], false],
    [{ type: "multiselect", options: ["A", "B", "C"] }, [], true],
    [{ type: "multiselect" }, ["x", 1], false],
    [{ type: "multiselect" }, "A", false],
    [{ type: "multiselect", maxItems: 1 }, ["A", "B"], false],
    [{ type: "multiselect", maxItems: 1.5 }, ["A", "B"], true],
    [{ type: "multiselect", maxItems: "1" }, ["A", "B"], true],
    [{ type: "list", itemType: "url", maxItems: 2 }, ["https://a.com", "b.org"], true],
    [{ type: "list", itemType: "url", maxItems: 2 }, ["https://a.com", "b.org", "c.net"], false],
    [{ type: "list", itemType: "url" }, ["https://a.com", null], false],
    [{ type: "list", itemType: "url" }, ["not a url"], false],
    [{ type: "list" }, [1, "a", null, {}], true],
    [{ type: "list", itemType: "multiselect" }, [[1], null], true],
    [{ type: "list", itemType: "enum" }, ["x"], true],
    [{ type: "list", itemType: "enum" }, [1], false],
    [{ type: "list", itemType: "colour" }, [1, {}], true],
    [{ type: "list", itemType: "colour" }, [null], false],
    [{ type: "list", itemType: 5 }, [true], true],
    [{ type: "list" }, "a, b", false],
    [null, { any: "thing" }, true],
    ["text", 12, true],
    [{}, 12, true],
    [{ type: "colour" }, 12, true],
    [{ type: 5 }, "x", true],
  ];

  it("for every type, edge and oddity of the schema", async () => {
    const records = cases.map(([schema, value], i) => ({ i, schema, value }));
    const fromDb = rowsOf<{ i: number; fits: boolean }>(
      await h.db.execute(sql`
        select t.i, cell_value_fits(t.schema, t.value) as fits
        from jsonb_to_recordset(${JSON.stringify(records)}::jsonb) as t(i int, schema jsonb, value jsonb)
        order by t.i`),
    );
    const expected = cases.map(([schema, value, fits]) => ({ schema, value, fits }));
    expect(fromDb.map((row, i) => ({ schema: cases[i]![0], value: cases[i]![1], fits: row.fits }))).toEqual(expected);
    expect(cases.map(([schema, value]) => ({ schema, value, fits: valueFits(schema as ColumnSchema, value) }))).toEqual(expected);
  });

  it("says why a value does not fit", () => {
    expect(valueMisfit({ type: "url" }, "see their blog")).toBe("expected a URL");
    expect(valueMisfit({ type: "enum", options: ["A", "B"] }, "C")).toBe("expected one of: A, B");
    expect(valueMisfit({ type: "multiselect", options: ["A", "B"] }, ["A", "Z"])).toBe('"Z" is not one of: A, B');
    expect(valueMisfit({ type: "list", itemType: "email", maxItems: 5 }, ["a@b.co", "nope"])).toBe("item 2: expected an email address");
    expect(valueMisfit({ type: "list", maxItems: 1 }, [1, 2])).toBe("expected at most 1 items, got 2");
  });
});

describe("prompt rendering", () => {
  it("fills person placeholders in any spelling, marks missing values, leaves unknown names alone", () => {
    expect(
      renderPrompt(
        "{{name}} ({{ First_Name }} {{lastName}}), {{role}} at {{company}} ({{domain}}) in {{location}}; {{linkedin}} / {{email}} / {{favourite_colour}}",
        ADA,
      ),
    ).toBe("Ada Lovelace (Ada Lovelace), Engineer at Analytical Engines (analytical.io) in London; (unknown) / (unknown) / {{favourite_colour}}");
    expect(renderPrompt("Who is {{name}}?", { ...ADA, fullName: null })).toBe("Who is Ada Lovelace?");
    expect(renderPrompt("Who is {{name}}?", { ...ADA, fullName: null, firstName: null, lastName: null })).toBe("Who is (unknown)?");
  });

  it("fills company placeholders, a missing website read from the domain", () => {
    expect(renderPrompt("{{name}} / {{company}} / {{website}} / {{domain}} / {{industry}} / {{location}} / {{description}}", ACME)).toBe(
      "Acme / Acme / acme.com / acme.com / Manufacturing / (unknown) / Makes anvils.",
    );
  });

  it("gives the row's data as compact JSON of the fields it has", () => {
    expect(rowInput(ADA)).toBe(
      '{"type":"person","name":"Ada Lovelace","firstName":"Ada","lastName":"Lovelace","role":"Engineer","company":"Analytical Engines","domain":"analytical.io","location":"London"}',
    );
    expect(rowInput(ACME)).toBe('{"type":"company","name":"Acme","domain":"acme.com","industry":"Manufacturing","description":"Makes anvils."}');
  });
});

describe("the ai provider over the OpenAI client", () => {
  it("a web column: renders the prompt, searches the web, keeps the value, its reasoning and its sources", async () => {
    fake.enqueue(fakeAnswer("https://ada.example.com/", { reasoning: "Linked from her talk page.", sources: ["https://talks.example.org/ada?utm_source=openai"] }));

    const result = await enrich(column({ prompt: "What is {{ name }}'s personal website? She works at {{company}}." }));

    expect(result).toEqual({
      outcome: "value",
      value: "https://ada.example.com/",
      reasoning: "Linked from her talk page.",
      sources: ["https://talks.example.org/ada"],
      sourceTitles: { "https://talks.example.org/ada": "Page at https://talks.example.org/ada?utm_source=openai" },
      metadata: { provider: "openai", model: MODEL, responseId: RESPONSE_ID },
    });
    const [call] = fake.calls;
    expect([call!.webSearch, call!.input, call!.valueSchema]).toEqual([true, rowInput(ADA), valueSchemaOf({ type: "url" })]);
    expect(taskOf(call!.instructions)).toBe(
      [
        'Spreadsheet column "Homepage", one row per person. For the person described by the JSON input, answer:',
        "What is Ada Lovelace's personal website? She works at Analytical Engines.",
        "Look the person up on the live web and cite the pages the answer comes from.",
      ].join("\n"),
    );
  });

  it("a reasoning column: no web search, told to answer from the row's data only, no sources kept", async () => {
    fake.enqueue(fakeAnswer("Manufacturing", { reasoning: "The industry field says so.", sources: ["https://should-not-be-kept.example/"] }));

    const result = await enrich(
      column({ name: "Sector", prompt: "Which sector is {{name}} in?", source: "reasoning", subject: "company", schema: { type: "enum", options: ["Software", "Manufacturing"] } }),
      ACME,
    );

    expect(result).toEqual({ outcome: "value", value: "Manufacturing", reasoning: "The industry field says so.", metadata: { provider: "openai", model: MODEL, responseId: RESPONSE_ID } });
    const [call] = fake.calls;
    expect([call!.webSearch, call!.body.tools, call!.input]).toEqual([false, undefined, rowInput(ACME)]);
    expect(taskOf(call!.instructions)).toBe(
      [
        'Spreadsheet column "Sector", one row per company. For the company described by the JSON input, answer:',
        "Which sector is Acme in?",
        "Answer from the company's data in the input only, by reasoning over it; do not look anything up or add facts from elsewhere. If that data does not settle the question, report it as not found.",
      ].join("\n"),
    );
  });

  it("a column without a prompt asks by its name", async () => {
    await enrich(column({ name: "Founding year", prompt: null, schema: { type: "number" } }));
    expect(taskOf(fake.calls[0]!.instructions)).toMatch(/answer:\nFounding year\n/);
  });

  it("nothing found: no match, with the model's reason", async () => {
    fake.enqueue(fakeNotFound("No personal site is linked anywhere."));
    expect(await enrich(column())).toEqual({
      outcome: "no_match",
      reason: "No personal site is linked anywhere.",
      metadata: { provider: "openai", model: MODEL, responseId: RESPONSE_ID },
    });
  });

  it("a value the database would refuse is a malformed answer, not a value", async () => {
    fake.enqueue(fakeAnswer("see her blog"));
    expect(await enrich(column())).toEqual({
      outcome: "error",
      error: "malformed answer: the value does not fit the column's type url (expected a URL)",
      retryable: false,
      metadata: { provider: "openai", model: MODEL, responseId: RESPONSE_ID, failure: "malformed", status: 200 },
    });
  });

  it("a malformed answer from the API is a failure", async () => {
    fake.enqueue({ kind: "refusal", refusal: "I can't help with that." });
    expect(await enrich(column())).toEqual({
      outcome: "error",
      error: "malformed answer: the model refused: I can't help with that.",
      retryable: false,
      metadata: { provider: "openai", model: MODEL, failure: "malformed", status: 200 },
    });
  });

  it("a provider failure after the client's retries is a failure the runner does not retry again", async () => {
    fake.respond(fakeHttpError(502));
    expect(await enrich(column())).toEqual({
      outcome: "error",
      error: expect.stringMatching(/^openai answered 502: .* \(after 2 attempts\)$/),
      retryable: false,
      metadata: { provider: "openai", model: MODEL, failure: "http", status: 502 },
    });
    expect(fake.calls).toHaveLength(2);
  });

  it("rejects with the signal's reason when aborted", async () => {
    fake.respond({ kind: "hang" });
    const controller = new AbortController();
    const pending = enrich(column(), ADA, controller.signal);
    setTimeout(() => controller.abort(new Error("column deleted")), 30);
    await expect(pending).rejects.toThrow("column deleted");
  });
});

// ---- end to end: the API creates the column, the runner fills it through the fake ----

type CellState = { rowId: string; status: string; value: unknown; reasoning: string | null; error: string | null; metadata: Json };

async function cellsOf(columnId: string): Promise<CellState[]> {
  return rowsOf<CellState>(
    await h.db.execute(sql`
      select c.row_id as "rowId", c.status, c.value, c.reasoning, c.error, c.metadata
      from list_cells c join list_rows r on r.id = c.row_id
      where c.column_id = ${columnId} order by r.position`),
  );
}

async function movements(client: Client) {
  return (await client.ledger())
    .filter((entry) => entry.kind !== "grant")
    .map(({ kind, action, units, delta, referenceType, referenceId, note }) => ({ kind, action, units, delta, referenceType, referenceId, note }));
}

async function listWithPeople(client: Client, names: string[]) {
  const res = await client.post("/api/lists", { name: "Prospects" });
  expect(res.status).toBe(201);
  const listId: string = res.body.list.id;
  return { listId, rowIds: await addPeople(h.db, client.workspaceId, listId, names) };
}

const slug = (name: string) => name.toLowerCase().replace(/[^a-z]+/g, "-");
const personIn = (input: string) => JSON.parse(input) as { name: string; role?: string };

function columnBody(listId: string, overrides: Record<string, unknown>) {
  return {
    id: UUID,
    listId,
    responseType: "auto",
    subject: "person",
    isFilter: false,
    position: BUILT_IN_PERSON_COLUMNS.length,
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
    ...overrides,
  };
}

describe("AI columns end to end (sheet-ai-enrich through the fake OpenAI)", () => {
  it("fills a web column: every cell completed with its value, reasoning and sources, the charge kept", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const { listId, rowIds } = await listWithPeople(client, ["Ada Lovelace", "Grace Hopper", "Alan Turing"]);
    fake.respond((call) => {
      const { name } = personIn(call.input);
      return fakeAnswer(`https://${slug(name)}.example.com/`, { reasoning: `${name} links it from every talk.`, sources: [`https://talks.example.org/${slug(name)}`] });
    });

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Homepage", isDynamic: true, prompt: "What is {{name}}'s personal website?", schema: { type: "url" } });
    expect(res.status).toBe(201);
    // The tasks start while the answer is being made, so its progress is some moment between 3
    // pending and the cells as they are just after it; the credits were charged before it.
    const answered = res.body.column.progress;
    expectEarlierProgress(answered, await progressFromCells(h.db, res.body.column.id));
    expectEarlierProgress(progress({ pending: 3 }), answered);
    expect(res.body).toEqual({
      column: columnBody(listId, {
        name: "Homepage",
        prompt: "What is {{name}}'s personal website?",
        source: "web",
        schema: { type: "url" },
        progress: answered,
        credits: credits(3),
      }),
    });
    await settle();
    const settled = await client.get(`/api/lists/${listId}/columns/${res.body.column.id}`);
    expect(settled.body.column).toEqual({ ...res.body.column, progress: progress({ completed: 3 }), credits: credits(3) });

    const names = ["Ada Lovelace", "Grace Hopper", "Alan Turing"];
    expect(await cellsOf(res.body.column.id)).toEqual(
      names.map((name, i) => ({
        rowId: rowIds[i],
        status: "completed",
        value: `https://${slug(name)}.example.com/`,
        reasoning: `${name} links it from every talk.`,
        error: null,
        metadata: {
          provider: "openai",
          model: MODEL,
          responseId: RESPONSE_ID,
          sources: [`https://talks.example.org/${slug(name)}`],
          sourceTitles: { [`https://talks.example.org/${slug(name)}`]: `Page at https://talks.example.org/${slug(name)}` },
          runId: RUN_ID,
          attempt: 1,
        },
      })),
    );
    expect(fake.calls.map((call) => [personIn(call.input).name, call.webSearch, taskOf(call.instructions)!.split("\n")[1]]).sort()).toEqual(
      names.map((name) => [name, true, `What is ${name}'s personal website?`]).sort(),
    );
    expect(await movements(client)).toEqual([
      { kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 3, delta: -3, referenceType: "column", referenceId: res.body.column.id, note: null },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 47, ledgerSum: 47, entries: 2 });
  });

  it("completes not-found cells empty and fails malformed and unreachable ones, refunding each of them", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const { listId, rowIds } = await listWithPeople(client, ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Linus Torvalds"]);
    fake.respond((call) => {
      switch (personIn(call.input).name) {
        case "Ada Lovelace":
          return fakeAnswer("https://ada.example.com/", { reasoning: "Her site.", sources: ["https://ada.example.com/"] });
        case "Grace Hopper":
          return fakeNotFound("No personal site is linked anywhere.");
        case "Alan Turing":
          return fakeHttpError(500);
        default:
          return fakeAnswer("see his mailing list posts");
      }
    });

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Homepage", isDynamic: true, prompt: "What is {{name}}'s personal website?", schema: { type: "url" } });
    expect(res.status).toBe(201);
    const columnId: string = res.body.column.id;
    await settle();

    const meta = { provider: "openai", model: MODEL, runId: RUN_ID, attempt: 1 };
    const unreachable = expect.stringMatching(/^openai answered 500: \{"error":\{.*\}\} \(after 2 attempts\)$/);
    const misfit = "malformed answer: the value does not fit the column's type url (expected a URL)";
    expect(await cellsOf(columnId)).toEqual([
      { rowId: rowIds[0], status: "completed", value: "https://ada.example.com/", reasoning: "Her site.", error: null, metadata: { ...meta, responseId: RESPONSE_ID, sources: ["https://ada.example.com/"], sourceTitles: { "https://ada.example.com/": "Page at https://ada.example.com/" } } },
      { rowId: rowIds[1], status: "completed", value: null, reasoning: "No personal site is linked anywhere.", error: null, metadata: { ...meta, responseId: RESPONSE_ID } },
      { rowId: rowIds[2], status: "failed", value: null, reasoning: null, error: unreachable, metadata: { ...meta, failure: "http", status: 500 } },
      { rowId: rowIds[3], status: "failed", value: null, reasoning: null, error: misfit, metadata: { ...meta, responseId: RESPONSE_ID, failure: "malformed", status: 200 } },
    ]);
    // The runner does not ask again after the client's own retries: two attempts for the 500, one for each other row.
    expect(fake.calls).toHaveLength(5);

    const refund = (note: unknown) => ({ kind: "refund", action: "CUSTOM_ENRICHMENT_WEB", units: 1, delta: 1, referenceType: "column", referenceId: columnId, note });
    const ledger = await movements(client);
    expect(ledger[0]).toEqual({ kind: "charge", action: "CUSTOM_ENRICHMENT_WEB", units: 4, delta: -4, referenceType: "column", referenceId: columnId, note: null });
    expect(ledger.slice(1)).toEqual(
      expect.arrayContaining([refund("Refund: no match"), refund(expect.stringMatching(/^Refund: openai answered 500: /)), refund(`Refund: ${misfit}`)]),
    );
    expect(ledger).toHaveLength(4);
    expect(await client.ledgerConsistency()).toEqual({ balance: 49, ledgerSum: 49, entries: 5 });
  });

  it("fills a reasoning (profile) column from the row's data alone: no web search, no sources", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const { listId, rowIds } = await listWithPeople(client, ["Ada Lovelace", "Grace Hopper"]);
    fake.respond((call) => {
      const { name, role } = personIn(call.input);
      return fakeAnswer(role === "Engineer", { reasoning: `${name}'s role is ${role}.` });
    });

    const res = await client.post(`/api/lists/${listId}/columns`, {
      name: "Technical",
      isDynamic: true,
      prompt: "Is {{name}} technical, judging by the role ({{role}})?",
      dataSource: "profile",
      schema: { type: "boolean" },
    });
    expect(res.status).toBe(201);
    await settle();

    expect(await cellsOf(res.body.column.id)).toEqual(
      ["Ada Lovelace", "Grace Hopper"].map((name, i) => ({
        rowId: rowIds[i],
        status: "completed",
        value: true,
        reasoning: `${name}'s role is Engineer.`,
        error: null,
        metadata: { provider: "openai", model: MODEL, responseId: RESPONSE_ID, runId: RUN_ID, attempt: 1 },
      })),
    );
    expect(fake.calls.map((call) => [call.webSearch, call.body.tools])).toEqual([
      [false, undefined],
      [false, undefined],
    ]);
    expect(fake.calls.map((call) => taskOf(call.instructions)!.split("\n")[1]).sort()).toEqual([
      "Is Ada Lovelace technical, judging by the role (Engineer)?",
      "Is Grace Hopper technical, judging by the role (Engineer)?",
    ]);
    expect(await movements(client)).toEqual([
      { kind: "charge", action: "CUSTOM_ENRICHMENT_AI", units: 2, delta: -2, referenceType: "column", referenceId: res.body.column.id, note: null },
    ]);
  });
});

describe("custom_ai enrichment runs end to end", () => {
  it("answers each lead through the fake: found leads completed with the answer, a not-found lead skipped and refunded", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const leadIds: string[] = [];
    for (const name of ["Ada Lovelace", "Grace Hopper"]) {
      const res = await client.post("/api/leads", { type: "person", name: { full: name } });
      expect(res.status).toBe(201);
      leadIds.push(res.body.lead.id);
    }
    const [ada, grace] = leadIds as [string, string];
    fake.respond((call) =>
      personIn(call.input).name === "Ada Lovelace" ? fakeAnswer("Mathematics and early computing.", { sources: ["https://en.example.org/ada"] }) : fakeNotFound("Nothing about her interests."),
    );

    const started = await client.post("/api/enrichment", {
      enrichmentId: "custom_ai",
      scope: { type: "explicit_leads", leadIds },
      input: { prompt: "What is {{name}} known for?" },
    });
    expect(started.status).toBe(202);
    await settle();

    expect(fake.calls.map((call) => [personIn(call.input).name, call.webSearch, taskOf(call.instructions)!.split("\n")[1]]).sort()).toEqual([
      ["Ada Lovelace", true, "What is Ada Lovelace known for?"],
      ["Grace Hopper", true, "What is Grace Hopper known for?"],
    ]);
    const runId: string = started.body.runId;
    const page = await client.get(`/api/enrichment/${runId}/items`);
    expect(page.status).toBe(200);
    const item = (leadId: string, fields: Record<string, unknown>) => ({
      id: UUID,
      runId,
      leadId,
      listId: null,
      membershipId: null,
      result: null,
      skippedReason: null,
      error: null,
      attempts: 1,
      metadata: { provider: "openai", providerSubmissionId: null },
      timing: { startedAt: ISO_DATE, completedAt: ISO_DATE, createdAt: ISO_DATE, updatedAt: ISO_DATE },
      ...fields,
    });
    const inLeadOrder = [...page.body.items].sort((a: Json, b: Json) => leadIds.indexOf(a.leadId) - leadIds.indexOf(b.leadId));
    expect({ ...page.body, items: inLeadOrder }).toEqual({
      items: [item(ada, { status: "completed", result: "Mathematics and early computing." }), item(grace, { status: "skipped", skippedReason: "no_match" })],
      page: { limit: 50, nextCursor: null, hasMore: false },
    });

    const attributes = await h.db.select({ id: leads.id, attributes: leads.attributes }).from(leads).where(inArray(leads.id, leadIds));
    expect(Object.fromEntries(attributes.map((row) => [row.id, row.attributes]))).toEqual({ [ada]: { custom_ai: "Mathematics and early computing." }, [grace]: {} });
    expect((await movements(client)).map(({ kind, action, delta }) => [kind, action, delta])).toEqual([
      ["charge", "CUSTOM_ENRICHMENT_AI", -2],
      ["refund", "CUSTOM_ENRICHMENT_AI", 1],
    ]);
  });
});
