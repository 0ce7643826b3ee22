import type { ColumnSchema } from "../db/schema";
import type { TaskId } from "../dispatch/types";

// What fills a column, what it costs, and who may have it: the table of spec section 5 as data,
// read by the column routes (pricing, dispatch) and by the tasks (which provider answers).

export const ENRICHMENT_TYPES = [
  "work_email",
  "mobile_phone",
  "site_crawl",
  "website_overview",
  "hiring_status",
  "news_articles",
  "linkedin_posts",
] as const;
export type EnrichmentType = (typeof ENRICHMENT_TYPES)[number];

export type Subject = "person" | "company";
export type ColumnSource = "profile" | "web" | "reasoning";

type TypedKind = {
  taskId: TaskId;
  subjects: readonly Subject[];
  creditAction: (subject: Subject) => string;
  schema: ColumnSchema;
  /** Contact lookups are charged inside the task, per row actually sent to the provider. */
  chargedInTask: boolean;
};

export const TYPED_KINDS: Readonly<Record<EnrichmentType, TypedKind>> = {
  work_email: { taskId: "list-contact-enrich", subjects: ["person"], creditAction: () => "EMAIL_LOOKUP", schema: { type: "email" }, chargedInTask: true },
  mobile_phone: { taskId: "list-contact-enrich", subjects: ["person"], creditAction: () => "PHONE_LOOKUP", schema: { type: "phone" }, chargedInTask: true },
  hiring_status: { taskId: "list-hiring-enrich", subjects: ["company"], creditAction: () => "HIRING_STATUS", schema: { type: "boolean" }, chargedInTask: false },
  site_crawl: {
    taskId: "list-generic-enrich",
    subjects: ["company"],
    creditAction: () => "SITE_CRAWL_ENRICHMENT",
    schema: { type: "text", textFormat: "long" },
    chargedInTask: false,
  },
  website_overview: {
    taskId: "list-generic-enrich",
    subjects: ["company"],
    creditAction: () => "WEBSITE_ENRICHMENT",
    schema: { type: "text", textFormat: "long" },
    chargedInTask: false,
  },
  news_articles: {
    taskId: "list-generic-enrich",
    subjects: ["person", "company"],
    creditAction: (subject) => (subject === "company" ? "COMPANY_NEWS" : "PERSON_NEWS"),
    schema: { type: "list", itemType: "url", maxItems: 10 },
    chargedInTask: false,
  },
  linkedin_posts: {
    taskId: "list-generic-enrich",
    subjects: ["person", "company"],
    creditAction: () => "LINKEDIN_POSTS",
    schema: { type: "list", itemType: "url", maxItems: 10 },
    chargedInTask: false,
  },
};

/** AI prompt columns run in batches of this many rows per task run. */
export const AI_BATCH_SIZE = 100;

export type ColumnPlan =
  | { kind: "static" }
  | { kind: "ai"; taskId: "sheet-ai-enrich"; creditAction: string; chargedInTask: false }
  | ({ kind: "typed"; enrichmentType: EnrichmentType } & Omit<TypedKind, "subjects" | "creditAction" | "schema"> & { creditAction: string });

/** How a stored column is filled and priced. */
export function planColumn(column: { enrichmentType: string | null; source: ColumnSource; subject: Subject }): ColumnPlan {
  if (column.enrichmentType) {
    const kind = TYPED_KINDS[column.enrichmentType as EnrichmentType];
    if (!kind) return { kind: "static" };
    return {
      kind: "typed",
      enrichmentType: column.enrichmentType as EnrichmentType,
      taskId: kind.taskId,
      creditAction: kind.creditAction(column.subject),
      chargedInTask: kind.chargedInTask,
    };
  }
  if (column.source === "web" || column.source === "reasoning") {
    return { kind: "ai", taskId: "sheet-ai-enrich", creditAction: column.source === "web" ? "CUSTOM_ENRICHMENT_WEB" : "CUSTOM_ENRICHMENT_AI", chargedInTask: false };
  }
  return { kind: "static" };
}

/** Each column's credit action by id (static columns have none), for settling its cells' credits in SQL. */
export function creditActionsOf(columns: ReadonlyArray<{ id: string; enrichmentType: string | null; source: ColumnSource; subject: Subject }>): Record<string, string> {
  const actions: Record<string, string> = {};
  for (const column of columns) {
    const plan = planColumn(column);
    if (plan.kind !== "static") actions[column.id] = plan.creditAction;
  }
  return actions;
}

/** The payloads of one dispatch of a column's rows: one run per batch of AI_BATCH_SIZE rows. */
export function columnTaskPayloads(columnId: string, rowIds: readonly string[]): Array<{ columnId: string; rowIds: string[] }> {
  const payloads: Array<{ columnId: string; rowIds: string[] }> = [];
  for (let start = 0; start < rowIds.length; start += AI_BATCH_SIZE) payloads.push({ columnId, rowIds: rowIds.slice(start, start + AI_BATCH_SIZE) });
  return payloads;
}
