import { createHttpClient, ProviderRequestError, type HttpClient, type HttpClientOptions, type HttpResponse } from "./http";
import type { CompanyData } from "./types";

// Reads a company's website the way a polite crawler does: robots.txt first (RFC 9309), then the home
// page and the most telling same-site pages (about, team, product, pricing, careers) breadth-first,
// within a page count, a byte budget per page and in total, and a time budget. Only HTML is read, and
// its readable text is pulled out without a browser: scripts, styles, navigation, footers and forms
// are dropped, whitespace collapsed. Every request goes through the provider HTTP client, so page
// fetches share its timeouts, retries and concurrency limit.

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
  /** Loopback, private and link-local addresses are refused unless this is set (local test sites). */
  allowPrivateHosts: boolean;
  http: Pick<HttpClientOptions, "timeoutMs" | "maxAttempts" | "backoff" | "maxRetryAfterMs" | "concurrency" | "fetch">;
};

export const DEFAULT_USER_AGENT = "LeadEnrichmentBot/1.0";

export type CrawlLink = { url: string; text: string };

export type CrawledPage = {
  url: string;
  title: string;
  description: string;
  /** Readable text, one block per line. */
  text: string;
  /** Bytes of HTML read. */
  bytes: number;
  /** Every http(s) link of the page, resolved, same-site or not, with its anchor text. */
  links: CrawlLink[];
  /** Sources of iframes and scripts: where embedded widgets (job boards) come from. */
  embeds: string[];
};

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
  /** The site could not be read (unreachable, failing) after the HTTP client's retries. */
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

// ---- addresses ----

const HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

function parseWebUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && HOST.test(url.hostname) ? url : null;
  } catch {
    return null;
  }
}

/**
 * Where to start reading a company's site, in the order to try: its website as given when that has a
 * scheme, otherwise https and then http of its website's or domain's host.
 */
export function entryUrlsOf(row: Pick<CompanyData, "website" | "domain">): string[] {
  for (const candidate of [row.website, row.domain]) {
    const trimmed = candidate?.trim();
    if (!trimmed || /\s/.test(trimmed)) continue;
    if (/^https?:\/\//i.test(trimmed)) {
      const url = parseWebUrl(trimmed);
      if (url) return [url.href];
      continue;
    }
    const https = parseWebUrl(`https://${trimmed.replace(/^\/+/, "")}`);
    if (https) return [https.href, `http://${https.host}${https.pathname}${https.search}`];
  }
  return [];
}

/** A site is a host without its "www." (the port included): http and https of it are the same site. */
const siteOf = (url: URL) => url.host.toLowerCase().replace(/^www\./, "");

/** Addresses a crawler on a server must not be pointed at by a row's data: loopback, private, link-local. */
function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".internal") || host.endsWith(".local")) return true;
  const octets = host.split(".").map(Number);
  if (octets.length === 4 && octets.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)) {
    const [a, b] = octets as [number, number, number, number];
    return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  return host.includes(":") && (host === "::1" || host === "::" || /^f[cd]/.test(host) || host.startsWith("fe80") || host.startsWith("::ffff:"));
}

/** Dedupes the same page reached over http and https, with and without "www." or a trailing slash. */
function pageKey(url: URL): string {
  return `${siteOf(url)}${url.pathname.replace(/\/+$/, "") || "/"}${url.search}`;
}

/** Links to files that are never HTML are not worth a request. */
const NOT_HTML_PATH = /\.(pdf|jpe?g|png|gif|webp|svg|ico|css|js|mjs|json|xml|txt|zip|gz|tgz|rar|7z|mp3|mp4|mov|avi|webm|wav|woff2?|ttf|eot|docx?|xlsx?|pptx?|csv|dmg|exe|apk)$/i;

// ---- robots.txt ----

type RobotsRule = { allow: boolean; pattern: string };
export type Robots = { rules: RobotsRule[] };

export const ALLOW_ALL: Robots = { rules: [] };

/** The product token of a User-Agent ("LeadEnrichmentBot/1.0 (+…)" → "leadenrichmentbot"), as robots.txt names crawlers. */
export function productToken(userAgent: string): string {
  return (userAgent.trim().split(/[\s/]/)[0] ?? "").toLowerCase();
}

/**
 * The rules of robots.txt that apply to `token`: those of every group naming it, or else of every
 * `*` group (RFC 9309 §2.2.1). Lines other than user-agent/allow/disallow are ignored.
 */
export function parseRobots(text: string, token: string): Robots {
  const groups: Array<{ agents: string[]; rules: RobotsRule[] }> = [];
  let current: { agents: string[]; rules: RobotsRule[] } | null = null;
  let lastWasAgent = false;
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    const line = rawLine.replace(/#.*$/, "").trim();
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "user-agent") {
      if (!current || !lastWasAgent) {
        current = { agents: [], rules: [] };
        groups.push(current);
      }
      current.agents.push(value.toLowerCase());
      lastWasAgent = true;
    } else if ((key === "allow" || key === "disallow") && current) {
      // An empty Disallow allows everything: it adds no rule.
      if (value) current.rules.push({ allow: key === "allow", pattern: value });
      lastWasAgent = false;
    } else {
      lastWasAgent = false;
    }
  }
  const named = groups.filter((group) => group.agents.includes(token));
  const chosen = named.length > 0 ? named : groups.filter((group) => group.agents.includes("*"));
  return { rules: chosen.flatMap((group) => group.rules) };
}

function patternMatches(pattern: string, path: string): boolean {
  const anchored = pattern.endsWith("$");
  const body = anchored ? pattern.slice(0, -1) : pattern;
  const regex = body
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${regex}${anchored ? "$" : ""}`).test(path);
}

/** The most specific (longest) matching rule decides; on a tie, allow wins; with no match, allowed. */
export function robotsAllows(robots: Robots, pathAndQuery: string): boolean {
  if (pathAndQuery === "/robots.txt") return true;
  let best: RobotsRule | null = null;
  for (const rule of robots.rules) {
    if (!patternMatches(rule.pattern, pathAndQuery)) continue;
    if (!best || rule.pattern.length > best.pattern.length || (rule.pattern.length === best.pattern.length && rule.allow)) best = rule;
  }
  return best?.allow ?? true;
}

// ---- readable text out of HTML ----

export type ExtractedHtml = { title: string; description: string; text: string; links: Array<{ href: string; text: string }>; embeds: string[]; baseHref: string | null };

/** Their content is not markup: it runs to the matching end tag. */
const RAW_TEXT = new Set(["script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript"]);
/** Boilerplate and non-text: dropped with everything inside. */
const DROPPED = new Set(["nav", "footer", "aside", "form", "button", "select", "svg", "math", "template", "dialog"]);
const DROPPED_ROLES = new Set(["navigation", "contentinfo", "complementary", "search", "dialog", "alertdialog"]);
const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]);
const BLOCK = new Set([
  "address", "article", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt", "figcaption", "figure", "h1", "h2", "h3",
  "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
]);
const CELL = new Set(["td", "th"]);

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " ", ensp: " ", emsp: " ", thinsp: " ", shy: "", zwj: "", zwnj: "",
  ndash: "–", mdash: "—", hellip: "…", lsquo: "‘", rsquo: "’", sbquo: "‚", ldquo: "“", rdquo: "”", bdquo: "„", laquo: "«", raquo: "»",
  bull: "•", middot: "·", copy: "©", reg: "®", trade: "™", deg: "°", times: "×", divide: "÷", plusmn: "±", euro: "€", pound: "£",
  yen: "¥", cent: "¢", sect: "§", para: "¶", dagger: "†", prime: "′", larr: "←", rarr: "→", uarr: "↑", darr: "↓", check: "✓",
  agrave: "à", aacute: "á", acirc: "â", atilde: "ã", auml: "ä", aring: "å", aelig: "æ", ccedil: "ç", egrave: "è", eacute: "é",
  ecirc: "ê", euml: "ë", igrave: "ì", iacute: "í", icirc: "î", iuml: "ï", ntilde: "ñ", ograve: "ò", oacute: "ó", ocirc: "ô",
  otilde: "õ", ouml: "ö", oslash: "ø", ugrave: "ù", uacute: "ú", ucirc: "û", uuml: "ü", yacute: "ý", yuml: "ÿ", szlig: "ß",
  Agrave: "À", Aacute: "Á", Acirc: "Â", Auml: "Ä", Aring: "Å", Ccedil: "Ç", Egrave: "È", Eacute: "É", Ntilde: "Ñ", Oacute: "Ó",
  Ouml: "Ö", Oslash: "Ø", Uacute: "Ú", Uuml: "Ü",
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z][a-z0-9]*);?/gi, (match, entity: string) => {
    if (entity[0] === "#") {
      const code = entity[1] === "x" || entity[1] === "X" ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : "\uFFFD";
    }
    return NAMED_ENTITIES[entity] ?? NAMED_ENTITIES[entity.toLowerCase()] ?? match;
  });
}

type Tag = { name: string; closing: boolean; selfClosing: boolean; attrs: Record<string, string>; end: number };

/** Reads the tag starting at `html[start] === "<"`; null when it is not a tag (a literal "<"). */
function readTag(html: string, start: number): Tag | null {
  let i = start + 1;
  const closing = html[i] === "/";
  if (closing) i += 1;
  const nameMatch = /^[a-zA-Z][a-zA-Z0-9:-]*/.exec(html.slice(i, i + 64));
  if (!nameMatch) return null;
  const name = nameMatch[0].toLowerCase();
  i += nameMatch[0].length;
  const attrs: Record<string, string> = {};
  let selfClosing = false;
  while (i < html.length) {
    while (i < html.length && /\s/.test(html[i]!)) i += 1;
    const c = html[i];
    if (c === undefined) break;
    if (c === ">") return { name, closing, selfClosing, attrs, end: i + 1 };
    if (c === "/") {
      selfClosing = html[i + 1] === ">";
      i += 1;
      continue;
    }
    let attrEnd = i;
    while (attrEnd < html.length && !/[\s=/>]/.test(html[attrEnd]!)) attrEnd += 1;
    const attrName = html.slice(i, Math.max(attrEnd, i + 1)).toLowerCase();
    i = Math.max(attrEnd, i + 1);
    while (i < html.length && /\s/.test(html[i]!)) i += 1;
    let value = "";
    if (html[i] === "=") {
      i += 1;
      while (i < html.length && /\s/.test(html[i]!)) i += 1;
      const quote = html[i];
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, i + 1);
        const stop = close < 0 ? html.length : close;
        value = html.slice(i + 1, stop);
        i = stop + 1;
      } else {
        let stop = i;
        while (stop < html.length && !/[\s>]/.test(html[stop]!)) stop += 1;
        value = html.slice(i, stop);
        i = stop;
      }
    }
    if (!(attrName in attrs)) attrs[attrName] = decodeEntities(value);
  }
  return { name, closing, selfClosing, attrs, end: html.length };
}

function isDropped(tag: Tag): boolean {
  return (
    DROPPED.has(tag.name) ||
    DROPPED_ROLES.has((tag.attrs.role ?? "").toLowerCase()) ||
    "hidden" in tag.attrs ||
    (tag.attrs["aria-hidden"] ?? "").toLowerCase() === "true"
  );
}

/** Collapses whitespace within lines, drops empty lines. */
function tidyLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.replace(/[\s\u00a0]+/g, " ").trim())
    .filter(Boolean);
}

const oneLine = (text: string) => text.replace(/[\s\u00a0]+/g, " ").trim();

/**
 * The readable text, title, meta description and links of an HTML document. A small tokenizer, not
 * a full HTML parser: it tolerates broken markup, keeps raw-text elements (scripts, styles) opaque,
 * and drops boilerplate elements with what they contain; link anchor text is kept even inside
 * navigation, where careers and about links usually live.
 */
export function extractHtml(html: string): ExtractedHtml {
  const doc = new Extraction();
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf("<", i);
    const textEnd = lt < 0 ? html.length : lt;
    if (textEnd > i) doc.text(decodeEntities(html.slice(i, textEnd)));
    if (lt < 0) break;
    if (html.startsWith("<!--", lt)) {
      const close = html.indexOf("-->", lt + 4);
      i = close < 0 ? html.length : close + 3;
      continue;
    }
    if (html[lt + 1] === "!" || html[lt + 1] === "?") {
      const close = html.indexOf(">", lt);
      i = close < 0 ? html.length : close + 1;
      continue;
    }
    const tag = readTag(html, lt);
    if (!tag) {
      doc.text("<");
      i = lt + 1;
      continue;
    }
    i = tag.end;
    if (tag.closing) {
      doc.close(tag);
      continue;
    }
    if (RAW_TEXT.has(tag.name)) {
      const closer = new RegExp(`</${tag.name}[\\s/>]`, "ig");
      closer.lastIndex = tag.end;
      const found = tag.selfClosing ? null : closer.exec(html);
      const contentEnd = tag.selfClosing ? tag.end : found ? found.index : html.length;
      if (tag.name === "title" && !doc.title) doc.title = oneLine(decodeEntities(html.slice(tag.end, contentEnd)));
      if ((tag.name === "iframe" || tag.name === "script") && tag.attrs.src) doc.embeds.push(tag.attrs.src);
      const after = found ? html.indexOf(">", found.index) : -1;
      i = tag.selfClosing ? tag.end : after < 0 ? html.length : after + 1;
      continue;
    }
    doc.open(tag);
  }
  return doc.result();
}

/** What extractHtml has read so far: the text outside dropped elements, the links, the head's fields. */
class Extraction {
  title = "";
  readonly embeds: string[] = [];
  private description = "";
  private baseHref: string | null = null;
  private readonly out: string[] = [];
  private readonly links: ExtractedHtml["links"] = [];
  /** The boilerplate element being skipped, counting nested elements of its name. */
  private dropped: { name: string; depth: number } | null = null;
  private anchor: { href: string; text: string[] } | null = null;

  text(raw: string): void {
    // Line breaks in the source are whitespace like any other; only block boundaries break lines.
    const text = raw.replace(/\s+/g, " ");
    if (!this.dropped) this.out.push(text);
    this.anchor?.text.push(text);
  }

  open(tag: Tag): void {
    if (tag.name === "meta" && (tag.attrs.name ?? "").toLowerCase() === "description" && !this.description) this.description = oneLine(tag.attrs.content ?? "");
    if (tag.name === "base" && tag.attrs.href && this.baseHref === null) this.baseHref = tag.attrs.href;
    if (tag.name === "a") {
      this.closeAnchor();
      if (tag.attrs.href) this.anchor = { href: tag.attrs.href, text: [] };
    }
    const container = !tag.selfClosing && !VOID.has(tag.name);
    if (this.dropped) {
      if (tag.name === this.dropped.name && container) this.dropped.depth += 1;
      return;
    }
    if (isDropped(tag) && container) {
      this.dropped = { name: tag.name, depth: 1 };
      return;
    }
    this.separate(tag);
    if (tag.name === "img" && tag.attrs.alt) this.out.push(` ${tag.attrs.alt} `);
  }

  close(tag: Tag): void {
    if (this.dropped && ((tag.name === this.dropped.name && --this.dropped.depth === 0) || tag.name === "body" || tag.name === "html")) this.dropped = null;
    if (tag.name === "a") this.closeAnchor();
    this.separate(tag);
  }

  result(): ExtractedHtml {
    this.closeAnchor();
    return { title: this.title, description: this.description, text: tidyLines(this.out.join("")).join("\n"), links: this.links, embeds: this.embeds, baseHref: this.baseHref };
  }

  /** Blocks start and end lines, table cells are set apart; an open link's text gets a space either way. */
  private separate(tag: Tag): void {
    const separator = BLOCK.has(tag.name) ? "\n" : CELL.has(tag.name) ? " " : "";
    if (!separator) return;
    if (!this.dropped) this.out.push(separator);
    this.anchor?.text.push(" ");
  }

  private closeAnchor(): void {
    if (this.anchor) this.links.push({ href: this.anchor.href, text: oneLine(this.anchor.text.join("")) });
    this.anchor = null;
  }
}

/**
 * The crawl as one text: each page under a heading line with its title and URL, lines already seen on
 * an earlier page (repeated headers, banners) left out, the whole capped at `maxChars`.
 */
export function crawlText(pages: readonly CrawledPage[], maxChars: number): { text: string; truncated: boolean } {
  const seen = new Set<string>();
  const sections: string[] = [];
  for (const page of pages) {
    const lines = [page.description, ...page.text.split("\n")].filter((line) => line && !seen.has(line));
    for (const line of lines) seen.add(line);
    sections.push([`## ${page.title || new URL(page.url).pathname} (${page.url})`, ...lines].join("\n"));
  }
  const text = sections.join("\n\n");
  if (text.length <= maxChars) return { text, truncated: false };
  const cut = text.slice(0, maxChars);
  const lastBreak = Math.max(cut.lastIndexOf("\n"), cut.lastIndexOf(" "));
  return { text: (lastBreak > maxChars * 0.8 ? cut.slice(0, lastBreak) : cut).trimEnd(), truncated: true };
}

// ---- fetching ----

const HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9";
const isHtml = (contentType: string | null) => /^\s*(text\/html|application\/xhtml\+xml)\b/i.test(contentType ?? "");
const isRedirect = (status: number) => status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
const REDIRECTS = [301, 302, 303, 307, 308] as const;
/** Answered to the crawler instead of thrown: a page that is gone or closed is skipped, not retried. */
const CLIENT_ERRORS = Array.from({ length: 100 }, (_, n) => 400 + n).filter((status) => status !== 408 && status !== 429);
const PAGE_ACCEPT: readonly number[] = [...REDIRECTS, ...CLIENT_ERRORS];

/** Reads at most `maxBytes` of a body and cancels the rest of the download. */
function capStream(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let read = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      const room = maxBytes - read;
      if (value.byteLength >= room) {
        controller.enqueue(value.subarray(0, room));
        controller.close();
        await reader.cancel();
        return;
      }
      read += value.byteLength;
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * The crawler's transport under the provider HTTP client: redirects come back to the crawler (which
 * checks each hop against the site and robots.txt), a body is read up to the page byte budget, and a
 * successful page that is not HTML is not downloaded at all.
 */
function crawlerFetch(base: typeof fetch, maxPageBytes: number): typeof fetch {
  return async (input, init) => {
    const response = await base(input, { ...init, redirect: "manual" });
    if (!response.body || [101, 204, 205, 304].includes(response.status)) return response;
    const wantsHtml = new Headers(init?.headers).get("accept") === HTML_ACCEPT;
    if (wantsHtml && response.ok && !isHtml(response.headers.get("content-type"))) {
      await response.body.cancel();
      return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    return new Response(capStream(response.body, maxPageBytes), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

const encoder = new TextEncoder();

/** The first `maxBytes` of a string's UTF-8, decoded back, without a broken trailing character. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return text;
  return new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD+$/, "");
}

type PageFetch =
  | { page: CrawledPage; finalUrl: URL }
  | { skipped: SkipReason; status?: number };

export type SiteCrawler = {
  readonly userAgent: string;
  crawl(entryUrls: readonly string[], signal: AbortSignal, options?: CrawlOptions): Promise<CrawlOutcome>;
  /** One page of any site (a job board a careers link points to), robots.txt respected; null when it cannot be read as HTML. */
  readPage(url: string, signal: AbortSignal): Promise<CrawledPage | null>;
};

export function createSiteCrawler(settings: SiteCrawlSettings): SiteCrawler {
  const token = productToken(settings.userAgent);
  const http: HttpClient = createHttpClient({
    provider: "site-crawl",
    // Every request names an absolute URL; the base is never used.
    baseUrl: "http://site-crawl.invalid/",
    headers: { "user-agent": settings.userAgent },
    ...settings.http,
    fetch: crawlerFetch(settings.http.fetch ?? fetch, settings.maxPageBytes),
  });

  /** A row's data must not point the crawler at loopback or private addresses, not even through a redirect. */
  const refused = (url: URL) => !settings.allowPrivateHosts && isPrivateHost(url.hostname);

  /** One crawl's state: robots.txt per origin, the byte count, the deadline. */
  class Session {
    readonly robots = new Map<string, Promise<Robots>>();
    bytes = 0;
    constructor(readonly signal: AbortSignal) {}

    robotsOf(url: URL): Promise<Robots> {
      let robots = this.robots.get(url.origin);
      if (!robots) {
        robots = this.fetchRobots(url.origin);
        this.robots.set(url.origin, robots);
      }
      return robots;
    }

    /** A robots.txt that is missing or closed (4xx) allows everything (RFC 9309 §2.3.1.3); a failing one fails the read. */
    private async fetchRobots(origin: string): Promise<Robots> {
      let url = new URL("/robots.txt", origin);
      for (let hop = 0; hop <= settings.maxRedirects; hop += 1) {
        const response = await http.request("GET", url.href, { headers: { accept: "text/plain,*/*;q=0.5" }, accept: PAGE_ACCEPT, signal: this.signal });
        if (isRedirect(response.status)) {
          const next = nextHop(url, response);
          if (!next || refused(next)) return ALLOW_ALL;
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
     * page: a domain that redirects to a new one points at the company's site), each hop checked
     * against robots.txt.
     */
    async fetchPage(start: URL, anySite: boolean): Promise<PageFetch> {
      let url = start;
      for (let hop = 0; ; hop += 1) {
        if (refused(url)) return { skipped: "redirect" };
        if (!robotsAllows(await this.robotsOf(url), `${url.pathname}${url.search}`)) return { skipped: "robots" };
        const response = await http.request("GET", url.href, { headers: { accept: HTML_ACCEPT }, accept: PAGE_ACCEPT, signal: this.signal });
        if (isRedirect(response.status)) {
          const next = nextHop(url, response);
          if (!next || hop >= settings.maxRedirects || (!anySite && siteOf(next) !== siteOf(start))) return { skipped: "redirect", status: response.status };
          url = next;
          continue;
        }
        if (response.status < 200 || response.status >= 300) return { skipped: "status", status: response.status };
        if (!isHtml(response.headers.get("content-type"))) return { skipped: "not_html", status: response.status };
        const html = truncateUtf8(response.text, settings.maxTotalBytes - this.bytes);
        const bytes = encoder.encode(html).byteLength;
        this.bytes += bytes;
        return { page: pageOf(url, html, bytes), finalUrl: url };
      }
    }
  }

  function nextHop(from: URL, response: HttpResponse): URL | null {
    const location = response.headers.get("location");
    if (!location) return null;
    try {
      const next = new URL(location, from);
      return next.protocol === "http:" || next.protocol === "https:" ? next : null;
    } catch {
      return null;
    }
  }

  function pageOf(url: URL, html: string, bytes: number): CrawledPage {
    const extracted = extractHtml(html);
    let base = url;
    try {
      if (extracted.baseHref) base = new URL(extracted.baseHref, url);
    } catch {
      // An unusable <base href> leaves links relative to the page.
    }
    const resolve = (href: string): URL | null => {
      try {
        const resolved = new URL(href.trim(), base);
        resolved.hash = "";
        return resolved.protocol === "http:" || resolved.protocol === "https:" ? resolved : null;
      } catch {
        return null;
      }
    };
    const links: CrawlLink[] = [];
    for (const link of extracted.links) {
      const resolved = resolve(link.href);
      if (resolved) links.push({ url: resolved.href, text: link.text });
    }
    const embeds = extracted.embeds.flatMap((src) => resolve(src)?.href ?? []);
    return { url: url.href, title: extracted.title, description: extracted.description, text: extracted.text, bytes, links, embeds };
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
    if (refused(first)) return { status: "nothing", reason: `${first.host} is not a public address` };
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
      const visited = new Set([pageKey(entries[0]!), pageKey(home)]);
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
        } catch (error) {
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
    if (!url || refused(url)) return null;
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
