import { z } from "@hono/zod-openapi";
import { cellStatuses } from "../../db/schema";
import { ENRICHMENT_TYPES, type Subject } from "../../domain/column-kinds";
import { TIME_PERIODS } from "../../domain/columns";
import { waterfallIssues, waterfallProviders } from "../../domain/waterfall/steps";
import { LIMITS } from "../../limits";
import { atMost, int4, text, uuid } from "../../validation";
import { cellAttempts, cellSources, Column, COLUMN_SCHEMA_TYPES, RunCondition, waitingOn } from "../views";

export const listParam = z.object({ id: uuid().openapi({ description: "The list's id." }) });
export const columnParam = z.object({
  id: uuid().openapi({ description: "The list's id." }),
  colId: uuid().openapi({ description: "The column's id." }),
});

// The spreadsheet engine's settings, on create and PATCH (null clears runIf and maxCredits).
const engineSettings = {
  autoRun: z
    .boolean()
    .optional()
    .openapi({ description: "Run by itself on rows added later (single, bulk, leads joining the list) and again on a row whose fields it reads change; credit-gated per cell. Default false." }),
  // Parsed by the domain, so that a bad condition is INVALID_FILTER with the path of its fault.
  runIf: RunCondition.optional(),
  maxCredits: z
    .number()
    .int()
    .min(0)
    .max(2_147_483_647)
    .nullable()
    .optional()
    .openapi({ description: "The most the column may spend in total (net of refunds); a request that would pass it is a 402 BUDGET_EXCEEDED with budgetLeft." }),
};

const columnName = z.string().trim().min(1, "name must not be empty").max(LIMITS.text, atMost(LIMITS.text));
const token = text(LIMITS.token).optional();

const columnSchema = z
  .object({
    type: z.enum(COLUMN_SCHEMA_TYPES),
    format: token,
    currency: token,
    scale: token,
    textFormat: token,
    options: z.array(text(LIMITS.option)).max(LIMITS.options).optional().openapi({ description: "The allowed values of an enum or multiselect column." }),
    itemType: token.openapi({ description: "The type of each item of a list column." }),
    maxItems: z.number().int().min(1).max(LIMITS.maxItems).optional(),
    linkType: token,
  })
  .openapi({ description: "The shape of the column's values." });

export const createColumnBody = z
  .object({
    name: columnName,
    isDynamic: z.boolean().openapi({ description: "true: filled by AI or an enrichment; false: a manual column written through the cells." }),
    prompt: text(LIMITS.longText)
      .nullish()
      .openapi({ description: "The AI prompt; required (non-empty) for a dynamic column without an enrichmentType." }),
    // Documented: any value other than "company" is coerced to person.
    subject: z
      .unknown()
      .optional()
      .transform((value): Subject => (value === "company" ? "company" : "person"))
      .openapi({ description: '"company" for a column of the list\'s companies; any other value (or none) means its people.' }),
    dataSource: z
      .enum(["web", "profile"])
      .optional()
      .openapi({ description: "For an AI column: `web` (the default) searches the live web; `profile` reasons from the row's own data only." }),
    enrichmentType: z.enum(ENRICHMENT_TYPES).optional().openapi({ description: "Makes an enrichment column, filled by that provider instead of a prompt." }),
    schema: columnSchema.optional().openapi({ description: "The shape of the values; inferred from the prompt (or the enrichment) when omitted." }),
    config: z
      .object({
        timePeriod: z.enum(TIME_PERIODS).optional().openapi({ description: "news_articles: how far back to look (default 3m)." }),
        providers: waterfallProviders.optional().openapi({
          description:
            "work_email and mobile_phone: a waterfall, the contact providers tried in this order for each row until one finds a value (`fullenrich`, `hunter` for emails, `sandbox` under PROVIDERS=sandbox). The row is charged only for the provider that matched, at its price; each provider's outcome is returned on the cell as `attempts`.",
          example: ["hunter", "fullenrich"],
        }),
      })
      .optional(),
    isPreview: z
      .boolean()
      .default(false)
      .openapi({ description: "A preview column fills only the first 3 rows and is hidden from the list's columns until promoted (PATCH with isPreview: false)." }),
    ...engineSettings,
  })
  .superRefine((body, ctx) => {
    if (body.isDynamic && !body.enrichmentType && !body.prompt?.trim()) {
      ctx.addIssue({ code: "custom", path: ["prompt"], message: "A dynamic column without an enrichmentType needs a non-empty prompt" });
    }
    if (body.config?.providers) {
      for (const issue of waterfallIssues(body.enrichmentType, body.config.providers, ["config", "providers"])) ctx.addIssue({ code: "custom", ...issue });
    }
  });

export const listColumnsQuery = z.object({
  subject: z.enum(["person", "company"]).optional().openapi({ description: "Only the columns of people or of companies; both when omitted." }),
});

export const updateColumnBody = z
  .object({
    name: columnName.optional(),
    isFilter: z.boolean().optional(),
    // list_columns.position is an int4.
    position: int4(0).optional(),
    isPreview: z
      .literal(false, { message: "isPreview can only be set to false (promoting a preview column)" })
      .optional()
      .openapi({ description: "false promotes a preview column: its remaining rows are charged and filled in the background." }),
    ...engineSettings,
  })
  .refine((b) => Object.values(b).some((value) => value !== undefined), {
    message: "Nothing to update: give name, isFilter, position, isPreview, autoRun, runIf or maxCredits",
  });

export const generateCellsBody = z.object({
  rowIds: z
    .array(uuid())
    .min(1, "rowIds must hold at least one row id")
    .openapi({ description: "The rows to (re)fill; ids that are not rows of the list and the column's subject are skipped." }),
});

export const columnResponse = z.strictObject({ column: Column });

export const columnsResponse = z.strictObject({ columns: z.array(Column) });

export const PreviewCell = z
  .strictObject({
    rowId: z.uuid().openapi({ description: "The person row or company row, by the column's subject." }),
    name: z.string().nullable().openapi({ description: "The row's display name: the person's full name or the company's name." }),
    value: z.unknown(),
    status: z.enum(cellStatuses),
    error: z.string().nullable(),
    sources: cellSources(),
    attempts: cellAttempts(),
    waitingOn: waitingOn(),
  })
  .openapi("PreviewCell");

export const previewCellsResponse = z.strictObject({ cells: z.array(PreviewCell) });

export const generateCellsResponse = z.strictObject({
  success: z.literal(true),
  taskId: z.string().nullable().openapi({ description: "The background run (or batch) filling the cells; null when no row was queued." }),
  rowCount: z.number().int().openapi({ description: "How many rows were queued." }),
});
