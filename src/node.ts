import { serve } from "@hono/node-server";
import { count } from "drizzle-orm";
import { createApp } from "./app";
import { openDatabase } from "./db/open";
import { accounts } from "./db/schema";
import { createInProcessDispatcher } from "./dispatch/in-process";
import { createTriggerSdkDispatcher } from "./dispatch/trigger-sdk";
import type { Dispatcher } from "./dispatch/types";
import { createAccount } from "./domain/accounts";
import { createServiceKit, type Services } from "./services";
import { backgroundIdle } from "./routes/webhooks";
import { createTaskRegistry } from "./tasks/registry";

const DEMO_EMAIL = "demo@localhost";
const DEMO_CREDITS = 1000;

const kit = createServiceKit(process.env);
const { env, logger } = kit;
const database = await openDatabase(env);

// First start on an empty database: a demo account whose key is printed once, never stored in clear.
let demoKey: string | null = null;
const [{ accounts: existing } = { accounts: 0 }] = await database.db.select({ accounts: count() }).from(accounts);
if (existing === 0) {
  const demo = await createAccount(database.db, { email: DEMO_EMAIL, fullName: "Demo User", credits: DEMO_CREDITS });
  demoKey = demo.apiKey;
}

// With a Trigger.dev key, tasks go to Trigger.dev (or the local runner at TRIGGER_API_URL); without
// one they run in this process. The in-process queue is one per process, never per request.
const inProcess = env.TRIGGER_SECRET_KEY
  ? null
  : createInProcessDispatcher({ registry: createTaskRegistry(() => services()), logger });
const dispatcher: Dispatcher =
  inProcess ??
  createTriggerSdkDispatcher({
    secretKey: env.TRIGGER_SECRET_KEY!,
    apiUrl: env.TRIGGER_API_URL,
    timeoutMs: env.TRIGGER_DISPATCH_TIMEOUT_MS,
    logger,
  });
const services = (): Services => kit.services({ db: database.db, dispatcher });

const app = createApp(() => ({ services: services() }));

const server = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, (info) => {
  const url = `http://${info.address.includes(":") ? `[${info.address}]` : info.address}:${info.port}`;
  console.log(`API listening on ${url}  (database: ${database.driver}, ${database.where}; background tasks: ${inProcess ? "in-process" : `Trigger.dev at ${env.TRIGGER_API_URL ?? "cloud"}`})`);
  if (demoKey) {
    console.log(`Demo account ${DEMO_EMAIL} with ${DEMO_CREDITS} credits. Its API key (shown only now):`);
    console.log(`  ${demoKey}`);
    console.log(`Try: curl -H "Authorization: Bearer ${demoKey}" ${url}/api/account`);
  } else {
    console.log(`Existing database. For a fresh key: npm run admin -- rotate-key --email ${DEMO_EMAIL}`);
  }
});

const shutdown = async () => {
  server.close();
  await inProcess?.idle();
  await backgroundIdle();
  await database.close();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
