import { z } from "zod";
import { router } from "../context";
import { ENRICHMENT_TYPES } from "../domain/column-kinds";
import {
  createColumn,
  deleteColumn,
  deletePreviewColumns,
  generateCells,
  listColumns,
  previewCells,
  TIME_PERIODS,
  updateColumn,
} from "../domain/columns";
import { LIMITS } from "../limits";
import { atMost, int4, text, uuid, validate } from "../validation";

export const columnRoutes = router();

const SCHEMA_TYPES = ["text", "number", "boolean", "url", "enum", "multiselect", "list", "date", "email", "phone"] as const;

const listParam = z.object({ id: uuid() });
const columnParam = z.object({ id: uuid(), colId: uuid() });

const columnName = z.string().trim().min(1, "name must not be empty").max(LIMITS.text, atMost(LIMITS.text));
const token = text(LIMITS.token).optional();

const columnSchema = z.object({
  type: z.enum(SCHEMA_TYPES),
  format: token,
  currency: token,
  scale: token,
  textFormat: token,
  options: z.array(text(LIMITS.option)).max(LIMITS.options).optional(),
  itemType: token,
  maxItems: z.number().int().min(1).max(LIMITS.maxItems).optional(),
  linkType: token,
});

const createBody = z
  .object({
    name: columnName,
    isDynamic: z.boolean(),
    prompt: text(LIMITS.longText).nullish(),
    // Documented: any value other than "company" is coerced to person.
    subject: z.unknown().optional().transform((value) => (value === "company" ? "company" : "person")),
    dataSource: z.enum(["web", "profile"]).optional(),
    enrichmentType: z.enum(ENRICHMENT_TYPES).optional(),
    schema: columnSchema.optional(),
    config: z.object({ timePeriod: z.enum(TIME_PERIODS).optional() }).optional(),
    isPreview: z.boolean().default(false),
  })
  .superRefine((body, ctx) => {
    if (body.isDynamic && !body.enrichmentType && !body.prompt?.trim()) {
      ctx.addIssue({ code: "custom", path: ["prompt"], message: "A dynamic column without an enrichmentType needs a non-empty prompt" });
    }
  });

columnRoutes.post("/lists/:id/columns", validate("param", listParam), validate("json", createBody), async (c) => {
  const column = await createColumn(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("json"));
  return c.json({ column }, 201);
});

const listQuery = z.object({ subject: z.enum(["person", "company"]).optional() });

columnRoutes.get("/lists/:id/columns", validate("param", listParam), validate("query", listQuery), async (c) => {
  const columns = await listColumns(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query").subject);
  return c.json({ columns });
});

// Registered before the `:colId` routes so "cleanup-previews" is never read as a column id.
columnRoutes.post("/lists/:id/columns/cleanup-previews", validate("param", listParam), async (c) => {
  await deletePreviewColumns(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id);
  return c.json({ success: true });
});

const patchBody = z
  .object({
    name: columnName.optional(),
    isFilter: z.boolean().optional(),
    // list_columns.position is an int4.
    position: int4(0).optional(),
    isPreview: z.literal(false, { message: "isPreview can only be set to false (promoting a preview column)" }).optional(),
  })
  .refine((b) => Object.values(b).some((value) => value !== undefined), {
    message: "Nothing to update: give name, isFilter, position or isPreview",
  });

columnRoutes.patch("/lists/:id/columns/:colId", validate("param", columnParam), validate("json", patchBody), async (c) => {
  const { id, colId } = c.req.valid("param");
  const column = await updateColumn(c.var.services, c.var.principal.workspaceId, id, colId, c.req.valid("json"));
  return c.json({ column });
});

columnRoutes.delete("/lists/:id/columns/:colId", validate("param", columnParam), async (c) => {
  const { id, colId } = c.req.valid("param");
  await deleteColumn(c.var.services, c.var.principal.workspaceId, id, colId);
  return c.json({ success: true });
});

columnRoutes.get("/lists/:id/columns/:colId/preview-cells", validate("param", columnParam), async (c) => {
  const { id, colId } = c.req.valid("param");
  const cells = await previewCells(c.var.services.db, c.var.principal.workspaceId, id, colId);
  return c.json({ cells });
});

const generateBody = z.object({
  rowIds: z.array(uuid()).min(1, "rowIds must hold at least one row id"),
});

columnRoutes.post("/lists/:id/columns/:colId/generate", validate("param", columnParam), validate("json", generateBody), async (c) => {
  const { id, colId } = c.req.valid("param");
  const { taskId, rowCount } = await generateCells(c.var.services, c.var.principal.workspaceId, id, colId, c.req.valid("json").rowIds);
  return c.json({ success: true, taskId, rowCount });
});
