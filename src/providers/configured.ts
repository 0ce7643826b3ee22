import { PROVIDER_KINDS, type CellProvider, type ProviderKind, type Providers } from "./types";

// Under PROVIDERS=live a kind without a configured real adapter is not answered by the sandbox: it
// is held by an unconfigured provider that knows which settings would configure it, so columns and
// runs of that kind are refused before anything is written or charged (src/domain/provider-guard.ts).

export const UNCONFIGURED_PROVIDER = "unconfigured";

/**
 * What configures each kind, as alternatives: any one of them is enough (an alternative naming two
 * variables needs both). The company kinds count the AI web search as real, so OPENAI_API_KEY is
 * always one of their alternatives; the crawler alone is not enough for the kinds it summarises.
 */
export const PROVIDER_SETTINGS: Readonly<Record<ProviderKind, readonly string[]>> = {
  ai: ["OPENAI_API_KEY"],
  work_email: ["FULLENRICH_API_KEY"],
  mobile_phone: ["FULLENRICH_API_KEY"],
  site_crawl: ["SITE_CRAWL_ENABLED=true", "OPENAI_API_KEY"],
  website_overview: ["OPENAI_API_KEY"],
  hiring_status: ["OPENAI_API_KEY"],
  news_articles: ["NEWS_API_KEY", "OPENAI_API_KEY"],
  linkedin_posts: ["LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY", "OPENAI_API_KEY"],
};

export type MissingProvider = { kind: ProviderKind; settings: string[] };

type UnconfiguredProvider = CellProvider & { readonly unconfigured: MissingProvider };

const isUnconfigured = (provider: CellProvider): provider is UnconfiguredProvider =>
  typeof (provider as Partial<UnconfiguredProvider>).unconfigured === "object";

/** The settings as a sentence fragment: "NEWS_API_KEY or OPENAI_API_KEY". */
export function describeSettings(settings: readonly string[]): string {
  // A comma keeps "A and B, or C" from reading as "A and (B or C)".
  return settings.join(settings.some((setting) => setting.includes(" ")) ? ", or " : " or ");
}

/**
 * Holds a kind nothing is configured for. It is never meant to be asked (columns and runs of its
 * kind are refused up front); if it is, say by work queued before a restart into live mode, it
 * answers a non-retryable error, so the cell fails and is refunded: never a made-up value.
 */
export function unconfiguredCellProvider(kind: ProviderKind): CellProvider {
  const missing: MissingProvider = { kind, settings: [...PROVIDER_SETTINGS[kind]] };
  const error = `No provider is configured for ${kind}: set ${describeSettings(missing.settings)}`;
  const provider: UnconfiguredProvider = {
    name: UNCONFIGURED_PROVIDER,
    unconfigured: missing,
    async enrich({ signal }) {
      if (signal.aborted) throw signal.reason;
      return { outcome: "error", error, retryable: false, metadata: { provider: UNCONFIGURED_PROVIDER } };
    },
  };
  return provider;
}

export function unconfiguredProviders(): Record<ProviderKind, CellProvider> {
  return Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, unconfiguredCellProvider(kind)])) as Record<ProviderKind, CellProvider>;
}

/** The kind and the settings it needs when nothing real answers it under `live`; null when something does. */
export function unconfiguredProvider(providers: Providers, kind: ProviderKind): MissingProvider | null {
  const provider = providers[kind];
  return isUnconfigured(provider) ? { kind, settings: [...provider.unconfigured.settings] } : null;
}
