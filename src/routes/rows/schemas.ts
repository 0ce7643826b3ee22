import { z } from "@hono/zod-openapi";
import { isIdentifiable, PATCHABLE_FIELDS, type PatchableField } from "../../domain/rows";
import { FILTER_EXAMPLE } from "../../domain/filters/language";
import { LIMITS } from "../../limits";
import { atMost, freeForm, limitParam, text, uuid } from "../../validation";
import { Cell, Row } from "../views";

export { Cell, Row };

export const listIdParam = z.object({ id: uuid() });
export const rowParams = z.object({ id: uuid(), rowId: uuid() });

const optionalText = (max: number) => text(max).nullish();

export const personRowFields = z.object({
  firstName: optionalText(LIMITS.namePart),
  lastName: optionalText(LIMITS.namePart),
  company: optionalText(LIMITS.text),
  role: optionalText(LIMITS.text),
  linkedinUrl: optionalText(LIMITS.identifierUrl),
  location: optionalText(LIMITS.text),
  domain: optionalText(LIMITS.domain),
  email: optionalText(LIMITS.email),
  phone: optionalText(LIMITS.phone),
  customColumns: freeForm(z.record(uuid(), z.unknown()))
    .optional()
    .openapi({ description: "Values for the list's own (not built-in) person columns, by column id; written as completed cells." }),
});

export const personRowBody = personRowFields
  .refine(isIdentifiable, { message: "A name (firstName or lastName), linkedinUrl or email is required" })
  .openapi("PersonRowInput");

export const bulkRowsBody = z.object({
  rows: z
    .array(personRowBody)
    .min(1, `rows must hold 1 to ${LIMITS.bulkRows} rows`)
    .max(LIMITS.bulkRows, `rows must hold 1 to ${LIMITS.bulkRows} rows`),
});

export const rowPageQuery = z.object({
  limit: limitParam(1, 500, 100),
  offset: z.coerce
    .number({ message: "offset must be a non-negative integer" })
    .int("offset must be a non-negative integer")
    .min(0, "offset must be a non-negative integer")
    .default(0),
  filter: z
    .string()
    .optional()
    .openapi({
      description:
        "Only the rows that match this filter, as JSON text (URL-encoded): `{ all?: [cond, ...], any?: [cond, ...] }`, each `cond` `{ field, op, value? }`, the `Filter` schema of the enrichment scope. Fields: name, firstName, lastName, title (the role), company, domain, location, email, linkedinUrl, `attributes.<key>`; industry and size read as empty on rows. Text that is not JSON, or not a valid filter, is a 400 INVALID_FILTER whose `issues` name the fault (`filter.all.0.op`).",
      example: JSON.stringify(FILTER_EXAMPLE),
    }),
});

// A patched value has the limit of the field it sets (`name` is a whole name).
const PATCH_VALUE_LIMITS: Record<PatchableField, number> = {
  name: LIMITS.fullName,
  role: LIMITS.text,
  company: LIMITS.text,
  location: LIMITS.text,
  domain: LIMITS.domain,
  linkedin: LIMITS.identifierUrl,
};

export const patchRowBody = z
  .object({
    field: text(LIMITS.token).openapi({ description: `One of ${PATCHABLE_FIELDS.map((f) => `\`${f}\``).join(", ")}.` }),
    value: z.string().nullable().openapi({ description: "The new value; null or blank clears the field." }),
  })
  .superRefine(({ field, value }, ctx) => {
    // An unknown field is the handler's 400.
    if (value === null || !Object.hasOwn(PATCH_VALUE_LIMITS, field)) return;
    const max = PATCH_VALUE_LIMITS[field as PatchableField];
    if (!text(max).safeParse(value).success) ctx.addIssue({ code: "custom", path: ["value"], message: atMost(max) });
  });

export const deleteRowsBody = z.object({ rowIds: z.array(uuid()).min(1, "rowIds must hold at least one id") });

export const addRowResponse = z.strictObject({
  row: Row,
  columnsToEnrich: z
    .array(z.uuid())
    .openapi({ description: "The list's AI and enrichment person columns with no cell for this row yet, by position: what to generate for it." }),
  merged: z.boolean().openapi({ description: "True when the person matched a row already in the list and was merged into it." }),
});

export const addRowsResponse = z.strictObject({
  inserted: z.number().int().openapi({ description: "Rows created." }),
  merged: z.number().int().openapi({ description: "Inputs merged into a row that existed (or that an earlier input created)." }),
  rowIds: z.array(z.uuid()).openapi({ description: "Per input, in input order: the row it landed in." }),
});

// Built from Row's fields rather than extending it: the document would make it allOf Row, whose
// additionalProperties: false refuses `cells`.
export const RowWithCells = z
  .strictObject({ ...Row.shape, cells: z.array(Cell).openapi({ description: "The row's cells, by column position." }) })
  .openapi("RowWithCells", { description: "A person of a list, with its cells." });

export const rowPageResponse = z
  .strictObject({
    rows: z.array(RowWithCells),
    total: z.number().int().openapi({ description: "Rows in the list (those that match `filter`, when one is given)." }),
    limit: z.number().int(),
    offset: z.number().int(),
    hasMore: z.boolean(),
  })
  .openapi("RowPage");

export const deleteRowsResponse = z.strictObject({
  success: z.literal(true),
  deleted: z.number().int().openapi({ description: "Rows deleted; ids not in the list are ignored." }),
});
