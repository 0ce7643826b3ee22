import type { Context } from "hono";
import type { AppEnv } from "./context";

// Work a request leaves running after its response (a webhook's writes, an event stream): the
// services middleware keeps the request's services (its database client, on Workers) open until it
// ends, under `waitUntil` on Workers; on Node it is tracked so a stopping server can wait for it.

const afterResponse = new WeakMap<Context<AppEnv>, Promise<void>>();
const inFlight = new Set<Promise<void>>();

/** Runs `work` after the response; a failure is logged with `failureMessage`. */
export function continueAfterResponse(c: Context<AppEnv>, failureMessage: string, work: () => Promise<void>): void {
  const running = work().catch((error: unknown) => {
    c.var.services.logger.error(failureMessage, { requestId: c.var.requestId, error: error instanceof Error ? error.message : String(error) });
  });
  inFlight.add(running);
  void running.finally(() => inFlight.delete(running));
  const earlier = afterResponse.get(c);
  afterResponse.set(c, earlier ? Promise.all([earlier, running]).then(() => undefined) : running);
}

/** What a request left running after its response, if anything. */
export const workAfterResponse = (c: Context<AppEnv>): Promise<void> | undefined => afterResponse.get(c);

/** Resolves once no work started by any request is still running (for shutdown and tests). */
export async function backgroundIdle(): Promise<void> {
  while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
}
