import { catalogView, offeredEntry, searchCatalog } from "../../domain/catalog";
import { AppError } from "../../errors";
import { defineOperation } from "../operation";
import { enrichmentCatalog, listEnrichmentsQuery } from "./schemas";

export const listEnrichments = defineOperation(
  {
    method: "get",
    path: "/api/enrichments",
    operationId: "listEnrichments",
    tag: "enrichments",
    command: "list",
    summary: "The enrichments a run can use, optionally searched (or one by `id`)",
    description: "Each entry gives the JSON Schema of the `input` a run takes and the credit action it is priced by.",
    query: listEnrichmentsQuery,
    responses: { 200: { description: "The matching enrichments", schema: enrichmentCatalog } },
    errors: [404],
  },
  (c) => {
    const { id, q } = c.req.valid("query");
    // Hidden and disabled entries are not found either way.
    if (id !== undefined) {
      const entry = offeredEntry(id);
      if (!entry) throw AppError.notFound("Enrichment");
      return c.json({ enrichments: [catalogView(entry)] });
    }
    return c.json({ enrichments: searchCatalog(q) });
  },
);

export const enrichmentCatalogOperations = [listEnrichments];
