import { z } from "zod";
import { domainKey } from "../domain/normalize";
import { personNames } from "./common";
import { createHttpClient, failedOutcome, ProviderRequestError, type HttpClient } from "./http";
import { type BulkContactApi, type BulkContactProvider, type BulkOutcome, type ContactField, type ContactKey } from "./bulk";
import type { CellRequest, PersonData, ProviderColumn, ProviderMetadata, ProviderResult, RowData } from "./types";

export { isBulkContactProvider, isContactField, type BulkContactApi, type BulkContactProvider, type BulkOutcome, type ContactField, type ContactKey } from "./bulk";

// FullEnrich (https://docs.fullenrich.com, API v2): work emails and mobile phones, looked up in bulk.
// A batch of at most 100 contacts is submitted with `POST /contact/enrich/bulk`, each contact carrying
// our ids in `custom`; FullEnrich answers with an `enrichment_id` and, once the batch is finished,
// POSTs the result to the batch's `webhook_url`, signed in `X-Signature-SHA1` (hex HMAC-SHA1 of the raw
// body, keyed with the API key). `GET /contact/enrich/bulk/{enrichment_id}` serves the same result
// for polling. The adapter only speaks HTTP; recording, charging and writing belong to the contact flow.

const ENRICH_FIELD: Record<ContactField, string> = { work_email: "contact.work_emails", mobile_phone: "contact.phones" };
const WHAT: Record<ContactField, string> = { work_email: "work email", mobile_phone: "mobile phone" };

const PROVIDER = "fullenrich";
export const FULLENRICH_DEFAULT_BASE_URL = "https://app.fullenrich.com/api/v2";
/** FullEnrich takes at most this many contacts per bulk enrichment. */
export const FULLENRICH_MAX_BATCH = 100;
export const SIGNATURE_HEADER = "x-signature-sha1";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const fullEnrichEnv = z.object({
  FULLENRICH_API_KEY: z.string().trim().min(1).optional(),
  FULLENRICH_BASE_URL: z.string().url().default(FULLENRICH_DEFAULT_BASE_URL),
  // Signs the webhook URLs we hand out, on top of FullEnrich's own body signature.
  FULLENRICH_WEBHOOK_SECRET: z.string().min(16, "FULLENRICH_WEBHOOK_SECRET must be at least 16 characters").optional(),
  // Where FullEnrich can reach this API; without it no webhook is asked for and results are polled.
  PUBLIC_BASE_URL: z.string().url().optional(),
  FULLENRICH_POLL_INTERVAL_MS: positiveInt(15_000),
  FULLENRICH_POLL_TIMEOUT_MS: positiveInt(30 * 60_000),
  FULLENRICH_TIMEOUT_MS: positiveInt(15_000),
  FULLENRICH_MAX_ATTEMPTS: positiveInt(3),
  FULLENRICH_CONCURRENCY: positiveInt(4),
  // FullEnrich's rate limit asks for a minute ("Try again in 1m").
  FULLENRICH_MAX_RETRY_AFTER_MS: positiveInt(60_000),
  FULLENRICH_BACKOFF_MIN_MS: positiveInt(250),
  FULLENRICH_BACKOFF_MAX_MS: positiveInt(5_000),
});

export type FullEnrichSettings = {
  apiKey: string;
  baseUrl: string;
  webhookSecret?: string;
  publicBaseUrl?: string;
  pollIntervalMs: number;
  pollTimeoutMs: number;
  timeoutMs: number;
  maxAttempts: number;
  concurrency: number;
  maxRetryAfterMs: number;
  backoff: { minMs: number; maxMs: number };
  fetch?: typeof fetch;
};

/** Keyed on the environment object, so work_email and mobile_phone share one client and one concurrency limit. */
const byEnv = new WeakMap<object, BulkContactProvider | null>();

/** The FullEnrich adapter configured from the environment; null without FULLENRICH_API_KEY. */
export function createFullEnrichProvider(env: Readonly<Record<string, unknown>>): BulkContactProvider | null {
  if (byEnv.has(env)) return byEnv.get(env)!;
  const parsed = fullEnrichEnv.safeParse(blankAsUnset(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const provider = e.FULLENRICH_API_KEY
    ? fullEnrichProvider({
        apiKey: e.FULLENRICH_API_KEY,
        baseUrl: e.FULLENRICH_BASE_URL,
        webhookSecret: e.FULLENRICH_WEBHOOK_SECRET,
        publicBaseUrl: e.PUBLIC_BASE_URL,
        pollIntervalMs: e.FULLENRICH_POLL_INTERVAL_MS,
        pollTimeoutMs: e.FULLENRICH_POLL_TIMEOUT_MS,
        timeoutMs: e.FULLENRICH_TIMEOUT_MS,
        maxAttempts: e.FULLENRICH_MAX_ATTEMPTS,
        concurrency: e.FULLENRICH_CONCURRENCY,
        maxRetryAfterMs: e.FULLENRICH_MAX_RETRY_AFTER_MS,
        backoff: { minMs: e.FULLENRICH_BACKOFF_MIN_MS, maxMs: e.FULLENRICH_BACKOFF_MAX_MS },
      })
    : null;
  byEnv.set(env, provider);
  return provider;
}

/** Only the variables read here: an empty string counts as not set (as in a .env file left blank). */
function blankAsUnset(env: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(fullEnrichEnv.shape).map((key) => [key, env[key] === "" ? undefined : env[key]]));
}

// ---- the wire format ----

const emailSchema = z.object({ email: z.string().nullish(), status: z.string().nullish() });
const phoneSchema = z.object({ number: z.string().nullish(), region: z.string().nullish() });

const recordSchema = z.object({
  custom: z.record(z.string(), z.unknown()).nullish(),
  contact_info: z
    .object({
      most_probable_work_email: emailSchema.nullish(),
      work_emails: z.array(emailSchema).nullish(),
      most_probable_phone: phoneSchema.nullish(),
      phones: z.array(phoneSchema).nullish(),
    })
    .nullish(),
});

const RUNNING = ["CREATED", "IN_PROGRESS", "RATE_LIMIT", "UNKNOWN"] as const;
const STOPPED = ["CANCELED", "CREDITS_INSUFFICIENT"] as const;

const resultSchema = z.object({
  id: z.string().min(1),
  status: z.enum([...RUNNING, ...STOPPED, "FINISHED"]),
  data: z.array(recordSchema).nullish(),
  cost: z.object({ credits: z.number().nullish() }).nullish(),
});

const submitAnswerSchema = z.object({ enrichment_id: z.string().min(1) });
const errorSchema = z.object({ code: z.string(), message: z.string().optional() });

type FullEnrichResult = z.infer<typeof resultSchema>;
type FullEnrichRecord = z.infer<typeof recordSchema>;

/** Emails FullEnrich marks as not worth sending to. */
const UNUSABLE_EMAIL = new Set(["INVALID", "INVALID_DOMAIN"]);

const malformed = (what: string, status = 200) => new ProviderRequestError(`${PROVIDER} answered with ${what}`, "malformed", false, status);

export function parseResult(payload: unknown): FullEnrichResult {
  const parsed = resultSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw malformed(`an enrichment result that does not follow its format (${issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "invalid"})`);
  }
  return parsed.data;
}

const isRunning = (status: string) => (RUNNING as readonly string[]).includes(status);

function keyOf(record: FullEnrichRecord): ContactKey | null {
  const custom = record.custom ?? {};
  const [submissionId, cellId, runToken, rowId] = [custom.submission_id, custom.cell_id, custom.run_token, custom.row_id];
  if (typeof submissionId !== "string" || typeof cellId !== "string" || typeof runToken !== "string" || typeof rowId !== "string") return null;
  return { submissionId, cellId, runToken, rowId };
}

function answerOf(record: FullEnrichRecord, field: ContactField, meta: ProviderMetadata): ProviderResult | null {
  const info = record.contact_info ?? {};
  if (field === "work_email") {
    const usable = [info.most_probable_work_email, ...(info.work_emails ?? [])].find(
      (candidate) => candidate?.email && !UNUSABLE_EMAIL.has(candidate.status ?? ""),
    );
    return usable ? { outcome: "value", value: usable.email!.trim(), metadata: { ...meta, emailStatus: usable.status ?? null } } : null;
  }
  const phone = [info.most_probable_phone, ...(info.phones ?? [])].find((candidate) => candidate?.number);
  return phone ? { outcome: "value", value: phone.number!.trim(), metadata: { ...meta, region: phone.region ?? null } } : null;
}

function finishedResult(payload: unknown): FullEnrichResult {
  const result = parseResult(payload);
  if (isRunning(result.status)) throw malformed(`an unfinished enrichment (${result.status}) where a finished one was expected`);
  return result;
}

export function readOutcome(payload: unknown, field: ContactField): BulkOutcome {
  const result = finishedResult(payload);
  const meta: ProviderMetadata = { provider: PROVIDER, enrichmentId: result.id };
  const stopped = result.status !== "FINISHED";
  const missing: ProviderResult = stopped
    ? { outcome: "error", error: `${PROVIDER} stopped the enrichment before finding this contact (${result.status})`, retryable: false, metadata: { ...meta, status: result.status } }
    : { outcome: "no_match", reason: `${PROVIDER} found no ${WHAT[field]} for this person`, metadata: meta };
  const answers: BulkOutcome["answers"] = [];
  for (const record of result.data ?? []) {
    const key = keyOf(record);
    if (!key) continue;
    answers.push({ key, result: answerOf(record, field, meta) ?? missing });
  }
  return { providerRef: result.id, status: result.status, answers, unanswered: missing };
}

// ---- the adapter ----

/** First and last name as FullEnrich wants them, from the split names or the full name. */
function contactOf(row: PersonData, field: ContactField, key: ContactKey) {
  const { first, last } = personNames(row);
  const contact: Record<string, unknown> = {};
  if (first) contact.first_name = first;
  if (last) contact.last_name = last;
  const domain = domainKey(row.domain);
  if (domain) contact.domain = domain;
  if (row.company?.trim()) contact.company_name = row.company.trim();
  if (row.linkedinUrl?.trim()) contact.linkedin_url = row.linkedinUrl.trim();
  contact.enrich_fields = [ENRICH_FIELD[field]];
  // FullEnrich takes string values only in `custom`.
  contact.custom = { submission_id: key.submissionId, cell_id: key.cellId, run_token: key.runToken, row_id: key.rowId };
  return contact;
}

async function hmacHex(algorithm: "SHA-1" | "SHA-256", secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: algorithm }, false, ["sign"]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return Array.from(signature, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Compares in time independent of where the strings differ (their length is not secret). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** The `sig` query parameter of a submission's webhook URL: binds the URL to the submission. */
export const webhookUrlSignature = (secret: string, submissionId: string) => hmacHex("SHA-256", secret, `fullenrich-webhook:${submissionId}`);

/** FullEnrich's `X-Signature-SHA1` of a webhook body. */
export const webhookBodySignature = (apiKey: string, rawBody: string) => hmacHex("SHA-1", apiKey, rawBody);

export function fullEnrichProvider(settings: FullEnrichSettings): BulkContactProvider {
  const http: HttpClient = createHttpClient({
    provider: PROVIDER,
    baseUrl: settings.baseUrl,
    headers: { authorization: `Bearer ${settings.apiKey}` },
    timeoutMs: settings.timeoutMs,
    maxAttempts: settings.maxAttempts,
    backoff: settings.backoff,
    maxRetryAfterMs: settings.maxRetryAfterMs,
    concurrency: settings.concurrency,
    fetch: settings.fetch,
  });

  async function webhookUrl(submissionId: string): Promise<string | undefined> {
    if (!settings.publicBaseUrl) return undefined;
    const url = new URL(`webhooks/fullenrich/${submissionId}`, settings.publicBaseUrl.endsWith("/") ? settings.publicBaseUrl : `${settings.publicBaseUrl}/`);
    if (settings.webhookSecret) url.searchParams.set("sig", await webhookUrlSignature(settings.webhookSecret, submissionId));
    return url.toString();
  }

  async function submitBatch({ submissionId, label, field, contacts, signal }: Parameters<BulkContactApi["submit"]>[0], options: { webhook: boolean }): Promise<string> {
    if (contacts.length === 0 || contacts.length > FULLENRICH_MAX_BATCH) {
      throw new Error(`a FullEnrich batch holds 1 to ${FULLENRICH_MAX_BATCH} contacts, got ${contacts.length}`);
    }
    const callback = options.webhook ? await webhookUrl(submissionId) : undefined;
    const { body } = await http.json<unknown>("POST", "contact/enrich/bulk", {
      body: {
        name: label,
        ...(callback ? { webhook_url: callback } : {}),
        data: contacts.map(({ key, row }) => contactOf(row, field, key)),
      },
      signal,
    });
    const answer = submitAnswerSchema.safeParse(body);
    if (!answer.success) throw malformed("a bulk enrichment answer without an enrichment_id");
    return answer.data.enrichment_id;
  }

  const bulk: BulkContactApi = {
    maxBatch: FULLENRICH_MAX_BATCH,
    pollIntervalMs: settings.pollIntervalMs,
    pollTimeoutMs: settings.pollTimeoutMs,

    unfit(row) {
      const { first, last } = personNames(row);
      if (row.linkedinUrl?.trim()) return null;
      if (first && last && (domainKey(row.domain) || row.company?.trim())) return null;
      return "Not enough to look this person up: needs a first and last name with a company or domain, or a LinkedIn URL";
    },

    submit: (request) => submitBatch(request, { webhook: true }),

    async fetch(providerRef, signal) {
      // 400 error.enrichment.in_progress: not finished yet; 402 carries a result stopped for lack of credits.
      const res = await http.request("GET", `contact/enrich/bulk/${encodeURIComponent(providerRef)}`, { signal, accept: [400, 402] });
      const body = res.json<unknown>();
      if (res.status === 400) {
        const error = errorSchema.safeParse(body);
        if (error.success && error.data.code === "error.enrichment.in_progress") return null;
        throw new ProviderRequestError(`${PROVIDER} answered 400: ${res.text.slice(0, 200)}`, "http", false, 400);
      }
      const result = parseResult(body);
      return isRunning(result.status) ? null : body;
    },

    finishedRef: (payload) => finishedResult(payload).id,
    read: readOutcome,

    async verifyWebhook({ submissionId, rawBody, headers, query }) {
      const given = headers.get(SIGNATURE_HEADER)?.trim().toLowerCase() ?? "";
      if (!constantTimeEqual(await webhookBodySignature(settings.apiKey, rawBody), given)) return false;
      if (!settings.webhookSecret) return true;
      return constantTimeEqual(await webhookUrlSignature(settings.webhookSecret, submissionId), query.get("sig") ?? "");
    },
  };

  /** Outside a column task (no database): submit, then poll until every batch has finished. */
  async function enrichMany({ column, rows, signal }: { column: ProviderColumn; rows: readonly RowData[]; signal: AbortSignal }): Promise<ProviderResult[]> {
    const field = contactFieldOf(column);
    const results: ProviderResult[] = new Array(rows.length);
    const sendable: Array<{ index: number; row: PersonData }> = [];
    rows.forEach((row, index) => {
      if (!field || row.subject !== "person") {
        results[index] = { outcome: "no_match", reason: `${PROVIDER} looks up work emails and mobile phones of people only`, metadata: { provider: PROVIDER } };
        return;
      }
      const reason = bulk.unfit(row);
      if (reason) results[index] = { outcome: "no_match", reason, metadata: { provider: PROVIDER } };
      else sendable.push({ index, row });
    });
    for (let start = 0; start < sendable.length; start += FULLENRICH_MAX_BATCH) {
      const batch = sendable.slice(start, start + FULLENRICH_MAX_BATCH);
      const submissionId = crypto.randomUUID();
      const keyed = batch.map(({ index, row }) => ({ index, key: { submissionId, cellId: String(index), runToken: String(index), rowId: row.rowId }, row }));
      let outcome: BulkOutcome;
      try {
        // No webhook: nothing of ours records this batch, so only polling can collect it.
        const ref = await submitBatch({ submissionId, label: `${column.name} (${submissionId})`, field: field!, contacts: keyed, signal }, { webhook: false });
        outcome = bulk.read(await pollUntilFinished(ref, signal), field!);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const failure = failedOutcome(error, { provider: PROVIDER });
        for (const { index } of batch) results[index] = failure;
        continue;
      }
      const byToken = new Map(outcome.answers.filter((a) => a.key.submissionId === submissionId).map((a) => [a.key.runToken, a.result]));
      for (const { index, key } of keyed) results[index] = byToken.get(key.runToken) ?? outcome.unanswered;
    }
    return results;
  }

  async function pollUntilFinished(ref: string, signal: AbortSignal): Promise<unknown> {
    const deadline = Date.now() + settings.pollTimeoutMs;
    for (;;) {
      await sleep(settings.pollIntervalMs, signal);
      const finished = await bulk.fetch(ref, signal);
      if (finished !== null) return finished;
      if (Date.now() >= deadline) throw new ProviderRequestError(`${PROVIDER} did not finish enrichment ${ref} within ${settings.pollTimeoutMs} ms`, "timeout", false);
    }
  }

  return {
    name: PROVIDER,
    bulk,
    enrichMany,
    unfit: ({ row }) => (row.subject === "person" ? bulk.unfit(row) : `${PROVIDER} looks up work emails and mobile phones of people only`),
    async enrich(request: CellRequest) {
      const [result] = await enrichMany({ column: request.column, rows: [request.row], signal: request.signal });
      return result!;
    },
  };
}

function contactFieldOf(column: ProviderColumn & { enrichmentType?: string | null }): ContactField | null {
  const type = column.enrichmentType ?? (column.schema?.type === "phone" ? "mobile_phone" : column.schema?.type === "email" ? "work_email" : null);
  return type === "work_email" || type === "mobile_phone" ? type : null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
