import { createHttpClient, ProviderRequestError, type HttpClient, type HttpClientOptions, type HttpResponse } from "../http";
import { createAddressGuard, type Resolver } from "./fetch-guard";
import { platformNetwork, type Network } from "./network";
import { pageOf, type CrawledPage } from "./page";
import { ALLOW_ALL, parseRobots, productToken, type Robots } from "./robots";
import { crawlerFetch, HTML_ACCEPT, isHtml, truncateUtf8, utf8Length } from "./transport";
import { NOT_HTML_PATH, pageKey, parseWebUrl, redirectTarget, siteOf } from "./urls";

// Reads a company's website the way a polite crawler does: robots.txt first (RFC 9309), then the home
// page and the most telling same-site pages (about, team, product, pricing, careers) breadth-first,
// within a page count, a byte budget per page and in total, and a time budget. Every request goes
// through the provider HTTP client (its timeouts, retries and concurrency limit), and before it is
// sent its address is checked (fetch-guard.ts): the start URL, robots.txt, each link and each
// redirect hop, which the crawler follows itself.

export type SiteCrawlSettings = {
  /** Sent with every request; its product token (before the first "/") is what robots.txt groups are matched against. */
  userAgent: string;
  maxPages: number;
  /** Bytes read of one response body; the rest is not downloaded. */
  maxPageBytes: number;
  /** Bytes read over the whole crawl. */
  maxTotalBytes: number;
  /** Wall time of one crawl, every request and retry included. */
  timeBudgetMs: number;
  /** Redirects followed for one page. */
  maxRedirects: number;
  /** Addresses that are not public (loopback, private, link-local, …) are refused unless this is set (local test sites). */
  allowPrivateHosts: boolean;
  /**
   * How names are resolved for the address check; by default the platform's (network.ts). With
   * `http.fetch` given and no resolver, names are left to that fetch, which decides where they go
   * (tests route names to local fakes); literal addresses are still checked.
   */
  resolver?: Resolver;
  http: Pick<HttpClientOptions, "timeoutMs" | "maxAttempts" | "backoff" | "maxRetryAfterMs" | "concurrency" | "fetch">;
};

export const DEFAULT_USER_AGENT = "LeadEnrichmentBot/1.0";

export type SkipReason = "robots" | "not_html" | "status" | "redirect" | "failed";

export type Crawl = {
  status: "crawled";
  /** The host the crawl settled on, without "www.". */
  site: string;
  pages: CrawledPage[];
  bytes: number;
  /** Which budget ended the crawl while pages were left to read; null when the site ran out of pages first. */
  stoppedBy: "pages" | "bytes" | "time" | null;
  skipped: Partial<Record<SkipReason, number>>;
};

export type CrawlOutcome =
  | Crawl
  /** Nothing to read: no usable address, robots.txt forbids it, or no page is HTML. */
  | { status: "nothing"; reason: string }
  /** The site could not be read: unreachable or failing after the HTTP client's retries, or at an address the crawler refuses. */
  | { status: "failed"; error: unknown };

export type CrawlOptions = {
  /** Link preferences, most wanted first; a link matches on its path or its anchor text. */
  priorities?: readonly RegExp[];
};

export const DEFAULT_PRIORITIES: readonly RegExp[] = [
  /\b(about|company|who-we-are|our-story|mission)\b/,
  /\b(team|people|leadership|founders)\b/,
  /\b(products?|platform|features|solutions|services)\b/,
  /\b(pricing|plans)\b/,
  /\b(customers|case-studies)\b/,
  /\b(careers?|jobs)\b/,
];

export type SiteCrawler = {
  readonly userAgent: string;
  crawl(entryUrls: readonly string[], signal: AbortSignal, options?: CrawlOptions): Promise<CrawlOutcome>;
  /** One page of any site (a job board a careers link points to), robots.txt respected; null when it cannot be read as HTML. */
  readPage(url: string, signal: AbortSignal): Promise<CrawledPage | null>;
};

const isRedirect = (status: number) => status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
const REDIRECTS = [301, 302, 303, 307, 308] as const;
/** Answered to the crawler instead of thrown: a page that is gone or closed is skipped, not retried. */
const CLIENT_ERRORS = Array.from({ length: 100 }, (_, n) => 400 + n).filter((status) => status !== 408 && status !== 429);
const PAGE_ACCEPT: readonly number[] = [...REDIRECTS, ...CLIENT_ERRORS];

type PageFetch =
  | { page: CrawledPage; finalUrl: URL }
  | { skipped: SkipReason; status?: number }
  /** An address the crawler does not connect to; the sentence says which and why. */
  | { refused: string };

/** A refused address ends a read for good: asking again would be refused again. */
const refusedError = (message: string) => new ProviderRequestError(message, "network", false);

export function createSiteCrawler(settings: SiteCrawlSettings): SiteCrawler {
  const token = productToken(settings.userAgent);
  const network: Network = settings.http.fetch
    ? { fetch: settings.http.fetch, resolver: settings.resolver ?? null }
    : platformNetwork({ allowPrivate: settings.allowPrivateHosts, resolver: settings.resolver });
  const guard = createAddressGuard({ allowPrivate: settings.allowPrivateHosts, resolver: network.resolver });
  const http: HttpClient = createHttpClient({
    provider: "site-crawl",
    // Every request names an absolute URL; the base is never used.
    baseUrl: "http://site-crawl.invalid/",
    headers: { "user-agent": settings.userAgent },
    ...settings.http,
    fetch: crawlerFetch(network.fetch, settings.maxPageBytes),
  });

  /** One crawl's state: robots.txt per origin, the address verdict per host, the byte count. */
  class Session {
    private readonly robots = new Map<string, Promise<Robots>>();
    private readonly verdicts = new Map<string, Promise<string | null>>();
    bytes = 0;
    constructor(readonly signal: AbortSignal) {}

    /** Why `url` must not be fetched, or null; one lookup per host and crawl. */
    refusal(url: URL): Promise<string | null> {
      let verdict = this.verdicts.get(url.hostname);
      if (!verdict) {
        verdict = guard.refusal(url, this.signal);
        this.verdicts.set(url.hostname, verdict);
      }
      return verdict;
    }

    robotsOf(url: URL): Promise<Robots> {
      let robots = this.robots.get(url.origin);
      if (!robots) {
        robots = this.fetchRobots(url.origin);
        this.robots.set(url.origin, robots);
      }
      return robots;
    }

    /**
     * A robots.txt that is missing or closed (4xx) allows everything (RFC 9309 §2.3.1.3), and so does
     * one that redirects where the crawler does not go; a failing one fails the read.
     */
    private async fetchRobots(origin: string): Promise<Robots> {
      let url = new URL("/robots.txt", origin);
      for (let hop = 0; hop <= settings.maxRedirects; hop += 1) {
        if (await this.refusal(url)) return ALLOW_ALL;
        const response = await http.request("GET", url.href, { headers: { accept: "text/plain,*/*;q=0.5" }, accept: PAGE_ACCEPT, signal: this.signal });
        if (isRedirect(response.status)) {
          const next = redirectTarget(url, response.headers.get("location"));
          if (!next) return ALLOW_ALL;
          url = next;
          continue;
        }
        if (response.status >= 400) return ALLOW_ALL;
        return parseRobots(response.text, token);
      }
      return ALLOW_ALL;
    }

    /**
     * Fetches one page, following redirects: on the same site, or anywhere when `anySite` (the entry
     * page: a domain that redirects to a new one points at the company's site), each hop's address and
     * robots.txt checked before it is asked for.
     */
    async fetchPage(start: URL, anySite: boolean): Promise<PageFetch> {
      let url = start;
      let from: URL | null = null;
      for (let hop = 0; ; hop += 1) {
        const refusal = await this.refusal(url);
        if (refusal) return { refused: `site-crawl did not fetch ${url.href}${from ? ` (redirected from ${from.href})` : ""}: ${refusal}` };
        if (!(await this.robotsOf(url)).allows(`${url.pathname}${url.search}`)) return { skipped: "robots" };
        const response: HttpResponse = await http.request("GET", url.href, { headers: { accept: HTML_ACCEPT }, accept: PAGE_ACCEPT, signal: this.signal });
        if (isRedirect(response.status)) {
          const next = redirectTarget(url, response.headers.get("location"));
          if (!next || hop >= settings.maxRedirects || (!anySite && siteOf(next) !== siteOf(start))) return { skipped: "redirect", status: response.status };
          from = url;
          url = next;
          continue;
        }
        if (response.status < 200 || response.status >= 300) return { skipped: "status", status: response.status };
        if (!isHtml(response.headers.get("content-type"))) return { skipped: "not_html", status: response.status };
        const html = truncateUtf8(response.text, settings.maxTotalBytes - this.bytes);
        const bytes = utf8Length(html);
        this.bytes += bytes;
        return { page: pageOf(url, html, bytes), finalUrl: url };
      }
    }
  }

  /** Runs `work` under the crawl's deadline; the caller's own abort is passed on as it is. */
  async function withDeadline<T>(signal: AbortSignal, work: (session: Session, deadline: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException("crawl time budget spent", "TimeoutError")), settings.timeBudgetMs);
    try {
      return await work(new Session(AbortSignal.any([signal, deadline.signal])), deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  const timeBudgetError = (site: string) =>
    new ProviderRequestError(`${site} could not be read within the crawl's time budget of ${settings.timeBudgetMs} ms`, "timeout", true);

  async function crawl(entryUrls: readonly string[], signal: AbortSignal, options: CrawlOptions = {}): Promise<CrawlOutcome> {
    const entries = entryUrls.flatMap((text) => parseWebUrl(text) ?? []);
    const first = entries[0];
    if (!first) return { status: "nothing", reason: "No website or domain to read" };
    const priorities = options.priorities ?? DEFAULT_PRIORITIES;

    return withDeadline(signal, async (session, deadline) => {
      /** True when the crawl's time is up; the caller's own abort is thrown on. */
      const outOfTime = () => {
        if (signal.aborted) throw signal.reason;
        return deadline.aborted;
      };

      // The entry page, over each entry URL in turn while the site cannot be reached at all.
      let entry: PageFetch | null = null;
      let lastError: unknown = null;
      for (const url of entries) {
        try {
          entry = await session.fetchPage(url, true);
          break;
        } catch (error) {
          if (outOfTime()) return { status: "failed", error: timeBudgetError(first.host) };
          lastError = error;
          const unreachable = error instanceof ProviderRequestError && (error.failure === "network" || error.failure === "timeout");
          if (!unreachable) break;
        }
      }
      if (!entry) return { status: "failed", error: lastError };
      if ("refused" in entry) return { status: "failed", error: refusedError(entry.refused) };
      if ("skipped" in entry) {
        const host = first.host.replace(/^www\./, "");
        if (entry.skipped === "robots") return { status: "nothing", reason: `robots.txt of ${host} does not allow crawling its home page` };
        if (entry.skipped === "not_html") return { status: "nothing", reason: `The home page of ${host} is not HTML` };
        if (entry.skipped === "redirect") return { status: "nothing", reason: `The home page of ${host} redirects where it cannot be followed` };
        return { status: "nothing", reason: `The home page of ${host} answered ${entry.status}` };
      }

      const home = entry.finalUrl;
      const site = siteOf(home);
      const pages: CrawledPage[] = [entry.page];
      const skipped: Crawl["skipped"] = {};
      /** Pages queued or read, by key, so no page is queued twice. */
      const visited = new Set([pageKey(first), pageKey(home)]);
      const read = new Set([pageKey(home)]);
      type Candidate = { url: URL; rank: number; depth: number; order: number };
      const frontier: Candidate[] = [];
      let order = 0;
      const discover = (page: CrawledPage, depth: number) => {
        for (const link of page.links) {
          const url = new URL(link.url);
          if (siteOf(url) !== site || NOT_HTML_PATH.test(url.pathname)) continue;
          const key = pageKey(url);
          if (visited.has(key)) continue;
          visited.add(key);
          const haystack = `${url.pathname.toLowerCase()} ${link.text.toLowerCase()}`;
          const rank = priorities.findIndex((pattern) => pattern.test(haystack));
          frontier.push({ url, rank: rank < 0 ? priorities.length : rank, depth, order: order++ });
        }
        frontier.sort((a, b) => a.rank - b.rank || a.depth - b.depth || a.order - b.order);
      };
      discover(entry.page, 1);

      let stoppedBy: Crawl["stoppedBy"] = null;
      while (frontier.length > 0) {
        if (pages.length >= settings.maxPages) {
          stoppedBy = "pages";
          break;
        }
        if (session.bytes >= settings.maxTotalBytes) {
          stoppedBy = "bytes";
          break;
        }
        const next = frontier.shift()!;
        if (read.has(pageKey(next.url))) continue;
        try {
          const fetched = await session.fetchPage(next.url, false);
          // Same-site pages share the home page's host, so a refusal here is a host whose addresses changed mid-crawl.
          if ("refused" in fetched) {
            skipped.failed = (skipped.failed ?? 0) + 1;
            continue;
          }
          if ("skipped" in fetched) {
            skipped[fetched.skipped] = (skipped[fetched.skipped] ?? 0) + 1;
            continue;
          }
          // A redirect may land on a page already read.
          const key = pageKey(fetched.finalUrl);
          if (read.has(key)) continue;
          read.add(key);
          visited.add(key);
          pages.push(fetched.page);
          discover(fetched.page, next.depth + 1);
        } catch {
          if (outOfTime()) {
            stoppedBy = "time";
            break;
          }
          skipped.failed = (skipped.failed ?? 0) + 1;
        }
      }
      // Pages drawn by scripts have no text without a browser: as good as no site.
      if (pages.every((page) => !page.text && !page.description)) return { status: "nothing", reason: `No readable text on ${site} (${pages.length} page${pages.length === 1 ? "" : "s"} read)` };
      return { status: "crawled", site, pages, bytes: session.bytes, stoppedBy, skipped };
    });
  }

  async function readPage(text: string, signal: AbortSignal): Promise<CrawledPage | null> {
    const url = parseWebUrl(text);
    if (!url) return null;
    return withDeadline(signal, async (session) => {
      try {
        const fetched = await session.fetchPage(url, false);
        return "page" in fetched ? fetched.page : null;
      } catch {
        if (signal.aborted) throw signal.reason;
        return null;
      }
    });
  }

  return { userAgent: settings.userAgent, crawl, readPage };
}
