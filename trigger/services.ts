import { createPostgresDb } from "../src/db/client";
import { refusingDispatcher } from "../src/dispatch/refusing";
import { withProvidersDefault } from "../src/providers";
import { createServiceKit, type ServiceKit, type Services } from "../src/services";

// Services for one Trigger.dev run, built from the task process's environment. The database pool
// lives for the run only and is closed when it ends, so no connection outlives the work it served.
// The kit (settings, prices, providers) is built once per task process. Tasks run in production, so
// PROVIDERS defaults to `live` here, as on the Worker that dispatches them.

let kit: ServiceKit | undefined;

export async function withTaskServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  kit ??= createServiceKit(withProvidersDefault(process.env, "live"));
  if (!kit.env.DATABASE_URL) throw new Error("DATABASE_URL must be set for background tasks");
  const { db, close } = createPostgresDb(kit.env.DATABASE_URL, { max: 10 });
  const services = kit.services({ db, dispatcher: refusingDispatcher("tasks do not dispatch further work") });
  try {
    return await work(services);
  } finally {
    await close();
  }
}
