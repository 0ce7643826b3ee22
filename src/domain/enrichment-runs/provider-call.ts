import type { LeadLocation } from "../../db/schema";
import type { CellProvider, ProviderResult, RowData } from "../../providers/types";
import { providerColumn, type CatalogEntry } from "../catalog";
import { linkedinKey } from "../normalize";

// The one place a run item meets a provider: a lead becomes the row data providers answer for, and
// the provider's answer becomes the item's outcome.

/** A lead as the claim statement returns it (`to_jsonb` of the row). */
export type LeadJson = {
  id: string;
  type: "person" | "company";
  full_name: string | null;
  first_name: string | null;
  last_name: string | null;
  title: string | null;
  company_name: string | null;
  company_domain: string | null;
  location: LeadLocation | null;
  socials: { url: string }[] | null;
  contacts: { value: string }[] | null;
  domain: string | null;
  industry: string | null;
};

const text = (value: string | null | undefined) => (value && value.trim() ? value.trim() : null);

function locationOf(location: LeadLocation | null): string | null {
  if (!location) return null;
  return text(location.raw) ?? text([location.city, location.state, location.country].filter((part) => text(part)).join(", "));
}

export function rowDataOf(lead: LeadJson): RowData {
  if (lead.type === "company") {
    return {
      subject: "company",
      rowId: lead.id,
      name: text(lead.company_name) ?? text(lead.full_name) ?? text(lead.domain) ?? "",
      domain: text(lead.domain) ?? text(lead.company_domain),
      website: null,
      industry: text(lead.industry),
      location: locationOf(lead.location),
      description: null,
    };
  }
  return {
    subject: "person",
    rowId: lead.id,
    fullName: text(lead.full_name),
    firstName: text(lead.first_name),
    lastName: text(lead.last_name),
    role: text(lead.title),
    company: text(lead.company_name),
    domain: text(lead.company_domain) ?? text(lead.domain),
    linkedinUrl: (lead.socials ?? []).find((social) => linkedinKey(social.url)?.startsWith("linkedin.com/"))?.url ?? null,
    location: locationOf(lead.location),
    email: (lead.contacts ?? []).find((contact) => contact.value.includes("@"))?.value ?? null,
  };
}

export type ItemOutcome =
  | { status: "completed"; result: unknown; provider: string; providerSubmissionId: string | null }
  | { status: "skipped"; skippedReason: string; provider: string | null; providerSubmissionId: string | null }
  | { status: "failed"; errorMessage: string; errorDetails: unknown; provider: string | null; providerSubmissionId: string | null };

/** A provider that hangs must not hold a run forever; the item fails instead. */
export const PROVIDER_TIMEOUT_MS = 120_000;

function submissionIdOf(metadata: Record<string, unknown>): string | null {
  const id = metadata.providerSubmissionId ?? metadata.submissionId;
  return typeof id === "string" || typeof id === "number" ? String(id) : null;
}

/** What a provider's answer makes of a run item. */
export function outcomeOf(entry: CatalogEntry, answer: ProviderResult): ItemOutcome {
  const provider = answer.metadata.provider;
  const providerSubmissionId = submissionIdOf(answer.metadata);
  if (answer.outcome === "no_match") return { status: "skipped", skippedReason: "no_match", provider, providerSubmissionId };
  if (answer.outcome === "error") {
    return { status: "failed", errorMessage: answer.error, errorDetails: { retryable: answer.retryable }, provider, providerSubmissionId };
  }
  const checked = entry.output.safeParse(answer.value);
  if (!checked.success) {
    return {
      status: "failed",
      errorMessage: "The provider's answer does not fit the enrichment's output schema",
      errorDetails: { issues: checked.error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message })) },
      provider,
      providerSubmissionId,
    };
  }
  return { status: "completed", result: checked.data, provider, providerSubmissionId };
}

/** Asks the provider about one lead; never throws: every failure is a failed outcome. */
export async function enrichLead(
  provider: CellProvider,
  entry: CatalogEntry,
  input: Record<string, unknown>,
  lead: LeadJson,
): Promise<ItemOutcome> {
  try {
    const answer = await provider.enrich({
      column: providerColumn(entry, input),
      row: rowDataOf(lead),
      signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
    });
    return outcomeOf(entry, answer);
  } catch (error) {
    return {
      status: "failed",
      errorMessage: `Provider call failed: ${error instanceof Error ? error.message : String(error)}`,
      errorDetails: null,
      provider: provider.name,
      providerSubmissionId: null,
    };
  }
}
