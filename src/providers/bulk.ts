import type { CellProvider, PersonData, ProviderResult } from "./types";

// The interface of a provider that looks contacts up in batches and answers later (by webhook or
// polling). The contact flow in src/domain works through it alone, so it knows no provider by name;
// FullEnrich is one implementation (src/providers/fullenrich.ts).

/** The contact lookups a bulk contact provider answers, by the column's enrichment type. */
export type ContactField = "work_email" | "mobile_phone";

export const isContactField = (kind: string): kind is ContactField => kind === "work_email" || kind === "mobile_phone";


/** Our ids for one contact of a batch, sent in `custom` and read back from the result. */
export type ContactKey = { submissionId: string; cellId: string; runToken: string; rowId: string };

/** A finished batch, read from a webhook or a poll. */
export type BulkOutcome = {
  providerRef: string;
  /** The provider's status for the batch (FullEnrich: FINISHED, or CANCELED / CREDITS_INSUFFICIENT when it stopped early). */
  status: string;
  /** One answer per contact the result names by our ids. */
  answers: Array<{ key: ContactKey; result: ProviderResult }>;
  /** The answer for a contact of the batch the result does not mention. */
  unanswered: ProviderResult;
};

/** What the contact flow needs of a provider that enriches contacts in batches and answers later. */
export type BulkContactApi = {
  readonly maxBatch: number;
  readonly pollIntervalMs: number;
  readonly pollTimeoutMs: number;
  /** Why a row cannot be looked up at all (it is then not sent, nor charged); null when it can. */
  unfit(row: PersonData): string | null;
  /** Starts a batch; resolves with the provider's id for it. Rejects with a ProviderRequestError. */
  submit(request: { submissionId: string; label: string; field: ContactField; contacts: ReadonlyArray<{ key: ContactKey; row: PersonData }>; signal?: AbortSignal }): Promise<string>;
  /** The batch's result once it is finished (the raw body, to keep), null while it runs. */
  fetch(providerRef: string, signal?: AbortSignal): Promise<unknown | null>;
  /** The provider's id of a finished result; rejects a body that is not one with a `malformed` ProviderRequestError. */
  finishedRef(payload: unknown): string;
  /** Reads a finished result, as `finishedRef` checks it. */
  read(payload: unknown, field: ContactField): BulkOutcome;
  /** Whether a webhook call really comes from the provider, for this submission. */
  verifyWebhook(request: { submissionId: string; rawBody: string; headers: Headers; query: URLSearchParams }): Promise<boolean>;
};

export interface BulkContactProvider extends CellProvider {
  readonly bulk: BulkContactApi;
}

export function isBulkContactProvider(provider: CellProvider): provider is BulkContactProvider {
  return typeof (provider as Partial<BulkContactProvider>).bulk === "object" && (provider as BulkContactProvider).bulk !== null;
}

