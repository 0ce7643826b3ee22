import { z } from "zod";
import type { ColumnSchema } from "../db/schema";
import { TYPED_KINDS } from "../domain/column-kinds";
import { DEFAULT_NEWS_TIME_PERIOD, TIME_PERIODS } from "../domain/columns";
import type { AiAnswer, AiClient } from "./ai";
import { rowInput } from "./ai-column";
import { createHttpClient, failedOutcome, type HttpClient, type HttpClientOptions, type HttpResponse } from "./http";
import type { ProviderEnv } from "./index";
import { blankAsUnset, malformed, misfitFailure, parseProviderEnv, personName, readBody } from "./common";
import { createSiteCrawler, crawlText, DEFAULT_USER_AGENT, entryUrlsOf, type Crawl, type CrawledPage, type SiteCrawler, type SiteCrawlSettings } from "./crawl";
import type { CellProvider, CellRequest, ProviderColumn, ProviderMetadata, ProviderResult, RowData } from "./types";
import { valueMisfit, valueSchemaOf } from "./value-schema";

// The real providers of the company enrichments and the LinkedIn posts, each configured from the
// environment, each falling back to an AI web search where its own upstream is not configured:
//
// - site_crawl: the company's own site, read by the crawler (src/providers/crawl/). On with
//   SITE_CRAWL_ENABLED=true; SITE_CRAWL_USER_AGENT, SITE_CRAWL_MAX_PAGES (5), SITE_CRAWL_MAX_PAGE_BYTES
//   (512 KiB), SITE_CRAWL_MAX_BYTES (2 MiB, the whole crawl), SITE_CRAWL_TIME_BUDGET_MS (20 s),
//   SITE_CRAWL_MAX_CHARS (20,000 characters of text kept), SITE_CRAWL_TIMEOUT_MS (per request),
//   SITE_CRAWL_CONCURRENCY, SITE_CRAWL_MAX_ATTEMPTS; SITE_CRAWL_ALLOW_PRIVATE_HOSTS=true lets it read
//   loopback and private addresses (local sites), which it refuses otherwise.
// - website_overview: the crawl's text summarised by the AI client (no web search).
// - hiring_status: the careers page found by the crawl (an on-site careers/jobs page, or a job board it
//   links to), classified by the AI client.
// - news_articles: NewsAPI.org's wire format, NEWS_API_KEY (NEWS_API_URL defaults to
//   https://newsapi.org): `GET /v2/everything?q=&from=&sortBy=publishedAt&pageSize=10` with
//   `X-Api-Key`, answering `{ status: "ok", totalResults, articles: [{ source: { name }, title, url,
//   publishedAt }] }` or `{ status: "error", code, message }`.
// - linkedin_posts: LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY, an API of this shape:
//     GET {LINKEDIN_POSTS_API_URL}/posts?profile_url=<LinkedIn URL of a person or company>&limit=10
//     GET {LINKEDIN_POSTS_API_URL}/posts?company_name=<name>&company_domain=<domain>&limit=10
//     Authorization: Bearer <LINKEDIN_POSTS_API_KEY>
//     200 { "posts": [{ "url": "https://www.linkedin.com/posts/…", "posted_at": "2024-05-01T09:30:00Z" | null, "text": "…" | null }] }
//     404 when the profile or company is unknown (no match).
//   News and LinkedIn clients take <PREFIX>_TIMEOUT_MS, <PREFIX>_CONCURRENCY, <PREFIX>_MAX_ATTEMPTS
//   with PREFIX NEWS_API or LINKEDIN_POSTS_API.
//
// Without its upstream, a kind is answered by the AI client with web search when there is one (the
// site-based kinds also fall back to it for a row whose site cannot be read); with neither, the kind
// is left out and the sandbox answers. One error mapping everywhere: nothing found is `no_match`; a
// request that failed after the HTTP client's retries, or an answer that is not what the wire format
// promises ("malformed answer: …"), is an `error`.

export const COMPANY_KINDS = ["site_crawl", "website_overview", "hiring_status", "news_articles", "linkedin_posts"] as const;
export type CompanyKind = (typeof COMPANY_KINDS)[number];

export type CompanyProviderOptions = {
  /** HTTP behaviour of every upstream client, over what the environment says (tests shorten backoffs). */
  http?: Pick<HttpClientOptions, "backoff" | "maxRetryAfterMs" | "fetch">;
  /** Where "now" comes from for news time periods. */
  clock?: { now(): Date };
};

export const NEWS_API_PROVIDER = "newsapi";
export const LINKEDIN_POSTS_PROVIDER = "linkedin-posts-api";
export const SITE_CRAWL_PROVIDER = "site-crawl";
const MAX_LIST_ITEMS = 10;

// ---- environment ----

// Unset variables often arrive as empty strings (compose files, .env templates): they mean "use the default".
const flag = blankAsUnset(z.enum(["true", "false", "1", "0"]).default("false")).transform((value) => value === "true" || value === "1");
const int = (min: number, max: number, fallback: number) => blankAsUnset(z.coerce.number().int().min(min).max(max).default(fallback));
const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });
const secret = blankAsUnset(z.string().trim().min(1).optional());

const upstreamEnv = (prefix: string) => ({
  [`${prefix}_TIMEOUT_MS`]: int(1, 600_000, 15_000),
  [`${prefix}_CONCURRENCY`]: int(1, 1000, 4),
  [`${prefix}_MAX_ATTEMPTS`]: int(1, 10, 3),
});

const companyEnvSchema = z.object({
  SITE_CRAWL_ENABLED: flag,
  SITE_CRAWL_USER_AGENT: blankAsUnset(z.string().trim().min(1).default(DEFAULT_USER_AGENT)),
  SITE_CRAWL_MAX_PAGES: int(1, 100, 5),
  SITE_CRAWL_MAX_PAGE_BYTES: int(1024, 50 * 1024 * 1024, 512 * 1024),
  SITE_CRAWL_MAX_BYTES: int(1024, 500 * 1024 * 1024, 2 * 1024 * 1024),
  SITE_CRAWL_TIME_BUDGET_MS: int(100, 600_000, 20_000),
  SITE_CRAWL_MAX_CHARS: int(100, 1_000_000, 20_000),
  SITE_CRAWL_TIMEOUT_MS: int(1, 600_000, 8_000),
  SITE_CRAWL_CONCURRENCY: int(1, 1000, 8),
  SITE_CRAWL_MAX_ATTEMPTS: int(1, 10, 2),
  SITE_CRAWL_ALLOW_PRIVATE_HOSTS: flag,
  NEWS_API_URL: blankAsUnset(httpUrl.default("https://newsapi.org")),
  NEWS_API_KEY: secret,
  ...upstreamEnv("NEWS_API"),
  LINKEDIN_POSTS_API_URL: blankAsUnset(httpUrl.optional()),
  LINKEDIN_POSTS_API_KEY: secret,
  ...upstreamEnv("LINKEDIN_POSTS_API"),
});

type CompanyEnv = {
  crawl: (SiteCrawlSettings & { maxChars: number }) | null;
  news: UpstreamConfig | null;
  linkedin: UpstreamConfig | null;
};

type UpstreamConfig = { baseUrl: string; apiKey: string; timeoutMs: number; concurrency: number; maxAttempts: number };

const SECRETS = new Set(["NEWS_API_KEY", "LINKEDIN_POSTS_API_KEY"]);

/** What the environment configures; malformed values throw, so a typo is found at start-up. */
export function parseCompanyEnv(env: ProviderEnv): CompanyEnv {
  const e = parseProviderEnv(companyEnvSchema, env, [...SECRETS]) as Record<string, unknown> & z.infer<typeof companyEnvSchema>;
  const upstream = (prefix: string, baseUrl: string | undefined, apiKey: string | undefined): UpstreamConfig | null =>
    baseUrl && apiKey
      ? { baseUrl, apiKey, timeoutMs: e[`${prefix}_TIMEOUT_MS`] as number, concurrency: e[`${prefix}_CONCURRENCY`] as number, maxAttempts: e[`${prefix}_MAX_ATTEMPTS`] as number }
      : null;
  return {
    crawl: e.SITE_CRAWL_ENABLED
      ? {
          userAgent: e.SITE_CRAWL_USER_AGENT,
          maxPages: e.SITE_CRAWL_MAX_PAGES,
          maxPageBytes: e.SITE_CRAWL_MAX_PAGE_BYTES,
          maxTotalBytes: e.SITE_CRAWL_MAX_BYTES,
          timeBudgetMs: e.SITE_CRAWL_TIME_BUDGET_MS,
          maxRedirects: 3,
          allowPrivateHosts: e.SITE_CRAWL_ALLOW_PRIVATE_HOSTS,
          maxChars: e.SITE_CRAWL_MAX_CHARS,
          http: { timeoutMs: e.SITE_CRAWL_TIMEOUT_MS, concurrency: e.SITE_CRAWL_CONCURRENCY, maxAttempts: e.SITE_CRAWL_MAX_ATTEMPTS },
        }
      : null,
    news: upstream("NEWS_API", e.NEWS_API_URL, e.NEWS_API_KEY),
    linkedin: upstream("LINKEDIN_POSTS_API", e.LINKEDIN_POSTS_API_URL, e.LINKEDIN_POSTS_API_KEY),
  };
}

// ---- shared pieces ----

const noMatch = (reason: string, metadata: ProviderMetadata): ProviderResult => ({ outcome: "no_match", reason, metadata });

/** Every upstream failure, AI included, maps here; the caller's own abort is passed on. */
function failure(error: unknown, signal: AbortSignal, metadata: ProviderMetadata): ProviderResult {
  if (signal.aborted) throw signal.reason;
  return failedOutcome(error, metadata);
}




const webUrl = z.string().refine((url) => /^https?:\/\//i.test(url) && valueMisfit({ type: "url" }, url) === null, "expected an absolute http(s) URL");

const distinct = (urls: readonly string[]) => [...new Set(urls)].slice(0, MAX_LIST_ITEMS);


function bareDomain(domain: string | null): string | null {
  const host = domain?.trim().toLowerCase().replace(/^[a-z]+:\/\//, "").replace(/[/?#:].*$/, "").replace(/^www\./, "");
  return host || null;
}

const day = (date: Date) => date.toISOString().slice(0, 10);

const schemaOf = (kind: CompanyKind, column: ProviderColumn): ColumnSchema => column.schema ?? TYPED_KINDS[kind].schema;

function upstreamClient(provider: string, config: UpstreamConfig, headers: Record<string, string>, options: CompanyProviderOptions): HttpClient {
  return createHttpClient({
    provider,
    baseUrl: config.baseUrl,
    headers,
    timeoutMs: config.timeoutMs,
    maxAttempts: config.maxAttempts,
    concurrency: config.concurrency,
    ...options.http,
  });
}

// ---- AI answers ----

/**
 * An AI answer as a cell result: a null value is "nothing found", a value that does not fit the
 * column is a malformed answer, anything else is the value with its reasoning and sources.
 */
function aiResult(answer: AiAnswer, schema: ColumnSchema, metadata: ProviderMetadata, extra: { reasoning?: (reasoning: string) => string; sources?: string[] } = {}): ProviderResult {
  const meta = { ...metadata, model: answer.metadata.model };
  if (answer.value === null || answer.value === undefined) return noMatch(answer.reasoning || "Nothing found", meta);
  const misfit = misfitFailure(schema, answer.value, meta);
  if (misfit) return misfit;
  const sources = [...new Set([...(extra.sources ?? []), ...answer.sources])];
  return {
    outcome: "value",
    value: answer.value,
    reasoning: extra.reasoning ? extra.reasoning(answer.reasoning) : answer.reasoning,
    ...(sources.length > 0 ? { sources } : {}),
    metadata: meta,
  };
}

const NEWS_PERIOD_MONTHS: Record<Exclude<(typeof TIME_PERIODS)[number], "all">, number> = { "1m": 1, "3m": 3, "6m": 6, "1y": 12 };

/** The first day news is looked for from, by the column's `config.timePeriod`; null for "all". */
export function newsSince(config: Record<string, unknown>, now: Date): Date | null {
  const raw = config.timePeriod;
  const period = (TIME_PERIODS as readonly unknown[]).includes(raw) ? (raw as (typeof TIME_PERIODS)[number]) : DEFAULT_NEWS_TIME_PERIOD;
  if (period === "all") return null;
  const months = NEWS_PERIOD_MONTHS[period];
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth() - months;
  // Month arithmetic clamps to the target month's last day: 31 March less one month is 28/29 February.
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(now.getUTCDate(), lastDay)));
}

function webInstructions(kind: CompanyKind, request: CellRequest, now: Date): string {
  const subject = request.row.subject;
  switch (kind) {
    case "site_crawl":
      return "Read the company's own website (home, about, product, pricing and team pages) and return their readable content as plain text: what the site says the company does, its products, customers, pricing and team. Keep to what the site says; add nothing from elsewhere.";
    case "website_overview":
      return overviewInstructions("from its own website");
    case "hiring_status":
      return "Find out whether the company is hiring right now: look for current openings on its careers page, on job boards (Greenhouse, Lever, Ashby, Workable and the like) and on LinkedIn Jobs. true when at least one current opening exists, false when the company states it has none or every listing is closed. Name the evidence in the reasoning.";
    case "news_articles": {
      const since = newsSince(request.column.config, now);
      return `Find news articles about this ${subject}${since ? ` published on or after ${day(since)}` : ""}, from news outlets (not the ${subject}'s own site or social media). Return the URLs of up to ${MAX_LIST_ITEMS} articles, newest first, and list their titles in the reasoning.`;
    }
    case "linkedin_posts":
      return `Find the most recent public LinkedIn posts by this ${subject} (linkedin.com/posts/… or linkedin.com/feed/update/… URLs). Return the URLs of up to ${MAX_LIST_ITEMS} posts, newest first.`;
  }
}

/** A kind answered by the AI client with live web search. */
function webSearchProvider(kind: CompanyKind, ai: AiClient, clock: { now(): Date }): CellProvider {
  const name = `${ai.provider}-web-search`;
  return {
    name,
    async enrich(request) {
      const { column, row, signal } = request;
      const metadata = { provider: name };
      const schema = schemaOf(kind, column);
      let answer: AiAnswer;
      try {
        answer = await ai.answer({ instructions: webInstructions(kind, request, clock.now()), input: rowInput(row), valueSchema: valueSchemaOf(schema), webSearch: true, signal });
      } catch (error) {
        return failure(error, signal, { ...metadata, model: ai.model });
      }
      return aiResult(answer, schema, metadata);
    },
  };
}

// ---- the site-based kinds ----

const notForPeople = (kind: CompanyKind, provider: string): ProviderResult =>
  noMatch(`${kind.replace(/_/g, " ")} is looked up for companies only`, { provider });

function crawlMetadata(crawl: Crawl, truncated: boolean): Record<string, unknown> {
  return { site: crawl.site, pages: crawl.pages.length, bytes: crawl.bytes, stoppedBy: crawl.stoppedBy, skipped: crawl.skipped, truncated };
}

const pagesRead = (crawl: Crawl) => `${crawl.pages.length} page${crawl.pages.length === 1 ? "" : "s"} read`;

function crawlSummary(crawl: Crawl): string {
  const skipped = Object.entries(crawl.skipped).map(([reason, count]) => `${count} ${SKIP_WORDS[reason as keyof Crawl["skipped"]]}`);
  const budget = crawl.stoppedBy ? `; stopped at the ${BUDGET_WORDS[crawl.stoppedBy]} budget` : "";
  return `${pagesRead(crawl)} on ${crawl.site} (${crawl.bytes} bytes of HTML)${skipped.length > 0 ? `; skipped ${skipped.join(", ")}` : ""}${budget}.`;
}

const BUDGET_WORDS: Record<NonNullable<Crawl["stoppedBy"]>, string> = { pages: "page", bytes: "byte", time: "time" };

const SKIP_WORDS: Record<keyof Crawl["skipped"], string> = {
  robots: "disallowed by robots.txt",
  not_html: "not HTML",
  status: "missing or closed",
  redirect: "redirecting off the site or in loops",
  failed: "failing",
};

function siteCrawlProvider(crawler: SiteCrawler, maxChars: number): CellProvider {
  return {
    name: SITE_CRAWL_PROVIDER,
    async enrich({ row, signal }) {
      const metadata = { provider: SITE_CRAWL_PROVIDER };
      if (row.subject !== "company") return notForPeople("site_crawl", SITE_CRAWL_PROVIDER);
      const crawl = await crawler.crawl(entryUrlsOf(row), signal);
      if (crawl.status === "nothing") return noMatch(crawl.reason, metadata);
      if (crawl.status === "failed") return failure(crawl.error, signal, metadata);
      const { text, truncated } = crawlText(crawl.pages, maxChars);
      return {
        outcome: "value",
        value: text,
        reasoning: crawlSummary(crawl),
        sources: crawl.pages.map((page) => page.url),
        metadata: { ...metadata, ...crawlMetadata(crawl, truncated) },
      };
    },
  };
}

const overviewInstructions = (material: string) =>
  `Write a short overview of the company ${material}: what it does, for whom, its main products or services, and what the site states about customers, pricing model, location or size. Three to five plain sentences, no marketing language, nothing the site does not support.`;

const HIRING_INSTRUCTIONS =
  "Decide whether the company is hiring right now, from its careers page below. true when the page lists at least one open position or points to current openings; false when it says there are no open positions or lists none. In the reasoning, name the evidence: the roles listed, or what the page says.";

/** A careers page by its address: on-site paths and the job boards companies link to. */
const CAREERS_PATH = /\/(careers?|jobs?|join(-us)?|work-with-us|vacancies|open-(positions|roles)|hiring)(\/|\.html?$|$)/i;
const CAREERS_TEXT = /\b(careers?|jobs|join (us|the team|our team)|we'?re hiring|open (positions|roles)|work with us)\b/i;
const JOB_BOARD_HOSTS = [
  "boards.greenhouse.io",
  "job-boards.greenhouse.io",
  "jobs.lever.co",
  "jobs.ashbyhq.com",
  "apply.workable.com",
  "jobs.smartrecruiters.com",
  "jobs.personio.de",
  "jobs.personio.com",
];
const JOB_BOARD_SUFFIXES = [".workable.com", ".recruitee.com", ".teamtailor.com", ".breezy.hr", ".bamboohr.com", ".myworkdayjobs.com", ".jobs.personio.de"];

export function isJobBoard(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return JOB_BOARD_HOSTS.includes(host) || JOB_BOARD_SUFFIXES.some((suffix) => host.endsWith(suffix));
}

const CAREERS_FIRST = [/\b(careers?|jobs?|join|hiring|vacancies|open-positions|work-with-us)\b/];

type CareersEvidence = { page: CrawledPage; boards: string[] };

/**
 * The careers page of a crawl: a crawled page at a careers address or linked as one, else a job
 * board the site links to (read on its own); null when the site shows neither.
 */
async function careersEvidence(crawler: SiteCrawler, crawl: Crawl, signal: AbortSignal): Promise<CareersEvidence | null> {
  const links = crawl.pages.flatMap((page) => page.links);
  const linkedAsCareers = new Set(links.filter((link) => CAREERS_TEXT.test(link.text)).map((link) => link.url));
  const boards = [...new Set([...links.map((link) => link.url), ...crawl.pages.flatMap((page) => page.embeds)].filter(isJobBoard))];
  const page = crawl.pages.find((candidate) => candidate !== crawl.pages[0] && (CAREERS_PATH.test(new URL(candidate.url).pathname) || linkedAsCareers.has(candidate.url)));
  if (page) return { page, boards };
  for (const board of boards) {
    const boardPage = await crawler.readPage(board, signal);
    if (boardPage) return { page: boardPage, boards };
  }
  return null;
}

type SiteAiKind = "website_overview" | "hiring_status";

/**
 * website_overview and hiring_status: read the site, then have the AI client answer from what was
 * read; a row whose site cannot be read (or, for hiring, shows no careers page) is answered by the
 * web search instead, noting why.
 */
function siteAiProvider(kind: SiteAiKind, crawler: SiteCrawler, ai: AiClient, web: CellProvider, maxChars: number): CellProvider {
  const name = `${SITE_CRAWL_PROVIDER}+${ai.provider}`;
  const viaWeb = async (request: CellRequest, why: string): Promise<ProviderResult> => {
    const result = await web.enrich(request);
    return { ...result, metadata: { ...result.metadata, crawl: why } };
  };
  return {
    name,
    async enrich(request) {
      const { column, row, signal } = request;
      if (row.subject !== "company") return notForPeople(kind, name);
      const crawl = await crawler.crawl(entryUrlsOf(row), signal, kind === "hiring_status" ? { priorities: CAREERS_FIRST } : {});
      if (crawl.status === "nothing") return viaWeb(request, crawl.reason);
      if (crawl.status === "failed") {
        if (signal.aborted) throw signal.reason;
        return viaWeb(request, crawl.error instanceof Error ? crawl.error.message : String(crawl.error));
      }
      const schema = schemaOf(kind, column);
      const metadata: ProviderMetadata = { provider: name, ...crawlMetadata(crawl, false) };
      let material: { input: string; sources: string[]; reasoning?: (reasoning: string) => string };
      if (kind === "website_overview") {
        const { text, truncated } = crawlText(crawl.pages, maxChars);
        metadata.truncated = truncated;
        material = { input: `Company: ${row.name}\nWebsite: ${crawl.site}\n\n${text}`, sources: crawl.pages.map((page) => page.url) };
      } else {
        const evidence = await careersEvidence(crawler, crawl, signal);
        if (!evidence) return viaWeb(request, `No careers page or job board link on ${crawl.site} (${pagesRead(crawl)})`);
        const boards = evidence.boards.length > 0 ? `\nJob boards linked: ${evidence.boards.join(", ")}` : "";
        const { text } = crawlText([evidence.page], maxChars);
        material = {
          input: `Company: ${row.name}\nCareers page: ${evidence.page.url}${boards}\n\n${text}`,
          sources: [evidence.page.url],
          reasoning: (reasoning) => `${reasoning} (careers page: ${evidence.page.url})`,
        };
      }
      let answer: AiAnswer;
      try {
        answer = await ai.answer({
          instructions: kind === "website_overview" ? overviewInstructions("from the text of its website below") : HIRING_INSTRUCTIONS,
          input: material.input,
          valueSchema: valueSchemaOf(schema),
          webSearch: false,
          signal,
        });
      } catch (error) {
        return failure(error, signal, { ...metadata, model: ai.model });
      }
      return aiResult(answer, schema, metadata, material);
    },
  };
}

// ---- news ----

const newsAnswer = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("ok"),
    totalResults: z.number().optional(),
    articles: z.array(
      z.object({
        source: z.object({ name: z.string().nullish() }).nullish(),
        title: z.string().nullish(),
        url: webUrl,
        publishedAt: z.string().nullish(),
      }),
    ),
  }),
  z.object({ status: z.literal("error"), code: z.string().nullish(), message: z.string().nullish() }),
]);

/** NewsAPI lists articles taken down by their publisher under this placeholder. */
const REMOVED_ARTICLE = /^https?:\/\/removed\.com\/?$/i;

const phrase = (text: string) => `"${text.replace(/"/g, "").trim()}"`;

/** The NewsAPI `q` for a row: the company by name or domain; a person by name within their company. */
export function newsQuery(row: RowData): { query: string } | { missing: string } {
  if (row.subject === "company") {
    const terms = [row.name?.trim(), bareDomain(row.domain)].filter((term): term is string => Boolean(term));
    return terms.length > 0 ? { query: [...new Set(terms)].map(phrase).join(" OR ") } : { missing: "No company name or domain to search the news for" };
  }
  const name = personName(row);
  const organisation = row.company?.trim() || bareDomain(row.domain);
  if (!name) return { missing: "No name to search the news for" };
  // A name alone finds every namesake: the company keeps the results about this person.
  if (!organisation) return { missing: "No company to tell this person's news from namesakes'" };
  return { query: `${phrase(name)} AND ${phrase(organisation)}` };
}

function newsApiProvider(config: UpstreamConfig, options: CompanyProviderOptions, clock: { now(): Date }): CellProvider {
  const http = upstreamClient(NEWS_API_PROVIDER, config, { "x-api-key": config.apiKey }, options);
  return {
    name: NEWS_API_PROVIDER,
    async enrich({ column, row, signal }) {
      const metadata: ProviderMetadata = { provider: NEWS_API_PROVIDER };
      const search = newsQuery(row);
      if ("missing" in search) return noMatch(search.missing, metadata);
      const since = newsSince(column.config, clock.now());
      const asked = { ...metadata, query: search.query, from: since ? day(since) : null };
      let body: z.infer<typeof newsAnswer>;
      try {
        const response = await http.request("GET", "v2/everything", {
          query: { q: search.query, from: since ? day(since) : undefined, sortBy: "publishedAt", pageSize: MAX_LIST_ITEMS },
          signal,
        });
        body = readBody(response, newsAnswer);
        if (body.status === "error") throw malformed(`status "error" with HTTP 200: ${body.code ?? ""} ${body.message ?? ""}`.trim());
      } catch (error) {
        return failure(error, signal, asked);
      }
      const articles = body.articles.filter((article) => !REMOVED_ARTICLE.test(article.url));
      const urls = distinct(articles.map((article) => article.url));
      const found = { ...asked, totalResults: body.totalResults ?? articles.length };
      if (urls.length === 0) return noMatch(`No news articles for ${search.query}${since ? ` since ${day(since)}` : ""}`, found);
      const titles = urls.map((url) => {
        const article = articles.find((candidate) => candidate.url === url)!;
        const about = [article.source?.name, article.publishedAt?.slice(0, 10)].filter(Boolean).join(", ");
        return `"${article.title?.trim() || url}"${about ? ` (${about})` : ""}`;
      });
      return {
        outcome: "value",
        value: urls,
        reasoning: `${urls.length} article${urls.length === 1 ? "" : "s"} for ${search.query}${since ? ` since ${day(since)}` : ""}: ${titles.join("; ")}`,
        sources: urls,
        metadata: found,
      };
    },
  };
}

// ---- LinkedIn posts ----

const linkedinAnswer = z.object({
  posts: z.array(z.object({ url: webUrl, posted_at: z.string().nullish(), text: z.string().nullish() })),
});

function linkedinLookup(row: RowData): { query: Record<string, string | undefined>; label: string } | { missing: string } {
  if (row.subject === "person") {
    const url = row.linkedinUrl?.trim();
    return url ? { query: { profile_url: url }, label: url } : { missing: "No LinkedIn profile URL for this person" };
  }
  // Company rows are stored with a LinkedIn URL; when the row data carries it, the lookup is exact.
  const companyUrl = "linkedinUrl" in row && typeof row.linkedinUrl === "string" ? row.linkedinUrl.trim() : "";
  if (companyUrl) return { query: { profile_url: companyUrl }, label: companyUrl };
  const name = row.name?.trim();
  const domain = bareDomain(row.domain) ?? undefined;
  return name ? { query: { company_name: name, company_domain: domain }, label: name } : { missing: "No company name to find LinkedIn posts for" };
}

function linkedinPostsProvider(config: UpstreamConfig, options: CompanyProviderOptions): CellProvider {
  const http = upstreamClient(LINKEDIN_POSTS_PROVIDER, config, { authorization: `Bearer ${config.apiKey}` }, options);
  return {
    name: LINKEDIN_POSTS_PROVIDER,
    async enrich({ row, signal }) {
      const metadata: ProviderMetadata = { provider: LINKEDIN_POSTS_PROVIDER };
      const lookup = linkedinLookup(row);
      if ("missing" in lookup) return noMatch(lookup.missing, metadata);
      let response: HttpResponse;
      let body: z.infer<typeof linkedinAnswer>;
      try {
        response = await http.request("GET", "posts", { query: { ...lookup.query, limit: MAX_LIST_ITEMS }, accept: [404], signal });
        if (response.status === 404) return noMatch(`LinkedIn profile not found: ${lookup.label}`, metadata);
        body = readBody(response, linkedinAnswer);
      } catch (error) {
        return failure(error, signal, metadata);
      }
      // Newest first; posts without a readable date keep their order after the dated ones.
      const dated = body.posts.map((post) => ({ ...post, at: post.posted_at ? Date.parse(post.posted_at) : Number.NaN }));
      const posts = [...dated.filter((post) => !Number.isNaN(post.at)).sort((a, b) => b.at - a.at), ...dated.filter((post) => Number.isNaN(post.at))];
      const urls = distinct(posts.map((post) => post.url));
      if (urls.length === 0) return noMatch(`No LinkedIn posts by ${lookup.label}`, metadata);
      const described = urls.map((url) => {
        const post = posts.find((candidate) => candidate.url === url)!;
        const text = post.text?.replace(/\s+/g, " ").trim() ?? "";
        const snippet = text.length > 60 ? `${text.slice(0, 60)}…` : text;
        return [post.posted_at?.slice(0, 10), snippet ? `"${snippet}"` : null].filter(Boolean).join(" ") || url;
      });
      return {
        outcome: "value",
        value: urls,
        reasoning: `${urls.length} post${urls.length === 1 ? "" : "s"} by ${lookup.label}, newest first: ${described.join("; ")}`,
        sources: urls,
        metadata,
      };
    },
  };
}

// ---- the factory ----

/**
 * The providers the environment configures for these kinds: each kind's own upstream, else the AI
 * web search when there is an AI client; a kind with neither is absent (the sandbox answers it).
 */
export function createCompanyProviders(env: ProviderEnv, ai: AiClient | null, options: CompanyProviderOptions = {}): Partial<Record<CompanyKind, CellProvider>> {
  const config = parseCompanyEnv(env);
  const clock = options.clock ?? { now: () => new Date() };
  const web = (kind: CompanyKind) => (ai ? webSearchProvider(kind, ai, clock) : undefined);
  const crawler = config.crawl ? createSiteCrawler({ ...config.crawl, http: { ...config.crawl.http, ...options.http } }) : null;
  const maxChars = config.crawl?.maxChars ?? 0;

  const providers: Partial<Record<CompanyKind, CellProvider>> = {
    site_crawl: crawler ? siteCrawlProvider(crawler, maxChars) : web("site_crawl"),
    website_overview: crawler && ai ? siteAiProvider("website_overview", crawler, ai, web("website_overview")!, maxChars) : web("website_overview"),
    hiring_status: crawler && ai ? siteAiProvider("hiring_status", crawler, ai, web("hiring_status")!, maxChars) : web("hiring_status"),
    news_articles: config.news ? newsApiProvider(config.news, options, clock) : web("news_articles"),
    linkedin_posts: config.linkedin ? linkedinPostsProvider(config.linkedin, options) : web("linkedin_posts"),
  };
  return Object.fromEntries(Object.entries(providers).filter(([, provider]) => provider !== undefined));
}
