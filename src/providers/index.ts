import { createSandboxProviders } from "./sandbox";
import { PROVIDER_KINDS, type CellProvider, type ProviderKind, type Providers } from "./types";

export { createSandboxProviders, type SandboxOptions } from "./sandbox";
export * from "./types";

/** The environment as the entry point read it (process.env, the Worker's bindings, a parsed Env). */
export type ProviderEnv = Readonly<Record<string, unknown>>;

/**
 * The switch point between real adapters and the sandbox. Each real adapter registers a factory
 * here that reads its base URL and key from the environment and returns null when it is not
 * configured; every kind without a configured adapter is answered by the sandbox. None exists yet.
 */
const REAL_ADAPTERS: Partial<Record<ProviderKind, (env: ProviderEnv) => CellProvider | null>> = {};

export function createProviders(env: ProviderEnv): Providers {
  const sandbox = createSandboxProviders({ delayMs: sandboxDelayMs(env.SANDBOX_DELAY_MS) });
  return Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, REAL_ADAPTERS[kind]?.(env) ?? sandbox[kind]])) as Record<ProviderKind, CellProvider>;
}

/** SANDBOX_DELAY_MS: a latency for every sandbox answer, so benchmarks of the real server see provider-like waits. */
function sandboxDelayMs(raw: unknown): number {
  if (raw === undefined || raw === "") return 0;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`Invalid environment:\n  SANDBOX_DELAY_MS: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return ms;
}
