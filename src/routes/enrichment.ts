import { z } from "zod";
import { router } from "../context";
import { itemStatuses } from "../db/schema";
import { cancelEnrichmentRun } from "../domain/enrichment-runs/cancel";
import { createEnrichmentRun, previewEnrichmentRun } from "../domain/enrichment-runs/create";
import { getRun, listItems } from "../domain/enrichment-runs/views";
import { LIMITS } from "../limits";
import { atMost, freeForm, limitParam, text, uuid, validate } from "../validation";

export const enrichmentRunRoutes = router();

// Scopes take exactly their documented keys: anything else (a `subject` above all) is a 400.
const scope = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("explicit_leads"), leadIds: z.array(uuid()).min(1).max(LIMITS.leadIds), listId: uuid().optional() }),
  z.strictObject({ type: z.literal("list"), listId: uuid() }),
  // The seed documents `filter` as optional.
  z.strictObject({ type: z.literal("filtered_list"), listId: uuid(), filter: freeForm(z.record(z.string(), z.unknown())).optional() }),
]);

const startBody = z.object({
  enrichmentId: z.string().trim().min(1).max(LIMITS.token, atMost(LIMITS.token)),
  mode: z.enum(["persisted", "preview"]).default("persisted"),
  scope,
  // Checked against the enrichment's own input schema once the enrichment is known.
  input: freeForm(z.record(z.string(), z.unknown())).default({}),
  output: z
    .strictObject({
      target: z.enum(["lead", "membership"]).optional(),
      attributeKey: z.string().trim().min(1).max(LIMITS.token, atMost(LIMITS.token)).optional(),
    })
    .default({}),
  writePolicy: z.enum(["overwrite", "skip_existing"]).default("overwrite"),
  idempotencyKey: text(LIMITS.idempotencyKey).min(1).optional(),
});

enrichmentRunRoutes.post("/enrichment", validate("json", startBody), async (c) => {
  const { services, principal } = c.var;
  const body = c.req.valid("json");
  if (body.mode === "preview") return c.json(await previewEnrichmentRun(services, principal.workspaceId, body), 200);
  return c.json(await createEnrichmentRun(services, principal.workspaceId, body), 202);
});

const runParam = z.object({ id: uuid() });

enrichmentRunRoutes.get("/enrichment/:id", validate("param", runParam), async (c) => {
  const run = await getRun(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id);
  return c.json({ run });
});

const itemsQuery = z.object({
  status: z.enum(itemStatuses).optional(),
  leadId: uuid().optional(),
  cursor: uuid().optional(),
  limit: limitParam(1, 100, 50),
});

enrichmentRunRoutes.get("/enrichment/:id/items", validate("param", runParam), validate("query", itemsQuery), async (c) => {
  const page = await listItems(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query"));
  return c.json(page);
});

enrichmentRunRoutes.post("/enrichment/:id/cancel", validate("param", runParam), async (c) => {
  return c.json(await cancelEnrichmentRun(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id));
});
