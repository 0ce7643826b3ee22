import type { ColumnSchema } from "../db/schema";
import { PROVIDER_KINDS, type CellProvider, type CellRequest, type PersonData, type ProviderKind, type ProviderResult, type Providers, type RowData } from "./types";

// The offline provider: answers every kind of enrichment without a network, so the whole product runs
// on a machine with no keys. Answers are deterministic (seeded by the column, the row and the prompt),
// plausible for the row, and typed by the column's schema so that every value passes the database's
// cell_value_fits check.

export type SandboxOptions = {
  /** Wait this long before each answer (honouring the abort signal), to mimic upstream latency. */
  delayMs?: number;
};

const METADATA = { provider: "sandbox" } as const;

const TOPICS = [
  "developer tooling",
  "payments infrastructure",
  "supply-chain analytics",
  "customer support automation",
  "data security",
  "healthcare scheduling",
  "marketing attribution",
  "cloud cost management",
];
const SEGMENTS = ["mid-market companies", "enterprise teams", "small businesses", "public-sector buyers", "e-commerce brands"];
const TAGS = ["SaaS", "B2B", "Fintech", "AI", "Security", "Analytics", "Marketplace", "Hardware"];
const PAGES = ["", "/about", "/product", "/pricing", "/customers", "/blog"];
const NEWS_HOSTS = ["techcrunch.com", "reuters.com", "businesswire.com", "forbes.com", "venturebeat.com"];
const NEWS_TOPICS = ["raises-series-b", "launches-new-platform", "expands-to-europe", "names-new-cto", "partners-with-aws", "opens-new-office"];
// Fictional NANP numbers: every area code with the 555-0100..0199 exchange reserved for fiction.
const AREA_CODES = ["212", "312", "415", "512", "617", "646", "737", "206"];
// A fixed epoch keeps generated dates independent of the clock.
const DATE_EPOCH_MS = Date.UTC(2023, 0, 1);

type Rand = () => number;

/** FNV-1a: a small, stable string hash, the same on every runtime (no crypto needed). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a seeded sequence, so one cell's several random choices stay reproducible. */
function seededRandom(seed: number): Rand {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sandboxSeed(request: Pick<CellRequest, "column" | "row">): number {
  return hash32(`${request.column.id}\u0000${request.row.rowId}\u0000${request.column.prompt ?? ""}`);
}

const int = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

/** Up to `max` distinct items, in their original order (at least one when there is any). */
function subset<T>(rand: Rand, items: readonly T[], max: number): T[] {
  const size = Math.min(items.length, max, int(rand, 1, Math.max(1, Math.min(items.length, 3))));
  const chosen = new Set<number>();
  while (chosen.size < size) chosen.add(Math.floor(rand() * items.length));
  return [...chosen].sort((a, b) => a - b).map((i) => items[i]!);
}

/** Lower-case ASCII letters and digits joined by `separator`; "" when nothing usable is left. */
function slug(text: string | null | undefined, separator = "-"): string {
  return (text ?? "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, separator)
    .split(separator)
    .filter(Boolean)
    .join(separator);
}

const HOST = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/** The row's own web host (from its domain or website), or null when it has none. */
function hostOf(row: RowData): string | null {
  const candidates = row.subject === "company" ? [row.domain, row.website] : [row.domain];
  for (const candidate of candidates) {
    const host = (candidate ?? "")
      .trim()
      .toLowerCase()
      .replace(/^[a-z]+:\/\//, "")
      .replace(/[/?#:].*$/, "")
      .replace(/^www\./, "");
    if (HOST.test(host)) return host;
  }
  return null;
}

function nameOf(row: RowData): string {
  if (row.subject === "company") return row.name.trim() || "The company";
  const full = row.fullName?.trim() || [row.firstName, row.lastName].filter(Boolean).join(" ").trim();
  return full || "This person";
}

function organisationOf(row: RowData): string | null {
  return row.subject === "company" ? row.name : row.company;
}

/** First and last name parts as email-safe slugs; empty when the row has no name. */
function emailNameParts(row: PersonData): string[] {
  const words = (row.fullName ?? "").trim().split(/\s+/).filter(Boolean);
  const first = slug(row.firstName ?? words[0], "");
  const last = slug(row.lastName ?? (words.length > 1 ? words[words.length - 1] : ""), "");
  return [first, last].filter(Boolean);
}

/** What a kind generates for the free-form parts of a schema (text, URLs). */
type Flavour = {
  rand: Rand;
  row: RowData;
  name: string;
  /** Always a valid host: the row's own, or one made from its name. */
  host: string;
  text(long: boolean): string;
  url(index: number): string;
};

function phrase(f: Flavour): string {
  const topic = pick(f.rand, TOPICS);
  const segment = pick(f.rand, SEGMENTS);
  if (f.row.subject === "person") {
    const org = organisationOf(f.row);
    return `${f.name} works on ${topic}${org ? ` at ${org}` : ""}, mostly with ${segment}.`;
  }
  return `${f.name} builds ${topic} for ${segment}.`;
}

function paragraph(f: Flavour): string {
  const industry = f.row.subject === "company" && f.row.industry ? f.row.industry : pick(f.rand, TOPICS);
  return [
    phrase(f),
    `Its site at ${f.host} describes a ${pick(f.rand, ["self-serve", "sales-led", "usage-based", "subscription"])} offering in ${industry}.`,
    `Recent pages mention ${pick(f.rand, TAGS)} and ${pick(f.rand, TAGS)} customers, with ${int(f.rand, 2, 40)} case studies published.`,
  ].join(" ");
}

function phoneNumber(rand: Rand): string {
  return `+1 ${pick(rand, AREA_CODES)} 555 01${String(int(rand, 0, 99)).padStart(2, "0")}`;
}

function isoDate(rand: Rand): string {
  return new Date(DATE_EPOCH_MS + int(rand, 0, 3 * 365) * 86_400_000).toISOString().slice(0, 10);
}

function emailFor(f: Flavour): string {
  const parts = f.row.subject === "person" ? emailNameParts(f.row) : [];
  return `${parts.length > 0 ? parts.join(".") : pick(f.rand, ["info", "hello", "contact", "sales"])}@${f.host}`;
}

function numberFor(schema: ColumnSchema, rand: Rand): number {
  if (schema.format === "percent") return int(rand, 0, 100);
  if (schema.currency || schema.format === "currency") return int(rand, 10, 5000) * 1000;
  return int(rand, 1, 500);
}

const LIST_ITEM_TYPES = new Set<string>(["text", "number", "boolean", "url", "date", "email", "phone"]);

/** A value of the schema's type; lists recurse on their item type. */
function typedValue(schema: ColumnSchema | null, f: Flavour): unknown {
  const type = schema?.type ?? "text";
  const options = schema?.options?.filter((option) => typeof option === "string") ?? [];
  const maxItems = typeof schema?.maxItems === "number" ? Math.max(0, Math.floor(schema.maxItems)) : Number.POSITIVE_INFINITY;
  switch (type) {
    case "number":
      return numberFor(schema!, f.rand);
    case "boolean":
      return f.rand() < 0.5;
    case "url":
      if (schema?.linkType === "linkedin") {
        return `https://www.linkedin.com/${f.row.subject === "company" ? "company" : "in"}/${slug(f.name) || "profile"}`;
      }
      return f.url(0);
    case "email":
      return emailFor(f);
    case "phone":
      return phoneNumber(f.rand);
    case "date":
      return isoDate(f.rand);
    case "enum":
      return options.length > 0 ? pick(f.rand, options) : pick(f.rand, TAGS);
    case "multiselect":
      return subset(f.rand, options.length > 0 ? options : TAGS, maxItems);
    case "list": {
      const itemType = schema?.itemType && LIST_ITEM_TYPES.has(schema.itemType) ? schema.itemType : "text";
      const count = Math.min(maxItems, int(f.rand, 1, 5));
      return Array.from({ length: count }, (_, index) =>
        itemType === "url" ? f.url(index) : itemType === "text" ? f.text(false) : typedValue({ type: itemType as ColumnSchema["type"] }, f),
      );
    }
    default:
      return f.text(schema?.textFormat === "long");
  }
}

function flavourFor(kind: ProviderKind, request: CellRequest, rand: Rand): Flavour {
  const { row } = request;
  const name = nameOf(row);
  const host = hostOf(row) ?? `${slug(organisationOf(row) ?? name, "") || "example"}.com`;
  const nameSlug = slug(name) || "profile";
  const flavour: Flavour = {
    rand,
    row,
    name,
    host,
    text: (long) => (long ? paragraph(flavour) : phrase(flavour)),
    url: (index) => `https://${host}${index === 0 ? pick(rand, PAGES) : `/blog/${slug(pick(rand, TOPICS))}-${index}`}`,
  };
  if (kind === "news_articles") {
    flavour.url = () => `https://${pick(rand, NEWS_HOSTS)}/${isoDate(rand).slice(0, 7).replace("-", "/")}/${slug(organisationOf(row) ?? name) || "company"}-${pick(rand, NEWS_TOPICS)}`;
  } else if (kind === "linkedin_posts") {
    flavour.url = () => `https://www.linkedin.com/posts/${nameSlug}_${slug(pick(rand, TOPICS))}-activity-${int(rand, 1e9, 9e9)}`;
  } else if (kind === "site_crawl") {
    flavour.text = () => `Crawled ${int(rand, 4, 60)} pages of ${host}. ${paragraph(flavour)}`;
  }
  return flavour;
}

const noMatch = (reason: string): ProviderResult => ({ outcome: "no_match", reason, metadata: { ...METADATA } });

/** Why the sandbox's contact lookup cannot take the row (as a real provider's could not); null when it can. */
function sandboxUnfit(kind: ProviderKind, row: RowData): string | null {
  if (kind !== "work_email" && kind !== "mobile_phone") return null;
  if (row.subject !== "person") return kind === "work_email" ? "Work emails are looked up for people only" : "Mobile phones are looked up for people only";
  if (kind === "mobile_phone") return null;
  if (emailNameParts(row).length === 0) return "No name to look the email up by";
  if (!hostOf(row)) return "No company domain to look the email up at";
  return null;
}

/** The answer of one kind for one row: the whole sandbox, as a pure function of the request. */
function sandboxAnswer(kind: ProviderKind, request: CellRequest): ProviderResult {
  const { column, row } = request;
  const seed = sandboxSeed(request);
  const rand = seededRandom(seed);

  const unfit = sandboxUnfit(kind, row);
  if (unfit) return noMatch(unfit);
  if (kind === "work_email") {
    const parts = emailNameParts(row as PersonData);
    const host = hostOf(row)!;
    return { outcome: "value", value: `${parts.join(".")}@${host}`, metadata: { ...METADATA } };
  }
  if (kind === "mobile_phone") {
    // Contact providers miss some people; the sandbox misses one row in five, always the same ones.
    if (seed % 5 === 0) return noMatch("No mobile phone found for this person");
    return { outcome: "value", value: phoneNumber(rand), metadata: { ...METADATA } };
  }
  if ((kind === "site_crawl" || kind === "website_overview" || kind === "hiring_status") && !hostOf(row)) {
    return noMatch("No website to look at");
  }

  const flavour = flavourFor(kind, request, rand);
  const value = typedValue(column.schema, flavour);
  const fromWeb = kind !== "ai" || column.source === "web";
  return {
    outcome: "value",
    value,
    reasoning:
      kind === "ai"
        ? `Answered "${column.prompt ?? column.name}" for ${flavour.name} from ${fromWeb ? "a simulated web search" : "the stored profile"}.`
        : `Simulated ${kind.replace(/_/g, " ")} for ${flavour.name}.`,
    ...(fromWeb ? { sources: [`https://${flavour.host}/`] } : {}),
    metadata: { ...METADATA },
  };
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function sandboxProvider(kind: ProviderKind, options: SandboxOptions): CellProvider {
  return {
    name: "sandbox",
    unfit: ({ row }) => sandboxUnfit(kind, row),
    async enrich(request) {
      await delay(options.delayMs ?? 0, request.signal);
      return sandboxAnswer(kind, request);
    },
  };
}

export function createSandboxProviders(options: SandboxOptions = {}): Providers {
  return Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, sandboxProvider(kind, options)])) as Record<ProviderKind, CellProvider>;
}
