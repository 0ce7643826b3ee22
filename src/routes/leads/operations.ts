import { rowEngine } from "../../domain/engine/work";
import * as leads from "../../domain/leads";
import { defineOperation } from "../operation";
import { createLeadBody, leadPage, leadResponse, listLeadsQuery, updateLeadBody } from "./schemas";

export const createLead = defineOperation(
  {
    method: "post",
    path: "/api/leads",
    operationId: "createLead",
    tag: "leads",
    command: "create",
    summary: "Create a person or company lead, or complete the one that already has its identifiers",
    description:
      "A lead of the same type holding the same LinkedIn URL, email or (for a company) domain is the same lead: its empty fields are filled from the request, set ones are left alone, and the answer is 200 instead of 201. `listIds` adds the lead to those lists. Free of charge.",
    body: createLeadBody,
    responses: {
      200: { description: "An existing lead, completed", schema: leadResponse },
      201: { description: "A new lead", schema: leadResponse },
    },
    errors: [404, 409],
  },
  async (c) => {
    const { services, principal } = c.var;
    const engine = rowEngine(services);
    const { lead, created } = await leads.createLead(services.db, principal.workspaceId, c.req.valid("json"), services.clock.now(), engine);
    await engine.start();
    return c.json({ lead }, created ? 201 : 200);
  },
);

export const listLeads = defineOperation(
  {
    method: "get",
    path: "/api/leads",
    operationId: "listLeads",
    tag: "leads",
    command: "list",
    summary: "The workspace's leads, newest first, filtered and one page at a time (or one lead by `id`)",
    description:
      "Every text filter is a case-insensitive substring match, and all given filters must match. Follow `nextCursor` until it is null. With `id`, the page holds that lead alone.",
    query: listLeadsQuery,
    responses: { 200: { description: "One page of leads", schema: leadPage } },
    errors: [404],
  },
  async (c) => {
    const { db } = c.var.services;
    const { workspaceId } = c.var.principal;
    const { id, type, limit, cursor, ...filters } = c.req.valid("query");
    if (id) return c.json({ leads: [await leads.getLead(db, workspaceId, id)], nextCursor: null });
    return c.json(await leads.listLeads(db, workspaceId, { type, limit, cursor, filters }));
  },
);

export const updateLead = defineOperation(
  {
    method: "patch",
    path: "/api/leads",
    operationId: "updateLead",
    tag: "leads",
    command: "update",
    summary: "Change fields of the lead `id`",
    description:
      "A missing field is left alone and null clears it; name and location change part by part, socials and contacts as whole lists, attributes key by key. The type cannot change. An identifier (LinkedIn URL, email, company domain) another lead already has is a 409 with that lead's `leadId`.",
    body: updateLeadBody,
    responses: { 200: { description: "The lead after the change", schema: leadResponse } },
    errors: [404, 409],
  },
  async (c) => {
    const { services, principal } = c.var;
    const { id, type: _readOnly, ...fields } = c.req.valid("json");
    const lead = await leads.updateLead(services.db, principal.workspaceId, id, fields, services.clock.now());
    return c.json({ lead });
  },
);

export const leadOperations = [createLead, listLeads, updateLead];
