// `npm run dev`: the whole pipeline locally with the production code paths. The app runs as a Worker
// in workerd (wrangler dev) with Postgres behind the Hyperdrive binding; it dispatches through the
// real @trigger.dev/sdk to the local Trigger.dev-compatible runner, which runs the tasks.
import { spawn, type ChildProcess } from "node:child_process";
import { count } from "drizzle-orm";
import postgres from "postgres";
import { z } from "zod";
import { createPostgresDb } from "../src/db/client";
import { migrateDatabase } from "../src/db/migrate";
import { accounts } from "../src/db/schema";
import { createAccount } from "../src/domain/accounts";

const devEnv = z
  .object({
    DATABASE_URL: z.string().url().default("postgres://postgres:postgres@127.0.0.1:5432/lead_enrichment_dev"),
    PORT: z.coerce.number().int().default(8787),
    TRIGGER_SECRET_KEY: z.string().min(1).default("tr_dev_local"),
    TRIGGER_API_URL: z.string().url().default("http://127.0.0.1:8788"),
    // The Worker defaults to live providers as a deployment; locally the sandbox answers unless the
    // developer asks for live (`PROVIDERS=live npm run dev`). Both processes are told the same.
    PROVIDERS: z.enum(["sandbox", "live"]).default("sandbox"),
  })
  .parse(process.env);

// wrangler's local Hyperdrive wants a password even where the server trusts local connections.
const databaseUrl = new URL(devEnv.DATABASE_URL);
if (!databaseUrl.password) databaseUrl.password = "postgres";
const databaseName = databaseUrl.pathname.slice(1);

const server = new URL(databaseUrl);
server.pathname = "/postgres";
const admin = postgres(server.toString(), { max: 1, onnotice: () => {} });
const [exists] = await admin`select 1 from pg_database where datname = ${databaseName}`;
if (!exists) await admin.unsafe(`create database "${databaseName.replace(/"/g, '""')}"`);
await admin.end();

const { db, close } = createPostgresDb(databaseUrl.toString(), { max: 1 });
await migrateDatabase(db, "postgres");
const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(accounts);
const demo = n === 0 ? await createAccount(db, { email: "demo@localhost", fullName: "Demo User", credits: 1000 }) : null;
await close();

const children: ChildProcess[] = [];
const run = (command: string, args: string[], env: Record<string, string>) => {
  const child = spawn(command, args, { stdio: "inherit", env: { ...process.env, ...env } });
  children.push(child);
  child.once("exit", (code) => {
    console.log(`${args.join(" ")} exited (${code}); stopping`);
    stop(code ?? 1);
  });
  return child;
};

run(process.execPath, ["--import", "tsx", "scripts/trigger-runner.ts"], {
  DATABASE_URL: databaseUrl.toString(),
  TRIGGER_SECRET_KEY: devEnv.TRIGGER_SECRET_KEY,
  TRIGGER_API_URL: devEnv.TRIGGER_API_URL,
  PROVIDERS: devEnv.PROVIDERS,
});
run(
  process.execPath,
  [
    "node_modules/wrangler/bin/wrangler.js",
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(devEnv.PORT),
    "--show-interactive-dev-session=false",
    "--var",
    `TRIGGER_SECRET_KEY:${devEnv.TRIGGER_SECRET_KEY}`,
    "--var",
    `TRIGGER_API_URL:${devEnv.TRIGGER_API_URL}`,
    "--var",
    `PROVIDERS:${devEnv.PROVIDERS}`,
  ],
  {
    CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_HYPERDRIVE: databaseUrl.toString(),
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
  },
);

console.log(`Database ${databaseName} migrated; Worker on http://127.0.0.1:${devEnv.PORT}, tasks via ${devEnv.TRIGGER_API_URL}, providers: ${devEnv.PROVIDERS}`);
if (demo) {
  console.log(`Demo account demo@localhost with 1000 credits. Its API key (shown only now):\n  ${demo.apiKey}`);
} else {
  console.log("Existing dev database. For a fresh key: DATABASE_URL=<dev url> npm run admin -- rotate-key --email demo@localhost");
}

let stopping = false;
function stop(code: number) {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill("SIGTERM");
  setTimeout(() => process.exit(code), 2000).unref();
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
