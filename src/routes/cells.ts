import { z } from "zod";
import { router } from "../context";
import { writeCompanyCell, writePersonCell } from "../domain/cell-store";
import { freeForm, uuid, validate } from "../validation";

export const cellRoutes = router();

const listParam = z.object({ id: uuid() });

const personCellBody = z.object({
  rowId: uuid(),
  columnId: uuid(),
  value: freeForm(z.unknown()),
});

// Seed 001: the answer is snake_case, as documented.
cellRoutes.put("/lists/:id/cells", validate("param", listParam), validate("json", personCellBody), async (c) => {
  const { rowId, columnId, value } = c.req.valid("json");
  const cell = await writePersonCell(c.var.services.db, {
    workspaceId: c.var.principal.workspaceId,
    listId: c.req.valid("param").id,
    rowId,
    columnId,
    value,
  });
  return c.json({ cell });
});

const companyParams = z.object({ id: uuid(), cid: uuid() });

const companyCellBody = z.object({
  columnId: uuid(),
  value: freeForm(z.unknown().optional()),
});

cellRoutes.patch("/lists/:id/companies/:cid/cells", validate("param", companyParams), validate("json", companyCellBody), async (c) => {
  const { id, cid } = c.req.valid("param");
  const { columnId, value } = c.req.valid("json");
  await writeCompanyCell(c.var.services.db, { workspaceId: c.var.principal.workspaceId, listId: id, companyRowId: cid, columnId, value });
  return c.json({ success: true });
});
