import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../limits";
import { atMost, int4, text, uuid } from "../../validation";
import { Column, CompanyCell, CompanyRow } from "../views";

export const listParam = z.object({ id: uuid().openapi({ description: "The list's id." }) });
export const companyParam = z.object({
  id: uuid().openapi({ description: "The list's id." }),
  cid: uuid().openapi({ description: "The company row's id." }),
});

const name = z.string().trim().min(1, "name must not be empty").max(LIMITS.text, atMost(LIMITS.text));
const companyFields = {
  domain: text(LIMITS.domain)
    .nullish()
    .openapi({ description: "Normalised (lowercase, no scheme or www.) and the key companies are deduplicated by." }),
  linkedinUrl: text(LIMITS.identifierUrl).nullish(),
  industry: text(LIMITS.text).nullish(),
  employeeCount: int4(0).nullish(),
  location: text(LIMITS.text).nullish(),
  website: text(LIMITS.url).nullish(),
  description: text(LIMITS.longText).nullish(),
};

export const addCompanyBody = z.object({ name, ...companyFields });

export const updateCompanyBody = z
  .object({ name: name.optional(), ...companyFields })
  .refine((body) => Object.values(body).some((v) => v !== undefined), { message: "At least one field to change is required" });

export const companiesResponse = z.strictObject({
  companies: z.array(CompanyRow).openapi({ description: "The list's companies, by position." }),
  columns: z.array(Column).openapi({ description: "The list's company columns (previews excluded), by position." }),
  cells: z.array(CompanyCell).openapi({ description: "The cells of those columns, by company then column." }),
});

export const companyResponse = z.strictObject({ company: CompanyRow });

export const addCompanyResponse = z.strictObject({
  company: CompanyRow,
  merged: z.boolean().openapi({ description: "true when the company matched an existing row of the list, whose empty fields it filled (200)." }),
});
