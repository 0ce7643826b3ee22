import type { Context } from "hono";
import type { AppEnv } from "../../context";
import type { Caller } from "../../domain/accounts";
import { writeCompanyCell, writePersonCell } from "../../domain/cell-store";
import { followManualValue } from "../../domain/engine/work";
import { defineOperation, success } from "../operation";
import { companyCellParams, listIdParam, writeCellBody, writeCellResponse, writeCompanyCellBody } from "./schemas";

export const writeCell = defineOperation(
  {
    method: "put",
    path: "/api/lists/{id}/cells",
    operationId: "writeCell",
    tag: "cells",
    command: "update",
    summary: "Write a value into one cell of a person row, by hand",
    description:
      "The cell becomes `completed` with the value; its reasoning and error are cleared, and so are the `sources` of a web answer it replaces (a manual value has none). Free. A cell whose enrichment is still under way and paid for gets those credits back before the value replaces it. The answer is snake_case (`list_id`, `created_at`...), as documented for this write.",
    params: listIdParam,
    body: writeCellBody,
    responses: { 200: { description: "The written cell", schema: writeCellResponse } },
    errors: [404],
    checksKeyItself: true,
  },
  async (c) => {
    const input = { ...callerOf(c), listId: c.req.valid("param").id, ...c.req.valid("json") };
    const { cell, hasReaders, workspaceId } = await writePersonCell(c.var.services.db, input);
    if (hasReaders) await followManualValue(c.var.services, { ...input, workspaceId, subject: "person" });
    return c.json({ cell });
  },
);

export const writeCompanyCellOperation = defineOperation(
  {
    method: "patch",
    path: "/api/lists/{id}/companies/{cid}/cells",
    operationId: "writeCompanyCell",
    tag: "cells",
    command: "update-company",
    summary: "Write a value into one cell of a company row, by hand",
    description:
      "The cell becomes `complete` with the value, stored as given; the `sources` of a web answer it replaces are dropped (a manual value has none). Free. A cell whose enrichment is still under way and paid for gets those credits back before the value replaces it.",
    params: companyCellParams,
    body: writeCompanyCellBody,
    responses: { 200: { description: "The value is written", schema: success } },
    errors: [404],
    checksKeyItself: true,
  },
  async (c) => {
    const { id, cid } = c.req.valid("param");
    const input = { ...callerOf(c), listId: id, companyRowId: cid, ...c.req.valid("json") };
    const { hasReaders, workspaceId } = await writeCompanyCell(c.var.services.db, input);
    if (hasReaders) await followManualValue(c.var.services, { ...input, workspaceId, rowId: cid, subject: "company" });
    return c.json({ success: true as const });
  },
);

/** The caller as the key middleware left it: its key still to check in the write, or checked already (under a rate limit). */
function callerOf(c: Context<AppEnv>): Caller {
  return c.var.apiKeyHash ? { apiKeyHash: c.var.apiKeyHash } : { workspaceId: c.var.principal.workspaceId };
}

export const cellOperations = [writeCell, writeCompanyCellOperation];
