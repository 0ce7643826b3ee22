import { AppError } from "../errors";
import { describeSettings, unconfiguredProvider } from "../providers/configured";
import { isContactField } from "../providers/bulk";
import type { ProviderKind, Providers } from "../providers/types";
import type { Services } from "../services";
import { planColumn, type ColumnSource } from "./column-kinds";
import { waterfallOf, waterfallSteps } from "./waterfall/steps";

// Under PROVIDERS=live a column or run whose provider is not configured is refused before anything
// is written or charged, rather than answered with made-up values (spec section 10).

/** Which provider fills a column: "ai" for AI columns, the enrichment type for typed ones, none for static ones. */
export function providerKindOf(column: { enrichmentType?: string | null; source?: string | null }): ProviderKind | null {
  // The subject only prices a column; it never changes what fills it.
  const plan = planColumn({ enrichmentType: column.enrichmentType ?? null, source: (column.source ?? "profile") as ColumnSource, subject: "person" });
  return plan.kind === "ai" ? "ai" : plan.kind === "typed" ? plan.enrichmentType : null;
}

/** 400 PROVIDER_NOT_CONFIGURED when nothing real answers `kind`; a column with no provider (null) always passes. */
export function requireConfiguredProvider(providers: Providers, kind: ProviderKind | null): void {
  if (kind === null) return;
  const missing = unconfiguredProvider(providers, kind);
  if (!missing) return;
  throw new AppError(
    "PROVIDER_NOT_CONFIGURED",
    `No provider is configured for ${kind}: set ${describeSettings(missing.settings)} (or PROVIDERS=sandbox for offline sandbox answers)`,
    { extra: { kind, settings: missing.settings } },
  );
}

/**
 * A column's providers are configured: each of its waterfall's (`config.providers`), or else the
 * one provider of its kind. 400 PROVIDER_NOT_CONFIGURED otherwise.
 */
export function requireColumnProviders(
  services: Pick<Services, "providers" | "contactSources" | "prices">,
  column: { enrichmentType?: string | null; source?: string | null; config?: Record<string, unknown> | null },
): void {
  const waterfall = waterfallOf(column.config);
  if (waterfall && column.enrichmentType && isContactField(column.enrichmentType)) {
    waterfallSteps(services, column.enrichmentType, waterfall);
    return;
  }
  requireConfiguredProvider(services.providers, providerKindOf(column));
}
