import { companyRow, personRow } from "./helpers/provider-rows";
import { eq } from "drizzle-orm";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { companyCells } from "../src/db/schema";
import { TYPED_KINDS } from "../src/domain/column-kinds";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { COMPANY_KINDS, createCompanyProviders, type CompanyKind, type CompanyProviderOptions } from "../src/providers/company-adapters";
import { DEFAULT_OPENAI_MODEL, openAiClient, parseOpenAiEnv } from "../src/providers/openai";
import type { CellProvider, CompanyData, PersonData, ProviderColumn, ProviderResult, RowData } from "../src/providers/types";
import { fakeAnswer, fakeHttpError, fakeNotFound, startFakeOpenAi } from "./helpers/fake-openai";
import { startFakeLinkedinPosts } from "./helpers/fake-linkedin-posts";
import { startFakeNewsApi, type FakeArticle } from "./helpers/fake-news-api";
import { html, routeHosts, startFakeSite } from "./helpers/fake-site";
import { UUID, useHarness } from "./helpers/harness";

// ---- the upstreams, all on 127.0.0.1 ----

const ACME_PAGES = {
  "/robots.txt": { type: "text/plain", body: "User-agent: *\nDisallow: /private\n" },
  "/": html(
    "Acme — Widgets for teams",
    `<nav><a href="/about">About</a> <a href="/careers">Careers</a> <a href="/private">Private</a></nav><h1>Acme builds widgets</h1><p>Used by 2,000 teams.</p>`,
    `<meta name="description" content="Widgets for teams.">`,
  ),
  "/about": html("About Acme", "<h1>About</h1><p>Founded in Lisbon in 2015.</p>"),
  "/careers": html("Careers at Acme", `<h1>Join us</h1><ul><li>Senior Backend Engineer</li><li>Product Designer</li></ul><a href="https://boards.greenhouse.io/acme">All openings</a>`),
};
const htmlBytes = (...paths: Array<keyof typeof ACME_PAGES>) => paths.reduce((sum, path) => sum + Buffer.byteLength(ACME_PAGES[path] as string), 0);

const acme = await startFakeSite(ACME_PAGES);
const globex = await startFakeSite({ "/": html("Globex", `<h1>Globex</h1><p>Logistics software.</p><a href="https://boards.greenhouse.io/globex">Open roles</a>`) });
const initech = await startFakeSite({ "/": html("Initech", "<h1>Initech</h1><p>TPS reports as a service.</p>") });
const board = await startFakeSite({ "/globex": html("Jobs at Globex", "<h2>Data Engineer</h2><p>Remote, full time.</p>") });
const closed = await startFakeSite();
await closed.close();

const NEWS: FakeArticle[] = [
  { title: "Acme raises $20M Series B", url: "https://news.example.com/2025/03/acme-series-b", publishedAt: "2025-03-20T09:00:00Z", source: "Tech Daily" },
  { title: "[Removed]", description: "Acme [Removed]", url: "https://removed.com", publishedAt: "2025-02-01T00:00:00Z", source: "[Removed]" },
  { title: "Acme opens Lisbon office", url: "https://biz.example.org/acme-lisbon", publishedAt: "2025-01-15T10:30:00Z", source: "Biz Wire" },
  { title: "Acme is founded", url: "https://old.example.net/acme-founded", publishedAt: "2024-06-01T08:00:00Z", source: "Old News" },
  { title: "Ada Lovelace joins Analytical Engines as CTO", url: "https://news.example.com/ada-cto", publishedAt: "2025-03-01T12:00:00Z", source: "Tech Daily" },
  ...Array.from({ length: 12 }, (_, i) => ({
    title: `Globex update ${i + 1}`,
    url: `https://wire.example.com/globex-${i + 1}`,
    publishedAt: `2025-03-${String(10 + i).padStart(2, "0")}T00:00:00Z`,
    source: "Wire",
  })),
];
const news = await startFakeNewsApi(NEWS);
const linkedin = await startFakeLinkedinPosts();
const openai = await startFakeOpenAi();

const NOW = new Date("2025-03-31T12:00:00Z");
const hostOf = (url: string) => new URL(url).host;
const OPTIONS: CompanyProviderOptions = {
  http: {
    backoff: { minMs: 5, maxMs: 10 },
    fetch: routeHosts({
      "acme.example": acme.url,
      "globex.example": globex.url,
      "initech.example": initech.url,
      "boards.greenhouse.io": board.url,
      "closed.example": closed.url,
      [hostOf(news.url)]: news.url,
      [hostOf(linkedin.url)]: linkedin.url,
    }),
  },
  clock: { now: () => NOW },
};

const ENV = {
  SITE_CRAWL_ENABLED: "true",
  SITE_CRAWL_USER_AGENT: "TestBot/1.0",
  SITE_CRAWL_TIMEOUT_MS: "400",
  SITE_CRAWL_MAX_ATTEMPTS: "2",
  NEWS_API_URL: news.url,
  NEWS_API_KEY: news.apiKey,
  NEWS_API_TIMEOUT_MS: "400",
  LINKEDIN_POSTS_API_URL: linkedin.url,
  LINKEDIN_POSTS_API_KEY: linkedin.apiKey,
  LINKEDIN_POSTS_API_TIMEOUT_MS: "400",
};

const ai = openAiClient({
  ...parseOpenAiEnv({ OPENAI_API_KEY: openai.apiKey, OPENAI_BASE_URL: openai.baseUrl, OPENAI_TIMEOUT_MS: "400", OPENAI_MAX_ATTEMPTS: "2" })!,
  http: { backoff: { minMs: 5, maxMs: 10 } },
});

/** Every upstream configured, the AI client included. */
const real = createCompanyProviders(ENV, ai, OPTIONS);
/** Only the AI client: every kind answered by web search. */
const webOnly = createCompanyProviders({}, ai, OPTIONS);

// The end-to-end test runs the real column route and task handler with these providers.
const h = useHarness({ providers: real, taskRetryDelayMs: 10 });

afterAll(async () => {
  await Promise.all([acme, globex, initech, board, news, linkedin, openai].map((fake) => fake.close()));
});

beforeEach(() => {
  for (const site of [acme, globex, initech, board]) site.requests.length = 0;
  news.reset();
  linkedin.reset();
  openai.reset();
});

// ---- rows and columns ----

const signal = new AbortController().signal;

const company = (input: Partial<CompanyData> = {}) => companyRow({ domain: "acme.example", industry: null, location: null, ...input });
const person = (input: Partial<PersonData> = {}) =>
  personRow({ role: "CTO", domain: "analytical.example", linkedinUrl: "https://www.linkedin.com/in/ada-lovelace", location: null, ...input });



function column(kind: CompanyKind, subject: "person" | "company" = "company", config: Record<string, unknown> = {}): ProviderColumn {
  return { id: crypto.randomUUID(), name: kind, prompt: null, source: "profile", subject, schema: TYPED_KINDS[kind].schema, config };
}

function provider(set: Partial<Record<CompanyKind, CellProvider>>, kind: CompanyKind): CellProvider {
  const found = set[kind];
  if (!found) throw new Error(`no ${kind} provider`);
  return found;
}

const ask = (set: Partial<Record<CompanyKind, CellProvider>>, kind: CompanyKind, row: RowData, config?: Record<string, unknown>): Promise<ProviderResult> =>
  provider(set, kind).enrich({ column: column(kind, row.subject, config), row, signal });

const elapsed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const started = Date.now();
  const result = await work();
  return [result, Date.now() - started];
};

const ACME_TEXT = [
  "## Acme — Widgets for teams (https://acme.example/)",
  "Widgets for teams.",
  "Acme builds widgets",
  "Used by 2,000 teams.",
  "",
  "## About Acme (https://acme.example/about)",
  "About",
  "Founded in Lisbon in 2015.",
  "",
  "## Careers at Acme (https://acme.example/careers)",
  "Join us",
  "Senior Backend Engineer",
  "Product Designer",
  "All openings",
].join("\n");
const ACME_PAGE_URLS = ["https://acme.example/", "https://acme.example/about", "https://acme.example/careers"];
const ACME_CRAWL = { site: "acme.example", pages: 3, bytes: htmlBytes("/", "/about", "/careers"), stoppedBy: null, skipped: { robots: 1 }, truncated: false };

// ---- the factory ----

describe("which providers the environment configures", () => {
  const names = (set: Partial<Record<CompanyKind, CellProvider>>) => Object.fromEntries(Object.entries(set).map(([kind, p]) => [kind, p.name]));

  it("leaves every kind to the sandbox with neither an upstream nor an AI client", () => {
    expect(createCompanyProviders({}, null)).toEqual({});
    expect(createCompanyProviders({ NEWS_API_URL: news.url, LINKEDIN_POSTS_API_KEY: "k", SITE_CRAWL_ENABLED: "false" }, null)).toEqual({});
  });

  it("uses each configured upstream, and the AI web search for the rest", () => {
    expect(names(createCompanyProviders({}, ai))).toEqual(Object.fromEntries(COMPANY_KINDS.map((kind) => [kind, "openai-web-search"])));
    expect(names(createCompanyProviders({ SITE_CRAWL_ENABLED: "1", NEWS_API_KEY: "k" }, null))).toEqual({ site_crawl: "site-crawl", news_articles: "newsapi" });
    expect(names(real)).toEqual({
      site_crawl: "site-crawl",
      website_overview: "site-crawl+openai",
      hiring_status: "site-crawl+openai",
      news_articles: "newsapi",
      linkedin_posts: "linkedin-posts-api",
    });
  });

  it("refuses malformed settings at start-up, without echoing secrets", () => {
    expect(() => createCompanyProviders({ SITE_CRAWL_MAX_PAGES: "0", NEWS_API_URL: "ftp://news.example", SITE_CRAWL_ENABLED: "yes" }, null)).toThrow(
      /^Invalid environment:\n {2}SITE_CRAWL_ENABLED: .+ \(got "yes"\)\n {2}SITE_CRAWL_MAX_PAGES: .+ \(got "0"\)\n {2}NEWS_API_URL: expected an http\(s\) URL \(got "ftp:\/\/news.example"\)$/,
    );
    expect(() => createCompanyProviders({ NEWS_API_KEY: 42 }, null)).toThrow(/^Invalid environment:\n {2}NEWS_API_KEY: [^(]+$/);
  });
});

// ---- site_crawl ----

describe("site_crawl", () => {
  it("answers the site's readable text, the pages it read as sources", async () => {
    expect(await ask(real, "site_crawl", company())).toEqual({
      outcome: "value",
      value: ACME_TEXT,
      reasoning: `3 pages read on acme.example (${ACME_CRAWL.bytes} bytes of HTML); skipped 1 disallowed by robots.txt.`,
      sources: ACME_PAGE_URLS,
      metadata: { provider: "site-crawl", ...ACME_CRAWL },
    });
    expect(acme.paths()).toEqual(["/robots.txt", "/", "/about", "/careers"]);
    expect(new Set(acme.userAgents())).toEqual(new Set(["TestBot/1.0"]));
  });

  it("caps the text at SITE_CRAWL_MAX_CHARS", async () => {
    const capped = createCompanyProviders({ ...ENV, SITE_CRAWL_MAX_CHARS: "100" }, null, OPTIONS);
    const result = await ask(capped, "site_crawl", company());
    expect(result).toMatchObject({ outcome: "value", value: "## Acme — Widgets for teams (https://acme.example/)\nWidgets for teams.\nAcme builds widgets\nUsed by", metadata: { truncated: true } });
  });

  it("finds nothing without a site, for a person, or where robots.txt forbids everything", async () => {
    expect(await ask(real, "site_crawl", company({ domain: null }))).toEqual({ outcome: "no_match", reason: "No website or domain to read", metadata: { provider: "site-crawl" } });
    expect(await ask(real, "site_crawl", person())).toEqual({ outcome: "no_match", reason: "site crawl is looked up for companies only", metadata: { provider: "site-crawl" } });
    acme.set("/robots.txt", { type: "text/plain", body: "User-agent: TestBot\nDisallow: /\n" });
    try {
      expect(await ask(real, "site_crawl", company())).toEqual({
        outcome: "no_match",
        reason: "robots.txt of acme.example does not allow crawling its home page",
        metadata: { provider: "site-crawl" },
      });
    } finally {
      acme.set("/robots.txt", ACME_PAGES["/robots.txt"]);
    }
  });

  it("fails when the site cannot be reached or keeps failing, after the retries", async () => {
    expect(await ask(real, "site_crawl", company({ domain: "closed.example" }))).toEqual({
      outcome: "error",
      error: expect.stringMatching(/^site-crawl could not be reached: .+ \(after 2 attempts\)$/),
      retryable: false,
      metadata: { provider: "site-crawl", failure: "network", status: null },
    });
    acme.set("/", { status: 500, body: "boom" });
    try {
      expect(await ask(real, "site_crawl", company())).toEqual({
        outcome: "error",
        error: "site-crawl answered 500: boom (after 2 attempts)",
        retryable: false,
        metadata: { provider: "site-crawl", failure: "http", status: 500 },
      });
    } finally {
      acme.set("/", ACME_PAGES["/"]);
    }
  });
});

// ---- website_overview and hiring_status: the crawl, then the AI client ----

describe("website_overview", () => {
  it("summarises the crawled text with the AI client, without web search", async () => {
    openai.enqueue(fakeAnswer("Acme makes widgets for teams. It was founded in Lisbon in 2015 and is hiring engineers.", { reasoning: "From the home, about and careers pages." }));
    expect(await ask(real, "website_overview", company())).toEqual({
      outcome: "value",
      value: "Acme makes widgets for teams. It was founded in Lisbon in 2015 and is hiring engineers.",
      reasoning: "From the home, about and careers pages.",
      sources: ACME_PAGE_URLS,
      metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL },
    });
    expect(openai.calls.map((call) => [call.webSearch, call.input, call.valueSchema])).toEqual([
      [false, `Company: Acme\nWebsite: acme.example\n\n${ACME_TEXT}`, { type: "string", description: "A few sentences." }],
    ]);
    expect(openai.calls[0]!.instructions).toContain("Write a short overview of the company from the text of its website below");
  });

  it("completes empty when the model finds nothing to say", async () => {
    openai.enqueue(fakeNotFound("The pages say nothing about the business."));
    expect(await ask(real, "website_overview", company())).toEqual({
      outcome: "no_match",
      reason: "The pages say nothing about the business.",
      metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL },
    });
  });

  it("asks the web search when the row has no site, or its site cannot be read", async () => {
    openai.enqueue(
      fakeAnswer("Nosite Ltd sells consulting.", { sources: ["https://directory.example/nosite"] }),
      fakeAnswer("Closed Inc. builds boats.", { sources: ["https://boats.example/closed"] }),
    );
    expect(await ask(real, "website_overview", company({ name: "Nosite Ltd", domain: null }))).toEqual({
      outcome: "value",
      value: "Nosite Ltd sells consulting.",
      reasoning: "Stated on the cited pages.",
      sources: ["https://directory.example/nosite"],
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, crawl: "No website or domain to read" },
    });
    expect(await ask(real, "website_overview", company({ name: "Closed Inc.", domain: "closed.example" }))).toEqual({
      outcome: "value",
      value: "Closed Inc. builds boats.",
      reasoning: "Stated on the cited pages.",
      sources: ["https://boats.example/closed"],
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, crawl: expect.stringMatching(/^site-crawl could not be reached: .+ \(after 2 attempts\)$/) },
    });
    expect(openai.calls.map((call) => [call.webSearch, call.input])).toEqual([
      [true, '{"type":"company","name":"Nosite Ltd"}'],
      [true, '{"type":"company","name":"Closed Inc.","domain":"closed.example"}'],
    ]);
  });

  it("waits out a 429's Retry-After, then answers", async () => {
    openai.enqueue(fakeHttpError(429, { "retry-after": "1" }), fakeAnswer("Acme makes widgets."));
    const [result, ms] = await elapsed(() => ask(real, "website_overview", company()));
    expect(result).toMatchObject({ outcome: "value", value: "Acme makes widgets." });
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(openai.calls).toHaveLength(2);
  });

  it("fails on a model that keeps failing, hangs, or answers malformed", async () => {
    const metadata = { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL };
    openai.enqueue(fakeHttpError(500), fakeHttpError(500));
    expect(await ask(real, "website_overview", company())).toEqual({
      outcome: "error",
      error: 'openai answered 500: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}} (after 2 attempts)',
      retryable: false,
      metadata: { ...metadata, failure: "http", status: 500 },
    });
    openai.enqueue({ kind: "hang" }, { kind: "hang" });
    expect(await ask(real, "website_overview", company())).toEqual({
      outcome: "error",
      error: "openai did not answer within 400 ms (after 2 attempts)",
      retryable: false,
      metadata: { ...metadata, failure: "timeout", status: null },
    });
    openai.enqueue({ kind: "text", text: "Acme is great" });
    expect(await ask(real, "website_overview", company())).toEqual({
      outcome: "error",
      error: 'malformed answer: the output is not JSON: "Acme is great"',
      retryable: false,
      metadata: { ...metadata, failure: "malformed", status: 200 },
    });
  });
});

describe("hiring_status", () => {
  it("classifies the careers page it found on the site, naming it", async () => {
    openai.enqueue(fakeAnswer(true, { reasoning: "Two open roles are listed: Senior Backend Engineer and Product Designer." }));
    expect(await ask(real, "hiring_status", company())).toEqual({
      outcome: "value",
      value: true,
      reasoning: "Two open roles are listed: Senior Backend Engineer and Product Designer. (careers page: https://acme.example/careers)",
      sources: ["https://acme.example/careers"],
      metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL },
    });
    // Careers pages come first.
    expect(acme.paths()).toEqual(["/robots.txt", "/", "/careers", "/about"]);
    expect(openai.calls.map((call) => [call.webSearch, call.input, call.valueSchema])).toEqual([
      [
        false,
        "Company: Acme\nCareers page: https://acme.example/careers\nJob boards linked: https://boards.greenhouse.io/acme\n\n## Careers at Acme (https://acme.example/careers)\nJoin us\nSenior Backend Engineer\nProduct Designer\nAll openings",
        { type: "boolean" },
      ],
    ]);
  });

  it("reads the job board the site links to when it has no careers page of its own", async () => {
    openai.enqueue(fakeAnswer(true, { reasoning: "A Data Engineer opening is listed." }));
    expect(await ask(real, "hiring_status", company({ name: "Globex", domain: "globex.example" }))).toEqual({
      outcome: "value",
      value: true,
      reasoning: "A Data Engineer opening is listed. (careers page: https://boards.greenhouse.io/globex)",
      sources: ["https://boards.greenhouse.io/globex"],
      metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, site: "globex.example", pages: 1, bytes: expect.any(Number), stoppedBy: null, skipped: {}, truncated: false },
    });
    expect(board.paths()).toEqual(["/robots.txt", "/globex"]);
    expect(openai.calls[0]!.input).toBe(
      "Company: Globex\nCareers page: https://boards.greenhouse.io/globex\nJob boards linked: https://boards.greenhouse.io/globex\n\n## Jobs at Globex (https://boards.greenhouse.io/globex)\nData Engineer\nRemote, full time.",
    );
  });

  it("asks the web search when the site shows no careers page", async () => {
    openai.enqueue(fakeAnswer(false, { reasoning: "No open positions are listed anywhere.", sources: ["https://www.linkedin.com/company/initech/jobs"] }));
    expect(await ask(real, "hiring_status", company({ name: "Initech", domain: "initech.example" }))).toEqual({
      outcome: "value",
      value: false,
      reasoning: "No open positions are listed anywhere.",
      sources: ["https://www.linkedin.com/company/initech/jobs"],
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, crawl: "No careers page or job board link on initech.example (1 page read)" },
    });
    expect(openai.calls.map((call) => [call.webSearch, call.valueSchema])).toEqual([[true, { type: "boolean" }]]);
    expect(openai.calls[0]!.instructions).toContain("Find out whether the company is hiring right now");
  });

  it("fails when the classification fails", async () => {
    openai.enqueue({ kind: "refusal", refusal: "I cannot help with that." });
    expect(await ask(real, "hiring_status", company())).toEqual({
      outcome: "error",
      error: "malformed answer: the model refused: I cannot help with that.",
      retryable: false,
      metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL, failure: "malformed", status: 200 },
    });
  });
});

// ---- news_articles over NewsAPI's wire format ----

describe("news_articles", () => {
  it("asks NewsAPI for the company by name or domain since the time period, and answers the article URLs", async () => {
    expect(await ask(real, "news_articles", company(), { timePeriod: "3m" })).toEqual({
      outcome: "value",
      value: ["https://news.example.com/2025/03/acme-series-b", "https://biz.example.org/acme-lisbon"],
      reasoning: '2 articles for "Acme" OR "acme.example" since 2024-12-31: "Acme raises $20M Series B" (Tech Daily, 2025-03-20); "Acme opens Lisbon office" (Biz Wire, 2025-01-15)',
      sources: ["https://news.example.com/2025/03/acme-series-b", "https://biz.example.org/acme-lisbon"],
      metadata: { provider: "newsapi", query: '"Acme" OR "acme.example"', from: "2024-12-31", totalResults: 3 },
    });
    expect(news.requests.map((r) => [r.method, r.path, Object.fromEntries(r.query), r.headers["x-api-key"]])).toEqual([
      ["GET", "/v2/everything", { q: '"Acme" OR "acme.example"', from: "2024-12-31", sortBy: "publishedAt", pageSize: "10" }, news.apiKey],
    ]);
  });

  it("reads the time period: a month back clamps to the month's end, a year, everything, and 3 months by default", async () => {
    const fromOf = async (config: Record<string, unknown>) => {
      news.reset();
      await ask(real, "news_articles", company(), config);
      return news.requests[0]!.query.get("from");
    };
    expect([await fromOf({ timePeriod: "1m" }), await fromOf({ timePeriod: "6m" }), await fromOf({ timePeriod: "1y" }), await fromOf({ timePeriod: "all" }), await fromOf({})]).toEqual([
      "2025-02-28",
      "2024-09-30",
      "2024-03-31",
      null,
      "2024-12-31",
    ]);
  });

  it("keeps at most 10 articles, newest first", async () => {
    const result = await ask(real, "news_articles", company({ name: "Globex", domain: null }));
    expect(result).toMatchObject({ outcome: "value", value: Array.from({ length: 10 }, (_, i) => `https://wire.example.com/globex-${12 - i}`), metadata: { totalResults: 12 } });
  });

  it("looks a person up by name within their company", async () => {
    expect(await ask(real, "news_articles", person(), { timePeriod: "1m" })).toEqual({
      outcome: "value",
      value: ["https://news.example.com/ada-cto"],
      reasoning: '1 article for "Ada Lovelace" AND "Analytical Engines" since 2025-02-28: "Ada Lovelace joins Analytical Engines as CTO" (Tech Daily, 2025-03-01)',
      sources: ["https://news.example.com/ada-cto"],
      metadata: { provider: "newsapi", query: '"Ada Lovelace" AND "Analytical Engines"', from: "2025-02-28", totalResults: 1 },
    });
  });

  it("completes empty without articles, and without asking when the row gives nothing to search by", async () => {
    expect(await ask(real, "news_articles", company({ name: "Umbrella", domain: null }))).toEqual({
      outcome: "no_match",
      reason: 'No news articles for "Umbrella" since 2024-12-31',
      metadata: { provider: "newsapi", query: '"Umbrella"', from: "2024-12-31", totalResults: 0 },
    });
    expect(news.requests).toHaveLength(1);
    expect(await ask(real, "news_articles", person({ company: null, domain: null }))).toEqual({
      outcome: "no_match",
      reason: "No company to tell this person's news from namesakes'",
      metadata: { provider: "newsapi" },
    });
    expect(await ask(real, "news_articles", person({ fullName: null, firstName: null, lastName: null }))).toEqual({
      outcome: "no_match",
      reason: "No name to search the news for",
      metadata: { provider: "newsapi" },
    });
    expect(news.requests).toHaveLength(1);
  });

  it("fails at once on a key NewsAPI refuses", async () => {
    const badKey = createCompanyProviders({ ...ENV, NEWS_API_KEY: "wrong" }, null, OPTIONS);
    expect(await ask(badKey, "news_articles", company())).toEqual({
      outcome: "error",
      error:
        'newsapi answered 401: {"status":"error","code":"apiKeyInvalid","message":"Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org to create a free API key."}',
      retryable: false,
      metadata: { provider: "newsapi", query: '"Acme" OR "acme.example"', from: "2024-12-31", failure: "http", status: 401 },
    });
    expect(news.requests).toHaveLength(1);
  });

  it("reads an error status in a 200 as a malformed answer", async () => {
    news.enqueue({ status: 200, body: { status: "error", code: "unexpectedError", message: "Something broke" } });
    expect(await ask(real, "news_articles", company())).toMatchObject({
      outcome: "error",
      error: 'malformed answer: status "error" with HTTP 200: unexpectedError Something broke',
      metadata: { failure: "malformed" },
    });
  });
});

// ---- linkedin_posts over the documented posts API ----

describe("linkedin_posts", () => {
  const ADA = "https://www.linkedin.com/in/ada-lovelace";

  it("answers a person's posts by profile URL, newest first", async () => {
    linkedin.profiles.set(ADA, [
      { url: "https://www.linkedin.com/posts/ada-lovelace_engine-v2-activity-1", postedAt: "2025-03-01T10:00:00Z", text: "Shipping the analytical engine v2 today!" },
      { url: "https://www.linkedin.com/posts/ada-lovelace_old-activity-0", postedAt: null, text: null },
      {
        url: "https://www.linkedin.com/posts/ada-lovelace_hiring-activity-2",
        postedAt: "2025-03-20T08:00:00Z",
        text: "We are hiring two engineers to work on the difference engine and its successors in London.",
      },
    ]);
    expect(await ask(real, "linkedin_posts", person())).toEqual({
      outcome: "value",
      value: [
        "https://www.linkedin.com/posts/ada-lovelace_hiring-activity-2",
        "https://www.linkedin.com/posts/ada-lovelace_engine-v2-activity-1",
        "https://www.linkedin.com/posts/ada-lovelace_old-activity-0",
      ],
      reasoning: `3 posts by ${ADA}, newest first: 2025-03-20 "We are hiring two engineers to work on the difference engine…"; 2025-03-01 "Shipping the analytical engine v2 today!"; https://www.linkedin.com/posts/ada-lovelace_old-activity-0`,
      sources: [
        "https://www.linkedin.com/posts/ada-lovelace_hiring-activity-2",
        "https://www.linkedin.com/posts/ada-lovelace_engine-v2-activity-1",
        "https://www.linkedin.com/posts/ada-lovelace_old-activity-0",
      ],
      metadata: { provider: "linkedin-posts-api" },
    });
    expect(linkedin.requests.map((r) => [r.method, r.path, Object.fromEntries(r.query), r.headers.authorization])).toEqual([
      ["GET", "/posts", { profile_url: ADA, limit: "10" }, `Bearer ${linkedin.apiKey}`],
    ]);
  });

  it("answers a company's posts by name and domain, at most 10", async () => {
    linkedin.companies.set(
      "acme",
      Array.from({ length: 12 }, (_, i) => ({ url: `https://www.linkedin.com/feed/update/urn:li:activity:${100 + i}`, postedAt: `2025-03-${String(10 + i).padStart(2, "0")}T00:00:00Z`, text: `Post ${i}` })),
    );
    const result = await ask(real, "linkedin_posts", company());
    expect(result).toMatchObject({ outcome: "value", value: Array.from({ length: 10 }, (_, i) => `https://www.linkedin.com/feed/update/urn:li:activity:${109 - i}`) });
    expect(linkedin.requests.map((r) => Object.fromEntries(r.query))).toEqual([{ company_name: "Acme", company_domain: "acme.example", limit: "10" }]);
  });

  it("completes empty for an unknown profile, a profile without posts, or a person without a LinkedIn URL", async () => {
    expect(await ask(real, "linkedin_posts", person())).toEqual({ outcome: "no_match", reason: `LinkedIn profile not found: ${ADA}`, metadata: { provider: "linkedin-posts-api" } });
    linkedin.profiles.set(ADA, []);
    expect(await ask(real, "linkedin_posts", person())).toEqual({ outcome: "no_match", reason: `No LinkedIn posts by ${ADA}`, metadata: { provider: "linkedin-posts-api" } });
    expect(await ask(real, "linkedin_posts", person({ linkedinUrl: null }))).toEqual({
      outcome: "no_match",
      reason: "No LinkedIn profile URL for this person",
      metadata: { provider: "linkedin-posts-api" },
    });
    expect(linkedin.requests).toHaveLength(2);
  });
});

// ---- one error mapping for both HTTP upstreams ----

type Upstream = {
  name: string;
  kind: CompanyKind;
  fake: typeof news | typeof linkedin;
  prepare(): void;
  metadata: Record<string, unknown>;
  malformedBody: unknown;
  malformedError: string;
};

const UPSTREAMS: Upstream[] = [
  {
    name: "newsapi",
    kind: "news_articles",
    fake: news,
    prepare: () => {},
    metadata: { provider: "newsapi", query: '"Acme" OR "acme.example"', from: "2024-12-31" },
    malformedBody: { status: "ok", totalResults: 1, articles: [{ title: "x", url: "not a url", publishedAt: "2025-03-01" }] },
    malformedError: "malformed answer: articles.0.url: expected an absolute http(s) URL",
  },
  {
    name: "linkedin-posts-api",
    kind: "linkedin_posts",
    fake: linkedin,
    prepare: () => linkedin.companies.set("acme", [{ url: "https://www.linkedin.com/feed/update/urn:li:activity:1", postedAt: null, text: null }]),
    metadata: { provider: "linkedin-posts-api" },
    malformedBody: { items: [] },
    malformedError: "malformed answer: posts: Invalid input: expected array, received undefined",
  },
];

describe.each(UPSTREAMS)("$name failures", (upstream) => {
  const run = () => {
    upstream.prepare();
    return ask(real, upstream.kind, company());
  };

  it("waits out a 429's Retry-After, then answers", async () => {
    upstream.fake.enqueue({ status: 429, body: { status: "error", code: "rateLimited", message: "Too many requests" }, headers: { "retry-after": "1" } });
    const [result, ms] = await elapsed(run);
    expect(result.outcome).toBe("value");
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(upstream.fake.requests).toHaveLength(2);
  });

  it("fails after its retries on a 500", async () => {
    upstream.fake.always({ status: 500, body: { error: "boom" } });
    expect(await run()).toEqual({
      outcome: "error",
      error: `${upstream.name} answered 500: {"error":"boom"} (after 3 attempts)`,
      retryable: false,
      metadata: { ...upstream.metadata, failure: "http", status: 500 },
    });
    expect(upstream.fake.requests).toHaveLength(3);
  });

  it("times out a hanging upstream on every attempt", async () => {
    upstream.fake.always({ hang: true });
    expect(await run()).toEqual({
      outcome: "error",
      error: `${upstream.name} did not answer within 400 ms (after 3 attempts)`,
      retryable: false,
      metadata: { ...upstream.metadata, failure: "timeout", status: null },
    });
  });

  it("fails on a body that is not JSON, or not in the wire format, without retrying", async () => {
    upstream.fake.enqueue({ status: 200, body: "<html>maintenance</html>" });
    expect(await run()).toEqual({
      outcome: "error",
      error: 'malformed answer: the body is not JSON: "<html>maintenance</html>"',
      retryable: false,
      metadata: { ...upstream.metadata, failure: "malformed", status: 200 },
    });
    upstream.fake.enqueue({ status: 200, body: upstream.malformedBody });
    expect(await run()).toEqual({
      outcome: "error",
      error: upstream.malformedError,
      retryable: false,
      metadata: { ...upstream.metadata, failure: "malformed", status: 200 },
    });
    expect(upstream.fake.requests).toHaveLength(2);
  });
});

// ---- the AI web search where no upstream is configured ----

describe("the web-search fallback", () => {
  it("answers news from the web search since the time period, in the column's list type", async () => {
    openai.enqueue(
      fakeAnswer(["https://news.example.com/2025/03/acme-series-b"], {
        reasoning: "Acme raises $20M Series B (Tech Daily).",
        sources: ["https://news.example.com/2025/03/acme-series-b"],
      }),
    );
    expect(await ask(webOnly, "news_articles", company(), { timePeriod: "1m" })).toEqual({
      outcome: "value",
      value: ["https://news.example.com/2025/03/acme-series-b"],
      reasoning: "Acme raises $20M Series B (Tech Daily).",
      sources: ["https://news.example.com/2025/03/acme-series-b"],
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL },
    });
    const [call] = openai.calls;
    expect([call!.webSearch, call!.input, call!.valueSchema]).toEqual([
      true,
      '{"type":"company","name":"Acme","domain":"acme.example"}',
      { type: "array", items: { type: "string", description: "An absolute URL, starting with https://." }, maxItems: 10 },
    ]);
    expect(call!.instructions).toContain("Find news articles about this company published on or after 2025-02-28");
    expect(news.requests).toEqual([]);
  });

  it("completes empty when the search finds nothing", async () => {
    openai.enqueue(fakeNotFound("No public posts by this person."));
    expect(await ask(webOnly, "linkedin_posts", person())).toEqual({
      outcome: "no_match",
      reason: "No public posts by this person.",
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL },
    });
    expect(openai.calls[0]!.instructions).toContain("Find the most recent public LinkedIn posts by this person");
  });

  it("reads the site through the web search for site_crawl", async () => {
    openai.enqueue(fakeAnswer("Acme builds widgets. Pricing starts at $10.", { sources: ["https://acme.example/"] }));
    expect(await ask(webOnly, "site_crawl", company())).toEqual({
      outcome: "value",
      value: "Acme builds widgets. Pricing starts at $10.",
      reasoning: "Stated on the cited pages.",
      sources: ["https://acme.example/"],
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL },
    });
    expect(acme.requests).toEqual([]);
  });

  it("fails on an answer that does not fit the column", async () => {
    openai.enqueue(fakeAnswer(["Acme raises money"]));
    expect(await ask(webOnly, "news_articles", company())).toEqual({
      outcome: "error",
      error: "malformed answer: the value does not fit the column's type list (item 1: expected a URL)",
      retryable: false,
      metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, failure: "malformed", status: 200 },
    });
  });
});

// ---- end to end: a website_overview column through the column route and the task runner ----

describe("a website_overview column, end to end", () => {
  it("fills each company's cell from its crawled site, the web search, or nothing, and refunds the empty one", async () => {
    openai.respond((call) => {
      if (!call.webSearch) return fakeAnswer("Acme makes widgets for teams, from Lisbon.", { reasoning: "From the site's home and about pages." });
      if (call.input.includes("Nosite")) return fakeAnswer("Nosite Ltd sells consulting.", { sources: ["https://directory.example/nosite"] });
      return fakeNotFound("Nothing about Closed Inc. online.");
    });
    const client = await h.seedWorkspace({ credits: 20 });
    const listId = (await client.post("/api/lists", { name: "Targets" })).body.list.id as string;
    const rowIds: string[] = [];
    for (const body of [{ name: "Acme", domain: "acme.example" }, { name: "Nosite Ltd" }, { name: "Closed Inc.", domain: "closed.example" }]) {
      const created = await client.post(`/api/lists/${listId}/companies`, body);
      expect([created.status, created.body.merged, created.body.company.name]).toEqual([201, false, body.name]);
      rowIds.push(created.body.company.id);
    }

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Overview", isDynamic: true, subject: "company", enrichmentType: "website_overview" });
    expect(res.status).toBe(201);
    const columnId = res.body.column.id as string;
    await h.settle();

    const cells = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
    expect(cells.status).toBe(200);
    expect(cells.body).toEqual({
      cells: [
        { rowId: rowIds[0], name: "Acme", value: "Acme makes widgets for teams, from Lisbon.", status: "completed", error: null },
        { rowId: rowIds[1], name: "Nosite Ltd", value: "Nosite Ltd sells consulting.", status: "completed", error: null },
        { rowId: rowIds[2], name: "Closed Inc.", value: null, status: "completed", error: null },
      ],
    });

    const stored = await h.db.select().from(companyCells).where(eq(companyCells.columnId, columnId));
    const byRow = new Map(stored.map((cell) => [cell.companyRowId, cell]));
    const run = { runId: expect.stringMatching(/^run_/), attempt: 1 };
    expect(rowIds.map((id) => byRow.get(id)).map((cell) => ({ reasoning: cell!.reasoning, metadata: cell!.metadata, id: cell!.id }))).toEqual([
      {
        id: UUID,
        reasoning: "From the site's home and about pages.",
        metadata: { provider: "site-crawl+openai", model: DEFAULT_OPENAI_MODEL, ...ACME_CRAWL, sources: ACME_PAGE_URLS, ...run },
      },
      {
        id: UUID,
        reasoning: "Stated on the cited pages.",
        metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, crawl: "No website or domain to read", sources: ["https://directory.example/nosite"], ...run },
      },
      {
        id: UUID,
        reasoning: "Nothing about Closed Inc. online.",
        metadata: { provider: "openai-web-search", model: DEFAULT_OPENAI_MODEL, crawl: expect.stringMatching(/^site-crawl could not be reached/), ...run },
      },
    ]);

    // Three charged at creation, the empty one refunded.
    const price = DEFAULT_CREDIT_COSTS.WEBSITE_ENRICHMENT!;
    const ledger = (await client.ledger()).filter((entry) => entry.kind !== "grant").map(({ kind, action, units, delta }) => ({ kind, action, units, delta }));
    expect(ledger).toEqual([
      { kind: "charge", action: "WEBSITE_ENRICHMENT", units: 3, delta: -3 * price },
      { kind: "refund", action: "WEBSITE_ENRICHMENT", units: 1, delta: price },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 20 - 2 * price, ledgerSum: 20 - 2 * price, entries: 3 });
  });
});
