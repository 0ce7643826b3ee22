import { z } from "zod";
import type { ColumnSchema } from "../db/schema";
import type { ProviderColumn, ProviderKind } from "../providers/types";
import { TYPED_KINDS, type ColumnSource, type Subject } from "./column-kinds";

// The enrichment catalog (spec section 7) as data. Each entry's zod schemas are the one source of
// truth: the request validates `input` with them, the task checks provider values with them, and the
// JSON Schemas the catalog publishes are derived from them.

export type OutputTarget = "lead" | "membership";

export type CatalogEntry = {
  slug: string;
  name: string;
  description: string;
  subject: Subject;
  version: number;
  enabled: boolean;
  visibility: "public" | "hidden";
  input: z.ZodType<Record<string, unknown>>;
  /** The shape of one value, as the provider is asked for it and as it lands on the target. */
  valueSchema: ColumnSchema;
  output: z.ZodType;
  defaultOutput: { target: OutputTarget; attributeKey: string };
  costModel: { creditAction: string };
  /** Which provider answers, and how the run's input steers it. */
  provider: { kind: ProviderKind; source: (input: Record<string, unknown>) => ColumnSource };
};

const PHONE = /^\+?[0-9 ().-]{5,32}$/;

/** A zod schema for values of a column schema type: the checks the cells table applies, in TypeScript. */
function valueZod(schema: ColumnSchema): z.ZodType {
  switch (schema.type) {
    case "email":
      return z.email();
    case "phone":
      return z.string().regex(PHONE);
    case "url":
      return z.url();
    case "boolean":
      return z.boolean();
    case "number":
      return z.number();
    case "list": {
      const item = valueZod({ type: (schema.itemType ?? "text") as ColumnSchema["type"] });
      return schema.maxItems === undefined ? z.array(item) : z.array(item).max(schema.maxItems);
    }
    default:
      return z.string();
  }
}

const noInput = z.strictObject({});
const fromProfile = () => "profile" as const;

type EntryDefinition = Omit<CatalogEntry, "version" | "enabled" | "visibility" | "output" | "defaultOutput" | "provider"> &
  Partial<Pick<CatalogEntry, "version" | "enabled" | "visibility" | "provider">>;

function entry(definition: EntryDefinition & { provider: CatalogEntry["provider"] }): CatalogEntry {
  return {
    version: 1,
    enabled: true,
    visibility: "public",
    ...definition,
    output: valueZod(definition.valueSchema),
    defaultOutput: { target: "lead", attributeKey: definition.slug },
  };
}

const typed = (kind: keyof typeof TYPED_KINDS) => ({ valueSchema: TYPED_KINDS[kind].schema, provider: { kind, source: fromProfile } });

export const CATALOG: readonly CatalogEntry[] = [
  entry({
    slug: "work_email",
    name: "Work email",
    description: "Finds a person's verified work email address from their name and company domain.",
    subject: "person",
    input: noInput,
    costModel: { creditAction: "EMAIL_LOOKUP" },
    ...typed("work_email"),
  }),
  entry({
    slug: "mobile_phone",
    name: "Mobile phone",
    description: "Finds a person's mobile phone number through a contact data provider.",
    subject: "person",
    input: noInput,
    costModel: { creditAction: "PHONE_LOOKUP" },
    ...typed("mobile_phone"),
  }),
  entry({
    slug: "website_overview",
    name: "Website overview",
    description: "Summarises what a company does, for whom, and how it sells, from its website.",
    subject: "company",
    input: noInput,
    costModel: { creditAction: "WEBSITE_ENRICHMENT" },
    ...typed("website_overview"),
  }),
  entry({
    slug: "hiring_status",
    name: "Hiring status",
    description: "Whether a company is hiring right now, from its careers page and job boards.",
    subject: "company",
    input: noInput,
    costModel: { creditAction: "HIRING_STATUS" },
    ...typed("hiring_status"),
  }),
  entry({
    slug: "site_crawl",
    name: "Site crawl",
    description: "Crawls a company's website and condenses its pages into one long-form profile.",
    subject: "company",
    input: z.strictObject({ maxPages: z.int().min(1).max(50).default(10) }),
    costModel: { creditAction: "SITE_CRAWL_ENRICHMENT" },
    ...typed("site_crawl"),
  }),
  entry({
    slug: "company_news",
    name: "Company news",
    description: "Recent news articles about a company within a time period.",
    subject: "company",
    input: z.strictObject({ timePeriod: z.enum(["1m", "3m", "6m", "1y", "all"]).default("3m") }),
    costModel: { creditAction: "COMPANY_NEWS" },
    ...typed("news_articles"),
  }),
  entry({
    slug: "linkedin_posts",
    name: "LinkedIn posts",
    description: "A person's most recent LinkedIn posts.",
    subject: "person",
    input: noInput,
    costModel: { creditAction: "LINKEDIN_POSTS" },
    ...typed("linkedin_posts"),
  }),
  entry({
    slug: "custom_ai",
    name: "Custom AI enrichment",
    description: "Answers a free-form prompt about a person, from the live web or from their stored profile.",
    subject: "person",
    input: z.strictObject({ prompt: z.string().trim().min(1).max(4000), dataSource: z.enum(["web", "profile"]).default("web") }),
    costModel: { creditAction: "CUSTOM_ENRICHMENT_AI" },
    valueSchema: { type: "text" },
    provider: { kind: "ai", source: (input) => (input.dataSource === "profile" ? "reasoning" : "web") },
  }),
  entry({
    slug: "deep_research",
    name: "Deep research",
    description: "A long multi-source research report on a person. In private beta: not offered in the catalog.",
    subject: "person",
    visibility: "hidden",
    input: z.strictObject({ prompt: z.string().trim().min(1).max(4000) }),
    costModel: { creditAction: "DEEP_RESEARCH" },
    valueSchema: { type: "text", textFormat: "long" },
    provider: { kind: "ai", source: () => "web" },
  }),
];

const BY_SLUG = new Map(CATALOG.map((e) => [e.slug, e]));

/** Any entry, hidden ones included: for runs created while an entry was offered. */
export function catalogEntry(slug: string): CatalogEntry | undefined {
  return BY_SLUG.get(slug);
}

/** An entry callers may see and run; hidden and disabled entries do not exist for them. */
export function offeredEntry(slug: string): CatalogEntry | undefined {
  const found = BY_SLUG.get(slug);
  return found && found.visibility === "public" && found.enabled ? found : undefined;
}

export type CatalogView = ReturnType<typeof toView>;

function toView(e: CatalogEntry) {
  return {
    id: e.slug,
    slug: e.slug,
    name: e.name,
    description: e.description,
    subject: e.subject,
    version: e.version,
    enabled: e.enabled,
    visibility: e.visibility,
    inputSchema: z.toJSONSchema(e.input, { io: "input" }),
    outputSchema: z.toJSONSchema(e.output),
    defaultOutput: e.defaultOutput,
    costModel: e.costModel,
    toolBinding: { type: "trigger_task" as const, taskId: "enrichment-run" as const },
  };
}

const VIEWS = new Map(CATALOG.map((e) => [e.slug, toView(e)]));

export function catalogView(e: CatalogEntry): CatalogView {
  return VIEWS.get(e.slug)!;
}

/** The offered entries, optionally those whose slug, name or description contains `q` (any case). */
export function searchCatalog(q?: string): CatalogView[] {
  const needle = q?.trim().toLowerCase();
  return CATALOG.filter((e) => offeredEntry(e.slug))
    .filter((e) => !needle || [e.slug, e.name, e.description].some((text) => text.toLowerCase().includes(needle)))
    .map(catalogView);
}

/** The column-shaped view of an entry a provider answers for, steered by the run's input. */
export function providerColumn(e: CatalogEntry, input: Record<string, unknown>): ProviderColumn {
  return {
    id: `enrichment:${e.slug}:v${e.version}`,
    name: e.name,
    prompt: typeof input.prompt === "string" ? input.prompt : null,
    source: e.provider.source(input),
    subject: e.subject,
    schema: e.valueSchema,
    config: input,
  };
}
