import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { companyCells } from "../src/db/schema";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { createCompanyProviders } from "../src/providers/company-adapters";
import { createSiteCrawler, entryUrlsOf, type CrawlOutcome, type Resolver, type SiteCrawlSettings } from "../src/providers/crawl";
import { nonPublicRangeOf } from "../src/providers/crawl/addresses";
import { dohResolver } from "../src/providers/crawl/doh";
import { createAddressGuard } from "../src/providers/crawl/fetch-guard";
import { guardedFetch, systemResolver } from "../src/providers/crawl/node-network";
import { ProviderRequestError } from "../src/providers/http";
import { html, routeHosts, startFakeSite } from "./helpers/fake-site";
import { startHttpFake, sendJson } from "./helpers/http-fake";
import { companyRow } from "./helpers/provider-rows";
import { UUID, useHarness } from "./helpers/harness";

// The crawler must not be led inside: whatever a row's website, a redirect or a link says, no request
// may reach a loopback, private, link-local or otherwise non-public address. The internal service is a
// real server on every local address (IPv4 and IPv6), so a request that got through would be seen.

// ---- the internal service, the public-looking site in front of it, and the transports ----

type Internal = { server: Server; port: number; requests: Array<{ path: string; host: string }> };

async function startInternal(): Promise<Internal> {
  const requests: Internal["requests"] = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? "", host: String(req.headers.host) });
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html("Internal", "<p>internal secret</p>"));
  });
  // "::" takes IPv6 and, mapped, IPv4: 127.0.0.1, ::1 and ::ffff:127.0.0.1 all land here.
  await new Promise<void>((resolve) => server.listen(0, "::", resolve));
  return { server, port: (server.address() as AddressInfo).port, requests };
}

const internal = await startInternal();
const P = internal.port;
const front = await startFakeSite({});
/** A public address for names the tests pretend are on the internet; nothing is ever sent to it. */
const PUBLIC = "93.184.215.14";

afterAll(async () => {
  internal.server.closeAllConnections();
  await Promise.all([new Promise((resolve) => internal.server.close(resolve)), front.close()]);
});

beforeEach(() => {
  internal.requests.length = 0;
  front.requests.length = 0;
  front.set("/robots.txt", undefined);
});

/** Names as the tests want them resolved; any other name goes to the system resolver (localhost). */
function resolverOf(table: Record<string, string[] | (() => string[])>, calls: string[] = []): Resolver {
  return async (hostname) => {
    calls.push(hostname);
    const entry = table[hostname];
    if (entry) return typeof entry === "function" ? entry() : entry;
    return systemResolver(hostname);
  };
}

const resolver = resolverOf({ "acme.example": [PUBLIC], "intranet.example": ["127.0.0.1"], "mixed.example": [PUBLIC, "10.0.0.7"] });

/** Every URL the transport was asked for, in order. */
const sent: string[] = [];
/** acme.example is the front site, intranet.example the internal service; other hosts go where the real fetch takes them. */
const routed: typeof fetch = (input, init) => {
  sent.push(String(input));
  return routeHosts({ "acme.example": front.url, "intranet.example": `http://127.0.0.1:${P}` }, fetch)(input, init);
};
beforeEach(() => {
  sent.length = 0;
});

const signal = new AbortController().signal;

function settings(overrides: Partial<SiteCrawlSettings> = {}): SiteCrawlSettings {
  return {
    userAgent: "TestBot/1.0",
    maxPages: 3,
    maxPageBytes: 64 * 1024,
    maxTotalBytes: 1024 * 1024,
    timeBudgetMs: 5_000,
    maxRedirects: 3,
    allowPrivateHosts: false,
    resolver,
    ...overrides,
    http: { timeoutMs: 1_000, maxAttempts: 2, backoff: { minMs: 5, maxMs: 10 }, fetch: routed, ...overrides.http },
  };
}

function failure(outcome: CrawlOutcome) {
  if (outcome.status !== "failed" || !(outcome.error instanceof ProviderRequestError)) throw new Error(`expected a failed crawl, got ${JSON.stringify(outcome)}`);
  const { message, failure, retryable, attempts } = outcome.error;
  return { message, failure, retryable, attempts };
}

const redirectTo = (location: string) => front.set("/", { status: 302, headers: { location } });

// ---- redirects ----

describe("a redirect from a public site to an internal address", () => {
  const cases: Array<[location: string, followed: string, reason: string]> = [
    [`http://127.0.0.1:${P}/secret`, `http://127.0.0.1:${P}/secret`, "127.0.0.1 is not a public address (loopback)"],
    [`http://intranet.example/secret`, "http://intranet.example/secret", "intranet.example resolves to 127.0.0.1, which is not a public address (loopback)"],
    [`http://mixed.example/secret`, "http://mixed.example/secret", "mixed.example resolves to 10.0.0.7, which is not a public address (private)"],
    [`http://[::1]:${P}/secret`, `http://[::1]:${P}/secret`, "[::1] is not a public address (loopback)"],
    [`http://[::ffff:127.0.0.1]:${P}/secret`, `http://[::ffff:7f00:1]:${P}/secret`, "[::ffff:7f00:1] is not a public address (loopback 127.0.0.1 inside IPv6)"],
    [`http://[::ffff:7f00:1]:${P}/secret`, `http://[::ffff:7f00:1]:${P}/secret`, "[::ffff:7f00:1] is not a public address (loopback 127.0.0.1 inside IPv6)"],
    [`http://[::7f00:1]:${P}/secret`, `http://[::7f00:1]:${P}/secret`, "[::7f00:1] is not a public address (ipv4Compatible)"],
    [`http://[64:ff9b::7f00:1]:${P}/secret`, `http://[64:ff9b::7f00:1]:${P}/secret`, "[64:ff9b::7f00:1] is not a public address (loopback 127.0.0.1 inside IPv6)"],
    [`http://[2002:7f00:1::]:${P}/secret`, `http://[2002:7f00:1::]:${P}/secret`, "[2002:7f00:1::] is not a public address (loopback 127.0.0.1 inside 6to4)"],
    [`http://[::]:${P}/secret`, `http://[::]:${P}/secret`, "[::] is not a public address (unspecified)"],
    [`http://2130706433:${P}/secret`, `http://127.0.0.1:${P}/secret`, "127.0.0.1 is not a public address (loopback)"],
    [`http://0177.0.0.1:${P}/secret`, `http://127.0.0.1:${P}/secret`, "127.0.0.1 is not a public address (loopback)"],
    [`http://0x7f.1:${P}/secret`, `http://127.0.0.1:${P}/secret`, "127.0.0.1 is not a public address (loopback)"],
    [`http://127.1:${P}/secret`, `http://127.0.0.1:${P}/secret`, "127.0.0.1 is not a public address (loopback)"],
    [`http://0.0.0.0:${P}/secret`, `http://0.0.0.0:${P}/secret`, "0.0.0.0 is not a public address (unspecified)"],
    ["http://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address (linkLocal)"],
    ["http://[fe80::1]/", "http://[fe80::1]/", "[fe80::1] is not a public address (linkLocal)"],
    ["http://[fd12:3456::1]/", "http://[fd12:3456::1]/", "[fd12:3456::1] is not a public address (uniqueLocal)"],
    ["http://10.1.2.3/", "http://10.1.2.3/", "10.1.2.3 is not a public address (private)"],
    ["http://100.64.0.1/", "http://100.64.0.1/", "100.64.0.1 is not a public address (carrierGradeNat)"],
    ["http://224.0.0.1/", "http://224.0.0.1/", "224.0.0.1 is not a public address (multicast)"],
    ["http://255.255.255.255/", "http://255.255.255.255/", "255.255.255.255 is not a public address (broadcast)"],
  ];

  it.each(cases)("to %s is refused before any request is sent there", async (location, followed, reason) => {
    redirectTo(location);
    expect(failure(await createSiteCrawler(settings()).crawl(["https://acme.example/"], signal))).toEqual({
      message: `site-crawl did not fetch ${followed} (redirected from https://acme.example/): ${reason}`,
      failure: "network",
      retryable: false,
      attempts: 1,
    });
    expect(internal.requests).toEqual([]);
    expect(sent).toEqual(["https://acme.example/robots.txt", "https://acme.example/"]);
  });

  it("to localhost is refused by the address the name resolves to", async () => {
    redirectTo(`http://localhost:${P}/secret`);
    expect(failure(await createSiteCrawler(settings()).crawl(["https://acme.example/"], signal))).toEqual({
      message: expect.stringMatching(new RegExp(`^site-crawl did not fetch http://localhost:${P}/secret \\(redirected from https://acme.example/\\): localhost resolves to (127\\.0\\.0\\.1|::1), which is not a public address \\(loopback\\)$`)),
      failure: "network",
      retryable: false,
      attempts: 1,
    });
    expect(internal.requests).toEqual([]);
  });

  it.each([`http://127.0.0.1:${P}/secret`, `http://[::1]:${P}/secret`, `http://[::ffff:7f00:1]:${P}/secret`, `http://2130706433:${P}/secret`, `http://localhost:${P}/secret`, "http://intranet.example/secret"])(
    "to %s is followed with private hosts allowed, which shows the guard is what stops it",
    async (location) => {
      redirectTo(location);
      const outcome = await createSiteCrawler(settings({ allowPrivateHosts: true })).crawl(["https://acme.example/"], signal);
      expect(outcome).toMatchObject({ status: "crawled", pages: [{ title: "Internal", text: "internal secret" }] });
      expect(internal.requests.map((request) => request.path)).toEqual(["/robots.txt", "/secret"]);
    },
  );

  it("is refused for robots.txt too, which then counts as missing", async () => {
    front.set("/robots.txt", { status: 301, headers: { location: `http://127.0.0.1:${P}/robots.txt` } });
    front.set("/", html("Acme", "<p>Widgets.</p>"));
    const outcome = await createSiteCrawler(settings()).crawl(["https://acme.example/"], signal);
    expect(outcome).toMatchObject({ status: "crawled", site: "acme.example", pages: [{ url: "https://acme.example/", text: "Widgets." }] });
    expect(internal.requests).toEqual([]);
    expect(sent).toEqual(["https://acme.example/robots.txt", "https://acme.example/"]);
  });
});

// ---- start URLs and links ----

describe("a row's website at an internal address", () => {
  it.each([
    [{ website: `http://2130706433:${P}/`, domain: null }, `http://127.0.0.1:${P}/`],
    [{ website: `http://0177.0.0.1:${P}/`, domain: null }, `http://127.0.0.1:${P}/`],
    [{ website: null, domain: `0x7f.1:${P}` }, `https://127.0.0.1:${P}/`],
    [{ website: null, domain: `127.1:${P}` }, `https://127.0.0.1:${P}/`],
    [{ website: "http://169.254.169.254/latest/", domain: null }, "http://169.254.169.254/latest/"],
  ])("%j is refused without a request", async (row, first) => {
    const outcome = await createSiteCrawler(settings()).crawl(entryUrlsOf(row), signal);
    expect(failure(outcome).message).toBe(`site-crawl did not fetch ${first}: ${new URL(first).hostname} is not a public address (${first.includes("169.254") ? "linkLocal" : "loopback"})`);
    expect(internal.requests).toEqual([]);
    expect(sent).toEqual([]);
  });

  it("is read when private hosts are allowed", async () => {
    const outcome = await createSiteCrawler(settings({ allowPrivateHosts: true })).crawl(entryUrlsOf({ website: `http://2130706433:${P}/`, domain: null }), signal);
    expect(outcome).toMatchObject({ status: "crawled", site: `127.0.0.1:${P}`, pages: [{ text: "internal secret" }] });
  });

  it("does not read a job board page at an internal address", async () => {
    expect(await createSiteCrawler(settings()).readPage(`http://intranet.example/jobs`, signal)).toBeNull();
    expect(await createSiteCrawler(settings()).readPage(`http://[::ffff:7f00:1]:${P}/jobs`, signal)).toBeNull();
    expect(internal.requests).toEqual([]);
    expect(sent).toEqual([]);
  });
});

// ---- the Node transport: the address checked is the address connected to ----

describe("the Node transport", () => {
  it("refuses, at connect time, a name that resolved to a public address for the check and to loopback for the connection", async () => {
    const calls: string[] = [];
    let answers = 0;
    const rebinding = resolverOf({ "rebind.example": () => (answers++ === 0 ? [PUBLIC] : ["127.0.0.1"]) }, calls);
    const crawler = createSiteCrawler(settings({ resolver: rebinding, http: { fetch: undefined } }));
    expect(failure(await crawler.crawl([`http://rebind.example:${P}/`], signal))).toEqual({
      message: "site-crawl could not be reached: rebind.example resolves to 127.0.0.1, which is not a public address (loopback) (after 2 attempts)",
      failure: "network",
      retryable: true,
      attempts: 2,
    });
    // The check before the request, then one lookup per connection attempt.
    expect(calls).toEqual(["rebind.example", "rebind.example", "rebind.example"]);
    expect(internal.requests).toEqual([]);
  });

  it("refuses literal and resolved internal addresses on its own, without the crawler's check", async () => {
    const transport = guardedFetch({ resolver, allowPrivate: false });
    await expect(transport(`http://127.0.0.1:${P}/secret`)).rejects.toThrow("127.0.0.1 is not a public address (loopback)");
    await expect(transport(`http://[::ffff:7f00:1]:${P}/secret`)).rejects.toThrow("[::ffff:7f00:1] is not a public address (loopback 127.0.0.1 inside IPv6)");
    await expect(transport(`http://intranet.example:${P}/secret`)).rejects.toThrow("intranet.example resolves to 127.0.0.1, which is not a public address (loopback)");
    await expect(transport(`http://localhost:${P}/secret`)).rejects.toThrow(/^localhost resolves to (127\.0\.0\.1|::1), which is not a public address \(loopback\)$/);
    expect(internal.requests).toEqual([]);
  });

  it("connects to the address its resolver gives, so private hosts allowed reach a local site by name", async () => {
    const local = resolverOf({ "site.example": ["127.0.0.1"] });
    const outcome = await createSiteCrawler(settings({ allowPrivateHosts: true, resolver: local, http: { fetch: undefined } })).crawl([`http://site.example:${P}/`], signal);
    expect(outcome).toMatchObject({ status: "crawled", site: `site.example:${P}`, pages: [{ url: `http://site.example:${P}/`, text: "internal secret" }] });
    expect(internal.requests).toEqual([
      { path: "/robots.txt", host: `site.example:${P}` },
      { path: "/", host: `site.example:${P}` },
    ]);
  });

  it("refuses the internal address of a crawl's start on the system resolver", async () => {
    const crawler = createSiteCrawler(settings({ resolver: undefined, http: { fetch: undefined } }));
    expect(failure(await crawler.crawl([`http://127.0.0.1:${P}/`], signal)).message).toBe(`site-crawl did not fetch http://127.0.0.1:${P}/: 127.0.0.1 is not a public address (loopback)`);
    expect(internal.requests).toEqual([]);
  });
});

// ---- the Worker's resolver: DNS over HTTPS ----

const records: Record<string, { Status: number; Answer?: Array<{ name: string; type: number; TTL: number; data: string }> } | "garbage"> = {
  "www.acme.example/A": { Status: 0, Answer: [{ name: "www.acme.example", type: 5, TTL: 60, data: "acme.example." }, { name: "acme.example", type: 1, TTL: 60, data: PUBLIC }] },
  "www.acme.example/AAAA": { Status: 0, Answer: [{ name: "acme.example", type: 28, TTL: 60, data: "2606:2800:21f:cb07:6820:80da:af6b:8b2c" }] },
  "evil.example/A": { Status: 0, Answer: [{ name: "evil.example", type: 1, TTL: 1, data: "127.0.0.1" }] },
  "evil.example/AAAA": { Status: 0 },
  "gone.example/A": { Status: 3 },
  "gone.example/AAAA": { Status: 3 },
  "broken.example/A": { Status: 2 },
  "broken.example/AAAA": { Status: 2 },
  "garbled.example/A": "garbage",
  "garbled.example/AAAA": "garbage",
};
const doh = await startHttpFake((request, response) => {
  const answer = records[`${request.query.get("name")}/${request.query.get("type")}`];
  if (!answer) return sendJson(response, 404, "not found");
  sendJson(response, 200, answer === "garbage" ? "<html>" : answer, { "content-type": "application/dns-json" });
});
afterAll(() => doh.close());

describe("names resolved over DNS over HTTPS", () => {
  const resolve = dohResolver({ endpoint: `${doh.url}/dns-query` });

  it("collects the A and AAAA addresses, past CNAMEs, asking for DNS JSON", async () => {
    expect(await resolve("www.acme.example")).toEqual([PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]);
    expect(doh.requests.slice(-2).map((request) => [request.path, request.query.get("name"), request.query.get("type"), request.headers.accept])).toEqual([
      ["/dns-query", "www.acme.example", "A", "application/dns-json"],
      ["/dns-query", "www.acme.example", "AAAA", "application/dns-json"],
    ]);
  });

  it("finds no address for a name that does not exist, and fails on a failing or unreadable answer", async () => {
    expect(await resolve("gone.example")).toEqual([]);
    await expect(resolve("broken.example")).rejects.toThrow("DNS over HTTPS answered status 2");
    await expect(resolve("garbled.example")).rejects.toThrow("DNS over HTTPS answered something other than DNS JSON");
  });

  it("lets the guard refuse names that point inside, and names it cannot resolve", async () => {
    const guard = createAddressGuard({ allowPrivate: false, resolver: resolve });
    expect(await guard.refusal(new URL("https://www.acme.example/"))).toBeNull();
    expect(await guard.refusal(new URL("https://evil.example/"))).toBe("evil.example resolves to 127.0.0.1, which is not a public address (loopback)");
    expect(await guard.refusal(new URL("https://gone.example/"))).toBe("gone.example resolves to no address");
    expect(await guard.refusal(new URL("https://broken.example/"))).toBe("broken.example could not be resolved (DNS over HTTPS answered status 2)");
  });
});

// ---- the address policy against an independent range check ----

/** Non-public IPv4 ranges, written out from the IANA special-purpose registry. */
const V4_NON_PUBLIC: Array<[string, number]> = [
  ["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12],
  ["192.0.0.0", 24], ["192.0.2.0", 24], ["192.31.196.0", 24], ["192.52.193.0", 24], ["192.88.99.0", 24], ["192.168.0.0", 16],
  ["192.175.48.0", 24], ["198.18.0.0", 15], ["198.51.100.0", 24], ["203.0.113.0", 24], ["224.0.0.0", 4], ["240.0.0.0", 4],
];
/** Non-public IPv6 ranges inside and around global unicast (2000::/3), the embedding forms aside. */
const V6_NON_PUBLIC: Array<[string, number]> = [
  ["::", 96], ["64:ff9b:1::", 48], ["100::", 64], ["2001::", 23], ["2001:db8::", 32], ["2620:4f:8000::", 48], ["3fff::", 20],
  ["5f00::", 16], ["fc00::", 7], ["fe80::", 10], ["fec0::", 10], ["ff00::", 8],
];

const v4Number = (text: string) => text.split(".").reduce((sum, octet) => sum * 256 + Number(octet), 0);
const v4Text = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");

function v6Number(text: string): bigint {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return all.reduce((sum, group) => (sum << 16n) | BigInt(parseInt(group, 16)), 0n);
}
const v6Full = (n: bigint) => Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(":");

const inV4 = (n: number, [base, bits]: [string, number]) => bits === 0 || Math.floor(n / 2 ** (32 - bits)) === Math.floor(v4Number(base) / 2 ** (32 - bits));
const inV6 = (n: bigint, base: bigint, bits: number) => n >> BigInt(128 - bits) === base >> BigInt(128 - bits);

const isPublicV4 = (n: number) => n !== 0xffffffff && !V4_NON_PUBLIC.some((range) => inV4(n, range));

function isPublicV6(n: bigint): boolean {
  const low32 = Number(n & 0xffffffffn);
  if (inV6(n, v6Number("::ffff:0:0"), 96) || inV6(n, v6Number("::ffff:0:0:0"), 96) || inV6(n, v6Number("64:ff9b::"), 96)) return isPublicV4(low32);
  if (inV6(n, v6Number("2002::"), 16)) return isPublicV4(Number((n >> 80n) & 0xffffffffn));
  if (V6_NON_PUBLIC.some(([base, bits]) => inV6(n, v6Number(base), bits))) return false;
  return inV6(n, v6Number("2000::"), 3);
}

const v4Arbitrary = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  // Inside and at the edges of each special range, so every range is met often.
  fc.tuple(fc.constantFrom(...V4_NON_PUBLIC), fc.integer({ min: -2, max: 2 ** 24 })).map(([[base, bits], offset]) => {
    const size = 2 ** (32 - bits);
    const edge = offset < 0 ? (offset === -1 ? -1 : size) : offset % size;
    return (v4Number(base) + edge + 2 ** 32) % 2 ** 32;
  }),
  fc.constantFrom(0xffffffff, 0x7f000001, 0xa9fea9fe, 0x08080808),
);

const v6Arbitrary = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
  fc.tuple(fc.constantFrom(...V6_NON_PUBLIC, ["2000::", 3] as [string, number]), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n })).map(
    ([[base, bits], random]) => v6Number(base) | (random & ((1n << BigInt(128 - bits)) - 1n)),
  ),
  fc.tuple(fc.constantFrom("::ffff:0:0", "::ffff:0:0:0", "64:ff9b::"), v4Arbitrary).map(([prefix, v4]) => v6Number(prefix) | BigInt(v4)),
  fc.tuple(v4Arbitrary, fc.bigInt({ min: 0n, max: (1n << 80n) - 1n })).map(([v4, rest]) => v6Number("2002::") | (BigInt(v4) << 80n) | rest),
);

/** An IPv4 address as URLs may spell it: dotted, one number, hex, octal, or short forms. */
const v4Notation = (n: number) =>
  fc.constantFrom(
    v4Text(n),
    String(n),
    `0x${n.toString(16)}`,
    v4Text(n).split(".").map((octet) => `0${Number(octet).toString(8)}`).join("."),
    `${n >>> 24}.${(n >>> 16) & 255}.${n & 0xffff}`,
    `${n >>> 24}.${n & 0xffffff}`,
  );

describe("the address policy", () => {
  const literalGuard = createAddressGuard({ allowPrivate: false, resolver: null });

  it("judges IPv4 addresses in every notation as the independent range check does", async () => {
    await fc.assert(
      fc.asyncProperty(v4Arbitrary.chain((n) => v4Notation(n).map((text) => [n, text] as const)), async ([n, text]) => {
        const expected = isPublicV4(n);
        expect(nonPublicRangeOf(v4Text(n)) === null).toBe(expected);
        expect((await literalGuard.refusal(new URL(`http://${text}/`))) === null).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("judges IPv6 addresses, written in full or compressed, as the independent range check does", async () => {
    await fc.assert(
      fc.asyncProperty(v6Arbitrary, async (n) => {
        const expected = isPublicV6(n);
        expect(nonPublicRangeOf(v6Full(n)) === null).toBe(expected);
        expect((await literalGuard.refusal(new URL(`http://[${v6Full(n)}]/`))) === null).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses a name when any address it resolves to is not public", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(v4Arbitrary.map(v4Text), v6Arbitrary.map(v6Full)), { minLength: 1, maxLength: 4 }), async (addresses) => {
        const guard = createAddressGuard({ allowPrivate: false, resolver: async () => addresses });
        const expected = addresses.every((address) => (address.includes(":") ? isPublicV6(v6Number(address)) : isPublicV4(v4Number(address))));
        expect((await guard.refusal(new URL("https://generated.example/"))) === null).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it("checks nothing when private hosts are allowed", async () => {
    const open = createAddressGuard({ allowPrivate: true, resolver: async () => ["127.0.0.1"] });
    expect([await open.refusal(new URL("http://127.0.0.1/")), await open.refusal(new URL("http://intranet.example/"))]).toEqual([null, null]);
  });
});

// ---- through the provider and the column route ----

const ENV = { SITE_CRAWL_ENABLED: "true", SITE_CRAWL_USER_AGENT: "TestBot/1.0", SITE_CRAWL_TIMEOUT_MS: "1000", SITE_CRAWL_MAX_ATTEMPTS: "2" };
const providers = createCompanyProviders(ENV, null, { http: { backoff: { minMs: 5, maxMs: 10 }, fetch: routed } });

const h = useHarness({ providers: providers, taskRetryDelayMs: 10 });

describe("the site_crawl provider", () => {
  it("answers a refusal as an error outcome, not a thrown one", async () => {
    redirectTo(`http://[::ffff:127.0.0.1]:${P}/secret`);
    const column = { id: crypto.randomUUID(), name: "Site", prompt: null, source: "profile" as const, subject: "company" as const, schema: { type: "text" as const, textFormat: "long" as const }, config: {} };
    expect(await providers.site_crawl!.enrich({ column, row: companyRow({ domain: "acme.example" }), signal })).toEqual({
      outcome: "error",
      error: `site-crawl did not fetch http://[::ffff:7f00:1]:${P}/secret (redirected from https://acme.example/): [::ffff:7f00:1] is not a public address (loopback 127.0.0.1 inside IPv6)`,
      retryable: false,
      metadata: { provider: "site-crawl", failure: "network", status: null },
    });
    expect(internal.requests).toEqual([]);
  });

  it("fails the cells of a site_crawl column whose sites point inside, refunds them, and sends nothing inside", async () => {
    redirectTo(`http://127.0.0.1:${P}/secret`);
    const client = await h.seedWorkspace({ credits: 20 });
    const listId = (await client.post("/api/lists", { name: "Targets" })).body.list.id as string;
    const rowIds: string[] = [];
    for (const body of [
      { name: "Acme", domain: "acme.example" },
      { name: "Loopback Ltd", website: `http://2130706433:${P}/` },
    ]) {
      const created = await client.post(`/api/lists/${listId}/companies`, body);
      expect([created.status, created.body.company.name]).toEqual([201, body.name]);
      rowIds.push(created.body.company.id);
    }

    const res = await client.post(`/api/lists/${listId}/columns`, { name: "Site", isDynamic: true, subject: "company", enrichmentType: "site_crawl" });
    expect(res.status).toBe(201);
    const columnId = res.body.column.id as string;
    await h.settle();

    const acmeError = `site-crawl did not fetch http://127.0.0.1:${P}/secret (redirected from https://acme.example/): 127.0.0.1 is not a public address (loopback)`;
    const loopbackError = `site-crawl did not fetch http://127.0.0.1:${P}/: 127.0.0.1 is not a public address (loopback)`;
    const cells = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
    expect(cells.status).toBe(200);
    expect(cells.body).toEqual({
      cells: [
        { rowId: rowIds[0], name: "Acme", value: null, status: "failed", error: acmeError },
        { rowId: rowIds[1], name: "Loopback Ltd", value: null, status: "failed", error: loopbackError },
      ],
    });

    const stored = await h.db.select().from(companyCells).where(eq(companyCells.columnId, columnId));
    const byRow = new Map(stored.map((cell) => [cell.companyRowId, cell]));
    expect(rowIds.map((id) => byRow.get(id)).map((cell) => ({ id: cell!.id, status: cell!.status, value: cell!.value, error: cell!.error, metadata: cell!.metadata }))).toEqual([
      { id: UUID, status: "failed", value: null, error: acmeError, metadata: expect.objectContaining({ provider: "site-crawl", failure: "network", status: null }) },
      { id: UUID, status: "failed", value: null, error: loopbackError, metadata: expect.objectContaining({ provider: "site-crawl", failure: "network", status: null }) },
    ]);

    const price = DEFAULT_CREDIT_COSTS.SITE_CRAWL_ENRICHMENT!;
    const ledger = (await client.ledger()).filter((entry) => entry.kind !== "grant").map(({ kind, action, units, delta }) => ({ kind, action, units, delta }));
    expect(ledger).toEqual([
      { kind: "charge", action: "SITE_CRAWL_ENRICHMENT", units: 2, delta: -2 * price },
      { kind: "refund", action: "SITE_CRAWL_ENRICHMENT", units: 1, delta: price },
      { kind: "refund", action: "SITE_CRAWL_ENRICHMENT", units: 1, delta: price },
    ]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 20, ledgerSum: 20, entries: 4 });
    expect(internal.requests).toEqual([]);
  });
});
