import { mkdir } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { and, eq } from "drizzle-orm";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { personCells } from "../src/db/schema";
import { copyVendorAssets, PUBLIC_DIR } from "../src/vendor-assets";
import { useHarness, type Client } from "./helpers/harness";

// The page at / driven end to end in a real headless Chromium, against the real app served over HTTP
// (real Postgres, tasks in-process, the sandbox answering AI columns): key, list, a new AI column
// with its cost shown first, its cells and progress filling live from the event stream, a re-run.

// Names the browser side of page.evaluate uses; this file is compiled without the DOM library.
declare const document: any;
declare const window: any;
declare const localStorage: any;
declare const MutationObserver: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const RESULTS = fileURLToPath(new URL("../test-results/page/", import.meta.url));
// A little provider latency, so that the states a cell goes through are there to be seen.
const h = useHarness({ providerEnv: { SANDBOX_DELAY_MS: "150" } });

let server: Server;
let base: string;
let browser: Browser;

beforeAll(async () => {
  await copyVendorAssets();
  const app = createApp(() => ({ services: h.services }), { staticFiles: serveStatic({ root: PUBLIC_DIR }) });
  server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(started as Server));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  await mkdir(RESULTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
  await h.settle();
});

const PEOPLE = [
  ["Ada", "Lovelace", "Analytical Engines", "analytical.example"],
  ["Grace", "Hopper", "Cobol Works", "cobol.example"],
  ["Alan", "Turing", "Bletchley Labs", "bletchley.example"],
  ["Edsger", "Dijkstra", "Shortest Path", "shortest.example"],
  ["Barbara", "Liskov", "Substitution Inc", "substitution.example"],
  ["Donald", "Knuth", "Tex Press", "tex.example"],
  ["Margaret", "Hamilton", "Apollo Software", "apollo.example"],
  ["Ken", "Thompson", "Unix Systems", "unix.example"],
  ["Frances", "Allen", "Optimizing Compilers", "compilers.example"],
  ["John", "Backus", "Formula Translation", "fortran.example"],
].map(([firstName, lastName, company, domain]) => ({ firstName, lastName, company, domain, role: "Founder" }));

async function seedList(client: Client): Promise<{ listId: string; rowIds: string[] }> {
  const list = await client.post("/api/lists", { name: "Pioneers" });
  expect(list.status).toBe(201);
  const listId: string = list.body.list.id;
  const rows = await client.post(`/api/lists/${listId}/rows/bulk`, { rows: PEOPLE });
  expect(rows.status).toBe(200);
  expect(rows.body.inserted).toBe(PEOPLE.length);
  return { listId, rowIds: rows.body.rowIds };
}

/** A browser context that lets nothing leave for another origin, and remembers what tried. */
async function isolatedPage(): Promise<{ context: BrowserContext; page: Page; offOrigin: string[]; urls: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 820 } });
  const offOrigin: string[] = [];
  const urls: string[] = [];
  const errors: string[] = [];
  await context.route(
    (url) => url.origin !== base,
    (route) => {
      offOrigin.push(route.request().url());
      return route.abort("blockedbyclient");
    },
  );
  const page = await context.newPage();
  page.on("request", (request) => urls.push(request.url()));
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  return { context, page, offOrigin, urls, errors };
}

// The stream is read every few hundred milliseconds, and a busy machine adds to it: expect.poll's
// default second is too short for anything that arrives through it.
const LIVE = { timeout: 15_000 };

const cellSelector = (columnId: string, rowId?: string) => `td[data-column-id="${columnId}"]${rowId ? `[data-row-id="${rowId}"]` : ""}`;

describe("the page at /", () => {
  it("from key entry to an AI column filled live, then one cell re-run", { timeout: 90_000 }, async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const { listId, rowIds } = await seedList(client);
    const { context, page, offOrigin, urls, errors } = await isolatedPage();
    try {
      await page.goto(`${base}/`);
      await page.getByLabel("API key").fill(client.apiKey);
      await page.getByRole("button", { name: "Use key" }).click();

      await expect.poll(() => page.locator("#balance").getAttribute("data-balance"), LIVE).toBe("1000");
      expect(await page.locator("#balance").textContent()).toBe("1,000 credits");
      expect(await page.evaluate(() => localStorage.getItem("lead-enrichment.apiKey"))).toBe(client.apiKey);

      await page.getByLabel("List", { exact: true }).selectOption(listId);
      await expect.poll(() => page.locator("#grid tbody tr").count(), LIVE).toBe(PEOPLE.length);
      await expect.poll(() => page.locator("#stream-state").getAttribute("data-state"), LIVE).toBe("live");
      // Built-in columns show the rows' own fields, typed: the domain is a link.
      await expect.poll(() => page.locator("#grid tbody").textContent(), LIVE).toContain("Ada Lovelace");
      expect(await page.locator(`tr[data-row-id="${rowIds[0]}"] a.value-url`).first().getAttribute("href")).toBe("https://analytical.example/");
      // From here on the page must never reload: this mark would be gone.
      await page.evaluate(() => (window.sameDocument = true));

      // The cost comes from the server's preview, and is shown before anything is created.
      await page.getByRole("button", { name: "Add column" }).click();
      await page.getByLabel("Column name").fill("Sells to businesses?");
      await page.getByLabel("Filled by").selectOption("ai-web");
      await page.getByLabel("Prompt").fill("Does this company sell to other businesses?");
      const cost = page.locator("#column-cost");
      await expect.poll(() => cost.getAttribute("data-credits"), LIVE).toBe("10");
      expect(await cost.textContent()).toBe("10 people × 1 credit = 10 credits. Balance 1,000 credits → 990 credits.");
      const create = page.getByRole("button", { name: "Create column · 10 credits" });
      expect(await create.isEnabled()).toBe(true);
      await create.click();

      const header = page.locator("th[data-column-id]", { hasText: "Sells to businesses?" });
      await header.waitFor();
      const columnId = (await header.getAttribute("data-column-id"))!;
      expect(await header.getAttribute("data-kind")).toBe("AI · web");

      // Every cell of the new column fills, the progress bar reaches 100% and the balance drops, live.
      await page.waitForFunction(
        ({ selector, rows }) => {
          const cells = [...document.querySelectorAll(selector)];
          return cells.length === rows && cells.every((td: any) => td.dataset.status === "completed" && /^(Yes|No)$/.test(td.textContent ?? ""));
        },
        { selector: cellSelector(columnId), rows: PEOPLE.length },
        { timeout: 30_000 },
      );
      await expect.poll(() => header.getByRole("progressbar").getAttribute("aria-valuenow"), LIVE).toBe("100");
      expect(await header.locator(".progress-text").textContent()).toBe("10/10");
      await expect.poll(() => page.locator("#balance").getAttribute("data-balance"), LIVE).toBe("990");
      expect(await page.evaluate(() => window.sameDocument)).toBe(true);

      // What the page shows is what the database holds.
      const stored = await h.db
        .select({ rowId: personCells.rowId, status: personCells.status, value: personCells.value })
        .from(personCells)
        .where(and(eq(personCells.listId, listId), eq(personCells.columnId, columnId)));
      expect(stored).toHaveLength(PEOPLE.length);
      for (const cell of stored) {
        expect(cell.status).toBe("completed");
        expect(typeof cell.value).toBe("boolean");
        expect(await page.locator(cellSelector(columnId, cell.rowId)).textContent()).toBe(cell.value ? "Yes" : "No");
      }
      expect(await client.balance()).toBe(990);
      expect(await client.ledgerConsistency()).toEqual({ balance: 990, ledgerSum: 990, entries: 2 });

      await page.screenshot({ path: `${RESULTS}filled-column.png`, animations: "disabled" });

      // Re-run one cell: it goes back through pending to a value, without a reload.
      const rowId = rowIds[3]!;
      const target = page.locator(cellSelector(columnId, rowId));
      const before = stored.find((cell) => cell.rowId === rowId)!.value;
      await page.evaluate(
        ({ selector }) => {
          // Every status the cell had, in order: events that arrive together change it several times
          // in one task, so each change's old value is kept, not only what a callback finds.
          const before: string[] = [];
          window.seenStatuses = () => [...before, document.querySelector(selector)?.dataset.status];
          // The grid's body, not the cell: a reload would put a new element in the cell's place.
          const observer = new MutationObserver((records: any[]) => {
            for (const record of records) if (record.target.matches?.(selector) && record.oldValue) before.push(record.oldValue);
          });
          observer.observe(document.querySelector("#grid tbody")!, { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-status"] });
        },
        { selector: cellSelector(columnId, rowId) },
      );
      await target.click();
      expect(await target.getAttribute("aria-selected")).toBe("true");
      await expect.poll(() => page.locator("#rerun-cost").getAttribute("data-credits"), LIVE).toBe("1");
      expect(await page.locator("#selection-count").textContent()).toBe("1 cell selected in 1 column");
      await page.getByRole("button", { name: "Re-run 1 cell" }).click();

      await page.waitForFunction(
        (selector) => {
          const seen: string[] = window.seenStatuses();
          return seen.includes("pending") && seen.at(-1) === "completed";
        },
        cellSelector(columnId, rowId),
        { timeout: 20_000 },
      );
      const seen: string[] = await page.evaluate(() => window.seenStatuses());
      expect(seen[0]).toBe("completed");
      expect(seen.at(-1)).toBe("completed");
      expect(seen.indexOf("pending")).toBeGreaterThan(0);
      expect(seen.includes("failed")).toBe(false);
      expect(await target.textContent()).toBe(before ? "Yes" : "No");
      await expect.poll(() => page.locator("#balance").getAttribute("data-balance"), LIVE).toBe("989");
      await expect.poll(() => header.getByRole("progressbar").getAttribute("aria-valuenow"), LIVE).toBe("100");
      expect(await page.evaluate(() => window.sameDocument)).toBe(true);
      await h.settle();
      const [rerun] = await h.db
        .select({ status: personCells.status, value: personCells.value })
        .from(personCells)
        .where(and(eq(personCells.columnId, columnId), eq(personCells.rowId, rowId)));
      expect(rerun).toEqual({ status: "completed", value: before });
      expect(await client.ledgerConsistency()).toEqual({ balance: 989, ledgerSum: 989, entries: 3 });

      // The key went only in Authorization headers, the stream's included; never in a URL.
      const streams = urls.filter((url) => url === `${base}/api/lists/${listId}/events`);
      expect(streams.length).toBeGreaterThan(0);
      expect(urls.filter((url) => url.includes(client.apiKey))).toEqual([]);

      await page.getByRole("button", { name: "Forget key" }).click();
      expect(await page.evaluate(() => localStorage.getItem("lead-enrichment.apiKey"))).toBeNull();
      expect(await page.getByLabel("API key").isVisible()).toBe(true);
      expect(await page.locator("#grid tbody tr").count()).toBe(0);

      expect(offOrigin).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("a stored key opens the last list again, and a refused key is forgotten", { timeout: 60_000 }, async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const { listId } = await seedList(client);
    const { context, page, offOrigin } = await isolatedPage();
    try {
      await page.goto(`${base}/`);
      await page.evaluate((key) => localStorage.setItem("lead-enrichment.apiKey", key), client.apiKey);
      await page.goto(`${base}/#list=${listId}&segment=companies`);
      await page.reload();
      await expect.poll(() => page.locator("#balance").getAttribute("data-balance"), LIVE).toBe("50");
      await expect.poll(() => page.getByRole("tab", { name: /Companies/ }).getAttribute("aria-selected"), LIVE).toBe("true");
      // Each person with a domain brought a company row.
      await expect.poll(() => page.locator("#grid tbody tr").count(), LIVE).toBe(PEOPLE.length);
      expect(await page.locator("#grid tbody").textContent()).toContain("Analytical Engines");

      // A company column priced for the companies, and refused by the server beyond the balance.
      await page.getByRole("button", { name: "Add column" }).click();
      await page.getByLabel("Filled by").selectOption("site_crawl");
      await expect.poll(() => page.locator("#column-cost").getAttribute("data-credits"), LIVE).toBe("40");
      await page.getByLabel("Filled by").selectOption("news_articles");
      await expect.poll(() => page.locator("#column-cost").getAttribute("data-credits"), LIVE).toBe("40");
      expect(await page.locator("#column-cost").getAttribute("data-sufficient")).toBe("true");
      await page.getByRole("button", { name: "Cancel" }).click();

      await page.evaluate(() => localStorage.setItem("lead-enrichment.apiKey", "pk_live_not-a-key-of-anyone-0000000000"));
      await page.reload();
      await expect.poll(() => page.locator("#key-error").textContent(), LIVE).toContain("This key was refused");
      expect(await page.evaluate(() => localStorage.getItem("lead-enrichment.apiKey"))).toBeNull();
      expect(offOrigin).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("after a dropped stream it resumes from the last event id: nothing missed, no reload", { timeout: 60_000 }, async () => {
    const client = await h.seedWorkspace({ credits: 10 });
    const { listId, rowIds } = await seedList(client);
    const notes = await client.post(`/api/lists/${listId}/columns`, { name: "Notes", isDynamic: false });
    expect(notes.status).toBe(201);
    const columnId: string = notes.body.column.id;
    const { context, page, offOrigin } = await isolatedPage();
    const streams: Array<Record<string, string>> = [];
    const sheetLoads: string[] = [];
    page.on("request", (request) => {
      const path = new URL(request.url()).pathname;
      if (path === `/api/lists/${listId}/events`) streams.push(request.headers());
      if (path === `/api/lists/${listId}`) sheetLoads.push(request.url());
    });
    try {
      await page.goto(`${base}/#list=${listId}`);
      await page.getByLabel("API key", { exact: true }).fill(client.apiKey);
      await page.getByRole("button", { name: "Use key" }).click();
      await expect.poll(() => page.locator("#stream-state").getAttribute("data-state"), LIVE).toBe("live");
      await expect.poll(() => page.locator("#grid tbody tr").count(), LIVE).toBe(PEOPLE.length);
      const cell = page.locator(cellSelector(columnId, rowIds[0]));
      expect(await cell.getAttribute("data-status")).toBe("none");

      expect((await client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[0], columnId, value: "first" })).status).toBe(200);
      await expect.poll(() => cell.textContent(), LIVE).toBe("first");
      expect(streams).toHaveLength(1);
      expect(streams[0]!.authorization).toBe(`Bearer ${client.apiKey}`);
      expect(streams[0]!["last-event-id"]).toBeUndefined();

      // Every connection drops; a write lands while the page is away.
      server.closeAllConnections();
      expect((await client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[0], columnId, value: "second" })).status).toBe(200);
      expect((await client.put(`/api/lists/${listId}/cells`, { rowId: rowIds[1], columnId, value: "third" })).status).toBe(200);

      await expect.poll(() => cell.textContent(), LIVE).toBe("second");
      expect(await page.locator(cellSelector(columnId, rowIds[1])).textContent()).toBe("third");
      expect(streams.length).toBeGreaterThanOrEqual(2);
      expect(streams[1]!["last-event-id"]).toMatch(/\S/);
      // Replayed, not reloaded: the sheet was read once.
      expect(sheetLoads).toHaveLength(1);
      expect(offOrigin).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("serves the page to browsers and the JSON pointer to callers asking for JSON", async () => {
    const html = await fetch(`${base}/`, { headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toMatch(/^text\/html/);
    const text = await html.text();
    expect(text).toContain('<script type="module" src="/assets/app.js"></script>');
    // Nothing from another origin: the page works offline.
    expect(text.match(/(src|href)="https?:\/\//g)).toBeNull();
    expect((await fetch(`${base}/`)).headers.get("content-type")).toMatch(/^text\/html/);

    const json = await fetch(`${base}/`, { headers: { accept: "application/json" } });
    expect(await json.json()).toEqual({ name: "lead-enrichment-api", docs: "/docs", openapi: "/openapi.json", mcp: "/mcp", health: "/healthz" });

    for (const asset of ["app.js", "api.js", "cells.js", "sse.js"]) {
      const res = await fetch(`${base}/assets/${asset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/javascript/);
    }
    expect((await fetch(`${base}/assets/app.css`)).headers.get("content-type")).toMatch(/^text\/css/);
  });
});
