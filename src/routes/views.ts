import { z } from "@hono/zod-openapi";
import { cellStatuses, columns, lists } from "../db/schema";
import { RUN_IF_VOCABULARY } from "../domain/engine/conditions";
import { filterJsonSchema } from "../domain/filters/language";

// The response shapes of the stored records several resources answer with (src/domain/views.ts),
// named so the document lists each once as a component.

const timestamp = () => z.iso.datetime();
const text = () => z.string().nullable();

export const List = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    leadType: z.enum(lists.leadType.enumValues),
    enrichmentStatus: z.enum(["idle", "running"]).openapi({ description: "`running` while any cell of the list is `pending` or `processing`, else `idle`." }),
    rowCount: z.number().int().openapi({ description: "People in the list." }),
    companyCount: z.number().int().openapi({ description: "Companies in the list." }),
    leadCount: z.number().int().openapi({ description: "People and companies together." }),
    createdAt: timestamp(),
    updatedAt: timestamp(),
  })
  .openapi("List");

export const COLUMN_SCHEMA_TYPES = ["text", "number", "boolean", "url", "enum", "multiselect", "list", "date", "email", "phone"] as const;

export const ColumnSchema = z
  .strictObject({
    type: z.enum(COLUMN_SCHEMA_TYPES),
    format: z.string().optional(),
    currency: z.string().optional(),
    scale: z.string().optional(),
    textFormat: z.string().optional(),
    options: z.array(z.string()).optional().openapi({ description: "The allowed values of an `enum` or `multiselect`." }),
    itemType: z.string().optional().openapi({ description: "The type of each item of a `list`." }),
    maxItems: z.number().int().optional(),
    linkType: z.string().optional().openapi({ description: "What a `url` points at (e.g. `linkedin`, `website`)." }),
  })
  .openapi("ColumnSchema", { description: "The type of the column's values." });

const count = () => z.number().int().min(0);

// The document shows the run condition's own schema (the one the column routes parse with).
export const RunCondition = z.unknown().openapi("RunCondition", {
  ...filterJsonSchema(RUN_IF_VOCABULARY),
  description:
    "Runs the column's cell of a row only when the row matches: the filter language of filtered scopes over the row's fields (name, firstName, lastName, title, company, domain, location, industry, size, email, linkedinUrl, `attributes.<key>`) and other columns' values of the row (`column:<name>`). A row that does not match ends completed with no value, reasoning \"Run condition not met\", and is not charged.",
  example: { all: [{ field: "column:Employees", op: "gte", value: 50 }, { field: "domain", op: "is_not_empty" }] },
} as never);

export const ColumnProgress = z
  .strictObject({
    total: count().openapi({ description: "The column's cells; the other counts are disjoint and add up to it." }),
    pending: count().openapi({ description: "Queued, not started." }),
    processing: count(),
    completed: count().openapi({ description: "Completed with a value." }),
    empty: count().openapi({ description: "Completed with no value (e.g. no contact found)." }),
    failed: count(),
  })
  .openapi("ColumnProgress");

export const ColumnCredits = z
  .strictObject({
    charged: count().openapi({ description: "Credits charged for the column's work." }),
    refunded: count().openapi({ description: "Of those, credits given back for cells that ended without a value." }),
    held: count().openapi({ description: "Credits set aside for cells queued and not yet dispatched (charged once they are)." }),
  })
  .openapi("ColumnCredits");

export const Column = z
  .strictObject({
    id: z.uuid(),
    listId: z.uuid(),
    name: z.string(),
    prompt: z.string().nullable().openapi({ description: "The AI prompt; null for manual and enrichment columns." }),
    responseType: z.string(),
    source: z.enum(columns.source.enumValues).openapi({ description: "Where an AI column looks: the lead's profile, the live web, or reasoning alone." }),
    subject: z.enum(columns.subject.enumValues).openapi({ description: "Whether the column's cells belong to the list's people or its companies." }),
    isFilter: z.boolean(),
    position: z.number().int(),
    schema: ColumnSchema.nullable(),
    enrichmentType: z.string().nullable().openapi({ description: "The enrichment the column runs; null for AI and manual columns." }),
    config: z.record(z.string(), z.unknown()),
    createdAt: timestamp(),
    isPreview: z.boolean().openapi({ description: "A preview column: filled for a few rows only, until kept or cleaned up." }),
    category: z.string(),
    builtInKey: z.string().nullable().openapi({ description: "Set on the columns every list has (name, role, company...)." }),
    autoRun: z.boolean().openapi({ description: "Rows added later (and rows whose fields the column reads change) are run by themselves." }),
    runIf: z.unknown().openapi({
      anyOf: [{ $ref: "#/components/schemas/RunCondition" }, { type: "null" }],
      description: "The run condition; null: every row runs.",
    } as never),
    maxCredits: z.number().int().nullable().openapi({ description: "The most the column may ever spend, across creation, promotion, generate and auto-run; null: no budget." }),
    budgetLeft: z.number().int().nullable().openapi({ description: "What the budget still allows: maxCredits less what the column was charged (net of refunds) and holds; null without a budget." }),
    dependsOn: z.array(z.uuid()).openapi({ description: "The AI and enrichment columns the prompt or condition reads: a row's cell runs once theirs are done." }),
    progress: ColumnProgress,
    credits: ColumnCredits,
  })
  .openapi("Column");

export const CellSource = z
  .strictObject({
    url: z.string().openapi({ description: "An http(s) link to the page." }),
    title: z.string().optional().openapi({ description: "The page's title, when the search named it." }),
  })
  .openapi("CellSource", { description: "A page a web answer cites." });

export const cellSources = () =>
  z.array(CellSource).optional().openapi({
    description:
      "The pages the answer cites, on completed cells of AI columns with source `web` (an empty list when it cited none). " +
      "Absent on every other cell: not yet answered, failed, nothing found, a manual value, other columns.",
  });

export const waitingOn = () =>
  z.array(z.uuid()).optional().openapi({
    description: "On a pending cell whose row's inputs are not done yet: the columns (by id) whose cells of this row it waits on. Absent otherwise.",
  });

export const CellAttempt = z
  .strictObject({
    provider: z.string().openapi({ description: "The provider's id in the waterfall (`fullenrich`, `hunter`, `sandbox`)." }),
    outcome: z.enum(["matched", "no_match", "error", "skipped", "not_run"]).openapi({
      description: "`matched`: it found the value; `no_match`: it found nothing; `error`: it failed; `skipped`: the row lacks what it needs, so it was not asked; `not_run`: not asked (an earlier provider matched, or its price could not be paid).",
    }),
    cost: z.number().int().openapi({ description: "Credits charged for this try: the provider's price when it matched, else 0." }),
    durationMs: z.number().int().openapi({ description: "How long the provider took to answer for this row (0 when it was not asked)." }),
    reason: z.string().optional().openapi({ description: "Why it found nothing, failed, was skipped or not run." }),
  })
  .openapi("CellAttempt", { description: "One provider's try for a row of a waterfall column." });

export const cellAttempts = () =>
  z.array(CellAttempt).optional().openapi({
    description: "On cells of a waterfall column (`config.providers`): each provider's try for this row, in the waterfall's order, so far while it runs. Absent on every other cell.",
  });

const cellFields = {
  value: z.unknown().openapi({ description: "The cell's value (any JSON), null until filled." }),
  status: z.enum(cellStatuses).openapi({ description: "`pending` and `processing` while background work fills the cell." }),
  reasoning: z.string().nullable().openapi({ description: "How an AI column arrived at the value." }),
  error: z.string().nullable(),
  sources: cellSources(),
  attempts: cellAttempts(),
  waitingOn: waitingOn(),
  createdAt: timestamp(),
  updatedAt: timestamp(),
};

export const Cell = z
  .strictObject({ id: z.uuid(), listId: z.uuid(), columnId: z.uuid(), rowId: z.uuid(), ...cellFields })
  .openapi("Cell", { description: "A cell of a person row." });

export const CompanyCell = z
  .strictObject({ id: z.uuid(), listId: z.uuid(), columnId: z.uuid(), companyRowId: z.uuid(), ...cellFields })
  .openapi("CompanyCell", { description: "A cell of a company row." });

export const Row = z
  .strictObject({
    id: z.uuid(),
    listId: z.uuid(),
    leadId: z.uuid().openapi({ description: "The workspace's person this row is." }),
    companyRowId: z.uuid().nullable().openapi({ description: "The list's company row the person works at, when known." }),
    position: z.number().int(),
    firstName: text(),
    lastName: text(),
    fullName: text(),
    company: text(),
    role: text(),
    headline: text(),
    linkedinUrl: text(),
    location: text(),
    domain: text(),
    email: text(),
    phone: text(),
    seniority: text(),
    departments: text(),
    functions: text(),
    experience: text(),
    attributes: z.record(z.string(), z.unknown()).openapi({ description: "Free-form fields beyond the standard ones." }),
    createdAt: timestamp(),
    updatedAt: timestamp(),
  })
  .openapi("Row", { description: "A person of a list." });

export const CompanyRow = z
  .strictObject({
    id: z.uuid(),
    listId: z.uuid(),
    leadId: z.uuid().openapi({ description: "The workspace's company this row is." }),
    position: z.number().int(),
    name: z.string(),
    domain: text(),
    linkedinUrl: text(),
    industry: text(),
    employeeCount: z.number().int().nullable(),
    location: text(),
    website: text(),
    description: text(),
    attributes: z.record(z.string(), z.unknown()).openapi({ description: "Free-form fields beyond the standard ones." }),
    createdAt: timestamp(),
    updatedAt: timestamp(),
  })
  .openapi("CompanyRow", { description: "A company of a list." });
