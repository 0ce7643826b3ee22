import type { CompanyData } from "../types";

// Addresses of pages as the crawl sees them: where a company's site starts, which pages belong to one
// site, and when two URLs name the same page.

const HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i;

/** An http(s) URL of a host with a dot (no bare names such as localhost); null otherwise. */
export function parseWebUrl(text: string): URL | null {
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
export const siteOf = (url: URL) => url.host.toLowerCase().replace(/^www\./, "");

/** Dedupes the same page reached over http and https, with and without "www." or a trailing slash. */
export function pageKey(url: URL): string {
  return `${siteOf(url)}${url.pathname.replace(/\/+$/, "") || "/"}${url.search}`;
}

/** Links to files that are never HTML are not worth a request. */
export const NOT_HTML_PATH = /\.(pdf|jpe?g|png|gif|webp|svg|ico|css|js|mjs|json|xml|txt|zip|gz|tgz|rar|7z|mp3|mp4|mov|avi|webm|wav|woff2?|ttf|eot|docx?|xlsx?|pptx?|csv|dmg|exe|apk)$/i;

/** Where a redirect points, when it is an http(s) URL. */
export function redirectTarget(from: URL, location: string | null): URL | null {
  if (!location) return null;
  try {
    const next = new URL(location, from);
    return next.protocol === "http:" || next.protocol === "https:" ? next : null;
  } catch {
    return null;
  }
}
