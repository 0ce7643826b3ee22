import { createAiColumnProvider } from "./ai-column";
import { createCompanyProviders } from "./company-adapters";
import { createFullEnrichProvider } from "./fullenrich";
import { createOpenAiClient } from "./openai";
import { createSandboxProviders } from "./sandbox";
import { PROVIDER_KINDS, type CellProvider, type ProviderKind, type Providers } from "./types";

export { createSandboxProviders, type SandboxOptions } from "./sandbox";
export * from "./types";

/** The environment as the entry point read it (process.env, the Worker's bindings, a parsed Env). */
export type ProviderEnv = Readonly<Record<string, unknown>>;

/**
 * The switch point between real adapters and the sandbox. Each real adapter reads its base URL and
 * key from the environment and is absent when not configured; every kind without a configured
 * adapter is answered by the sandbox, so everything runs on a machine with no network. One AI client
 * serves every AI-backed kind, so they share its concurrency limit.
 */
export function createProviders(env: ProviderEnv): Providers {
  const sandbox = createSandboxProviders({ delayMs: sandboxDelayMs(env.SANDBOX_DELAY_MS) });
  const ai = createOpenAiClient(env);
  // One FullEnrich client for both contact kinds, so they share its concurrency limit.
  const contacts = createFullEnrichProvider(env);
  const real: Partial<Record<ProviderKind, CellProvider>> = {
    ...(ai ? { ai: createAiColumnProvider(ai) } : {}),
    ...createCompanyProviders(env, ai),
    ...(contacts ? { work_email: contacts, mobile_phone: contacts } : {}),
  };
  return Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, real[kind] ?? sandbox[kind]])) as Record<ProviderKind, CellProvider>;
}

/** SANDBOX_DELAY_MS: a latency for every sandbox answer, so benchmarks of the real server see provider-like waits. */
function sandboxDelayMs(raw: unknown): number {
  if (raw === undefined || raw === "") return 0;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`Invalid environment:\n  SANDBOX_DELAY_MS: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return ms;
}
