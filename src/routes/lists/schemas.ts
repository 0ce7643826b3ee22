import { z } from "@hono/zod-openapi";
import { lists } from "../../db/schema";
import { LIMITS } from "../../limits";
import { text, uuid } from "../../validation";
import { Cell, Column, CompanyCell, CompanyRow, List, Row } from "../views";

export const createListBody = z.object({
  name: text(LIMITS.text).nullish().openapi({ description: 'Blank or missing: "Untitled List".' }),
  description: text(LIMITS.longText).nullish(),
  leadType: z.enum(lists.leadType.enumValues).optional().openapi({ description: "Defaults to `person`." }),
});

export const listIdParam = z.object({ id: uuid() });

export const listBody = z.object({ id: uuid() });

export const sheetQuery = z.object({
  segment: z.enum(["people", "companies"]).default("people").openapi({ description: "Which side of the list to answer with." }),
});

export const updateListBody = z
  .object({
    id: uuid(),
    name: text(LIMITS.text).nullish().openapi({ description: 'Blank or null: "Untitled List".' }),
    description: text(LIMITS.longText).nullish(),
  })
  .refine((b) => b.name !== undefined || b.description !== undefined, { message: "Nothing to update: give name or description" });

export const listResponse = z.strictObject({ list: List });

export const listsResponse = z.strictObject({ lists: z.array(List).openapi({ description: "Newest first." }) });

const truncated = z.boolean().openapi({ description: "The sheet holds the first 1000 rows only; page through GET /api/lists/{id}/rows for the rest." });

export const peopleSheet = z
  .strictObject({
    sheet: List,
    rows: z.array(Row).openapi({ description: "By position." }),
    columns: z.array(Column).openapi({ description: "The person columns, by position; preview columns are left out." }),
    cells: z.array(Cell),
    truncated,
  })
  .openapi("PeopleSheet");

export const companySheet = z
  .strictObject({
    sheet: List,
    rows: z.array(CompanyRow).openapi({ description: "By position." }),
    columns: z.array(Column).openapi({ description: "The company columns, by position; preview columns are left out." }),
    cells: z.array(CompanyCell),
    truncated,
  })
  .openapi("CompanySheet");

export const sheetResponse = z.union([peopleSheet, companySheet]);
