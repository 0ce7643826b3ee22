import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CATALOG } from "../src/domain/catalog";
import { REQUEST_ID, useHarness } from "./helpers/harness";

const h = useHarness();

const DOCUMENTED = {
  work_email: { subject: "person", creditAction: "EMAIL_LOOKUP" },
  mobile_phone: { subject: "person", creditAction: "PHONE_LOOKUP" },
  website_overview: { subject: "company", creditAction: "WEBSITE_ENRICHMENT" },
  hiring_status: { subject: "company", creditAction: "HIRING_STATUS" },
  site_crawl: { subject: "company", creditAction: "SITE_CRAWL_ENRICHMENT" },
  company_news: { subject: "company", creditAction: "COMPANY_NEWS" },
  linkedin_posts: { subject: "person", creditAction: "LINKEDIN_POSTS" },
  custom_ai: { subject: "person", creditAction: "CUSTOM_ENRICHMENT_AI" },
} as const;

const JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema";

describe("GET /api/enrichments", () => {
  it("lists every documented enrichment with its subject and credit action, and no hidden one", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/enrichments");
    expect(res.status).toBe(200);
    const slugs = res.body.enrichments.map((e: { slug: string }) => e.slug);
    expect(slugs).toEqual(Object.keys(DOCUMENTED));
    for (const entry of res.body.enrichments) {
      const documented = DOCUMENTED[entry.slug as keyof typeof DOCUMENTED];
      expect(entry).toMatchObject({
        id: entry.slug,
        subject: documented.subject,
        costModel: { creditAction: documented.creditAction },
        enabled: true,
        visibility: "public",
        toolBinding: { type: "trigger_task", taskId: "enrichment-run" },
        defaultOutput: { target: "lead", attributeKey: entry.slug },
      });
    }
    // The hidden entry exists in the catalog but is never offered.
    expect(CATALOG.some((e) => e.visibility === "hidden")).toBe(true);
    expect(slugs).not.toContain("deep_research");
  });

  it("returns one entry in full by id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/enrichments?id=work_email");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      enrichments: [
        {
          id: "work_email",
          slug: "work_email",
          name: "Work email",
          description: "Finds a person's verified work email address from their name and company domain.",
          subject: "person",
          version: 1,
          enabled: true,
          visibility: "public",
          inputSchema: { $schema: JSON_SCHEMA_DRAFT, type: "object", properties: {}, additionalProperties: false },
          outputSchema: { $schema: JSON_SCHEMA_DRAFT, type: "string", format: "email", pattern: expect.any(String) },
          defaultOutput: { target: "lead", attributeKey: "work_email" },
          costModel: { creditAction: "EMAIL_LOOKUP" },
          toolBinding: { type: "trigger_task", taskId: "enrichment-run" },
        },
      ],
    });
  });

  it("publishes input schemas derived from the entries' zod schemas", async () => {
    const client = await h.seedWorkspace();
    const customAi = await client.get("/api/enrichments?id=custom_ai");
    expect(customAi.body.enrichments[0].inputSchema).toEqual({
      $schema: JSON_SCHEMA_DRAFT,
      type: "object",
      properties: {
        prompt: { type: "string", minLength: 1, maxLength: 4000 },
        dataSource: { type: "string", enum: ["web", "profile"], default: "web" },
      },
      required: ["prompt"],
      additionalProperties: false,
    });
    const news = await client.get("/api/enrichments?id=company_news");
    expect(news.body.enrichments[0].inputSchema).toEqual({
      $schema: JSON_SCHEMA_DRAFT,
      type: "object",
      properties: { timePeriod: { type: "string", enum: ["1m", "3m", "6m", "1y", "all"], default: "3m" } },
      additionalProperties: false,
    });
    expect(news.body.enrichments[0].outputSchema).toEqual({
      $schema: JSON_SCHEMA_DRAFT,
      type: "array",
      items: { type: "string", format: "uri" },
      maxItems: 10,
    });
    for (const entry of CATALOG.filter((e) => e.visibility === "public")) {
      const res = await client.get(`/api/enrichments?id=${entry.slug}`);
      expect(res.body.enrichments[0].inputSchema).toEqual(z.toJSONSchema(entry.input, { io: "input" }));
      expect(res.body.enrichments[0].outputSchema).toEqual(z.toJSONSchema(entry.output));
    }
  });

  it.each([["nope"], ["deep_research"]])("answers 404 for the unknown or hidden id %s", async (id) => {
    const client = await h.seedWorkspace();
    const res = await client.get(`/api/enrichments?id=${id}`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "Enrichment not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });

  it("lets id win over q", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/enrichments?id=hiring_status&q=email");
    expect(res.status).toBe(200);
    expect(res.body.enrichments.map((e: { slug: string }) => e.slug)).toEqual(["hiring_status"]);
  });

  it.each([
    ["EMAIL", ["work_email"]],
    ["phone", ["mobile_phone"]],
    ["Website", ["website_overview", "site_crawl"]],
    ["linkedin", ["linkedin_posts"]],
    ["research", []],
    ["zzz-nothing", []],
  ])("matches q=%s case-insensitively on slug, name and description", async (q, expected) => {
    const client = await h.seedWorkspace();
    const res = await client.get(`/api/enrichments?q=${encodeURIComponent(q)}`);
    expect(res.status).toBe(200);
    expect(res.body.enrichments.map((e: { slug: string }) => e.slug)).toEqual(expected);
  });

  it("rejects an empty id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/enrichments?id=");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "id", message: expect.any(String) }] });
  });

  it("needs an API key", async () => {
    const res = await h.app.request("/api/enrichments");
    expect(res.status).toBe(401);
  });
});
