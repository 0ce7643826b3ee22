import type { Logger } from "../services";

/**
 * Runs `work` while renewing its lease every third of the lease period, so the lease outlives a
 * slow provider call but not the process: when the process dies the renewals stop, the lease runs
 * out, and recovery hands the work to another attempt. A renewal that fails is only logged; the
 * next one may pass, and the worst outcome of a missed renewal is a duplicate attempt, which every
 * claim and write tolerates.
 */
export async function keepLeased<T>(leaseMs: number, renew: () => Promise<unknown>, logger: Logger, work: () => Promise<T>): Promise<T> {
  let renewing: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = renew()
      .catch((error: unknown) => logger.warn("lease renewal failed", { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => (renewing = null));
  }, Math.max(250, Math.floor(leaseMs / 3)));
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await renewing;
  }
}
