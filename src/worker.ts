import { createApp } from "./app";
import { createPostgresDb } from "./db/client";
import { createPrices } from "./domain/prices";
import { creditCostsFrom, parseEnv } from "./env";
import { createLogger, systemClock, type Services } from "./services";

/** The bindings and vars wrangler.toml gives the Worker. */
export type WorkerEnv = {
  HYPERDRIVE: Hyperdrive;
  CREDIT_COSTS?: string;
  LOG_LEVEL?: string;
};

type Configured = { app: ReturnType<typeof createApp>; env: WorkerEnv };

// Parsing the vars is pure, so it happens once per isolate; the database client never outlives a
// request, because workerd refuses I/O objects created by another request.
let configured: Configured | undefined;

function configure(env: WorkerEnv): Configured {
  if (configured?.env === env) return configured;
  const parsed = parseEnv({ CREDIT_COSTS: env.CREDIT_COSTS, LOG_LEVEL: env.LOG_LEVEL });
  const prices = createPrices(creditCostsFrom(parsed));
  const logger = createLogger(parsed.LOG_LEVEL);
  const app = createApp(() => {
    // Hyperdrive is the pool; this client only multiplexes one request's queries over it.
    const { db, close } = createPostgresDb(env.HYPERDRIVE.connectionString, { max: 5, fetchTypes: false });
    const services: Services = { db, prices, clock: systemClock, logger };
    return { services, release: close };
  });
  configured = { app, env };
  return configured;
}

export default {
  fetch(request, env, ctx) {
    return configure(env).app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;
