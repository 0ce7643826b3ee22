import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { rowsOf } from "./db/client";
import { openDatabase } from "./db/open";
import { createAccount, revokeApiKey, rotateApiKey } from "./domain/accounts";
import { grantCredits } from "./domain/credits";
import { parseEnv } from "./env";
import { AppError } from "./errors";

const USAGE = `Usage: npm run admin -- <command> [options]

Commands:
  create-account --email E [--credits N] [--name "Full Name"]   prints { accountId, workspaceId, apiKey }
  grant-credits  --email E --credits N [--note TEXT]            prints { workspaceId, balance, entryId }
  rotate-key     --email E                                      prints { accountId, workspaceId, apiKey }
  revoke-key     --email E                                      prints { accountId, revoked }

Works against DATABASE_URL when set, otherwise the embedded database under DATA_DIR (default .data).`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
let options: { email?: string; credits?: string; name?: string; note?: string };
try {
  options = parseArgs({
    args: rest,
    options: { email: { type: "string" }, credits: { type: "string" }, name: { type: "string" }, note: { type: "string" } },
    strict: true,
  }).values;
} catch (error) {
  fail((error as Error).message);
}

function credits(required: boolean): number {
  if (options.credits === undefined) {
    if (required) fail("--credits is required");
    return 0;
  }
  const n = Number(options.credits);
  if (!Number.isSafeInteger(n) || n < (required ? 1 : 0)) fail(`--credits must be a whole number${required ? " of at least 1" : ""}`);
  return n;
}

if (!command || command === "help" || command === "--help") {
  console.log(USAGE);
  process.exit(command ? 0 : 2);
}
if (!["create-account", "grant-credits", "rotate-key", "revoke-key"].includes(command)) fail(`Unknown command: ${command}`);
if (!options.email) fail("--email is required");

const database = await openDatabase(parseEnv(process.env), { max: 2 });
try {
  const email = options.email;
  let output: unknown;
  if (command === "create-account") {
    output = await createAccount(database.db, { email, fullName: options.name, credits: credits(false) });
  } else if (command === "grant-credits") {
    const amount = credits(true);
    const [account] = rowsOf<{ workspace_id: string }>(
      await database.db.execute(sql`select workspace_id from accounts where lower(email) = lower(${email})`),
    );
    if (!account) throw AppError.notFound("Account");
    const result = await grantCredits(database.db, {
      workspaceId: account.workspace_id,
      action: "GRANT",
      units: amount,
      amount,
      note: options.note ?? "admin grant",
    });
    output = { workspaceId: account.workspace_id, balance: result.balance, entryId: result.status === "applied" ? result.entry.id : null };
  } else if (command === "rotate-key") {
    output = await rotateApiKey(database.db, { email });
  } else {
    output = await revokeApiKey(database.db, { email });
  }
  console.log(JSON.stringify(output, null, 2));
} catch (error) {
  console.error(error instanceof AppError ? `${error.code}: ${error.message}` : error);
  process.exitCode = 1;
} finally {
  await database.close();
}
