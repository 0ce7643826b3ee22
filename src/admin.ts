import { parseArgs } from "node:util";
import { ADMIN_COMMAND_NAMES, runAdminCommand, type AdminCommand } from "./admin-commands";
import { failAndExit, oneLine, sleep } from "./cli";
import { sendControlCommand } from "./control-channel";
import { lockHeldMessage, tryLockDataDir, type DataLock, type LockOwner } from "./db/data-lock";
import { openDatabase, type OpenDatabase } from "./db/open";
import { parseEnv, type Env } from "./env";
import { AppError, databaseAppError } from "./errors";

const USAGE = `Usage: npm run admin -- <command> [options]

Commands:
  create-account --email E [--credits N] [--name "Full Name"]   prints { accountId, workspaceId, apiKey }
  grant-credits  --email E --credits N [--note TEXT]            prints { workspaceId, balance, entryId }
  rotate-key     --email E                                      prints { accountId, workspaceId, apiKey }
  revoke-key     --email E                                      prints { accountId, revoked }

Works against DATABASE_URL when set, otherwise the embedded database under DATA_DIR (default .data):
while \`npm start\` runs on it, the running server carries the command out.`;

/** How long admin waits for the embedded database's holder: a server finishing its start, another admin command. */
const PATIENCE_MS = 30_000;

function usageError(message: string): never {
  failAndExit(`${message} (npm run admin -- help shows the usage)`, 2);
}

const command = parseCommand(process.argv.slice(2));
let env: Env;
try {
  env = parseEnv(process.env);
} catch (error) {
  failAndExit(oneLine(error));
}
const output = await (env.DATABASE_URL ? runHere(env, command) : runOnEmbeddedDatabase(env, command));
console.log(JSON.stringify(output, null, 2));

function parseCommand(argv: string[]): AdminCommand {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help") {
    console.log(USAGE);
    process.exit(name ? 0 : 2);
  }
  let options: { email?: string; credits?: string; name?: string; note?: string };
  try {
    options = parseArgs({
      args: rest,
      options: { email: { type: "string" }, credits: { type: "string" }, name: { type: "string" }, note: { type: "string" } },
      strict: true,
    }).values;
  } catch (error) {
    usageError(oneLine(error));
  }
  if (!(ADMIN_COMMAND_NAMES as readonly string[]).includes(name)) usageError(`Unknown command: ${name}`);
  const email = options.email;
  if (!email) usageError("--email is required");
  const credits = (required: boolean): number => {
    if (options.credits === undefined) {
      if (required) usageError("--credits is required");
      return 0;
    }
    const n = Number(options.credits);
    if (!Number.isSafeInteger(n) || n < (required ? 1 : 0)) usageError(`--credits must be a whole number${required ? " of at least 1" : ""}`);
    return n;
  };
  switch (name as AdminCommand["command"]) {
    case "create-account":
      return { command: "create-account", email, credits: credits(false), name: options.name };
    case "grant-credits":
      return { command: "grant-credits", email, credits: credits(true), note: options.note };
    case "rotate-key":
      return { command: "rotate-key", email };
    case "revoke-key":
      return { command: "revoke-key", email };
  }
}

/** Opens the database itself (on the embedded one, holding its lock: `lock`), runs, closes. */
async function runHere(env: Env, command: AdminCommand, lock?: DataLock): Promise<unknown> {
  let database: OpenDatabase;
  try {
    database = await openDatabase(env, { max: 2, lock });
  } catch (error) {
    failAndExit(oneLine(error));
  }
  let outcome: { output: unknown } | { failure: string };
  try {
    outcome = { output: await runAdminCommand(database.db, command) };
  } catch (error) {
    const known = error instanceof AppError ? error : databaseAppError(error);
    outcome = { failure: known ? `${known.code}: ${known.message}` : `Command failed: ${oneLine(error)}` };
  }
  // Closed before exiting, so the embedded database is shut down cleanly either way.
  await database.close();
  if ("failure" in outcome) failAndExit(outcome.failure);
  return outcome.output;
}

/**
 * The embedded database has one owner. Free: admin takes it for the command. Held by a running
 * server: the server runs the command on its database (so a rotated key works there at once).
 * Held by another admin command, or by a server still starting: wait for it.
 */
async function runOnEmbeddedDatabase(env: Env, command: AdminCommand): Promise<unknown> {
  const deadline = Date.now() + PATIENCE_MS;
  let holder: LockOwner | null = null;
  let unanswered: string | null = null;
  while (Date.now() < deadline) {
    const attempt = tryLockDataDir(env.DATA_DIR, "admin", () => {});
    if ("acquired" in attempt) return runHere(env, command, attempt.acquired);
    holder = attempt.heldBy;
    if (holder?.role === "server" && holder.control) {
      try {
        const reply = await sendControlCommand(holder.control, command);
        if (reply.status === 200) return reply.body;
        const { code, error } = reply.body as { code?: string; error?: string };
        failAndExit(`${code ?? "INTERNAL"}: ${error ?? `the server answered ${reply.status}`}`);
      } catch (error) {
        // A server stopping (or killed) leaves the lock soon; the loop then takes it.
        unanswered = oneLine(error);
      }
    }
    await sleep(250);
  }
  if (holder?.role === "server") {
    failAndExit(
      `The server (pid ${holder.pid}) using the embedded database in ${env.DATA_DIR} does not answer admin commands${unanswered ? ` (${unanswered})` : ""}; stop it first or try again.`,
    );
  }
  failAndExit(lockHeldMessage(holder, env.DATA_DIR));
}
