import { extractHtml } from "./html";

// One page as the crawl keeps it, and the crawl's pages as one text.

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

/** The page at `url` from its HTML, its links and embeds resolved against its <base href> or its own URL. */
export function pageOf(url: URL, html: string, bytes: number): CrawledPage {
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
