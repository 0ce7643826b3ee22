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
import { LIMITS } from "../limits";
import { atMost, freeForm, limitParam, text, uuid, validate } from "../validation";

export const rowRoutes = router();

const listParam = z.object({ id: uuid() });
const rowParam = z.object({ id: uuid(), rowId: uuid() });

const optionalText = (max: number) => text(max).nullish();

const personRowBody = z
  .object({
    firstName: optionalText(LIMITS.namePart),
    lastName: optionalText(LIMITS.namePart),
    company: optionalText(LIMITS.text),
    role: optionalText(LIMITS.text),
    linkedinUrl: optionalText(LIMITS.identifierUrl),
    location: optionalText(LIMITS.text),
    domain: optionalText(LIMITS.domain),
    email: optionalText(LIMITS.email),
    phone: optionalText(LIMITS.phone),
    customColumns: freeForm(z.record(uuid(), z.unknown())).optional(),
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
  rows: z
    .array(personRowBody)
    .min(1, `rows must hold 1 to ${LIMITS.bulkRows} rows`)
    .max(LIMITS.bulkRows, `rows must hold 1 to ${LIMITS.bulkRows} rows`),
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

// A patched value has the limit of the field it sets (`name` is a whole name).
const PATCH_VALUE_LIMITS: Record<PatchableField, number> = {
  name: LIMITS.fullName,
  role: LIMITS.text,
  company: LIMITS.text,
  location: LIMITS.text,
  domain: LIMITS.domain,
  linkedin: LIMITS.identifierUrl,
};

const patchBody = z.object({ field: text(LIMITS.token), value: z.string().nullable() }).superRefine(({ field, value }, ctx) => {
  // An unknown field is the handler's 400.
  if (value === null || !Object.hasOwn(PATCH_VALUE_LIMITS, field)) return;
  const max = PATCH_VALUE_LIMITS[field as PatchableField];
  if (!text(max).safeParse(value).success) ctx.addIssue({ code: "custom", path: ["value"], message: atMost(max) });
});

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
