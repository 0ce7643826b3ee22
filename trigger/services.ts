import { createPostgresDb } from "../src/db/client";
import { refusingDispatcher } from "../src/dispatch/refusing";
import { createTriggerSdkDispatcher } from "../src/dispatch/trigger-sdk";
import { withProvidersDefault } from "../src/providers";
import { createServiceKit, type ServiceKit, type Services } from "../src/services";

// Services for one Trigger.dev run, built from the task process's environment. The database pool
// lives for the run only and is closed when it ends, so no connection outlives the work it served.
// The kit (settings, prices, providers) is built once per task process. Tasks run in production, so
// PROVIDERS defaults to `live` here, as on the Worker that dispatches them.

let kit: ServiceKit | undefined;

/**
 * Tasks start background work themselves (the recovery sweep; a column task releasing the cells
 * that read the ones it wrote), through the SDK with the environment's TRIGGER_SECRET_KEY. Without
 * one, such a dispatch is refused: the cells it would have started end DISPATCH_FAILED (refunded),
 * and recovery tries what is still pending again.
 */
export async function withTaskServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  kit ??= createServiceKit(withProvidersDefault(process.env, "live"));
  const { env, logger } = kit;
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL must be set for background tasks");
  const { db, close } = createPostgresDb(env.DATABASE_URL, { max: 10 });
  const dispatcher = env.TRIGGER_SECRET_KEY
    ? createTriggerSdkDispatcher({ secretKey: env.TRIGGER_SECRET_KEY, apiUrl: env.TRIGGER_API_URL, timeoutMs: env.TRIGGER_DISPATCH_TIMEOUT_MS, logger })
    : refusingDispatcher("TRIGGER_SECRET_KEY is not set in the task environment");
  const services = kit.services({ db, dispatcher });
  try {
    return await work(services);
  } finally {
    await close();
  }
}
