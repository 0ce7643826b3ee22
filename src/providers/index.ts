import { createAiColumnProvider } from "./ai-column";
import { createCompanyProviders } from "./company-adapters";
import { unconfiguredProviders } from "./configured";
import { createContactSources, type ContactSources } from "./contact-sources";
import { createFullEnrichProvider } from "./fullenrich";
import { createOpenAiClient } from "./openai";
import { createSandboxProviders } from "./sandbox";
import { PROVIDER_KINDS, type CellProvider, type ProviderKind, type Providers } from "./types";

export { createSandboxProviders, type SandboxOptions } from "./sandbox";
export { describeSettings, PROVIDER_SETTINGS, unconfiguredProvider, type MissingProvider } from "./configured";
export * from "./types";

/** The environment as the entry point read it (process.env, the Worker's bindings, a parsed Env). */
export type ProviderEnv = Readonly<Record<string, unknown>>;

/**
 * PROVIDERS: `sandbox` answers every kind without a configured real adapter offline; `live` uses
 * only configured real adapters, so nothing is ever made up where a caller pays for real data.
 */
export const PROVIDERS_MODES = ["sandbox", "live"] as const;
export type ProvidersMode = (typeof PROVIDERS_MODES)[number];

/** PROVIDERS as set; unset or blank is `sandbox` (the local modes), anything else unknown is refused. */
export function providersMode(raw: unknown): ProvidersMode {
  if (raw === undefined || raw === "") return "sandbox";
  if ((PROVIDERS_MODES as readonly unknown[]).includes(raw)) return raw as ProvidersMode;
  throw new Error(`Invalid environment:\n  PROVIDERS: expected "sandbox" or "live", got ${JSON.stringify(raw)}`);
}

/**
 * The environment with PROVIDERS defaulting to `mode` where it is unset or blank: the Worker and
 * the Trigger.dev tasks are deployments, which default to `live` rather than to the sandbox.
 */
export function withProvidersDefault<T extends ProviderEnv>(env: T, mode: ProvidersMode): T & { PROVIDERS: unknown } {
  return { ...env, PROVIDERS: env.PROVIDERS === undefined || env.PROVIDERS === "" ? mode : env.PROVIDERS };
}

/**
 * The switch point between real adapters and the sandbox. Each real adapter reads its base URL and
 * key from the environment and is absent when not configured; every kind without a configured
 * adapter is answered by the sandbox under PROVIDERS=sandbox, so everything runs on a machine with
 * no network, and held by an unconfigured provider under PROVIDERS=live (its columns and runs are
 * refused). One AI client serves every AI-backed kind, so they share its concurrency limit.
 */
export function createProviders(env: ProviderEnv): Providers {
  const mode = providersMode(env.PROVIDERS);
  // Validated in both modes, so a typo is found before the mode is switched.
  const delayMs = sandboxDelayMs(env.SANDBOX_DELAY_MS);
  const fallback = mode === "sandbox" ? createSandboxProviders({ delayMs }) : unconfiguredProviders();
  const ai = createOpenAiClient(env);
  // One FullEnrich client for both contact kinds, so they share its concurrency limit.
  const contacts = createFullEnrichProvider(env);
  const real: Partial<Record<ProviderKind, CellProvider>> = {
    ...(ai ? { ai: createAiColumnProvider(ai) } : {}),
    ...createCompanyProviders(env, ai),
    ...(contacts ? { work_email: contacts, mobile_phone: contacts } : {}),
  };
  return Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, real[kind] ?? fallback[kind]])) as Record<ProviderKind, CellProvider>;
}

/** The providers a contact waterfall may name, as this environment configures them (the sandbox only under PROVIDERS=sandbox). */
export function createWaterfallSources(env: ProviderEnv): ContactSources {
  return createContactSources(env, { sandbox: providersMode(env.PROVIDERS) === "sandbox", sandboxDelayMs: sandboxDelayMs(env.SANDBOX_DELAY_MS) });
}

/** SANDBOX_DELAY_MS: a latency for every sandbox answer, so benchmarks of the real server see provider-like waits. */
function sandboxDelayMs(raw: unknown): number {
  if (raw === undefined || raw === "") return 0;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`Invalid environment:\n  SANDBOX_DELAY_MS: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return ms;
}
