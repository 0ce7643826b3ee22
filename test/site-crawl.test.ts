import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ProviderRequestError } from "../src/providers/http";
import { crawlText, createSiteCrawler, entryUrlsOf, type CrawledPage, type CrawlOutcome, type SiteCrawlSettings } from "../src/providers/crawl";
import { extractHtml } from "../src/providers/crawl/html";
import { parseRobots, productToken } from "../src/providers/crawl/robots";
import { html, routeHosts, startFakeSite, type FakeSite } from "./helpers/fake-site";

const USER_AGENT = "TestBot/2.0 (+https://example.test/bot)";
const signal = new AbortController().signal;

function settings(overrides: Partial<SiteCrawlSettings> = {}): SiteCrawlSettings {
  return {
    userAgent: USER_AGENT,
    maxPages: 5,
    maxPageBytes: 64 * 1024,
    maxTotalBytes: 1024 * 1024,
    timeBudgetMs: 5_000,
    maxRedirects: 3,
    allowPrivateHosts: true,
    ...overrides,
    http: { timeoutMs: 500, maxAttempts: 2, backoff: { minMs: 5, maxMs: 10 }, ...overrides.http },
  };
}

const sites: FakeSite[] = [];
async function site(routes: Parameters<typeof startFakeSite>[0]): Promise<FakeSite> {
  const fake = await startFakeSite(routes);
  sites.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(sites.splice(0).map((fake) => fake.close()));
});

function crawled(outcome: CrawlOutcome) {
  if (outcome.status !== "crawled") throw new Error(`expected a crawl, got ${JSON.stringify(outcome)}`);
  return outcome;
}

const page = (url: string, title: string, text: string, extra: Partial<CrawledPage> = {}): CrawledPage => ({
  url,
  title,
  description: "",
  text,
  bytes: expect.any(Number) as unknown as number,
  links: expect.any(Array) as unknown as CrawledPage["links"],
  embeds: [],
  ...extra,
});

describe("readable text out of HTML", () => {
  it("keeps the content and drops scripts, styles, navigation, footers, forms and hidden parts", () => {
    const doc = `<!DOCTYPE html>
<html><head>
  <title>Acme &amp; Co — Widgets</title>
  <meta name="description" content="Widgets for   teams.">
  <style>body { color: red } </style>
  <script>var html = "</div><a href='/fake'>x</a>"; if (a < b) {}</script>
  <script src="https://boards.greenhouse.io/embed/job_board/js?for=acme"></script>
</head>
<body>
  <!-- a comment with <p>markup</p> -->
  <nav><a href="/about">About us</a> <a href="/careers">Careers</a><ul><li><nav>nested</nav></li><li>Menu</li></ul></nav>
  <header><h1>Widgets   that
     work</h1></header>
  <main>
    <p>We build&nbsp;widgets for <b>teams</b> &#x2013; since 1999 &copy;.</p>
    <p>Price: 5 < 10 &unknown; ok</p>
    <div hidden>Secret hidden text</div>
    <div aria-hidden="true">Decorative</div>
    <div role="navigation">Breadcrumbs</div>
    <table><tr><td>Basic</td><td>$10</td></tr><tr><th>Pro</th><td>$20</td></tr></table>
    <img src="/logo.png" alt="Acme logo">
    <iframe src="https://jobs.lever.co/acme/embed"></iframe>
    <form><label>Email</label><input name="email"><button>Subscribe</button></form>
    <p>Contact <a href="mailto:hi@acme.example">us</a>.<br>Thanks</p>
  </main>
  <aside>Related posts</aside>
  <footer>© Acme <a href="/privacy">Privacy</a></footer>
</body></html>`;
    expect(extractHtml(doc)).toEqual({
      title: "Acme & Co — Widgets",
      description: "Widgets for teams.",
      text: [
        "Widgets that work",
        "We build widgets for teams – since 1999 ©.",
        "Price: 5 < 10 &unknown; ok",
        "Basic $10",
        "Pro $20",
        "Acme logo",
        "Contact us.",
        "Thanks",
      ].join("\n"),
      links: [
        { href: "/about", text: "About us" },
        { href: "/careers", text: "Careers" },
        { href: "mailto:hi@acme.example", text: "us" },
        { href: "/privacy", text: "Privacy" },
      ],
      embeds: ["https://boards.greenhouse.io/embed/job_board/js?for=acme", "https://jobs.lever.co/acme/embed"],
      baseHref: null,
    });
  });

  it("tolerates broken markup: unclosed tags, unquoted attributes, a tag cut off at the end", () => {
    expect(extractHtml(`<p>One<p>Two <a href=/x class=y>link<div>Three</div><p>Four <b`)).toEqual({
      title: "",
      description: "",
      text: "One\nTwo link\nThree\nFour",
      links: [{ href: "/x", text: "link Three Four" }],
      embeds: [],
      baseHref: null,
    });
  });

  it("decodes the whole entity table, and keeps what only shows without scripts, templates and typed text out", () => {
    expect(
      extractHtml(`<p>&hearts; &frac12; &Omega; &rarr;&nbsp;x</p><noscript><p>Enable JavaScript</p><a href="/nojs">x</a></noscript><template><p>Row</p></template><textarea>typed <b>x</b></textarea><p>End</p>`),
    ).toEqual({ title: "", description: "", text: "♥ ½ Ω → x\nEnd", links: [], embeds: [], baseHref: null });
  });

  it("reads <base href> and numeric entities", () => {
    const extracted = extractHtml(`<base href="https://cdn.acme.example/en/"><p>&#72;&#105;&#x21; caf&eacute;</p>`);
    expect([extracted.baseHref, extracted.text]).toEqual(["https://cdn.acme.example/en/", "Hi! café"]);
  });
});

describe("robots.txt", () => {
  const robots = `
# Everyone else
User-agent: *
Disallow: /

User-agent: OtherBot
User-agent: testbot
Disallow: /private
Allow: /private/press
Disallow: /*.json$
Disallow: /search*q=
Disallow:

User-agent: testbot
Disallow: /drafts/ # a second group for the same bot adds up
`;
  const rules = parseRobots(robots, productToken(USER_AGENT));

  it("reads the product token of a User-Agent", () => {
    expect(productToken(USER_AGENT)).toBe("testbot");
    expect(productToken("LeadEnrichmentBot/1.0")).toBe("leadenrichmentbot");
  });

  it("applies the groups naming the crawler, not the * group", () => {
    expect(
      ["/", "/about", "/private", "/private/team", "/private/press/2024", "/data.json", "/data.json?x=1", "/search?q=acme", "/drafts/x", "/robots.txt"].map((path) => [
        path,
        rules.allows(path),
      ]),
    ).toEqual([
      ["/", true],
      ["/about", true],
      ["/private", false],
      ["/private/team", false],
      ["/private/press/2024", true],
      ["/data.json", false],
      ["/data.json?x=1", true],
      ["/search?q=acme", false],
      ["/drafts/x", false],
      ["/robots.txt", true],
    ]);
  });

  it("falls back to the * group, and allows everything without one", () => {
    const star = parseRobots(robots, "somebot");
    expect([star.allows("/"), star.allows("/about")]).toEqual([false, false]);
    const none = parseRobots("User-agent: OtherBot\nDisallow: /\n", "testbot");
    expect(none.allows("/anything")).toBe(true);
  });

  it("matches percent-encoded paths against rules written in plain characters", () => {
    const encoded = parseRobots("User-agent: *\nDisallow: /café\nDisallow: /a%2fb\n", "testbot");
    expect([new URL("https://acme.example/café").pathname, "/a%2Fb", "/a/b"].map((path) => encoded.allows(path))).toEqual([false, false, true]);
  });

  it("lets allow win a tie of equally specific rules", () => {
    const tie = parseRobots("User-agent: *\nDisallow: /page\nAllow: /page\n", "testbot");
    expect(tie.allows("/page")).toBe(true);
  });
});

describe("entry URLs and the crawl's text", () => {
  it("starts from the website as given, else https then http of the website's or domain's host", () => {
    expect(entryUrlsOf({ website: "http://www.acme.example/en", domain: "acme.example" })).toEqual(["http://www.acme.example/en"]);
    expect(entryUrlsOf({ website: "www.acme.example", domain: "other.example" })).toEqual(["https://www.acme.example/", "http://www.acme.example/"]);
    expect(entryUrlsOf({ website: null, domain: "Acme.example" })).toEqual(["https://acme.example/", "http://acme.example/"]);
    expect(entryUrlsOf({ website: "not a site", domain: "acme.example" })).toEqual(["https://acme.example/", "http://acme.example/"]);
    expect(entryUrlsOf({ website: "ftp://acme.example", domain: null })).toEqual([]);
    expect(entryUrlsOf({ website: null, domain: "localhost" })).toEqual([]);
    expect(entryUrlsOf({ website: null, domain: null })).toEqual([]);
  });

  it("heads each page, leaves out lines seen on an earlier page, and caps the length", () => {
    const pages: CrawledPage[] = [
      { url: "https://acme.example/", title: "Acme", description: "Widgets.", text: "Acme\nWe build widgets.", bytes: 10, links: [], embeds: [] },
      { url: "https://acme.example/about", title: "", description: "Widgets.", text: "Acme\nFounded in 1999.", bytes: 10, links: [], embeds: [] },
    ];
    expect(crawlText(pages, 1000)).toEqual({
      text: "## Acme (https://acme.example/)\nWidgets.\nAcme\nWe build widgets.\n\n## /about (https://acme.example/about)\nFounded in 1999.",
      truncated: false,
    });
    expect(crawlText(pages, 60)).toEqual({ text: "## Acme (https://acme.example/)\nWidgets.\nAcme\nWe build", truncated: true });
  });
});

describe("crawling a site", () => {
  it("reads robots.txt, then the home page and the preferred same-site pages first, as a clear User-Agent", async () => {
    const fake = await site({
      "/robots.txt": { type: "text/plain", body: "User-agent: *\nDisallow: /admin\n" },
      "/": html(
        "Acme",
        `<nav><a href="/blog/post-1">Blog</a> <a href="/about">About</a> <a href="/pricing#plans">Pricing</a> <a href="https://other.example/">Partner</a> <a href="/admin">Admin</a> <a href="/files/deck.pdf">Deck</a></nav><h1>Acme builds widgets</h1>`,
      ),
      "/about": html("About Acme", `<p>Founded in 1999 in Lisbon.</p><a href="/team">Team</a> <a href="/">Home</a>`),
      "/pricing": html("Pricing", "<p>Basic is $10 a month.</p>"),
      "/team": html("Team", "<p>Ada and Grace.</p>"),
      "/blog/post-1": html("Post", "<p>Hello.</p>"),
    });
    const crawl = crawled(await createSiteCrawler(settings({ maxPages: 10 })).crawl([`${fake.url}/`], signal));
    expect(crawl).toEqual({
      status: "crawled",
      site: fake.host,
      pages: [
        page(`${fake.url}/`, "Acme", "Acme builds widgets"),
        page(`${fake.url}/about`, "About Acme", "Founded in 1999 in Lisbon.\nTeam Home"),
        page(`${fake.url}/team`, "Team", "Ada and Grace."),
        page(`${fake.url}/pricing`, "Pricing", "Basic is $10 a month."),
        page(`${fake.url}/blog/post-1`, "Post", "Hello."),
      ],
      bytes: crawl.pages.reduce((sum, p) => sum + p.bytes, 0),
      stoppedBy: null,
      skipped: { robots: 1 },
    });
    // By preference (about, team, pricing), then the rest in order; never the PDF, the other site or /admin.
    expect(fake.paths()).toEqual(["/robots.txt", "/", "/about", "/team", "/pricing", "/blog/post-1"]);
    expect(new Set(fake.userAgents())).toEqual(new Set([USER_AGENT]));
    expect(crawl.pages[0]!.links).toEqual([
      { url: `${fake.url}/blog/post-1`, text: "Blog" },
      { url: `${fake.url}/about`, text: "About" },
      { url: `${fake.url}/pricing`, text: "Pricing" },
      { url: "https://other.example/", text: "Partner" },
      { url: `${fake.url}/admin`, text: "Admin" },
      { url: `${fake.url}/files/deck.pdf`, text: "Deck" },
    ]);
  });

  it("honours the group of robots.txt that names it, and reads a missing robots.txt as allowing all", async () => {
    const fake = await site({
      "/robots.txt": { type: "text/plain", body: "User-agent: *\nDisallow: /\n\nUser-agent: TestBot\nDisallow: /internal\n" },
      "/": html("Home", `<a href="/internal/x">Internal</a><a href="/about">About</a><p>Home text</p>`),
      "/about": html("About", "<p>About text</p>"),
      "/internal/x": html("Internal", "<p>Internal text</p>"),
    });
    const crawl = crawled(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal));
    expect(crawl.pages.map((p) => p.url)).toEqual([`${fake.url}/`, `${fake.url}/about`]);
    expect(crawl.skipped).toEqual({ robots: 1 });
    expect(fake.paths()).toEqual(["/robots.txt", "/", "/about"]);

    fake.set("/robots.txt", undefined);
    fake.requests.length = 0;
    const open = crawled(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal));
    expect(open.pages.map((p) => p.url)).toEqual([`${fake.url}/`, `${fake.url}/about`, `${fake.url}/internal/x`]);
    expect(fake.paths()).toEqual(["/robots.txt", "/", "/about", "/internal/x"]);
  });

  it("reads nothing when robots.txt forbids everything", async () => {
    const fake = await site({ "/robots.txt": { type: "text/plain", body: "User-agent: *\nDisallow: /\n" }, "/": html("Home", "<p>x</p>") });
    expect(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal)).toEqual({
      status: "nothing",
      reason: `robots.txt of ${fake.host} does not allow crawling its home page`,
    });
    expect(fake.paths()).toEqual(["/robots.txt"]);
  });

  it("reads nothing from a site drawn by scripts", async () => {
    const fake = await site({ "/": html("App", `<div id="root"></div><script src="/app.js"></script><a href="/about"></a>`), "/about": html("App", `<div id="root"></div>`) });
    expect(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal)).toEqual({ status: "nothing", reason: `No readable text on ${fake.host} (2 pages read)` });
  });

  it("stops at the page budget", async () => {
    const links = Array.from({ length: 8 }, (_, i) => `<a href="/p${i}">p${i}</a>`).join("");
    const routes = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`/p${i}`, html(`P${i}`, `<p>Page ${i}</p>`)]));
    const fake = await site({ "/": html("Home", `${links}<p>Home</p>`), ...routes });
    const crawl = crawled(await createSiteCrawler(settings({ maxPages: 3 })).crawl([`${fake.url}/`], signal));
    expect(crawl.pages.map((p) => p.title)).toEqual(["Home", "P0", "P1"]);
    expect(crawl.stoppedBy).toBe("pages");
    expect(fake.paths()).toEqual(["/robots.txt", "/", "/p0", "/p1"]);
  });

  it("reads at most the byte budget of a page, and of the whole crawl", async () => {
    const long = (word: string) => html(word, `<p>${`${word} `.repeat(2000)}</p>`);
    const fake = await site({ "/": html("Home", `<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a><p>Home</p>`), "/a": long("alpha"), "/b": long("bravo"), "/c": long("charlie") });

    const perPage = crawled(await createSiteCrawler(settings({ maxPageBytes: 1000 })).crawl([`${fake.url}/`], signal));
    expect(perPage.pages.map((p) => p.bytes)).toEqual([perPage.pages[0]!.bytes, 1000, 1000, 1000]);
    expect(perPage.pages[1]!.text).toMatch(/^(alpha ){5,}alph?a?$/);
    expect(perPage.stoppedBy).toBeNull();

    const home = perPage.pages[0]!.bytes;
    const total = crawled(await createSiteCrawler(settings({ maxPageBytes: 1000, maxTotalBytes: home + 1500 })).crawl([`${fake.url}/`], signal));
    expect(total.pages.map((p) => p.bytes)).toEqual([home, 1000, 500]);
    expect([total.bytes, total.stoppedBy]).toEqual([home + 1500, "bytes"]);
  });

  it("stops at the time budget with what it has read, and fails when even the home page does not come in time", async () => {
    const slow = (name: string) => ({ delayMs: 150, body: html(name, `<p>${name}</p>`) });
    const fake = await site({ "/": html("Home", `<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a><a href="/d">d</a>`), "/a": slow("A"), "/b": slow("B"), "/c": slow("C"), "/d": slow("D") });
    const started = Date.now();
    const crawl = crawled(await createSiteCrawler(settings({ timeBudgetMs: 400 })).crawl([`${fake.url}/`], signal));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(crawl.stoppedBy).toBe("time");
    expect(crawl.pages.length).toBeGreaterThanOrEqual(2);
    expect(crawl.pages.length).toBeLessThanOrEqual(4);

    fake.set("/", { hang: true });
    const outcome = await createSiteCrawler(settings({ timeBudgetMs: 300, http: { timeoutMs: 5_000 } })).crawl([`${fake.url}/`], signal);
    expect(outcome.status).toBe("failed");
    const error = (outcome as { error: ProviderRequestError }).error;
    expect([error.message, error.failure]).toEqual([`${fake.host} could not be read within the crawl's time budget of 300 ms`, "timeout"]);
  });

  it("follows redirects within the site, not off it, and not forever", async () => {
    const other = await site({ "/": html("Elsewhere", "<p>x</p>") });
    const fake = await site({
      "/": html("Home", `<a href="/old-about">About</a><a href="/moved">Moved</a><a href="/loop">Loop</a><a href="/about">About us</a><a href="/old-team">Team</a><p>Home</p>`),
      "/old-team": { status: 308, headers: { location: "/about" } },
      "/old-about": { status: 301, headers: { location: "/about" } },
      "/about": html("About", "<p>About text</p>"),
      "/moved": { status: 302, headers: { location: `${other.url}/` } },
      "/loop": { status: 307, headers: { location: "/loop2" } },
      "/loop2": { status: 307, headers: { location: "/loop" } },
    });
    const crawl = crawled(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal));
    expect(crawl.pages.map((p) => p.url)).toEqual([`${fake.url}/`, `${fake.url}/about`]);
    expect(crawl.skipped).toEqual({ redirect: 2 });
    // /about is read once: its own link is not asked for again, and /old-team's redirect to it is dropped.
    expect(fake.paths()).toEqual(["/robots.txt", "/", "/old-about", "/about", "/old-team", "/about", "/moved", "/loop", "/loop2", "/loop", "/loop2"]);
    expect(other.paths()).toEqual([]);
  });

  it("follows the home page to the site its domain redirects to", async () => {
    const target = await site({ "/": html("New Acme", "<p>We moved.</p>") });
    const fake = await site({ "/": { status: 301, headers: { location: `${target.url}/` } } });
    const crawl = crawled(await createSiteCrawler(settings()).crawl([`${fake.url}/`], signal));
    expect([crawl.site, crawl.pages.map((p) => p.url)]).toEqual([target.host, [`${target.url}/`]]);
    expect(target.paths()).toEqual(["/robots.txt", "/"]);
  });

  it("skips what is not HTML, gone pages and failing pages, and retries a 429 after its Retry-After", async () => {
    let calls = 0;
    const fake = await site({
      "/": html("Home", `<a href="/brochure">Brochure</a> <a href="/gone">Gone</a> <a href="/broken">Broken</a> <a href="/busy">Busy</a> <a href="/feed">Feed</a>`),
      "/brochure": { type: "application/pdf", body: "%PDF-1.7 binary" },
      "/feed": { type: "application/json", body: '{"x":1}' },
      "/broken": { status: 500, body: "oops" },
      "/busy": () => (++calls === 1 ? { status: 429, headers: { "retry-after": "1" }, body: "slow down" } : html("Busy", "<p>Now free</p>")),
    });
    const started = Date.now();
    const crawl = crawled(await createSiteCrawler(settings({ maxPages: 10 })).crawl([`${fake.url}/`], signal));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(crawl.pages.map((p) => [p.url, p.text])).toEqual([
      [`${fake.url}/`, "Brochure Gone Broken Busy Feed"],
      [`${fake.url}/busy`, "Now free"],
    ]);
    expect(crawl.skipped).toEqual({ not_html: 2, status: 1, failed: 1 });
    // The 500 was asked twice (the client's retry), the 429 twice (then answered).
    expect(fake.paths().filter((p) => p === "/broken" || p === "/busy")).toEqual(["/broken", "/broken", "/busy", "/busy"]);
  });

  it("tries https first, then http", async () => {
    const fake = await site({ "/": html("Plain", "<p>Plain http</p>") });
    const crawl = crawled(await createSiteCrawler(settings()).crawl(entryUrlsOf({ website: null, domain: fake.host }), signal));
    expect(crawl.pages.map((p) => p.url)).toEqual([`http://${fake.host}/`]);
  });

  it("fails when the site cannot be reached, and when it keeps failing", async () => {
    const closed = await site({});
    const address = closed.url;
    await closed.close();
    const unreachable = await createSiteCrawler(settings()).crawl([`${address}/`], signal);
    expect(unreachable.status).toBe("failed");
    expect((unreachable as { error: ProviderRequestError }).error).toMatchObject({ failure: "network", attempts: 2 });

    const failing = await site({ "/robots.txt": { status: 503, body: "down" } });
    const outcome = await createSiteCrawler(settings()).crawl([`${failing.url}/`], signal);
    expect((outcome as { error: ProviderRequestError }).error).toMatchObject({ failure: "http", status: 503, message: "site-crawl answered 503: down (after 2 attempts)" });
    expect(failing.paths()).toEqual(["/robots.txt", "/robots.txt"]);
  });

  it("times a hanging page out and goes on with the others", async () => {
    const fake = await site({ "/": html("Home", `<a href="/slow">Slow</a><a href="/fine">Fine</a>`), "/slow": { hang: true }, "/fine": html("Fine", "<p>ok</p>") });
    const crawl = crawled(await createSiteCrawler(settings({ http: { timeoutMs: 200, maxAttempts: 1 } })).crawl([`${fake.url}/`], signal));
    expect(crawl.pages.map((p) => p.title)).toEqual(["Home", "Fine"]);
    expect(crawl.skipped).toEqual({ failed: 1 });
  });

  it("refuses loopback and private addresses unless allowed, also behind a redirect, as a failure that is not retried", async () => {
    const fake = await site({ "/": html("Home", "<p>x</p>") });
    const strict = createSiteCrawler(settings({ allowPrivateHosts: false }));
    expect(failure(await strict.crawl([`${fake.url}/`], signal))).toEqual({
      message: `site-crawl did not fetch ${fake.url}/: 127.0.0.1 is not a public address (loopback)`,
      failure: "network",
      retryable: false,
      attempts: 1,
    });
    expect(fake.paths()).toEqual([]);

    const redirecting = await redirectingTo("http://169.254.169.254/latest/meta-data");
    const routed = createSiteCrawler(settings({ allowPrivateHosts: false, http: { fetch: routeHosts({ "acme.example": redirecting.url }) } }));
    expect(failure(await routed.crawl(["https://acme.example/"], signal))).toMatchObject({
      message: "site-crawl did not fetch http://169.254.169.254/latest/meta-data (redirected from https://acme.example/): 169.254.169.254 is not a public address (linkLocal)",
      retryable: false,
    });
    expect(redirecting.paths()).toEqual(["/robots.txt", "/"]);

    // The same crawl with private hosts allowed reads the local site.
    expect(crawled(await createSiteCrawler(settings({ allowPrivateHosts: true })).crawl([`${fake.url}/`], signal)).pages.map((p) => p.url)).toEqual([`${fake.url}/`]);
  });

  it("passes the caller's abort on", async () => {
    const fake = await site({ "/": { hang: true } });
    const controller = new AbortController();
    const pending = createSiteCrawler(settings({ http: { timeoutMs: 5_000 } })).crawl([`${fake.url}/`], controller.signal);
    setTimeout(() => controller.abort(new Error("cancelled")), 50);
    await expect(pending).rejects.toThrow("cancelled");
  });
});

function redirectingTo(location: string): Promise<FakeSite> {
  return site({ "/": { status: 302, headers: { location } } });
}

function failure(outcome: CrawlOutcome) {
  if (outcome.status !== "failed" || !(outcome.error instanceof ProviderRequestError)) throw new Error(`expected a failed crawl, got ${JSON.stringify(outcome)}`);
  const { message, failure, retryable, attempts } = outcome.error;
  return { message, failure, retryable, attempts };
}

afterAll(async () => {
  await Promise.all(sites.splice(0).map((fake) => fake.close()));
});
