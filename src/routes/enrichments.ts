import { z } from "zod";
import { router } from "../context";
import { catalogView, offeredEntry, searchCatalog } from "../domain/catalog";
import { AppError } from "../errors";
import { LIMITS } from "../limits";
import { atMost, text, validate } from "../validation";

export const enrichmentCatalogRoutes = router();

const catalogQuery = z.object({
  id: z.string().trim().min(1).max(LIMITS.token, atMost(LIMITS.token)).optional(),
  q: text(LIMITS.catalogQuery).optional(),
});

// `id` names one entry (and wins over `q`); hidden entries are not found either way.
enrichmentCatalogRoutes.get("/enrichments", validate("query", catalogQuery), (c) => {
  const { id, q } = c.req.valid("query");
  if (id !== undefined) {
    const entry = offeredEntry(id);
    if (!entry) throw AppError.notFound("Enrichment");
    return c.json({ enrichments: [catalogView(entry)] });
  }
  return c.json({ enrichments: searchCatalog(q) });
});
