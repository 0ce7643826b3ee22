import { fileURLToPath } from "node:url";
import { unstable_startWorker } from "wrangler";
import type { RequestTarget } from "./harness";

const WRANGLER_CONFIG = fileURLToPath(new URL("../../wrangler.toml", import.meta.url));

export type TestWorker = Awaited<ReturnType<typeof unstable_startWorker>>;

/**
 * The real Worker (src/worker.ts bundled by wrangler, run by workerd) with its Hyperdrive binding on
 * the given database. Local only: no inspector, no file watching, no persisted state, no metrics.
 */
export async function startTestWorker(databaseUrl: string): Promise<TestWorker> {
  const worker = await unstable_startWorker({
    config: WRANGLER_CONFIG,
    sendMetrics: false,
    // The CLI derives this from compatibility_flags; the programmatic API leaves it to the caller.
    // nodejs_compat with a 2024-09-23+ date is v2, the mode `wrangler deploy` bundles with.
    build: { nodejsCompatMode: "v2" },
    bindings: {
      HYPERDRIVE: { type: "hyperdrive", id: "00000000000000000000000000000000", localConnectionString: withPassword(databaseUrl) },
      // Quiet on success; a 500 still logs its cause.
      LOG_LEVEL: { type: "plain_text", value: "error" },
    },
    dev: {
      remote: false,
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: false,
      watch: false,
      persist: false,
      logLevel: "warn",
    },
  });
  await worker.ready;
  return worker;
}

// wrangler's local Hyperdrive refuses a connection string without a password, even under trust auth.
function withPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.password) url.password = "postgres";
  if (!url.username) url.username = "postgres";
  return url.toString();
}

/**
 * The Worker seen through the one method the harness's Client calls on an app, `request(path, init)`,
 * so tests drive it with the same Client as the in-process app.
 */
export async function workerAsApp(worker: TestWorker): Promise<RequestTarget> {
  const origin = await worker.url;
  // workerd answers with undici's Response; at run time it is the global one.
  const request = (path: string, init?: RequestInit) => worker.fetch(new URL(path, origin).toString(), init as never) as unknown as Promise<Response>;
  return { request };
}
