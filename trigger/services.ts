import { createPostgresDb } from "../src/db/client";
import { refusingDispatcher } from "../src/dispatch/refusing";
import { createPrices } from "../src/domain/prices";
import { creditCostsFrom, parseEnv } from "../src/env";
import { createProviders } from "../src/providers";
import { createLogger, systemClock, type Services } from "../src/services";

// Services for one Trigger.dev run, built from the task process's environment. The database pool
// lives for the run only and is closed when it ends, so no connection outlives the work it served.


export async function withTaskServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  const env = parseEnv(process.env);
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL must be set for background tasks");
  const { db, close } = createPostgresDb(env.DATABASE_URL, { max: 10 });
  const services: Services = {
    db,
    requestsPerMinute: null,
    dispatcher: refusingDispatcher("tasks do not dispatch further work"),
    prices: createPrices(creditCostsFrom(env)),
    clock: systemClock,
    logger: createLogger(env.LOG_LEVEL),
    providers: createProviders(process.env),
  };
  try {
    return await work(services);
  } finally {
    await close();
  }
}
