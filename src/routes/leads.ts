import { z } from "zod";
import { router } from "../context";
import { createLead, getLead, listLeads, updateLead } from "../domain/leads";
import { LIMITS } from "../limits";
import { atMost, freeForm, int4, limitParam, text, uuid, validate } from "../validation";

export const leadRoutes = router();

const optionalText = (max: number) => text(max).nullish();

// The fields a lead can be written with, shared by create and update.
const leadFields = {
  name: z.object({ full: optionalText(LIMITS.fullName), first: optionalText(LIMITS.namePart), last: optionalText(LIMITS.namePart) }).optional(),
  title: optionalText(LIMITS.text),
  company: z.object({ name: optionalText(LIMITS.text), domain: optionalText(LIMITS.domain) }).optional(),
  location: z
    .object({ city: optionalText(LIMITS.text), state: optionalText(LIMITS.text), country: optionalText(LIMITS.text), raw: optionalText(LIMITS.text) })
    .optional(),
  socials: z.array(z.object({ url: z.string().trim().min(1).max(LIMITS.identifierUrl, atMost(LIMITS.identifierUrl)) })).max(LIMITS.socials).optional(),
  contacts: z.array(z.object({ value: z.string().trim().min(1).max(LIMITS.email, atMost(LIMITS.email)) })).max(LIMITS.contacts).optional(),
  domain: optionalText(LIMITS.domain),
  industry: optionalText(LIMITS.text),
  // Sizes come as headcounts or as bands ("51-200"); stored as text either way.
  size: z
    .union([text(LIMITS.token), int4(0)])
    .nullish()
    .transform((size) => (typeof size === "number" ? String(size) : size)),
  attributes: freeForm(z.record(z.string(), z.unknown())).optional(),
  raw: freeForm(z.record(z.string(), z.unknown())).optional(),
};

const createBody = z.object({
  type: z.enum(["person", "company"]),
  ...leadFields,
  listIds: z.array(uuid()).max(LIMITS.listIds).optional(),
});

leadRoutes.post("/leads", validate("json", createBody), async (c) => {
  const { services, principal } = c.var;
  const { lead, created } = await createLead(services.db, principal.workspaceId, c.req.valid("json"), services.clock.now());
  return c.json({ lead }, created ? 201 : 200);
});

const filterText = text(LIMITS.filterText).optional();

const listQuery = z.object({
  id: uuid().optional(),
  type: z.enum(["person", "company"]).optional(),
  limit: limitParam(1, 100, 50),
  cursor: uuid().optional(),
  q: filterText,
  name: filterText,
  title: filterText,
  company: filterText,
  domain: filterText,
  email: filterText,
  industry: filterText,
  location: filterText,
});

leadRoutes.get("/leads", validate("query", listQuery), async (c) => {
  const { db } = c.var.services;
  const { workspaceId } = c.var.principal;
  const { id, type, limit, cursor, ...filters } = c.req.valid("query");
  if (id) return c.json({ leads: [await getLead(db, workspaceId, id)], nextCursor: null });
  return c.json(await listLeads(db, workspaceId, { type, limit, cursor, filters }));
});

const patchBody = z
  .object({ id: uuid(), type: z.unknown().optional(), ...leadFields })
  .superRefine((body, ctx) => {
    const changed = Object.entries(body).some(([key, value]) => key !== "id" && key !== "type" && value !== undefined);
    if (body.type !== undefined) ctx.addIssue({ code: "custom", path: ["type"], message: "type is read-only" });
    else if (!changed) ctx.addIssue({ code: "custom", path: [], message: "Nothing to update: give at least one field besides id" });
  });

leadRoutes.patch("/leads", validate("json", patchBody), async (c) => {
  const { services, principal } = c.var;
  const { id, type: _readOnly, ...fields } = c.req.valid("json");
  const lead = await updateLead(services.db, principal.workspaceId, id, fields, services.clock.now());
  return c.json({ lead });
});
