import { z } from "zod";
import { router } from "../context";
import { deleteCompanyRow, listCompanyRows, patchCompanyRow, upsertCompanyRows } from "../domain/company-rows";
import { companyRowView } from "../domain/views";
import { LIMITS } from "../limits";
import { atMost, int4, text, uuid, validate } from "../validation";

export const companyRoutes = router();

const listParam = z.object({ id: uuid() });
const companyParam = z.object({ id: uuid(), cid: uuid() });

const name = z.string().trim().min(1, "name must not be empty").max(LIMITS.text, atMost(LIMITS.text));
const companyFields = {
  domain: text(LIMITS.domain).nullish(),
  linkedinUrl: text(LIMITS.identifierUrl).nullish(),
  industry: text(LIMITS.text).nullish(),
  employeeCount: int4(0).nullish(),
  location: text(LIMITS.text).nullish(),
  website: text(LIMITS.url).nullish(),
  description: text(LIMITS.longText).nullish(),
};

companyRoutes.get("/lists/:id/companies", validate("param", listParam), async (c) => {
  return c.json(await listCompanyRows(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id));
});

const createBody = z.object({ name, ...companyFields });

/**
 * 201 with the new row; 200 when the company matched a row of the list (same domain, or same name
 * without a domain) whose empty fields it filled. `merged` (beyond the documented body) tells which.
 */
companyRoutes.post("/lists/:id/companies", validate("param", listParam), validate("json", createBody), async (c) => {
  const [result] = await upsertCompanyRows(c.var.services.db, {
    workspaceId: c.var.principal.workspaceId,
    listId: c.req.valid("param").id,
    companies: [c.req.valid("json")],
  });
  return c.json({ company: companyRowView(result!.row), merged: !result!.created }, result!.created ? 201 : 200);
});

const patchBody = z
  .object({ name: name.optional(), ...companyFields })
  .refine((body) => Object.values(body).some((v) => v !== undefined), { message: "At least one field to change is required" });

companyRoutes.patch("/lists/:id/companies/:cid", validate("param", companyParam), validate("json", patchBody), async (c) => {
  const { id, cid } = c.req.valid("param");
  const row = await patchCompanyRow(c.var.services.db, c.var.principal.workspaceId, id, cid, c.req.valid("json"));
  return c.json({ company: companyRowView(row) });
});

companyRoutes.delete("/lists/:id/companies/:cid", validate("param", companyParam), async (c) => {
  const { id, cid } = c.req.valid("param");
  await deleteCompanyRow(c.var.services.db, c.var.principal.workspaceId, id, cid);
  return c.json({ success: true });
});
