import { serve } from "@hono/node-server";
import { count } from "drizzle-orm";
import { createApp } from "./app";
import { openDatabase } from "./db/open";
import { accounts } from "./db/schema";
import { createAccount } from "./domain/accounts";
import { createPrices } from "./domain/prices";
import { creditCostsFrom, parseEnv } from "./env";
import { createLogger, systemClock, type Services } from "./services";

const DEMO_EMAIL = "demo@localhost";
const DEMO_CREDITS = 1000;

const env = parseEnv(process.env);
const logger = createLogger(env.LOG_LEVEL);
const database = await openDatabase(env);
const prices = createPrices(creditCostsFrom(env));

// First start on an empty database: a demo account whose key is printed once, never stored in clear.
let demoKey: string | null = null;
const [{ accounts: existing } = { accounts: 0 }] = await database.db.select({ accounts: count() }).from(accounts);
if (existing === 0) {
  const demo = await createAccount(database.db, { email: DEMO_EMAIL, fullName: "Demo User", credits: DEMO_CREDITS });
  demoKey = demo.apiKey;
}

const app = createApp(() => {
  const services: Services = { db: database.db, prices, clock: systemClock, logger };
  return { services };
});

const server = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, (info) => {
  const url = `http://${info.address.includes(":") ? `[${info.address}]` : info.address}:${info.port}`;
  console.log(`API listening on ${url}  (database: ${database.driver}, ${database.where})`);
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
  await database.close();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
