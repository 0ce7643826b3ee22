import { z } from "zod";
import { router } from "../context";
import { balanceOf, ledgerPage, priceOf } from "../domain/credits";
import { LIMITS } from "../limits";
import { int4, limitParam, text, uuid, validate } from "../validation";

export const creditRoutes = router();

creditRoutes.get("/credits/config", (c) => c.json({ costs: c.var.services.prices.costs }));

const previewBody = z.object({
  action: text(LIMITS.token).min(1),
  count: int4(1),
});

creditRoutes.post("/credits/preview", validate("json", previewBody), async (c) => {
  const { action, count } = c.req.valid("json");
  const { costPerUnit, total } = priceOf(c.var.services.prices, action, count);
  const balance = await balanceOf(c.var.services.db, c.var.principal.workspaceId);
  return c.json({ action, count, costPerUnit, totalCredits: total, sufficient: balance >= total, balance });
});

const ledgerQuery = z.object({
  limit: limitParam(1, 100, 50),
  cursor: uuid().optional(),
});

creditRoutes.get("/credits/ledger", validate("query", ledgerQuery), async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const { entries, nextCursor } = await ledgerPage(c.var.services.db, c.var.principal.workspaceId, { limit, cursor });
  return c.json({ entries, nextCursor });
});
