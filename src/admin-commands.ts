import { sql } from "drizzle-orm";
import { z } from "zod";
import { rowsOf, type Db } from "./db/client";
import { createAccount, revokeApiKey, rotateApiKey } from "./domain/accounts";
import { grantCredits } from "./domain/credits";
import { AppError } from "./errors";

// The operator's commands (`npm run admin`), run by the admin process against the database, or by
// the running server against its embedded database when it owns it (src/control-channel.ts).

const email = z.string().min(1);

export const adminCommandSchema = z.discriminatedUnion("command", [
  z.object({ command: z.literal("create-account"), email, credits: z.number().int().min(0), name: z.string().optional() }),
  z.object({ command: z.literal("grant-credits"), email, credits: z.number().int().min(1), note: z.string().optional() }),
  z.object({ command: z.literal("rotate-key"), email }),
  z.object({ command: z.literal("revoke-key"), email }),
]);

export type AdminCommand = z.infer<typeof adminCommandSchema>;

export const ADMIN_COMMAND_NAMES: ReadonlyArray<AdminCommand["command"]> = ["create-account", "grant-credits", "rotate-key", "revoke-key"];

/** What the command prints: `{ accountId, workspaceId, apiKey }`, `{ workspaceId, balance, entryId }` or `{ accountId, revoked }`. */
export async function runAdminCommand(db: Db, command: AdminCommand): Promise<unknown> {
  switch (command.command) {
    case "create-account":
      return createAccount(db, { email: command.email, fullName: command.name, credits: command.credits });
    case "grant-credits": {
      const [account] = rowsOf<{ workspace_id: string }>(
        await db.execute(sql`select workspace_id from accounts where lower(email) = lower(${command.email})`),
      );
      if (!account) throw AppError.notFound("Account");
      const result = await grantCredits(db, {
        workspaceId: account.workspace_id,
        action: "GRANT",
        units: command.credits,
        amount: command.credits,
        note: command.note ?? "admin grant",
      });
      return { workspaceId: account.workspace_id, balance: result.balance, entryId: result.status === "applied" ? result.entry.id : null };
    }
    case "rotate-key":
      return rotateApiKey(db, { email: command.email });
    case "revoke-key":
      return revokeApiKey(db, { email: command.email });
  }
}
