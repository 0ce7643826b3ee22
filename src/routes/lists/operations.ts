import { createList, listLists, listSheet, updateList } from "../../domain/lists";
import { deleteList } from "../../domain/removals";
import { defineOperation, success } from "../operation";
import { streamListEventsOperation } from "./events";
import { createListBody, listBody, listIdParam, listResponse, listsResponse, sheetQuery, sheetResponse, updateListBody } from "./schemas";

const DELETE_DESCRIPTION =
  "Deletes the list with its rows, columns and cells, and cancels its columns' background work. Credits held for cells not filled yet are given back. The workspace's leads stay.";

export const createListOperation = defineOperation(
  {
    method: "post",
    path: "/api/lists",
    operationId: "createList",
    tag: "lists",
    command: "create",
    summary: "Create a list, with the built-in person columns (name, role, company...)",
    body: createListBody,
    responses: { 201: { description: "The new, empty list", schema: listResponse } },
  },
  async (c) => c.json({ list: await createList(c.var.services.db, c.var.principal.workspaceId, c.req.valid("json")) }, 201),
);

export const listListsOperation = defineOperation(
  {
    method: "get",
    path: "/api/lists",
    operationId: "listLists",
    tag: "lists",
    command: "list",
    summary: "The workspace's lists, newest first, with their row counts",
    responses: { 200: { description: "Every list of the workspace", schema: listsResponse } },
  },
  async (c) => c.json({ lists: await listLists(c.var.services.db, c.var.principal.workspaceId) }),
);

export const getList = defineOperation(
  {
    method: "get",
    path: "/api/lists/{id}",
    operationId: "getList",
    tag: "lists",
    command: "get",
    summary: "A list as a sheet: its people (or companies), their columns and cells",
    description:
      "`segment=people` (the default) answers the person rows, person columns and their cells; `segment=companies` the company rows, company columns and their cells. At most the first 1000 rows by position are included (`truncated` tells when there are more); page through GET /api/lists/{id}/rows for bigger lists.",
    params: listIdParam,
    query: sheetQuery,
    responses: { 200: { description: "The sheet", schema: sheetResponse } },
    errors: [404],
  },
  async (c) => c.json(await listSheet(c.var.services.db, c.var.principal.workspaceId, c.req.valid("param").id, c.req.valid("query").segment)),
);

export const updateListOperation = defineOperation(
  {
    method: "patch",
    path: "/api/lists",
    operationId: "updateList",
    tag: "lists",
    command: "update",
    summary: "Rename a list or change its description",
    description: "The list is named by `id` in the body. Give `name`, `description` or both; a blank or null name becomes \"Untitled List\".",
    body: updateListBody,
    responses: { 200: { description: "The updated list", schema: listResponse } },
    errors: [404],
  },
  async (c) => {
    const { db, clock } = c.var.services;
    return c.json({ list: await updateList(db, c.var.principal.workspaceId, c.req.valid("json"), clock.now()) });
  },
);

export const deleteListOperation = defineOperation(
  {
    method: "delete",
    path: "/api/lists/{id}",
    operationId: "deleteList",
    tag: "lists",
    command: "delete",
    summary: "Delete a list and everything in it",
    description: DELETE_DESCRIPTION,
    params: listIdParam,
    responses: { 200: { description: "The list is gone", schema: success } },
    errors: [404],
  },
  async (c) => {
    await deleteList(c.var.services, c.var.principal.workspaceId, c.req.valid("param").id);
    return c.json({ success: true as const });
  },
);

export const deleteListByBody = defineOperation(
  {
    method: "delete",
    path: "/api/lists",
    operationId: "deleteListByBody",
    tag: "lists",
    command: "delete-by-body",
    summary: "Delete a list named by `id` in the body (same as DELETE /api/lists/{id})",
    description: DELETE_DESCRIPTION,
    body: listBody,
    responses: { 200: { description: "The list is gone", schema: success } },
    errors: [404],
  },
  async (c) => {
    await deleteList(c.var.services, c.var.principal.workspaceId, c.req.valid("json").id);
    return c.json({ success: true as const });
  },
);

export const listOperations = [createListOperation, listListsOperation, getList, updateListOperation, deleteListOperation, deleteListByBody, streamListEventsOperation];
