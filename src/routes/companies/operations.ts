import { rowEngine } from "../../domain/engine/work";
import { deleteCompanyRow, listCompanyRows, patchCompanyRow, upsertCompanyRows } from "../../domain/company-rows";
import { companyRowView } from "../../domain/views";
import { defineOperation, success } from "../operation";
import { addCompanyBody, addCompanyResponse, companiesResponse, companyParam, companyResponse, listParam, updateCompanyBody } from "./schemas";

export const listCompaniesOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/companies",
    operationId: "listCompanies",
    tag: "companies",
    command: "list",
    summary: "The list's companies with its company columns and their cells",
    params: listParam,
    responses: { 200: { description: "The companies, columns and cells", schema: companiesResponse } },
    errors: [404],
  },
  async (c) => c.json(await listCompanyRows(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id)),
);

export const addCompanyOperation = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/companies",
    operationId: "addCompany",
    tag: "companies",
    command: "create",
    summary: "Add a company to a list, or fill in the one it matches",
    description:
      "Safe to repeat: a company matching a row of the list (the same domain, or the same name when neither has a domain) is not added twice; " +
      "the row's empty fields are filled from the request and the answer is 200 with `merged: true`. A new row is 201 with `merged: false`.",
    params: listParam,
    body: addCompanyBody,
    responses: {
      200: { description: "An existing row matched; its empty fields were filled", schema: addCompanyResponse },
      201: { description: "A new company row", schema: addCompanyResponse },
    },
    errors: [404],
  },
  async (c) => {
    const engine = rowEngine(c.var.services);
    const [result] = await upsertCompanyRows(
      c.var.services.db,
      { workspaceId: c.var.principal.workspaceId, listId: c.req.valid("param").id, companies: [c.req.valid("json")] },
      engine,
    );
    await engine.start();
    return c.json({ company: companyRowView(result!.row), merged: !result!.created }, result!.created ? 201 : 200);
  },
);

export const updateCompanyOperation = defineOperation(
  {
    method: "patch",
    path: "/api/lists/{id}/companies/{cid}",
    operationId: "updateCompany",
    tag: "companies",
    command: "update",
    summary: "Change fields of a company row (null clears a field)",
    description: "A field left out is unchanged. A domain another company of the list already has is a 409 CONFLICT.",
    params: companyParam,
    body: updateCompanyBody,
    responses: { 200: { description: "The updated company", schema: companyResponse } },
    errors: [404, 409],
  },
  async (c) => {
    const { id, cid } = c.req.valid("param");
    const engine = rowEngine(c.var.services);
    const row = await patchCompanyRow(c.var.services.db, c.var.principal.workspaceId, id, cid, c.req.valid("json"), engine);
    await engine.start();
    return c.json({ company: companyRowView(row) });
  },
);

export const deleteCompanyOperation = defineOperation(
  {
    method: "delete",
    path: "/api/lists/{id}/companies/{cid}",
    operationId: "deleteCompany",
    tag: "companies",
    command: "delete",
    summary: "Remove a company from a list",
    description: "Its cells go with it (credits of cells still pending are given back); the list's people who work there stay, unlinked from it.",
    params: companyParam,
    responses: { 200: { description: "Deleted", schema: success } },
    errors: [404],
  },
  async (c) => {
    const { id, cid } = c.req.valid("param");
    await deleteCompanyRow(c.var.services.db, c.var.principal.workspaceId, id, cid);
    return c.json({ success: true as const });
  },
);

export const companyOperations = [listCompaniesOperation, addCompanyOperation, updateCompanyOperation, deleteCompanyOperation];
