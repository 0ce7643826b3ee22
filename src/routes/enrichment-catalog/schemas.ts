import { z } from "@hono/zod-openapi";
import { enrichmentRuns } from "../../db/schema";
import { LIMITS } from "../../limits";
import { atMost, text } from "../../validation";

export const listEnrichmentsQuery = z.object({
  id: z
    .string()
    .trim()
    .min(1)
    .max(LIMITS.token, atMost(LIMITS.token))
    .optional()
    .openapi({ description: "One enrichment: the list holds it alone (404 when it is not offered). Wins over `q`." }),
  q: text(LIMITS.catalogQuery).optional().openapi({ description: "Matches the id, the name or the description, in any case." }),
});

const jsonSchema = (description: string) => z.record(z.string(), z.unknown()).openapi({ description });

export const Enrichment = z
  .strictObject({
    id: z.string().openapi({ description: "What POST /api/enrichment takes as `enrichmentId`." }),
    slug: z.string(),
    name: z.string(),
    description: z.string(),
    subject: z.enum(["person", "company"]).openapi({ description: "The kind of lead it enriches." }),
    version: z.number().int(),
    enabled: z.boolean(),
    visibility: z.enum(["public", "hidden"]),
    inputSchema: jsonSchema("A JSON Schema of the run's `input`."),
    outputSchema: jsonSchema("A JSON Schema of the value written for each lead."),
    defaultOutput: z.strictObject({ target: z.enum(enrichmentRuns.outputTarget.enumValues), attributeKey: z.string() }),
    costModel: z.strictObject({ creditAction: z.string().openapi({ description: "The price of one lead: an action of GET /api/credits/config." }) }),
    toolBinding: z.strictObject({ type: z.literal("trigger_task"), taskId: z.literal("enrichment-run") }),
  })
  .openapi("Enrichment", { description: "An enrichment of the catalog." });

export const enrichmentCatalog = z.strictObject({ enrichments: z.array(Enrichment) }).openapi("EnrichmentCatalog");
