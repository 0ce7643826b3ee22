import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { jsonParam } from "../src/db/sql";
import { WEB_LINK_PATTERN } from "../src/domain/views";
import { createSandboxProviders, type Providers } from "../src/providers";
import { createAiColumnProvider } from "../src/providers/ai-column";
import { FAKE_OPENAI_MODEL, fakeAnswer, fakeNotFound, fakeOpenAiClient, startFakeOpenAi, type FakeOpenAiReply, type OpenAiCall } from "./helpers/fake-openai";
import { addCompanies, addPeople } from "./helpers/fixtures";
import { ISO_DATE, UUID, useHarness, type Client, type Json } from "./helpers/harness";

// Spec section 14, "Sources": a cell answered from the web carries `sources: [{ url, title? }]` in
// every cell view (sheet, rows page, companies page, preview cells); no other cell has the key.

const fake = await startFakeOpenAi();
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const MODEL = FAKE_OPENAI_MODEL;

// AI columns are answered by the real OpenAI adapter over the fake; every other kind by the sandbox
// (whose enrichment answers keep source URLs too, which must not show as a web answer's).
const providers: Providers = {
  ...createSandboxProviders(),
  ai: createAiColumnProvider(fakeOpenAiClient(fake, { maxAttempts: 1 })),
};
const h = useHarness({ providers, taskRetryDelayMs: 1 });
const settle = () => h.settle();
afterEach(settle);

type Page = { url: string; title?: string };

/**
 * A Responses API answer citing `pages` as the web search tool does: `url_citation` annotations,
 * with a title only where the page has one.
 */
function citing(value: unknown, pages: Page[]): FakeOpenAiReply {
  const text = JSON.stringify({ value, reasoning: "Stated on the cited pages.", found: true });
  return {
    kind: "http",
    status: 200,
    body: {
      id: "resp_0000000000000001",
      object: "response",
      status: "completed",
      model: MODEL,
      output: [
        { type: "web_search_call", id: "ws_1", status: "completed", action: { type: "search", query: "q" } },
        {
          type: "message",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text, annotations: pages.map((page) => ({ type: "url_citation", start_index: 0, end_index: text.length, ...page })) }],
        },
      ],
    },
  };
}

const nameIn = (call: OpenAiCall) => (JSON.parse(call.input) as { name: string }).name;

async function newList(client: Client) {
  const res = await client.post("/api/lists", { name: "Prospects" });
  expect(res.status).toBe(201);
  return res.body.list.id as string;
}

async function newColumn(client: Client, listId: string, body: Record<string, unknown>) {
  const res = await client.post(`/api/lists/${listId}/columns`, body);
  expect(res.status).toBe(201);
  return res.body.column.id as string;
}

const cellOf = (cells: Json[], columnId: string, rowId: string, rowKey = "rowId") => {
  const cell = cells.find((c) => c.columnId === columnId && c[rowKey] === rowId);
  expect(cell, `cell ${columnId}/${rowId}`).toBeDefined();
  return cell;
};

/** A person cell as every view answers it. */
function personCell(listId: string, columnId: string, rowId: string, fields: Record<string, unknown>) {
  return { id: UUID, listId, columnId, rowId, status: "completed", reasoning: expect.any(String), error: null, createdAt: ISO_DATE, updatedAt: ISO_DATE, ...fields };
}

/** The cells of every person view: the sheet, the rows page (flattened), and preview cells of one column. */
async function personViews(client: Client, listId: string) {
  const sheet = await client.get(`/api/lists/${listId}`);
  expect(sheet.status).toBe(200);
  const page = await client.get(`/api/lists/${listId}/rows`);
  expect(page.status).toBe(200);
  return { sheet: sheet.body.cells as Json[], rows: (page.body.rows as Json[]).flatMap((row) => row.cells as Json[]) };
}

async function previewCellsOf(client: Client, listId: string, columnId: string) {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
  expect(res.status).toBe(200);
  return res.body.cells as Json[];
}

describe("sources on person cells", () => {
  it("a web column's cells carry the cited pages with their titles in the sheet, the rows page and preview cells; other cells have no sources", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [ada, grace, alan] = (await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Grace Hopper", "Alan Turing"])) as [string, string, string];
    fake.respond((call) => {
      if (!call.webSearch) return fakeAnswer(true, { reasoning: "The role says so." });
      switch (nameIn(call)) {
        case "Ada Lovelace":
          return citing("https://ada.example.com/", [
            { url: "https://talks.example.org/ada?utm_source=openai", title: "Ada's talks" },
            { url: "http://blog.example.com/ada" },
            { url: "https://talks.example.org/ada", title: "A second title for the same page" },
          ]);
        case "Grace Hopper":
          // A web answer that cites nothing.
          return citing("https://grace.example.com/", []);
        default:
          return fakeNotFound("No personal site is linked anywhere.");
      }
    });

    const web = await newColumn(client, listId, { name: "Homepage", isDynamic: true, prompt: "What is {{name}}'s personal website?", schema: { type: "url" } });
    const reasoning = await newColumn(client, listId, { name: "Technical", isDynamic: true, prompt: "Is {{name}} technical?", dataSource: "profile", schema: { type: "boolean" } });
    const manual = await newColumn(client, listId, { name: "Notes", isDynamic: false, schema: { type: "text" } });
    await settle();
    expect((await client.put(`/api/lists/${listId}/cells`, { rowId: ada, columnId: manual, value: "Met at the conference" })).status).toBe(200);

    const adaSources = [{ url: "https://talks.example.org/ada", title: "Ada's talks" }, { url: "http://blog.example.com/ada" }];
    const views = await personViews(client, listId);
    for (const cells of [views.sheet, views.rows]) {
      expect(cellOf(cells, web, ada)).toEqual(personCell(listId, web, ada, { value: "https://ada.example.com/", sources: adaSources }));
      expect(cellOf(cells, web, grace)).toEqual(personCell(listId, web, grace, { value: "https://grace.example.com/", sources: [] }));
      // Nothing found is no web answer: no key, as on every cell that is not one.
      expect(cellOf(cells, web, alan)).toEqual(personCell(listId, web, alan, { value: null, reasoning: "No personal site is linked anywhere." }));
      for (const row of [ada, grace, alan]) expect(cellOf(cells, reasoning, row)).toEqual(personCell(listId, reasoning, row, { value: true, reasoning: "The role says so." }));
      expect(cellOf(cells, manual, ada)).toEqual(personCell(listId, manual, ada, { value: "Met at the conference", reasoning: null }));
      expect(cells.filter((cell) => "sources" in cell).map((cell) => [cell.columnId, cell.rowId])).toEqual(
        expect.arrayContaining([
          [web, ada],
          [web, grace],
        ]),
      );
      expect(cells.filter((cell) => "sources" in cell)).toHaveLength(2);
    }

    expect(await previewCellsOf(client, listId, web)).toEqual([
      { rowId: ada, name: "Ada Lovelace", value: "https://ada.example.com/", status: "completed", error: null, sources: adaSources },
      { rowId: grace, name: "Grace Hopper", value: "https://grace.example.com/", status: "completed", error: null, sources: [] },
      { rowId: alan, name: "Alan Turing", value: null, status: "completed", error: null },
    ]);
    expect(await previewCellsOf(client, listId, reasoning)).toEqual(
      [ada, grace, alan].map((rowId, i) => ({ rowId, name: ["Ada Lovelace", "Grace Hopper", "Alan Turing"][i], value: true, status: "completed", error: null })),
    );
  });

  it("a manual value over a web answer drops its sources, in its own answer and in every view", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [ada, grace] = (await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace", "Grace Hopper"])) as [string, string];
    fake.respond((call) => citing(`https://${nameIn(call).split(" ")[0]!.toLowerCase()}.example.com/`, [{ url: "https://talks.example.org/", title: "Talks" }]));
    const web = await newColumn(client, listId, { name: "Homepage", isDynamic: true, prompt: "What is {{name}}'s personal website?", schema: { type: "url" } });
    await settle();

    const written = await client.put(`/api/lists/${listId}/cells`, { rowId: ada, columnId: web, value: "https://ada.dev/" });
    expect(written.status).toBe(200);
    expect(written.body).toEqual({
      cell: { id: UUID, list_id: listId, column_id: web, row_id: ada, value: "https://ada.dev/", status: "completed", reasoning: null, error: null, created_at: ISO_DATE, updated_at: ISO_DATE },
    });

    const views = await personViews(client, listId);
    for (const cells of [views.sheet, views.rows]) {
      expect(cellOf(cells, web, ada)).toEqual(personCell(listId, web, ada, { value: "https://ada.dev/", reasoning: null }));
      expect(cellOf(cells, web, grace)).toEqual(personCell(listId, web, grace, { value: "https://grace.example.com/", sources: [{ url: "https://talks.example.org/", title: "Talks" }] }));
    }
    expect(await previewCellsOf(client, listId, web)).toEqual([
      { rowId: ada, name: "Ada Lovelace", value: "https://ada.dev/", status: "completed", error: null },
      { rowId: grace, name: "Grace Hopper", value: "https://grace.example.com/", status: "completed", error: null, sources: [{ url: "https://talks.example.org/", title: "Talks" }] },
    ]);
  });

  it("a preview web column's cells carry their sources in its preview cells and in the views", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [ada] = (await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"])) as [string];
    fake.respond(citing("Analytical engines", [{ url: "https://en.example.org/ada", title: "Ada Lovelace" }]));
    const preview = await newColumn(client, listId, { name: "Known for", isDynamic: true, prompt: "What is {{name}} known for?", isPreview: true });
    await settle();

    const sources = [{ url: "https://en.example.org/ada", title: "Ada Lovelace" }];
    expect(await previewCellsOf(client, listId, preview)).toEqual([{ rowId: ada, name: "Ada Lovelace", value: "Analytical engines", status: "completed", error: null, sources }]);
    const views = await personViews(client, listId);
    // A preview column is left out of the sheet's columns, but its cells are in the sheet and the rows page.
    for (const cells of [views.sheet, views.rows]) {
      expect(cells.filter((c) => c.columnId === preview)).toEqual([personCell(listId, preview, ada, { value: "Analytical engines", sources })]);
    }
  });

  it("only http(s) links of the stored sources are returned, as stored, with a title only when one is stored", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [ada] = (await addPeople(h.db, client.workspaceId, listId, ["Ada Lovelace"])) as [string];
    fake.respond(citing("https://ada.example.com/", []));
    const web = await newColumn(client, listId, { name: "Homepage", isDynamic: true, prompt: "What is {{name}}'s personal website?", schema: { type: "url" } });
    await settle();
    // Cells stored by other writers (older versions, other adapters) may hold anything in metadata.
    const stored = ["HTTPS://Example.com/A%20b", "javascript:alert(1)", "ftp://files.example.com/x", "not a url", 42, null, "http://plain.example/"];
    const titles = { "HTTPS://Example.com/A%20b": "Example", "http://plain.example/": "", "javascript:alert(1)": "Click" };
    await h.db.execute(sql`
      update list_cells set metadata = metadata || jsonb_build_object('sources', ${JSON.stringify(stored)}::jsonb, 'sourceTitles', ${JSON.stringify(titles)}::jsonb)
      where column_id = ${web} and row_id = ${ada}`);

    const expected = [{ url: "HTTPS://Example.com/A%20b", title: "Example" }, { url: "http://plain.example/" }];
    const views = await personViews(client, listId);
    for (const cells of [views.sheet, views.rows]) expect(cellOf(cells, web, ada).sources).toEqual(expected);
    expect((await previewCellsOf(client, listId, web))[0].sources).toEqual(expected);
  });
});

describe("sources on company cells", () => {
  it("a company web column's cells carry their sources on the companies page and the companies sheet; enrichment cells and manual values have none", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(client);
    const [acme, globex] = (await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex"])) as [string, string];
    fake.respond((call) =>
      nameIn(call) === "Acme"
        ? citing("Anvils", [
            { url: "https://acme.com/products", title: "Acme products" },
            { url: "https://news.example.org/acme" },
          ])
        : citing("Widgets", [{ url: "https://globex.com/", title: "Globex" }]),
    );
    const web = await newColumn(client, listId, { name: "Main product", isDynamic: true, subject: "company", prompt: "What is {{name}}'s main product?", schema: { type: "text" } });
    // The sandbox's crawl keeps the site's URL as its source: evidence, not a web answer.
    const crawl = await newColumn(client, listId, { name: "Site", isDynamic: true, subject: "company", enrichmentType: "site_crawl" });
    await settle();

    const companyCell = (columnId: string, companyRowId: string, fields: Record<string, unknown>) => ({
      id: UUID,
      listId,
      columnId,
      companyRowId,
      status: "completed",
      reasoning: expect.any(String),
      error: null,
      createdAt: ISO_DATE,
      updatedAt: ISO_DATE,
      ...fields,
    });
    const acmeSources = [{ url: "https://acme.com/products", title: "Acme products" }, { url: "https://news.example.org/acme" }];
    const globexSources = [{ url: "https://globex.com/", title: "Globex" }];

    const companyViews = async () => {
      const page = await client.get(`/api/lists/${listId}/companies`);
      expect(page.status).toBe(200);
      const sheet = await client.get(`/api/lists/${listId}?segment=companies`);
      expect(sheet.status).toBe(200);
      return [page.body.cells as Json[], sheet.body.cells as Json[]];
    };
    for (const cells of await companyViews()) {
      expect(cellOf(cells, web, acme, "companyRowId")).toEqual(companyCell(web, acme, { value: "Anvils", sources: acmeSources }));
      expect(cellOf(cells, web, globex, "companyRowId")).toEqual(companyCell(web, globex, { value: "Widgets", sources: globexSources }));
      for (const row of [acme, globex]) expect(cellOf(cells, crawl, row, "companyRowId")).toEqual(companyCell(crawl, row, { value: expect.any(String) }));
    }
    const [stored] = rowsOf<{ metadata: Json }>(await h.db.execute(sql`select metadata from list_company_cells where column_id = ${crawl} and company_row_id = ${acme}`));
    expect(stored!.metadata.sources).toEqual(["https://acme.com/"]);
    expect((await previewCellsOf(client, listId, web)).map((cell) => cell.sources)).toEqual([acmeSources, globexSources]);

    expect((await client.patch(`/api/lists/${listId}/companies/${acme}/cells`, { columnId: web, value: "Rockets" })).status).toBe(200);
    for (const cells of await companyViews()) {
      expect(cellOf(cells, web, acme, "companyRowId")).toEqual(companyCell(web, acme, { value: "Rockets", status: "complete" }));
      expect(cellOf(cells, web, globex, "companyRowId")).toEqual(companyCell(web, globex, { value: "Widgets", sources: globexSources }));
    }
    expect((await previewCellsOf(client, listId, web)).map((cell) => cell.sources)).toEqual([undefined, globexSources]);
  });
});

describe("which cited pages count as web links", () => {
  // The rows page applies the rule in Postgres, the other views in JavaScript: one pattern, the same answers.
  it("JavaScript and Postgres agree on every case, whitespace of every kind included", async () => {
    const cases = [
      "https://example.com/a",
      "HTTP://EXAMPLE.COM",
      "http://[::1]/",
      "https://a",
      "https://",
      "https:///path",
      "https://?q",
      "https://#frag",
      "ftp://example.com",
      "javascript:alert(1)",
      "//example.com",
      "https:// example.com",
      "https://\texample.com",
      "https://\u00a0x",
      "https://\u3000x",
      "https://\u2028x",
      "https://exa mple.com",
      " https://example.com",
      "https://example.com/with space",
      "",
    ];
    const inSql = rowsOf<{ url: string; link: boolean }>(
      await h.db.execute(sql`select u as url, u ~* ${WEB_LINK_PATTERN} as link from jsonb_array_elements_text(${jsonParam(cases)}) with ordinality as e(u, n) order by n`),
    );
    const link = new RegExp(WEB_LINK_PATTERN, "i");
    expect(inSql).toEqual(cases.map((url) => ({ url, link: link.test(url) })));
    expect(inSql.filter((row) => row.link).map((row) => row.url)).toEqual([
      "https://example.com/a",
      "HTTP://EXAMPLE.COM",
      "http://[::1]/",
      "https://a",
      "https://\u00a0x",
      "https://\u3000x",
      "https://\u2028x",
      "https://exa mple.com",
      "https://example.com/with space",
    ]);
  });
});
