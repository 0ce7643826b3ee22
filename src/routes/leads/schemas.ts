import { z } from "@hono/zod-openapi";
import { leads } from "../../db/schema";
import { LIMITS } from "../../limits";
import { atMost, freeForm, int4, limitParam, text, uuid } from "../../validation";

const leadType = z.enum(leads.type.enumValues);

const optionalText = (max: number) => text(max).nullish();

// The fields a lead can be written with, shared by create and update.
const leadFields = {
  name: z
    .object({ full: optionalText(LIMITS.fullName), first: optionalText(LIMITS.namePart), last: optionalText(LIMITS.namePart) })
    .optional()
    .openapi({ description: "A person's full name, or first and last (the other is derived); a company's name is `full`." }),
  title: optionalText(LIMITS.text),
  company: z
    .object({ name: optionalText(LIMITS.text), domain: optionalText(LIMITS.domain) })
    .optional()
    .openapi({ description: "A person's company; its domain links the person to the company lead of that domain." }),
  location: z
    .object({ city: optionalText(LIMITS.text), state: optionalText(LIMITS.text), country: optionalText(LIMITS.text), raw: optionalText(LIMITS.text) })
    .optional(),
  socials: z
    .array(z.object({ url: z.string().trim().min(1).max(LIMITS.identifierUrl, atMost(LIMITS.identifierUrl)) }))
    .max(LIMITS.socials)
    .optional()
    .openapi({ description: "Profile links, replaced as a whole; a LinkedIn URL identifies the lead." }),
  contacts: z
    .array(z.object({ value: z.string().trim().min(1).max(LIMITS.email, atMost(LIMITS.email)) }))
    .max(LIMITS.contacts)
    .optional()
    .openapi({ description: "Emails and other contacts, replaced as a whole; an email identifies the lead." }),
  domain: optionalText(LIMITS.domain).openapi({ description: "A company's own domain; it identifies a company lead." }),
  industry: optionalText(LIMITS.text),
  // Sizes come as headcounts or as bands ("51-200"); stored as text either way.
  size: z
    .union([text(LIMITS.token), int4(0)])
    .nullish()
    .transform((size) => (typeof size === "number" ? String(size) : size))
    .openapi({ description: 'A headcount or a band such as "51-200"; answered as text.' }),
  attributes: freeForm(z.record(z.string(), z.unknown()))
    .optional()
    .openapi({ description: "Free-form values, merged key by key into the lead's." }),
  raw: freeForm(z.record(z.string(), z.unknown()))
    .optional()
    .openapi({ description: "The source record as received, merged key by key; not answered back." }),
};

export const createLeadBody = z.object({
  type: leadType,
  ...leadFields,
  listIds: z.array(uuid()).max(LIMITS.listIds).optional().openapi({ description: "Lists to add the lead to (as a row of each)." }),
});

const filterText = text(LIMITS.filterText).optional();

export const listLeadsQuery = z.object({
  id: uuid().optional().openapi({ description: "One lead: the page holds it alone (404 when it is not the caller's)." }),
  type: leadType.optional(),
  limit: limitParam(1, 100, 50),
  cursor: uuid().optional().openapi({ description: "The `nextCursor` of the previous page." }),
  q: filterText.openapi({ description: "Matches the name, title, company, domain or email." }),
  name: filterText,
  title: filterText,
  company: filterText,
  domain: filterText.openapi({ description: "Matches the lead's domain or its company's domain." }),
  email: filterText,
  industry: filterText,
  location: filterText,
});

export const updateLeadBody = z
  .object({
    id: uuid(),
    type: z.unknown().optional().openapi({ description: "Read-only: giving it is a 400." }),
    ...leadFields,
  })
  .superRefine((body, ctx) => {
    const changed = Object.entries(body).some(([key, value]) => key !== "id" && key !== "type" && value !== undefined);
    if (body.type !== undefined) ctx.addIssue({ code: "custom", path: ["type"], message: "type is read-only" });
    else if (!changed) ctx.addIssue({ code: "custom", path: [], message: "Nothing to update: give at least one field besides id" });
  });

const nullableText = () => z.string().nullable();

export const Lead = z
  .strictObject({
    id: z.uuid(),
    type: leadType,
    name: z.strictObject({
      full: nullableText(),
      short: nullableText().openapi({ description: "The first name, else the full name." }),
      first: nullableText(),
      last: nullableText(),
    }),
    title: nullableText(),
    company: z.strictObject({
      name: nullableText(),
      id: z.uuid().nullable().openapi({ description: "The company lead of `domain`, when the workspace has one." }),
      domain: nullableText(),
    }),
    location: z.strictObject({ city: nullableText(), state: nullableText(), country: nullableText(), raw: nullableText() }),
    socials: z.array(z.strictObject({ url: z.string() })),
    contacts: z.array(z.strictObject({ value: z.string() })),
    domain: nullableText(),
    industry: nullableText(),
    size: nullableText(),
    attributes: z.record(z.string(), z.unknown()),
    lists: z.array(z.strictObject({ id: z.uuid(), name: z.string() })).openapi({ description: "The lists the lead is in, by name." }),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi("Lead", { description: "A person or a company, known once per workspace." });

export const leadResponse = z.strictObject({ lead: Lead });

export const leadPage = z
  .strictObject({ leads: z.array(Lead), nextCursor: z.uuid().nullable() })
  .openapi("LeadPage");
