import { z } from "zod";
import { router } from "../context";
import { AppError } from "../errors";
import {
  columnsToEnrich,
  deletePersonRows,
  getPersonRow,
  isIdentifiable,
  listPersonRows,
  PATCHABLE_FIELDS,
  patchPersonRow,
  upsertPersonRows,
  type PatchableField,
} from "../domain/rows";
import { rowView } from "../domain/views";
import { limitParam, uuid, validate } from "../validation";

export const rowRoutes = router();

const listParam = z.object({ id: uuid() });
const rowParam = z.object({ id: uuid(), rowId: uuid() });

const text = z.string().nullish();

const personRowBody = z
  .object({
    firstName: text,
    lastName: text,
    company: text,
    role: text,
    linkedinUrl: text,
    location: text,
    domain: text,
    email: text,
    phone: text,
    customColumns: z.record(uuid(), z.unknown()).optional(),
  })
  .refine(isIdentifiable, { message: "A name (firstName or lastName), linkedinUrl or email is required" });

/**
 * Adds one person, or merges it into the row it matches (only the row's empty fields are filled).
 * 200 either way; `merged` (beyond the documented body) tells which happened.
 */
rowRoutes.post("/lists/:id/rows", validate("param", listParam), validate("json", personRowBody), async (c) => {
  const { db } = c.var.services;
  const listId = c.req.valid("param").id;
  const { results } = await upsertPersonRows(db, { workspaceId: c.var.principal.workspaceId, listId, rows: [c.req.valid("json")] });
  const { rowId, merged } = results[0]!;
  const row = await getPersonRow(db, listId, rowId);
  return c.json({ row: rowView(row), columnsToEnrich: await columnsToEnrich(db, listId, rowId), merged });
});

const bulkBody = z.object({
  rows: z.array(personRowBody).min(1, "rows must hold 1 to 1000 rows").max(1000, "rows must hold 1 to 1000 rows"),
});

rowRoutes.post("/lists/:id/rows/bulk", validate("param", listParam), validate("json", bulkBody), async (c) => {
  const { results, inserted, merged } = await upsertPersonRows(c.var.services.db, {
    workspaceId: c.var.principal.workspaceId,
    listId: c.req.valid("param").id,
    rows: c.req.valid("json").rows,
  });
  return c.json({ inserted, merged, rowIds: results.map((r) => r.rowId) });
});

const pageQuery = z.object({
  limit: limitParam(1, 500, 100),
  offset: z.coerce
    .number({ message: "offset must be a non-negative integer" })
    .int("offset must be a non-negative integer")
    .min(0, "offset must be a non-negative integer")
    .default(0),
});

rowRoutes.get("/lists/:id/rows", validate("param", listParam), validate("query", pageQuery), async (c) => {
  const page = await listPersonRows(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query"));
  return c.json(page);
});

const patchBody = z.object({ field: z.string(), value: z.string().nullable() });

rowRoutes.patch("/lists/:id/rows/:rowId", validate("param", rowParam), validate("json", patchBody), async (c) => {
  const { id: listId, rowId } = c.req.valid("param");
  const { field, value } = c.req.valid("json");
  if (!(PATCHABLE_FIELDS as readonly string[]).includes(field)) {
    const message = `Unknown field: ${field}`;
    throw AppError.validation([{ path: "field", message }], message);
  }
  await patchPersonRow(c.var.services.db, { workspaceId: c.var.principal.workspaceId, listId, rowId, field: field as PatchableField, value });
  return c.json({ success: true });
});

const deleteBody = z.object({ rowIds: z.array(uuid()).min(1, "rowIds must hold at least one id") });

rowRoutes.delete("/lists/:id/rows", validate("param", listParam), validate("json", deleteBody), async (c) => {
  const deleted = await deletePersonRows(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("json").rowIds);
  return c.json({ success: true, deleted });
});
