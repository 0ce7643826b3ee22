import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../context";
import { accountOperations } from "./account/operations";
import { creditOperations } from "./credits/operations";
import { listOperations } from "./lists/operations";
import { rowOperations } from "./rows/operations";
import { cellOperations } from "./cells/operations";
import { columnOperations } from "./columns/operations";
import { companyOperations } from "./companies/operations";
import { leadOperations } from "./leads/operations";
import { enrichmentRunOperations } from "./enrichment-runs/operations";
import { enrichmentCatalogOperations } from "./enrichment-catalog/operations";
import { honoPath, keyCheckedByRoute, TAGS, type Operation } from "./operation";

/** Every operation of the API, in the order the reference lists them. */
export const OPERATIONS: readonly Operation[] = [
  ...accountOperations,
  ...creditOperations,
  ...leadOperations,
  ...listOperations,
  ...rowOperations,
  ...companyOperations,
  ...columnOperations,
  ...cellOperations,
  ...enrichmentCatalogOperations,
  ...enrichmentRunOperations,
];

/** Whether the operation at this method and path checks the API key in its own statement. */
export const checksKeyItself = keyCheckedByRoute(OPERATIONS);

/** The API's routes, each mounted with its validators and recorded in the OpenAPI registry. */
export function apiRoutes(): OpenAPIHono<AppEnv> {
  const api = new OpenAPIHono<AppEnv>();
  api.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key (`pk_live_…`), sent as `Authorization: Bearer <key>`.",
  });
  for (const operation of OPERATIONS) {
    // Validation is the project's own (validate(): the 415 rule, unstorable strings, the one
    // envelope), so the route is registered for the document and mounted beside it.
    api.openAPIRegistry.registerPath(operation.route);
    api.on([operation.spec.method.toUpperCase()], [honoPath(operation.spec.path)], ...operation.validators, operation.handler as never);
  }
  return api;
}

export type OpenApiDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;

let document: OpenApiDocument | undefined;

/** The OpenAPI 3.1 document of every operation; built once per process, it is pure. */
export function openApiDocument(): OpenApiDocument {
  document ??= apiRoutes().getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: "Lead enrichment API",
      version: "1.0.0",
      description: API_DESCRIPTION,
    },
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
  });
  return document;
}

const API_DESCRIPTION = `Lists of people and companies whose columns are filled by AI prompts (optionally from the live web) and by enrichment providers; every paid action is priced in credits.

Authenticate with \`Authorization: Bearer <API key>\`. Errors share one envelope: \`{ error, code, requestId, ... }\`.

Background work (AI and enrichment columns, generate, enrichment runs) is answered at once and continues in the background: poll the cells or the run (every 2–5 seconds is plenty) until nothing is \`pending\` or \`processing\`. A request that would cost more than the balance is refused with 402 \`INSUFFICIENT_CREDITS\` and \`{ required, balance }\`, and writes nothing. Starting an enrichment run with an \`idempotencyKey\` is safe to retry: the same key and body return the same run, charged once.`;
