import { createApp } from "./app";
import { createPostgresDb } from "./db/client";
import { createTriggerSdkDispatcher } from "./dispatch/trigger-sdk";
import { refusingDispatcher } from "./dispatch/refusing";
import { withProvidersDefault } from "./providers";
import { createServiceKit } from "./services";

/** The bindings and vars wrangler.toml gives the Worker. */
export type WorkerEnv = {
  HYPERDRIVE: Hyperdrive;
  CREDIT_COSTS?: string;
  LOG_LEVEL?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  TRIGGER_SECRET_KEY?: string;
  TRIGGER_API_URL?: string;
  TRIGGER_DISPATCH_TIMEOUT_MS?: string;
  /** `live` when unset: a deployment never answers with sandbox values unless told to. */
  PROVIDERS?: string;
};

// Without a Trigger.dev key the Worker still serves every route that needs no background work;
// the ones that do answer DISPATCH_FAILED with this reason instead of failing at start-up.
const unconfiguredDispatcher = refusingDispatcher("Background work is not configured: set TRIGGER_SECRET_KEY");

type Configured = { app: ReturnType<typeof createApp>; env: WorkerEnv };

// Parsing the vars is pure, so it happens once per isolate; the database client never outlives a
// request, because workerd refuses I/O objects created by another request.
let configured: Configured | undefined;

function configure(env: WorkerEnv): Configured {
  if (configured?.env === env) return configured;
  // Bindings that are not strings (HYPERDRIVE) are no settings; the kit validates the rest once.
  const kit = createServiceKit(withProvidersDefault(env as unknown as Record<string, unknown>, "live"));
  const { env: parsed, logger } = kit;
  const app = createApp(() => {
    // Hyperdrive is the pool; this client only multiplexes one request's queries over it.
    const { db, close } = createPostgresDb(env.HYPERDRIVE.connectionString, { max: 5, fetchTypes: false });
    // The SDK dispatcher holds no connections, so one per request costs nothing.
    const dispatcher = parsed.TRIGGER_SECRET_KEY
      ? createTriggerSdkDispatcher({
          secretKey: parsed.TRIGGER_SECRET_KEY,
          apiUrl: parsed.TRIGGER_API_URL,
          timeoutMs: parsed.TRIGGER_DISPATCH_TIMEOUT_MS,
          logger,
        })
      : unconfiguredDispatcher;
    return { services: kit.services({ db, dispatcher }), release: close };
  });
  configured = { app, env };
  return configured;
}

export default {
  fetch(request, env, ctx) {
    return configure(env).app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<WorkerEnv>;
