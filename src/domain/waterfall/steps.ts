import { z } from "zod";
import { AppError } from "../../errors";
import { isContactField, type ContactField } from "../../providers/bulk";
import { CONTACT_SOURCE_IDS, CONTACT_SOURCES, supportsField, type ContactSourceId } from "../../providers/contact-sources";
import { describeSettings } from "../../providers/configured";
import type { CellProvider } from "../../providers/types";
import type { Services } from "../../services";

// A waterfall as a column or run stores it (`config.providers`, ids in the order they are tried),
// and as the runner works through it: each step a configured adapter with the price of its match.

export const MAX_WATERFALL_STEPS = CONTACT_SOURCE_IDS.length;

/** `config.providers` as the API takes it: distinct known ids, tried in the order given. */
export const waterfallProviders = z
  .array(z.enum(CONTACT_SOURCE_IDS))
  .min(1, "providers must name at least one provider")
  .max(MAX_WATERFALL_STEPS)
  .refine((ids) => new Set(ids).size === ids.length, "providers must not name a provider twice");

/** The issues of `providers` for an enrichment of `enrichmentType` (none when it fits), as zod custom issues at `path`. */
export function waterfallIssues(enrichmentType: string | null | undefined, providers: readonly ContactSourceId[], path: Array<string | number>): Array<{ path: Array<string | number>; message: string }> {
  if (!enrichmentType || !isContactField(enrichmentType)) {
    return [{ path, message: "providers is a waterfall of contact providers: only work_email and mobile_phone take it" }];
  }
  return providers.flatMap((id, index) =>
    supportsField(id, enrichmentType) ? [] : [{ path: [...path, index], message: `${id} does not look up ${enrichmentType}` }],
  );
}

export type WaterfallStep = { id: ContactSourceId; provider: CellProvider; creditAction: string; price: number };

/** The stored `config.providers` of a column or run, or null when it has no waterfall. */
export function waterfallOf(config: Record<string, unknown> | null | undefined): ContactSourceId[] | null {
  const parsed = waterfallProviders.safeParse(config?.providers);
  return parsed.success ? parsed.data : null;
}

/**
 * The steps of a waterfall, each provider configured; 400 PROVIDER_NOT_CONFIGURED naming the first
 * that is not (and what would configure it), before anything is written or charged.
 */
export function waterfallSteps(services: Pick<Services, "contactSources" | "prices">, field: ContactField, ids: readonly ContactSourceId[]): WaterfallStep[] {
  return ids.map((id) => {
    const provider = services.contactSources[id]?.[field];
    if (!provider) {
      const settings = [...CONTACT_SOURCES[id].settings];
      throw new AppError("PROVIDER_NOT_CONFIGURED", `The waterfall names ${id}, which is not configured: set ${describeSettings(settings)}`, {
        extra: { kind: field, provider: id, settings },
      });
    }
    const creditAction = CONTACT_SOURCES[id].actions[field]!;
    return { id, provider, creditAction, price: services.prices.costOf(creditAction) ?? 0 };
  });
}

/**
 * What the credit gate asks per row of a waterfall column when it is queued: the cheapest match,
 * the least a row that matches can cost (each row is charged in the task, for the provider that
 * matched). Null for a column without a waterfall.
 */
export function waterfallGatePrice(
  services: Pick<Services, "contactSources" | "prices">,
  column: { enrichmentType?: string | null; config?: Record<string, unknown> | null },
): number | null {
  const ids = waterfallOf(column.config);
  if (!ids || !column.enrichmentType || !isContactField(column.enrichmentType)) return null;
  return Math.min(...waterfallSteps(services, column.enrichmentType, ids).map((step) => step.price));
}

/**
 * A stored waterfall's steps as this process configures them, or why it cannot run here (a
 * provider it names is not configured, say after a restart without its key): for a task, whose
 * work then fails with that reason instead of being retried.
 */
export function configuredWaterfall(services: Pick<Services, "contactSources" | "prices">, field: ContactField, ids: readonly ContactSourceId[]): { steps: WaterfallStep[] } | { error: string } {
  try {
    return { steps: waterfallSteps(services, field, ids) };
  } catch (error) {
    if (error instanceof AppError) return { error: `${error.code}: ${error.message}` };
    throw error;
  }
}
