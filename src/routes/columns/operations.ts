import { createColumn, deleteColumn, deletePreviewColumns, generateCells, getColumn, listColumns, previewCells, updateColumn } from "../../domain/columns";
import { defineOperation, success } from "../operation";
import {
  columnParam,
  columnResponse,
  columnsResponse,
  createColumnBody,
  generateCellsBody,
  generateCellsResponse,
  listColumnsQuery,
  listParam,
  previewCellsResponse,
  updateColumnBody,
} from "./schemas";

const CREDIT_GATE =
  "AI and enrichment cells are priced per row (GET /api/credits/config); when the balance does not cover every row the request would queue, " +
  "the answer is 402 INSUFFICIENT_CREDITS with `required` and `balance`, and nothing is written or charged.";

const ENGINE =
  "The spreadsheet engine: a prompt may read another column of the list as `{{Column name}}` (besides the row's fields); an AI or enrichment column read " +
  "that way is a dependency, and a row's cell runs only once the cells it reads are done (a pending cell that waits names them in `waitingOn`; if one fails, " +
  "it ends failed UPSTREAM_FAILED and is refunded). A name that is no column and no field is a 400 UNKNOWN_REFERENCE, a loop a 400 DEPENDENCY_CYCLE. " +
  "`autoRun` runs the column on rows added later and again on a row whose fields it reads change; `runIf` (RunCondition) runs it only on rows that match " +
  "(the others end completed empty, \"Run condition not met\", uncharged); `maxCredits` caps what it ever spends: a request past it is a 402 BUDGET_EXCEEDED " +
  "with `required`, `balance` and `budgetLeft`, and auto-run cells past it end failed BUDGET_EXCEEDED.";

const FOLLOW_CELLS =
  "The cells are filled in the background: the answer comes at once with the cells `pending`; poll the list's cells " +
  "(GET /api/lists/{id}, GET /api/lists/{id}/companies, or preview-cells for a preview column) until none is `pending` or `processing`. " +
  "If the background work cannot be dispatched the answer is 500 DISPATCH_FAILED, the cells end `failed` and nothing is charged; " +
  "a cell that ends without a value gives its credits back.";

export const createColumnOperation = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/columns",
    operationId: "createColumn",
    tag: "columns",
    command: "create",
    summary: "Add a column to a list: manual, AI (from a prompt) or enrichment",
    description: [
      "A manual column (isDynamic false) is free and filled through the cells routes. An AI column (isDynamic with a prompt) or an enrichment column (an enrichmentType) " +
        "is filled for every row of its subject at once.",
      CREDIT_GATE,
      FOLLOW_CELLS,
      ENGINE,
      "A preview column (isPreview true) fills and charges only the list's first 3 rows, and is not listed until promoted with PATCH isPreview: false " +
        "or removed with cleanup-previews. A list can have one hiring_status column (DUPLICATE_HIRING_STATUS otherwise).",
    ].join("\n\n"),
    params: listParam,
    body: createColumnBody,
    responses: { 201: { description: "The column, its cells queued", schema: columnResponse } },
    errors: [402, 404],
    background: "column",
  },
  async (c) => {
    const column = await createColumn(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("json"));
    return c.json({ column }, 201);
  },
);

export const listColumnsOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/columns",
    operationId: "listColumns",
    tag: "columns",
    command: "list",
    summary: "The list's columns (previews excluded), people's first, each by position",
    params: listParam,
    query: listColumnsQuery,
    responses: { 200: { description: "The columns", schema: columnsResponse } },
    errors: [404],
  },
  async (c) => {
    const columns = await listColumns(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query").subject);
    return c.json({ columns });
  },
);

export const cleanupPreviewColumnsOperation = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/columns/cleanup-previews",
    operationId: "cleanupPreviewColumns",
    tag: "columns",
    command: "cleanup-previews",
    summary: "Delete the list's preview columns that were not promoted",
    description: "Their cells go with them; the credits of cells still pending are given back and their background work is cancelled.",
    params: listParam,
    responses: { 200: { description: "Done (also when there was none)", schema: success } },
    errors: [404],
  },
  async (c) => {
    await deletePreviewColumns(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json({ success: true as const });
  },
);

export const updateColumnOperation = defineOperation(
  {
    method: "patch",
    path: "/api/lists/{id}/columns/{colId}",
    operationId: "updateColumn",
    tag: "columns",
    command: "update",
    summary: "Rename, flag as a filter, move, or promote a preview column",
    description: [
      "isPreview: false promotes a preview column: it is listed from then on, and the rows its preview did not cover are filled in the background.",
      "`autoRun`, `runIf` and `maxCredits` change how the column runs from then on (null clears `runIf` and `maxCredits`); a condition's references are resolved as on creation.",
      CREDIT_GATE,
      FOLLOW_CELLS,
      ENGINE,
    ].join("\n\n"),
    params: columnParam,
    body: updateColumnBody,
    responses: { 200: { description: "The updated column", schema: columnResponse } },
    errors: [402, 404],
    background: "column",
  },
  async (c) => {
    const { id, colId } = c.req.valid("param");
    const column = await updateColumn(c.var.services, c.var.principal.workspaceId, id, colId, c.req.valid("json"));
    return c.json({ column });
  },
);

export const deleteColumnOperation = defineOperation(
  {
    method: "delete",
    path: "/api/lists/{id}/columns/{colId}",
    operationId: "deleteColumn",
    tag: "columns",
    command: "delete",
    summary: "Delete a column and its cells",
    description:
      "The credits of cells still pending are given back and the column's background work is cancelled. Built-in columns cannot be deleted (400); a column other columns read (by `{{name}}` or `column:<name>`) is a 409 CONFLICT naming them in `readers`.",
    params: columnParam,
    responses: { 200: { description: "Deleted", schema: success } },
    errors: [404, 409],
  },
  async (c) => {
    const { id, colId } = c.req.valid("param");
    await deleteColumn(c.var.services, c.var.principal.workspaceId, id, colId);
    return c.json({ success: true as const });
  },
);

export const getColumnOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/columns/{colId}",
    operationId: "getColumn",
    tag: "columns",
    command: "get",
    summary: "One column with its progress (cells by status) and credits (charged, refunded)",
    description:
      "Preview columns included. Follow a column's background work by polling this every 2–5 seconds until `progress.pending` and " +
      "`progress.processing` are 0, or subscribe to the list's event stream (GET /api/lists/{id}/events).",
    params: columnParam,
    responses: { 200: { description: "The column", schema: columnResponse } },
    errors: [404],
  },
  async (c) => {
    const { id, colId } = c.req.valid("param");
    return c.json({ column: await getColumn(c.var.services.db, c.var.principal.workspaceId, id, colId) });
  },
);

export const listPreviewCellsOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}/columns/{colId}/preview-cells",
    operationId: "listPreviewCells",
    tag: "columns",
    command: "preview",
    summary: "A column's cells with their row's name, by row position",
    description: "Meant for following a preview column: poll until no cell is `pending` or `processing`.",
    params: columnParam,
    responses: { 200: { description: "The column's cells", schema: previewCellsResponse } },
    errors: [404],
  },
  async (c) => {
    const { id, colId } = c.req.valid("param");
    const cells = await previewCells(c.var.services.db, c.var.principal.workspaceId, id, colId);
    return c.json({ cells });
  },
);

export const generateCellsOperation = defineOperation(
  {
    method: "post",
    path: "/api/lists/{id}/columns/{colId}/generate",
    operationId: "generateCells",
    tag: "columns",
    command: "generate",
    summary: "Re-run an AI column on chosen rows",
    description: [
      "Only AI columns (source web or reasoning) can generate (NOT_AN_AI_COLUMN otherwise). Row ids that are not rows of the list and the column's subject are skipped; " +
        "with none left nothing runs, `taskId` is null and `rowCount` 0. A row whose cell is still pending with credits already held is not charged again. " +
        "The columns that read this one run again on those rows after it (auto-run ones on every such row, the others where they have a cell), credit-gated cell by cell.",
      CREDIT_GATE,
      FOLLOW_CELLS,
    ].join("\n\n"),
    params: columnParam,
    body: generateCellsBody,
    responses: { 200: { description: "The rows queued", schema: generateCellsResponse } },
    errors: [402, 404],
    background: "cells",
  },
  async (c) => {
    const { id, colId } = c.req.valid("param");
    const { taskId, rowCount } = await generateCells(c.var.services, c.var.principal.workspaceId, id, colId, c.req.valid("json").rowIds);
    return c.json({ success: true as const, taskId, rowCount });
  },
);

// Registration order: cleanup-previews before the `{colId}` routes, so it is never read as a column id.
export const columnOperations = [
  createColumnOperation,
  listColumnsOperation,
  cleanupPreviewColumnsOperation,
  getColumnOperation,
  updateColumnOperation,
  deleteColumnOperation,
  listPreviewCellsOperation,
  generateCellsOperation,
];
