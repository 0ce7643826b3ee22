import { rowEngine } from "../../domain/engine/work";
import { AppError } from "../../errors";
import {
  columnsToEnrich,
  deletePersonRows,
  getPersonRow,
  PATCHABLE_FIELDS,
  patchPersonRow,
  upsertPersonRows,
  type PatchableField,
} from "../../domain/rows";
import { rowView } from "../../domain/views";
import { parseFilterParam } from "../../domain/filters/language";
import { LIMITS } from "../../limits";
import { personRowPage } from "../../domain/row-page";
import { defineOperation, success } from "../operation";
import {
  addRowResponse,
  addRowsResponse,
  bulkRowsBody,
  deleteRowsBody,
  deleteRowsResponse,
  listIdParam,
  patchRowBody,
  personRowBody,
  rowPageQuery,
  rowPageResponse,
  rowParams,
} from "./schemas";

const DEDUPE =
  "A person matches a row of the list by LinkedIn URL, else by name with the same company, else by name with the same location, else by name alone when neither is given. A match is merged: only the row's empty fields take the new values. A new row is linked to the workspace's person (found by LinkedIn URL or email, or created) and to a company row for its company or domain.";

export const addRow = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/rows",
    operationId: "addRow",
    tag: "rows",
    command: "create",
    summary: "Add a person to a list, or merge it into the row it matches",
    description: `${DEDUPE} Answers 200 either way; \`merged\` tells which happened. Nothing is generated: \`columnsToEnrich\` lists the columns that have no cell for the row yet.`,
    params: listIdParam,
    body: personRowBody,
    responses: { 200: { description: "The row the person landed in", schema: addRowResponse } },
    errors: [404],
  },
  async (c) => {
    const { db } = c.var.services;
    const listId = c.req.valid("param").id;
    const engine = rowEngine(c.var.services);
    const { results } = await upsertPersonRows(db, { workspaceId: c.var.principal.workspaceId, listId, rows: [c.req.valid("json")] }, engine);
    await engine.start();
    const { rowId, merged } = results[0]!;
    const row = await getPersonRow(db, listId, rowId);
    return c.json({ row: rowView(row), columnsToEnrich: await columnsToEnrich(db, listId, rowId), merged });
  },
);

export const addRows = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/rows/bulk",
    operationId: "addRows",
    tag: "rows",
    command: "bulk-create",
    summary: `Add up to ${LIMITS.bulkRows} people to a list at once, merging those that match a row`,
    description: `${DEDUPE} Inputs are applied in order, so duplicates inside one request merge too. All or nothing.`,
    params: listIdParam,
    body: bulkRowsBody,
    responses: { 200: { description: "How many rows were created and merged, and where each input landed", schema: addRowsResponse } },
    errors: [404],
  },
  async (c) => {
    const engine = rowEngine(c.var.services);
    const { results, inserted, merged } = await upsertPersonRows(
      c.var.services.db,
      { workspaceId: c.var.principal.workspaceId, listId: c.req.valid("param").id, rows: c.req.valid("json").rows },
      engine,
    );
    await engine.start();
    return c.json({ inserted, merged, rowIds: results.map((r) => r.rowId) });
  },
);

export const listRows = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/rows",
    operationId: "listRows",
    tag: "rows",
    command: "list",
    summary: "One page of a list's people by position, each with its cells",
    description:
      "Page with `limit` (1 to 500, default 100) and `offset`; `hasMore` tells whether another page follows. With `filter`, only the rows that match it, and `total` counts those.",
    params: listIdParam,
    query: rowPageQuery,
    responses: { 200: { description: "One page of rows", schema: rowPageResponse } },
    errors: [404],
  },
  async (c) => {
    const query = c.req.valid("query");
    const filter = parseFilterParam(query.filter, "filter");
    // Assembled by Postgres as JSON text, sent on as it is.
    const body = await personRowPage(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, query, filter);
    return c.body(body, 200, { "content-type": "application/json" });
  },
);

export const updateRow = defineOperation(
  {
    method: "patch",
    path: "/api/lists/{id}/rows/{rowId}",
    operationId: "updateRow",
    tag: "rows",
    command: "update",
    summary: "Set one field of a person row (name, role, company, location, domain or linkedin)",
    description:
      "`name` is split into first and last name on the first space. A `domain` or `company` links the row to the list's company row for it. 409 when another row of the list already has the LinkedIn URL.",
    params: rowParams,
    body: patchRowBody,
    responses: { 200: { description: "The field is set", schema: success } },
    errors: [404, 409],
  },
  async (c) => {
    const { id: listId, rowId } = c.req.valid("param");
    const { field, value } = c.req.valid("json");
    if (!(PATCHABLE_FIELDS as readonly string[]).includes(field)) {
      const message = `Unknown field: ${field}`;
      throw AppError.validation([{ path: "field", message }], message);
    }
    const engine = rowEngine(c.var.services);
    await patchPersonRow(c.var.services.db, { workspaceId: c.var.principal.workspaceId, listId, rowId, field: field as PatchableField, value }, engine);
    await engine.start();
    return c.json({ success: true as const });
  },
);

export const deleteRows = defineOperation(
  {
    method: "delete",
    path: "/api/lists/{id}/rows",
    operationId: "deleteRows",
    tag: "rows",
    command: "delete",
    summary: "Delete people from a list, by row id",
    description: "Ids that are not rows of the list are ignored. Credits held for the rows' cells not filled yet are given back.",
    params: listIdParam,
    body: deleteRowsBody,
    responses: { 200: { description: "How many rows were deleted", schema: deleteRowsResponse } },
    errors: [404],
  },
  async (c) => {
    const deleted = await deletePersonRows(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("json").rowIds);
    return c.json({ success: true as const, deleted });
  },
);

export const rowOperations = [addRow, addRows, listRows, updateRow, deleteRows];
