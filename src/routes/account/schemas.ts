import { z } from "@hono/zod-openapi";

export const accountResponse = z
  .strictObject({
    account: z.strictObject({ id: z.uuid(), email: z.string(), fullName: z.string().nullable() }),
    profile: z.strictObject({ firstName: z.string().nullable(), lastName: z.string().nullable() }),
    workspace: z.strictObject({ id: z.uuid(), name: z.string(), plan: z.string() }),
    credits: z.strictObject({ balance: z.number().int().openapi({ description: "Credits the workspace holds now." }) }),
  })
  .openapi("Account");
