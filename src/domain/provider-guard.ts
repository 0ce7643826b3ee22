import { AppError } from "../errors";
import { describeSettings, unconfiguredProvider } from "../providers/configured";
import type { ProviderKind, Providers } from "../providers/types";
import { planColumn, type ColumnSource } from "./column-kinds";

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
