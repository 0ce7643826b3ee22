import { startHttpFake, type FakeRequest } from "./http-fake";

// A fake website on 127.0.0.1 for the crawler: pages by path (HTML unless told otherwise), robots.txt
// like any other path, 404 for everything else. A route may be a function of the request and of how
// many times its path was asked for, to script a 429 before the page, a hang, a slow answer.

export type SitePage = {
  status?: number;
  /** The Content-Type; HTML by default. */
  type?: string;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Never answers. */
  hang?: boolean;
};

export type SiteRoute = string | SitePage | ((request: FakeRequest, hit: number) => string | SitePage);

export type FakeSite = {
  url: string;
  /** host:port, as a row's domain would name it. */
  host: string;
  requests: FakeRequest[];
  /** Paths asked for, in order (the query kept). */
  paths(): string[];
  /** The User-Agent of each request. */
  userAgents(): string[];
  set(path: string, route: SiteRoute | undefined): void;
  close(): Promise<void>;
};

/** An HTML document with a title and a body. */
export function html(title: string, body: string, head = ""): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${title}</title>${head}</head><body>${body}</body></html>`;
}

export async function startFakeSite(routes: Record<string, SiteRoute> = {}): Promise<FakeSite> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const fake = await startHttpFake(async (request, response) => {
    const key = request.path;
    const hit = (hits.get(key) ?? 0) + 1;
    hits.set(key, hit);
    const route = table.get(key);
    const resolved = typeof route === "function" ? route(request, hit) : route;
    const page: SitePage = resolved === undefined ? { status: 404, body: html("Not found", "<h1>Not found</h1>") } : typeof resolved === "string" ? { body: resolved } : resolved;
    if (page.hang) return new Promise<void>(() => {});
    if (page.delayMs) await new Promise((resolve) => setTimeout(resolve, page.delayMs));
    response.writeHead(page.status ?? 200, { "content-type": page.type ?? "text/html; charset=utf-8", ...page.headers });
    response.end(page.body ?? "");
  });
  return {
    url: fake.url,
    host: new URL(fake.url).host,
    requests: fake.requests,
    paths: () => fake.requests.map((r) => `${r.path}${[...r.query].length > 0 ? `?${r.query}` : ""}`),
    userAgents: () => fake.requests.map((r) => String(r.headers["user-agent"])),
    set(path, route) {
      if (route === undefined) table.delete(path);
      else table.set(path, route);
    },
    close: () => fake.close(),
  };
}

/**
 * A fetch that sends requests for the named hosts to fakes on 127.0.0.1 (any scheme, the path and
 * query kept), so tests can use real-looking addresses (acme.example, boards.greenhouse.io). Any
 * other host goes to `otherwise` when given (to show where a request would have gone unguarded),
 * else fails as an unknown name does.
 */
export function routeHosts(routes: Record<string, string>, otherwise?: typeof fetch): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const target = routes[url.host];
    if (target) return fetch(`${target}${url.pathname}${url.search}`, init);
    if (otherwise) return otherwise(input, init);
    throw new TypeError(`fetch failed: getaddrinfo ENOTFOUND ${url.hostname}`);
  };
}
