import { z } from "@hono/zod-openapi";
import { cellStatuses } from "../../db/schema";
import { freeForm, uuid } from "../../validation";

export const listIdParam = z.object({ id: uuid() });
export const companyCellParams = z.object({ id: uuid(), cid: uuid() });

export const writeCellBody = z.object({
  rowId: uuid(),
  columnId: uuid().openapi({ description: "A person column of the list." }),
  value: freeForm(z.unknown()).openapi({ description: "Any JSON that fits the column's `schema.type` (else 400 VALUE_TYPE_MISMATCH with `expectedType`); null clears the cell." }),
});

export const writeCompanyCellBody = z.object({
  columnId: uuid().openapi({ description: "A company column of the list." }),
  value: freeForm(z.unknown().optional()).openapi({ description: "Stored as given; missing, null or an empty string clears the cell." }),
});

// The documented answer of the manual write is snake_case, unlike the rest of the API.
export const SnakeCell = z
  .strictObject({
    id: z.uuid(),
    list_id: z.uuid(),
    column_id: z.uuid(),
    row_id: z.uuid(),
    value: z.unknown(),
    status: z.enum(cellStatuses),
    reasoning: z.string().nullable(),
    error: z.string().nullable(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .openapi("SnakeCell", { description: "A person cell, in the snake_case of the manual write's documented answer." });

export const writeCellResponse = z.strictObject({ cell: SnakeCell });
