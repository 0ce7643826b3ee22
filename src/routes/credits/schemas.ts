import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../limits";
import { int4, limitParam, text, uuid } from "../../validation";

export const costsResponse = z
  .strictObject({
    costs: z.record(z.string(), z.number().int()).openapi({ description: "Credits per unit, by action (e.g. `ai_column`, `work_email`)." }),
  })
  .openapi("CreditCosts");

export const previewBody = z.object({
  action: text(LIMITS.token).min(1).openapi({ description: "An action of GET /api/credits/config." }),
  count: int4(1).openapi({ description: "How many units (rows, leads)." }),
});

export const previewResponse = z
  .strictObject({
    action: z.string(),
    count: z.number().int(),
    costPerUnit: z.number().int(),
    totalCredits: z.number().int(),
    sufficient: z.boolean().openapi({ description: "Whether the balance covers totalCredits now." }),
    balance: z.number().int(),
  })
  .openapi("CreditPreview");

export const ledgerQuery = z.object({
  limit: limitParam(1, 100, 50),
  cursor: uuid().optional().openapi({ description: "The `nextCursor` of the previous page." }),
});

export const ledgerEntry = z
  .strictObject({
    id: z.uuid(),
    kind: z.enum(["charge", "refund", "grant"]),
    action: z.string(),
    units: z.number().int(),
    delta: z.number().int().openapi({ description: "Negative for a charge." }),
    balanceAfter: z.number().int(),
    reference: z.strictObject({ type: z.string(), id: z.string() }).nullable(),
    note: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .openapi("LedgerEntry");

export const ledgerResponse = z
  .strictObject({ entries: z.array(ledgerEntry), nextCursor: z.uuid().nullable() })
  .openapi("LedgerPage");
