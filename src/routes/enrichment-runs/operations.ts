import { cancelEnrichmentRun as cancelRun } from "../../domain/enrichment-runs/cancel";
import { createEnrichmentRun as createRun, previewEnrichmentRun as previewRun } from "../../domain/enrichment-runs/create";
import { getRun, listItems } from "../../domain/enrichment-runs/views";
import { defineOperation } from "../operation";
import {
  cancelledEnrichmentRun,
  createEnrichmentRunBody,
  enrichmentRunItemPage,
  enrichmentRunParams,
  enrichmentRunPreview,
  enrichmentRunResponse,
  listEnrichmentRunItemsQuery,
  startedEnrichmentRun,
} from "./schemas";

export const createEnrichmentRun = defineOperation(
  {
    method: "post",
    path: "/api/enrichment",
    operationId: "createEnrichmentRun",
    tag: "enrichment",
    command: "create",
    summary: "Start an enrichment run over leads, or preview its lead count and cost",
    description: [
      "With `mode: \"preview\"` nothing is written or charged: the answer (200) is the number of leads the scope resolves to, the credits the run would cost and whether the balance covers them.",
      "Otherwise the run is created with one item per lead, its cost (the enrichment's price per lead) is charged once the run is dispatched, and the answer (202) comes at once while the run works in the background. Follow it with GET /api/enrichment/{id} every few seconds until its status is `completed`, `failed` or `cancelled`; then page through GET /api/enrichment/{id}/items for each lead's result. Failed and skipped items are refunded.",
      "A run that would cost more than the balance is refused with 402 INSUFFICIENT_CREDITS and `{ required, balance }`: nothing is written or charged.",
      "With an `idempotencyKey` the request is safe to retry: the same key with the same body returns the same run (`reusedExistingRun: true`), charged once; the same key with another body is a 409 IDEMPOTENCY_KEY_REUSED.",
      "When the background task cannot be dispatched the answer is 502 DISPATCH_FAILED with the `enrichmentRunId`: the run is failed and nothing is charged.",
    ].join("\n\n"),
    body: createEnrichmentRunBody,
    responses: {
      200: { description: "The preview (`mode: \"preview\"`): nothing was written or charged", schema: enrichmentRunPreview },
      202: { description: "The run, started (or found again by its idempotencyKey)", schema: startedEnrichmentRun },
    },
    errors: [402, 404, 409, 502],
    background: "run",
  },
  async (c) => {
    const { services, principal } = c.var;
    const body = c.req.valid("json");
    if (body.mode === "preview") return c.json(await previewRun(services, principal.workspaceId, body), 200);
    return c.json(await createRun(services, principal.workspaceId, body), 202);
  },
);

export const getEnrichmentRun = defineOperation(
  {
    method: "get",
    path: "/api/enrichment/{id}",
    operationId: "getEnrichmentRun",
    tag: "enrichment",
    command: "get",
    summary: "One enrichment run: its status, item counts and cost",
    description: "Poll every few seconds while the status is `pending` or `running`; `completed`, `failed` and `cancelled` are final.",
    params: enrichmentRunParams,
    responses: { 200: { description: "The run", schema: enrichmentRunResponse } },
    errors: [404],
  },
  async (c) => {
    const run = await getRun(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json({ run });
  },
);

export const listEnrichmentRunItems = defineOperation(
  {
    method: "get",
    path: "/api/enrichment/{id}/items",
    operationId: "listEnrichmentRunItems",
    tag: "enrichment",
    command: "items",
    summary: "The items (one per lead) of an enrichment run, one page at a time",
    description:
      "Items come in a stable order, so paging is safe while the run works: pass `page.nextCursor` as `cursor` until `page.hasMore` is false. Filter by `status` or `leadId`.",
    params: enrichmentRunParams,
    query: listEnrichmentRunItemsQuery,
    responses: { 200: { description: "One page of items", schema: enrichmentRunItemPage } },
    errors: [404],
  },
  async (c) => {
    const page = await listItems(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query"));
    return c.json(page);
  },
);

export const cancelEnrichmentRun = defineOperation(
  {
    method: "post",
    path: "/api/enrichment/{id}/cancel",
    operationId: "cancelEnrichmentRun",
    tag: "enrichment",
    command: "cancel",
    summary: "Cancel a pending or running enrichment run",
    description:
      "Items not started yet are skipped (`run_cancelled`) and refunded; items already running finish on their own. A run that is already `completed`, `failed` or `cancelled` cannot be cancelled: 409 CONFLICT.",
    params: enrichmentRunParams,
    responses: { 200: { description: "The run, cancelled", schema: cancelledEnrichmentRun } },
    errors: [404, 409],
  },
  async (c) => c.json(await cancelRun(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id)),
);

export const enrichmentRunOperations = [createEnrichmentRun, getEnrichmentRun, listEnrichmentRunItems, cancelEnrichmentRun];
