import type { ColumnSchema } from "../db/schema";
import { ENRICHMENT_TYPES, type ColumnSource, type EnrichmentType, type Subject } from "../domain/column-kinds";

// One small interface every enrichment provider implements, real adapter or sandbox. A provider
// answers for one cell at a time; it never touches the database (the task runner owns claiming,
// charging and writing), so an adapter is only about talking to its upstream API.

/** What fills a column: AI prompt columns share one provider; each typed enrichment has its own. */
export const PROVIDER_KINDS = ["ai", ...ENRICHMENT_TYPES] as const;
export type ProviderKind = "ai" | EnrichmentType;

/** The parts of a column a provider needs to answer. */
export type ProviderColumn = {
  id: string;
  name: string;
  prompt: string | null;
  source: ColumnSource;
  subject: Subject;
  schema: ColumnSchema | null;
  config: Record<string, unknown>;
  /** The other columns its prompt names (`{{Name}}`): name key → column id; their values come with the row. */
  refs?: ReadonlyArray<{ name: string; columnId: string }>;
};

export type PersonData = {
  subject: "person";
  rowId: string;
  fullName: string | null;
  firstName: string | null;
  lastName: string | null;
  role: string | null;
  company: string | null;
  domain: string | null;
  linkedinUrl: string | null;
  location: string | null;
  email: string | null;
  /** The row's cells in the columns the prompt names, by column id. */
  referenced?: Record<string, unknown>;
};

export type CompanyData = {
  subject: "company";
  rowId: string;
  name: string;
  domain: string | null;
  website: string | null;
  industry: string | null;
  location: string | null;
  description: string | null;
  /** The row's cells in the columns the prompt names, by column id. */
  referenced?: Record<string, unknown>;
};

/** The row a cell belongs to, as stored: a person row or a company row, by the column's subject. */
export type RowData = PersonData | CompanyData;

/** Always names the provider that answered, so a stored cell says where its value came from. */
export type ProviderMetadata = { provider: string } & Record<string, unknown>;

export type ProviderResult =
  | {
      outcome: "value";
      value: unknown;
      reasoning?: string;
      /** The pages the value comes from; on a web answer, the pages it cites (returned on every view of the cell). */
      sources?: string[];
      /** Titles of `sources` by URL, where the provider named the page. */
      sourceTitles?: Record<string, string>;
      metadata: ProviderMetadata;
    }
  /** The provider looked and found nothing: the cell completes empty and its credits are returned. */
  | { outcome: "no_match"; reason: string; metadata: ProviderMetadata }
  /** `retryable`: a transient failure (rate limit, timeout) worth asking again for. */
  | { outcome: "error"; error: string; retryable: boolean; metadata: ProviderMetadata };

export type CellRequest = { column: ProviderColumn; row: RowData; signal: AbortSignal };

export interface CellProvider {
  /** Goes into `metadata.provider`. */
  readonly name: string;
  /**
   * Answers for one row. Rejects only when `signal` is aborted (with the signal's reason); every
   * upstream failure is an `error` outcome.
   */
  enrich(request: CellRequest): Promise<ProviderResult>;
  /**
   * Why the row cannot be looked up by this provider at all (missing inputs), without asking it;
   * null when it can. A waterfall records such a row `skipped` for the provider and moves on.
   * Optional: without it every row is asked.
   */
  unfit?(request: { column: ProviderColumn; row: RowData }): string | null;
  /**
   * For bulk upstream APIs (a contact provider taking a batch and answering by webhook or polling):
   * one answer per row, in the order of `rows`. Optional; without it rows are asked one by one.
   */
  enrichMany?(request: { column: ProviderColumn; rows: readonly RowData[]; signal: AbortSignal }): Promise<ProviderResult[]>;
}

export type Providers = Readonly<Record<ProviderKind, CellProvider>>;
