import { z } from "@hono/zod-openapi";
import { enrichmentRuns, itemStatuses, runStatuses } from "../../db/schema";
import { FILTER_EXAMPLE, filterJsonSchema } from "../../domain/filters/language";
import { LIMITS } from "../../limits";
import { atMost, freeForm, limitParam, text, uuid } from "../../validation";
import { waterfallProviders } from "../../domain/waterfall/steps";
import { cellAttempts } from "../views";

const outputTarget = z.enum(enrichmentRuns.outputTarget.enumValues);
const writePolicy = z.enum(enrichmentRuns.writePolicy.enumValues);

// The document shows the filter language's own schema (the one the planner parses with).
const filterInput = z.unknown().openapi("Filter", {
  ...filterJsonSchema(),
  description:
    "The leads of the list to enrich, by their lead fields: name, firstName, lastName, title, company, domain, location, industry, size, email, linkedinUrl, `attributes.<key>` (the lead's attributes). A lead matches when every condition of `all` and at least one of `any` hold; an absent or empty group constrains nothing. A bad filter is a 400 INVALID_FILTER whose `issues` name the fault (`scope.filter.all.0.op`).",
  example: FILTER_EXAMPLE,
} as never);

// Scopes take exactly their documented keys: anything else (a `subject` above all) is a 400.
const scope = z
  .discriminatedUnion("type", [
    z.strictObject({
      type: z.literal("explicit_leads"),
      leadIds: z.array(uuid()).min(1).max(LIMITS.leadIds),
      listId: uuid().optional().openapi({ description: "A list the leads are in: needed for `output.target` membership." }),
    }),
    z.strictObject({ type: z.literal("list"), listId: uuid() }),
    // The seed documents `filter` as optional. It is parsed by the planner, so that a bad filter is
    // INVALID_FILTER with the path of its fault rather than a VALIDATION_ERROR.
    z.strictObject({ type: z.literal("filtered_list"), listId: uuid(), filter: filterInput.optional() }),
  ])
  .openapi({
    description: "The leads to enrich: given by id, every lead of a list, or the leads of a list whose fields match a filter (without `filter`, every lead of the list).",
  });

export const createEnrichmentRunBody = z.object({
  enrichmentId: z
    .string()
    .trim()
    .min(1)
    .max(LIMITS.token, atMost(LIMITS.token))
    .openapi({ description: "The `id` of an enrichment of GET /api/enrichments." }),
  mode: z
    .enum(["persisted", "preview"])
    .default("persisted")
    .openapi({ description: "`preview` answers the lead count and the cost without writing or charging anything." }),
  scope,
  // Checked against the enrichment's own input schema once the enrichment is known.
  input: freeForm(z.record(z.string(), z.unknown()))
    .default({})
    .openapi({ description: "The enrichment's options, as its `inputSchema` describes them." }),
  output: z
    .strictObject({
      target: outputTarget.optional().openapi({ description: "Write to the lead, or to its row in the scope's list; the enrichment's default otherwise." }),
      attributeKey: z
        .string()
        .trim()
        .min(1)
        .max(LIMITS.token, atMost(LIMITS.token))
        .optional()
        .openapi({ description: "The attribute the value is written under; the enrichment's default otherwise." }),
    })
    .default({}),
  config: z
    .strictObject({
      providers: waterfallProviders.optional().openapi({
        description:
          "Contact enrichments (work email, mobile phone): a waterfall, the providers tried in this order for each lead until one finds a value (`fullenrich`, `hunter` for emails, `sandbox` under PROVIDERS=sandbox). The run is charged up front at the dearest provider's price per lead; each item then costs only its matched provider's price, the rest refunded, and each provider's outcome is on the item as `metadata.attempts`.",
        example: ["hunter", "fullenrich"],
      }),
    })
    .optional(),
  writePolicy: writePolicy.default("overwrite").openapi({ description: "`skip_existing` leaves a target that already holds a value alone (its item is skipped)." }),
  idempotencyKey: text(LIMITS.idempotencyKey)
    .min(1)
    .optional()
    .openapi({ description: "Makes the request safe to retry: the same key and body return the same run, charged once." }),
});

export const enrichmentRunParams = z.object({ id: uuid() });

export const listEnrichmentRunItemsQuery = z.object({
  status: z.enum(itemStatuses).optional(),
  leadId: uuid().optional(),
  cursor: uuid().optional().openapi({ description: "The `page.nextCursor` of the previous page." }),
  limit: limitParam(1, 100, 50),
});

const runStatus = z.enum(runStatuses);
const timestamp = () => z.iso.datetime();
const count = () => z.number().int();

export const EnrichmentRun = z
  .strictObject({
    id: z.uuid(),
    status: runStatus.openapi({ description: "`completed`, `failed` and `cancelled` are final." }),
    mode: z.enum(enrichmentRuns.mode.enumValues),
    enrichment: z.strictObject({ id: z.string(), slug: z.string(), version: z.number().int() }),
    scope: z.strictObject({
      type: z.enum(["explicit_leads", "list", "filtered_list"]),
      listId: z.uuid().nullable(),
      requested: count().openapi({ description: "Leads the scope named (ids given, or the list's members)." }),
      resolvedCount: count().openapi({ description: "Leads the run works on: one item each." }),
      counts: z
        .strictObject(Object.fromEntries(itemStatuses.map((status) => [status, count()])) as Record<(typeof itemStatuses)[number], ReturnType<typeof count>>)
        .openapi({ description: "Items by status, now." }),
    }),
    output: z.strictObject({ target: outputTarget, attributeKey: z.string(), writePolicy }),
    config: z
      .strictObject({ providers: z.array(z.string()) })
      .optional()
      .openapi({ description: "A waterfall run's `config.providers`, in the order they are tried. Absent on other runs." }),
    cost: z.strictObject({
      creditAction: z.string(),
      preview: count().openapi({ description: "The credits the run was priced at when it was created." }),
      actual: count().openapi({ description: "The credits charged so far, net of the refunds of failed and skipped items." }),
    }),
    trigger: z.strictObject({ triggerRunId: z.string().nullable() }),
    error: z.string().nullable(),
    timing: z.strictObject({
      startedAt: timestamp().nullable(),
      completedAt: timestamp().nullable(),
      cancelledAt: timestamp().nullable(),
      createdAt: timestamp(),
      updatedAt: timestamp(),
    }),
  })
  .openapi("EnrichmentRun");

export const enrichmentRunResponse = z.strictObject({ run: EnrichmentRun });

export const EnrichmentRunItem = z
  .strictObject({
    id: z.uuid(),
    runId: z.uuid(),
    leadId: z.uuid(),
    listId: z.uuid().nullable(),
    membershipId: z.uuid().nullable().openapi({ description: "The lead's row in the list, when the scope has a list." }),
    status: z.enum(itemStatuses),
    result: z.unknown().openapi({ description: "The value found, null until the item completes." }),
    skippedReason: z.string().nullable(),
    error: z.strictObject({ message: z.string(), details: z.unknown() }).nullable(),
    attempts: count(),
    metadata: z.strictObject({
      provider: z.string().nullable(),
      providerSubmissionId: z.string().nullable(),
      attempts: cellAttempts().openapi({ description: "In a waterfall run (`config.providers`): each provider's try for this lead, in the waterfall's order. Absent otherwise." }),
    }),
    timing: z.strictObject({
      startedAt: timestamp().nullable(),
      completedAt: timestamp().nullable(),
      createdAt: timestamp(),
      updatedAt: timestamp(),
    }),
  })
  .openapi("EnrichmentRunItem", { description: "One lead of a run." });

export const enrichmentRunItemPage = z
  .strictObject({
    items: z.array(EnrichmentRunItem),
    page: z.strictObject({ limit: count(), nextCursor: z.uuid().nullable(), hasMore: z.boolean() }),
  })
  .openapi("EnrichmentRunItemPage");

export const startedEnrichmentRun = z
  .strictObject({
    enrichmentRunId: z.uuid(),
    runId: z.uuid().openapi({ description: "The same id as `enrichmentRunId`." }),
    status: runStatus,
    leadCount: count(),
    triggerRunId: z.string().nullable(),
    reusedExistingRun: z.boolean().openapi({ description: "True when the idempotencyKey named a run already created." }),
  })
  .openapi("StartedEnrichmentRun");

export const enrichmentRunPreview = z
  .strictObject({
    mode: z.literal("preview"),
    leadCount: count(),
    cost: z.strictObject({
      creditAction: z.string(),
      required: count(),
      balance: count(),
      sufficient: z.boolean().openapi({ description: "Whether the balance covers `required` now." }),
    }),
  })
  .openapi("EnrichmentRunPreview");

export const cancelledEnrichmentRun = z.strictObject({
  run: z.strictObject({ id: z.uuid(), status: z.literal("cancelled"), cancelledAt: timestamp() }),
});
