import { companyRow, personRow } from "./helpers/provider-rows";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import type { ColumnSchema } from "../src/db/schema";
import { jsonParam } from "../src/db/sql";
import {
  createProviders,
  createSandboxProviders,
  PROVIDER_KINDS,
  type CompanyData,
  type PersonData,
  type ProviderColumn,
  type ProviderKind,
  type ProviderResult,
  type RowData,
} from "../src/providers";
import { useHarness } from "./helpers/harness";

const h = useHarness();

const signal = new AbortController().signal;
const person = personRow;
const company = companyRow;

function column(input: Partial<ProviderColumn> = {}): ProviderColumn {
  return {
    id: crypto.randomUUID(),
    name: "Insight",
    prompt: "What does this company sell?",
    source: "web",
    subject: "person",
    schema: { type: "text" },
    config: {},
    ...input,
  };
}



// Rows with and without the data providers build on: names with accents, messy domains, no domain.
const PEOPLE: PersonData[] = [
  person(),
  person({ fullName: "José Álvarez-Núñez", firstName: null, lastName: null, domain: "https://www.Example.ES/about" }),
  person({ fullName: "Grace Hopper", firstName: "Grace", lastName: "Hopper", company: null, domain: null }),
  person({ fullName: null, firstName: null, lastName: null, company: null, domain: null }),
  ...Array.from({ length: 16 }, (_, i) => person({ fullName: `Person ${i}`, firstName: `Person`, lastName: `${i}`, domain: `company${i}.com` })),
];
const COMPANIES: CompanyData[] = [
  company(),
  company({ name: "Zürich Analytics", domain: null, website: "https://zurich-analytics.ch/en" }),
  company({ name: "Nameless", domain: null, website: null }),
  ...Array.from({ length: 17 }, (_, i) => company({ name: `Company ${i}`, domain: `company${i}.io` })),
];

const SCHEMAS: ColumnSchema[] = [
  { type: "text" },
  { type: "text", textFormat: "long" },
  { type: "number" },
  { type: "number", format: "percent" },
  { type: "number", currency: "USD" },
  { type: "boolean" },
  { type: "url" },
  { type: "url", linkType: "linkedin" },
  { type: "enum", options: ["Low", "Medium", "High"] },
  { type: "enum" },
  { type: "multiselect", options: ["SaaS", "Fintech", "Health", "Retail", "Logistics"], maxItems: 2 },
  { type: "multiselect", options: ["Only"] },
  { type: "multiselect" },
  { type: "list", itemType: "url", maxItems: 3 },
  { type: "list", itemType: "email" },
  { type: "list", itemType: "phone", maxItems: 2 },
  { type: "list", itemType: "number" },
  { type: "list", itemType: "date" },
  { type: "list", itemType: "boolean" },
  { type: "list", itemType: "text", maxItems: 1 },
  { type: "list" },
  { type: "list", maxItems: 0 },
  { type: "date" },
  { type: "email" },
  { type: "phone" },
];

/** Kinds whose answer is typed by the column's schema (contacts answer an email or a phone). */
const SCHEMA_TYPED_KINDS: ProviderKind[] = ["ai", "hiring_status", "site_crawl", "website_overview", "news_articles", "linkedin_posts"];

const ISO_DAY = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const PHONE = /^\+1 \d{3} 555 01\d{2}$/;

/** The JS-side shape of a value of each schema type, beside the database's own check. */
function assertShape(schema: ColumnSchema, value: unknown) {
  const max = schema.maxItems ?? Number.POSITIVE_INFINITY;
  switch (schema.type) {
    case "text":
      expect(value).toEqual(expect.any(String));
      expect((value as string).length).toBeGreaterThan(0);
      break;
    case "number":
      expect(Number.isFinite(value)).toBe(true);
      break;
    case "boolean":
      expect(typeof value).toBe("boolean");
      break;
    case "url":
      expect(value).toMatch(/^https:\/\/[a-z0-9.-]+\.[a-z]+(\/\S*)?$/);
      break;
    case "enum":
      if (schema.options) expect(schema.options).toContain(value);
      else expect(value).toEqual(expect.any(String));
      break;
    case "multiselect":
      expect(Array.isArray(value)).toBe(true);
      expect((value as string[]).length).toBeGreaterThan(0);
      expect((value as string[]).length).toBeLessThanOrEqual(max);
      expect(new Set(value as string[]).size).toBe((value as string[]).length);
      if (schema.options) for (const item of value as string[]) expect(schema.options).toContain(item);
      break;
    case "list":
      expect(Array.isArray(value)).toBe(true);
      expect((value as unknown[]).length).toBeLessThanOrEqual(max);
      if (max > 0) expect((value as unknown[]).length).toBeGreaterThan(0);
      for (const item of value as unknown[]) assertShape({ type: (schema.itemType ?? "text") as ColumnSchema["type"] }, item);
      break;
    case "date":
      expect(value).toMatch(ISO_DAY);
      break;
    case "email":
      expect(value).toMatch(/^[a-z0-9.]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/);
      break;
    case "phone":
      expect(value).toMatch(PHONE);
      break;
  }
}

async function answer(kind: ProviderKind, col: ProviderColumn, row: RowData, options: { delayMs?: number } = {}): Promise<ProviderResult> {
  return createSandboxProviders(options)[kind].enrich({ column: col, row, signal });
}

describe("sandbox providers: determinism", () => {
  it("answers the same column and row identically from separate provider instances", async () => {
    for (const kind of PROVIDER_KINDS) {
      const col = column({ subject: "person", schema: { type: "list", itemType: "url", maxItems: 5 } });
      for (const row of PEOPLE) {
        expect(await answer(kind, col, row)).toEqual(await answer(kind, col, row));
      }
    }
  });

  it("varies with the row, the column and the prompt", async () => {
    const col = column({ schema: { type: "number" } });
    const values = await Promise.all(PEOPLE.map(async (row) => ((await answer("ai", col, row)) as { value: number }).value));
    expect(new Set(values).size).toBeGreaterThan(PEOPLE.length / 2);

    const row = PEOPLE[0]!;
    const byColumn = await Promise.all(
      Array.from({ length: 10 }, async () => ((await answer("ai", column({ schema: { type: "number" } }), row)) as { value: number }).value),
    );
    expect(new Set(byColumn).size).toBeGreaterThan(1);

    const byPrompt = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => ((await answer("ai", { ...col, prompt: `Question ${i}` }, row)) as { value: number }).value),
    );
    expect(new Set(byPrompt).size).toBeGreaterThan(1);
  });
});

describe("sandbox providers: typed values", () => {
  it("answers every schema type with a value that passes the database's cell_value_fits", async () => {
    const checked: { schema: ColumnSchema; value: unknown; label: string }[] = [];
    for (const schema of SCHEMAS) {
      for (const kind of SCHEMA_TYPED_KINDS) {
        for (const subject of ["person", "company"] as const) {
          const col = column({ subject, schema, source: kind === "ai" ? "reasoning" : "profile" });
          for (const row of subject === "person" ? PEOPLE : COMPANIES) {
            const result = await answer(kind, col, row);
            if (result.outcome === "no_match") {
              // Only the website-based kinds miss, and only for a row with no website.
              expect(["site_crawl", "website_overview", "hiring_status"]).toContain(kind);
              expect(row.domain ?? (row.subject === "company" ? row.website : null)).toBeNull();
              continue;
            }
            expect(result.outcome).toBe("value");
            const value = (result as { value: unknown }).value;
            assertShape(schema, value);
            checked.push({ schema, value, label: `${kind} ${JSON.stringify(schema)} ${row.rowId}` });
          }
        }
      }
    }
    // Every schema type was answered many times, and none of the answers is refused by the database.
    for (const schema of SCHEMAS) expect(checked.filter((c) => c.schema === schema).length).toBeGreaterThan(100);
    const misfits = rowsOf<{ label: string }>(
      await h.db.execute(sql`
        select c.label from jsonb_to_recordset(${jsonParam(checked)}) as c(schema jsonb, value jsonb, label text)
        where not cell_value_fits(c.schema, c.value)`),
    );
    expect(misfits).toEqual([]);
  });

  it("flavours typed enrichments: news and LinkedIn post URLs, long site text, a boolean hiring status", async () => {
    const row = company();
    const news = await answer("news_articles", column({ subject: "company", schema: { type: "list", itemType: "url", maxItems: 10 } }), row);
    for (const url of (news as { value: string[] }).value) expect(url).toMatch(/^https:\/\/[a-z.]+\/\d{4}\/\d{2}\/acme-[a-z-]+$/);
    const posts = await answer("linkedin_posts", column({ subject: "company", schema: { type: "list", itemType: "url", maxItems: 10 } }), row);
    for (const url of (posts as { value: string[] }).value) expect(url).toMatch(/^https:\/\/www\.linkedin\.com\/posts\/acme_[a-z-]+-activity-\d+$/);
    const crawl = await answer("site_crawl", column({ subject: "company", schema: { type: "text", textFormat: "long" } }), row);
    expect((crawl as { value: string }).value).toMatch(/^Crawled \d+ pages of acme\.com\. /);
    const hiring = await answer("hiring_status", column({ subject: "company", schema: { type: "boolean" } }), row);
    expect(hiring).toEqual({
      outcome: "value",
      value: expect.any(Boolean),
      reasoning: "Simulated hiring status for Acme.",
      sources: ["https://acme.com/"],
      metadata: { provider: "sandbox" },
    });
  });

  it("says where an AI answer came from: web columns cite the row's site, reasoning columns cite nothing", async () => {
    const row = person();
    const web = await answer("ai", column({ source: "web", prompt: "What does Ada build?" }), row);
    expect(web).toEqual({
      outcome: "value",
      value: expect.any(String),
      reasoning: 'Answered "What does Ada build?" for Ada Lovelace from a simulated web search.',
      sources: ["https://analytical.io/"],
      metadata: { provider: "sandbox" },
    });
    const reasoning = await answer("ai", column({ source: "reasoning", prompt: "Is Ada senior?", schema: { type: "boolean" } }), row);
    expect(reasoning).toEqual({
      outcome: "value",
      value: expect.any(Boolean),
      reasoning: 'Answered "Is Ada senior?" for Ada Lovelace from the stored profile.',
      metadata: { provider: "sandbox" },
    });
  });
});

describe("sandbox providers: contacts", () => {
  const emailColumn = column({ name: "Work email", prompt: null, source: "profile", schema: { type: "email" } });

  it("builds first.last@domain from the row's name and domain", async () => {
    expect(await answer("work_email", emailColumn, PEOPLE[0]!)).toEqual({ outcome: "value", value: "ada.lovelace@analytical.io", metadata: { provider: "sandbox" } });
    // Accents are folded, the full name is split when first/last are missing, the domain is cleaned.
    expect(await answer("work_email", emailColumn, PEOPLE[1]!)).toEqual({ outcome: "value", value: "jose.alvareznunez@example.es", metadata: { provider: "sandbox" } });
  });

  it("finds no email without a domain or without a name", async () => {
    expect(await answer("work_email", emailColumn, PEOPLE[2]!)).toEqual({
      outcome: "no_match",
      reason: "No company domain to look the email up at",
      metadata: { provider: "sandbox" },
    });
    expect(await answer("work_email", emailColumn, person({ fullName: null, firstName: null, lastName: null }))).toEqual({
      outcome: "no_match",
      reason: "No name to look the email up by",
      metadata: { provider: "sandbox" },
    });
  });

  it("answers a fictional 555-01xx mobile number for most people and misses about one in five, always the same ones", async () => {
    const phoneColumn = column({ name: "Mobile", prompt: null, source: "profile", schema: { type: "phone" } });
    const rows = Array.from({ length: 300 }, () => person());
    const first = await Promise.all(rows.map((row) => answer("mobile_phone", phoneColumn, row)));
    const again = await Promise.all(rows.map((row) => answer("mobile_phone", phoneColumn, row)));
    expect(again).toEqual(first);
    const misses = first.filter((r) => r.outcome === "no_match");
    expect(misses.length).toBeGreaterThan(300 * 0.1);
    expect(misses.length).toBeLessThan(300 * 0.3);
    for (const miss of misses) expect(miss).toEqual({ outcome: "no_match", reason: "No mobile phone found for this person", metadata: { provider: "sandbox" } });
    for (const hit of first.filter((r) => r.outcome === "value")) {
      expect(hit).toEqual({ outcome: "value", value: expect.stringMatching(PHONE), metadata: { provider: "sandbox" } });
    }
  });
});

describe("sandbox providers: delay", () => {
  it("waits the configured delay before answering", async () => {
    const started = performance.now();
    const result = await answer("ai", column(), person(), { delayMs: 80 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(result.outcome).toBe("value");
  });

  it("stops waiting as soon as the signal is aborted, rejecting with its reason", async () => {
    const providers = createSandboxProviders({ delayMs: 10_000 });
    const controller = new AbortController();
    const reason = new Error("run cancelled");
    setTimeout(() => controller.abort(reason), 20);
    const started = performance.now();
    await expect(providers.ai.enrich({ column: column(), row: person(), signal: controller.signal })).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("rejects at once when the signal is already aborted, delay or not", async () => {
    for (const delayMs of [0, 10_000]) {
      const controller = new AbortController();
      controller.abort(new Error("already cancelled"));
      const started = performance.now();
      await expect(createSandboxProviders({ delayMs }).mobile_phone.enrich({ column: column(), row: person(), signal: controller.signal })).rejects.toThrow(
        "already cancelled",
      );
      expect(performance.now() - started).toBeLessThan(100);
    }
  });
});

describe("createProviders", () => {
  it("delays every sandbox answer by SANDBOX_DELAY_MS, and refuses a malformed value", async () => {
    const providers = createProviders({ SANDBOX_DELAY_MS: "60" });
    const started = performance.now();
    await providers.work_email.enrich({ column: column(), row: person(), signal });
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    for (const bad of ["-1", "fast", "1.5"]) {
      expect(() => createProviders({ SANDBOX_DELAY_MS: bad })).toThrow(`SANDBOX_DELAY_MS: expected a non-negative integer, got "${bad}"`);
    }
  });


  it("answers every kind with the sandbox while no real adapter is configured", async () => {
    const providers = createProviders({});
    expect(Object.keys(providers).sort()).toEqual([...PROVIDER_KINDS].sort());
    for (const kind of PROVIDER_KINDS) {
      const subject = kind === "hiring_status" || kind === "site_crawl" || kind === "website_overview" ? "company" : "person";
      const result = await providers[kind].enrich({ column: column({ subject }), row: subject === "company" ? company() : person(), signal });
      expect(providers[kind].name).toBe("sandbox");
      expect(result.metadata).toEqual({ provider: "sandbox" });
    }
  });
});
