import { personRow as person } from "./helpers/provider-rows";
import { createHmac } from "node:crypto";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  createFullEnrichProvider,
  fullEnrichProvider,
  type ContactKey,
  type FullEnrichSettings,
} from "../src/providers/fullenrich";
import { ProviderRequestError } from "../src/providers/http";
import type { PersonData, ProviderColumn } from "../src/providers/types";
import { defaultDirectory, signBody, startFakeFullEnrich } from "./helpers/fake-fullenrich";

// The FullEnrich adapter against a fake of FullEnrich's API v2 on 127.0.0.1: the wire format of a
// bulk submission, results read from polls and webhooks, and the error mapping under 429, 500,
// timeouts and malformed answers. No database: the adapter never touches one.

const API_KEY = "fe_test_4f9a0c2b7d";
const SECRET = "webhook-secret-0123456789abcdef";
const PUBLIC = "https://api.example.test";

const fake = await startFakeFullEnrich({ apiKey: API_KEY });
afterAll(() => fake.close());
beforeEach(async () => {
  await fake.idle();
  fake.http.requests.length = 0;
  fake.faults.length = 0;
  fake.enrichments.clear();
  Object.assign(fake.options, { finishAfterMs: 0, deliverWebhooks: false, finalStatus: "FINISHED", inProgressAs: 400, directory: defaultDirectory });
});

function adapter(overrides: Partial<FullEnrichSettings> = {}) {
  return fullEnrichProvider({
    apiKey: API_KEY,
    baseUrl: fake.url,
    publicBaseUrl: PUBLIC,
    webhookSecret: SECRET,
    pollIntervalMs: 10,
    pollTimeoutMs: 2_000,
    timeoutMs: 300,
    maxAttempts: 3,
    concurrency: 4,
    maxRetryAfterMs: 5_000,
    backoff: { minMs: 5, maxMs: 20 },
    ...overrides,
  });
}


const column = (enrichmentType: "work_email" | "mobile_phone"): ProviderColumn & { enrichmentType: string } => ({
  id: crypto.randomUUID(),
  name: enrichmentType === "work_email" ? "Work email" : "Mobile",
  prompt: null,
  source: "profile",
  subject: "person",
  schema: { type: enrichmentType === "work_email" ? "email" : "phone" },
  config: {},
  enrichmentType,
});

const keyFor = (submissionId: string, row: PersonData): ContactKey => ({ submissionId, cellId: crypto.randomUUID(), runToken: crypto.randomUUID(), rowId: row.rowId });
const custom = (key: ContactKey) => ({ submission_id: key.submissionId, cell_id: key.cellId, run_token: key.runToken, row_id: key.rowId });
const urlSig = (submissionId: string) => createHmac("sha256", SECRET).update(`fullenrich-webhook:${submissionId}`).digest("hex");
const signal = new AbortController().signal;

async function rejection(promise: Promise<unknown>): Promise<ProviderRequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProviderRequestError) return error;
    throw error;
  }
  throw new Error("expected a rejection");
}

describe("submitting a bulk enrichment", () => {
  it("posts the documented body: names, domain, company, LinkedIn URL, enrich_fields, our ids in custom, a signed webhook URL", async () => {
    const submissionId = crypto.randomUUID();
    const ada = person();
    const jose = person({ firstName: null, lastName: null, fullName: "José Álvarez Núñez", domain: "https://www.Example.ES/about", company: null, linkedinUrl: "https://www.linkedin.com/in/jose" });
    const keys = [keyFor(submissionId, ada), keyFor(submissionId, jose)];

    const ref = await adapter().bulk.submit({ submissionId, label: "Work email (batch 1)", field: "work_email", contacts: [{ key: keys[0]!, row: ada }, { key: keys[1]!, row: jose }] });

    expect(fake.submitted().map((e) => e.id)).toEqual([ref]);
    const [request] = fake.apiRequests("submit");
    expect([request!.method, request!.path, request!.headers.authorization, request!.headers["content-type"]]).toEqual([
      "POST",
      "/api/v2/contact/enrich/bulk",
      `Bearer ${API_KEY}`,
      "application/json",
    ]);
    expect(request!.body).toEqual({
      name: "Work email (batch 1)",
      webhook_url: `${PUBLIC}/webhooks/fullenrich/${submissionId}?sig=${urlSig(submissionId)}`,
      data: [
        { first_name: "Ada", last_name: "Lovelace", domain: "analytical.io", company_name: "Analytical Engines", enrich_fields: ["contact.work_emails"], custom: custom(keys[0]!) },
        { first_name: "José", last_name: "Álvarez Núñez", domain: "example.es", linkedin_url: "https://www.linkedin.com/in/jose", enrich_fields: ["contact.work_emails"], custom: custom(keys[1]!) },
      ],
    });
  });

  it("asks for phones on mobile_phone, and for no webhook without a public base URL", async () => {
    const submissionId = crypto.randomUUID();
    const row = person();
    const key = keyFor(submissionId, row);

    await adapter({ publicBaseUrl: undefined }).bulk.submit({ submissionId, label: "Mobile", field: "mobile_phone", contacts: [{ key, row }] });

    expect(fake.apiRequests("submit").map((r) => r.body)).toEqual([
      { name: "Mobile", data: [{ first_name: "Ada", last_name: "Lovelace", domain: "analytical.io", company_name: "Analytical Engines", enrich_fields: ["contact.phones"], custom: custom(key) }] },
    ]);
  });

  it("builds an unsigned webhook URL on the public base URL's path when no webhook secret is set", async () => {
    const submissionId = crypto.randomUUID();
    const row = person();
    await adapter({ webhookSecret: undefined, publicBaseUrl: "https://example.test/enrich" }).bulk.submit({
      submissionId,
      label: "x",
      field: "work_email",
      contacts: [{ key: keyFor(submissionId, row), row }],
    });
    expect((fake.apiRequests("submit")[0]!.body as { webhook_url: string }).webhook_url).toBe(`https://example.test/enrich/webhooks/fullenrich/${submissionId}`);
  });

  it("refuses a batch of more than 100 contacts before calling FullEnrich", async () => {
    const submissionId = crypto.randomUUID();
    const contacts = Array.from({ length: 101 }, () => {
      const row = person();
      return { key: keyFor(submissionId, row), row };
    });
    await expect(adapter().bulk.submit({ submissionId, label: "x", field: "work_email", contacts })).rejects.toThrow("a FullEnrich batch holds 1 to 100 contacts, got 101");
    expect(fake.apiRequests()).toEqual([]);
  });

  it("tells which rows cannot be looked up: no LinkedIn URL and no full name with a company or domain", () => {
    const { unfit } = adapter().bulk;
    const reason = "Not enough to look this person up: needs a first and last name with a company or domain, or a LinkedIn URL";
    expect([
      unfit(person()),
      unfit(person({ firstName: null, lastName: null, fullName: "Grace Hopper" })),
      unfit(person({ domain: null })),
      unfit(person({ firstName: null, lastName: null, fullName: null, linkedinUrl: "https://linkedin.com/in/x" })),
      unfit(person({ lastName: null, fullName: "Ada" })),
      unfit(person({ domain: null, company: " " })),
      unfit(person({ firstName: null, lastName: null, fullName: null })),
    ]).toEqual([null, null, null, null, reason, reason, reason]);
  });
});

describe("enrichMany: submit, then poll (outside column tasks)", () => {
  it("sends 250 rows as three submissions of at most 100 and answers each row in order", async () => {
    // Every fifth person has no work email to be found.
    fake.options.directory = (contact) => (contact.last_name!.endsWith("0") || contact.last_name!.endsWith("5") ? {} : defaultDirectory(contact));
    const rows = Array.from({ length: 250 }, (_, i) => person({ firstName: "Ada", lastName: `Person${i}`, fullName: `Ada Person${i}`, domain: `company${i % 7}.com` }));

    const results = await adapter().enrichMany!({ column: column("work_email"), rows, signal });

    expect(fake.submitted().map((e) => e.contacts.length)).toEqual([100, 100, 50]);
    // Nothing of ours records these batches, so no webhook is asked for: they are polled.
    expect(fake.submitted().map((e) => e.webhookUrl)).toEqual([null, null, null]);
    const sentRowIds = fake.submitted().flatMap((e) => e.contacts.map((c) => c.custom!.row_id));
    expect(sentRowIds).toEqual(rows.map((r) => r.rowId));
    expect(results).toEqual(
      rows.map((row, i) => {
        const enrichmentId = fake.submitted()[Math.floor(i / 100)]!.id;
        return i % 5 === 0
          ? { outcome: "no_match", reason: "fullenrich found no work email for this person", metadata: { provider: "fullenrich", enrichmentId } }
          : { outcome: "value", value: `ada.person${i}@${row.domain}`, metadata: { provider: "fullenrich", enrichmentId, emailStatus: "DELIVERABLE" } };
      }),
    );
  });

  it("answers rows it cannot look up with no match, without sending them", async () => {
    const rows = [person({ firstName: null, lastName: null, fullName: null }), person({ linkedinUrl: "https://www.linkedin.com/in/ada" })];

    const results = await adapter().enrichMany!({ column: column("mobile_phone"), rows, signal });

    expect(fake.submitted().map((e) => e.contacts.map((c) => c.custom!.row_id))).toEqual([[rows[1]!.rowId]]);
    expect(results).toEqual([
      { outcome: "no_match", reason: "Not enough to look this person up: needs a first and last name with a company or domain, or a LinkedIn URL", metadata: { provider: "fullenrich" } },
      { outcome: "value", value: "+33 6 12 34 56 78", metadata: { provider: "fullenrich", enrichmentId: fake.submitted()[0]!.id, region: "FR" } },
    ]);
  });

  it("enriches one cell through the same path", async () => {
    const row = person();
    const result = await adapter().enrich({ column: column("work_email"), row, signal });
    expect(result).toEqual({ outcome: "value", value: "ada.lovelace@analytical.io", metadata: { provider: "fullenrich", enrichmentId: fake.submitted()[0]!.id, emailStatus: "DELIVERABLE" } });
  });

  it("gives up polling after the poll timeout with a failed answer", async () => {
    fake.options.finishAfterMs = 60_000;
    const [result] = await adapter({ pollTimeoutMs: 60 }).enrichMany!({ column: column("work_email"), rows: [person()], signal });
    const id = fake.submitted()[0]!.id;
    expect(result).toEqual({
      outcome: "error",
      error: `fullenrich did not finish enrichment ${id} within 60 ms`,
      retryable: false,
      metadata: { provider: "fullenrich", failure: "timeout", status: null },
    });
    fake.finish(id);
  });
});

describe("the error mapping", () => {
  const submitOne = (provider = adapter()) => provider.enrichMany!({ column: column("work_email"), rows: [person()], signal });

  it("waits as long as a 429's Retry-After asks, then goes on", async () => {
    fake.faults.push({ on: "submit", status: 429, body: { code: "error.rate.limit", message: "Too many requests. Try again in 1m" }, headers: { "retry-after": "1" } });
    const started = Date.now();

    const [result] = await submitOne();

    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(result).toMatchObject({ outcome: "value", value: "ada.lovelace@analytical.io" });
    expect(fake.apiRequests("submit")).toHaveLength(2);
  });

  it("fails at once, retryable, when Retry-After asks for longer than it may wait", async () => {
    fake.faults.push({ on: "submit", status: 429, headers: { "retry-after": "120" } });
    const row = person();
    const submissionId = crypto.randomUUID();

    const error = await rejection(adapter({ maxRetryAfterMs: 1_000 }).bulk.submit({ submissionId, label: "x", field: "work_email", contacts: [{ key: keyFor(submissionId, row), row }] }));

    expect([error.status, error.retryable, error.retryAfterMs, error.message]).toEqual([
      429,
      true,
      120_000,
      'fullenrich answered 429: {"code":"error.rate.limit","message":"Scripted fault"} (asked to retry after 120 s)',
    ]);
    expect(fake.apiRequests("submit")).toHaveLength(1);
  });

  it("retries a 500 and recovers", async () => {
    fake.faults.push({ on: "submit", status: 500 });
    const [result] = await submitOne();
    expect(result).toMatchObject({ outcome: "value" });
    expect(fake.apiRequests("submit")).toHaveLength(2);
  });

  it("fails every row of the batch with a clear error after the last 500", async () => {
    fake.faults.push({ on: "submit", status: 500 }, { on: "submit", status: 502 }, { on: "submit", status: 500 });
    const results = await adapter().enrichMany!({ column: column("work_email"), rows: [person(), person({ lastName: "King" })], signal });
    const failure = {
      outcome: "error",
      error: 'fullenrich answered 500: {"code":"error.internal","message":"Scripted fault"} (after 3 attempts)',
      retryable: false,
      metadata: { provider: "fullenrich", failure: "http", status: 500 },
    };
    expect(results).toEqual([failure, failure]);
    expect(fake.apiRequests("submit")).toHaveLength(3);
    expect(fake.submitted()).toEqual([]);
  });

  it("times out a FullEnrich that does not answer, on every attempt", async () => {
    fake.faults.push({ on: "submit", hang: true }, { on: "submit", hang: true });
    const [result] = await submitOne(adapter({ timeoutMs: 150, maxAttempts: 2 }));
    expect(result).toEqual({
      outcome: "error",
      error: "fullenrich did not answer within 150 ms (after 2 attempts)",
      retryable: false,
      metadata: { provider: "fullenrich", failure: "timeout", status: null },
    });
    expect(fake.apiRequests("submit")).toHaveLength(2);
  });

  it("fails, without retrying, on a submit answer that is not JSON or has no enrichment_id", async () => {
    fake.faults.push({ on: "submit", raw: "<html>upstream error</html>" }, { on: "submit", status: 200, body: { id: "no-enrichment-id-here" } });
    const [notJson] = await submitOne();
    const [noId] = await submitOne();
    expect([notJson, noId]).toEqual([
      { outcome: "error", error: "fullenrich answered 200 with a body that is not JSON", retryable: false, metadata: { provider: "fullenrich", failure: "malformed", status: 200 } },
      { outcome: "error", error: "fullenrich answered with a bulk enrichment answer without an enrichment_id", retryable: false, metadata: { provider: "fullenrich", failure: "malformed", status: 200 } },
    ]);
    expect(fake.apiRequests("submit")).toHaveLength(2);
  });

  it("does not retry FullEnrich's 400 and says what it refused", async () => {
    const submissionId = crypto.randomUUID();
    const row = person({ firstName: null, lastName: null, fullName: null });
    const error = await rejection(adapter().bulk.submit({ submissionId, label: "x", field: "work_email", contacts: [{ key: keyFor(submissionId, row), row }] }));
    expect([error.status, error.retryable, error.message]).toEqual([400, false, 'fullenrich answered 400: {"code":"error.enrichment.first_name.empty","message":"First name cannot be empty"}']);
    expect(fake.apiRequests("submit")).toHaveLength(1);
  });

  it("fails a poll answer that is not JSON or not a result", async () => {
    fake.options.deliverWebhooks = false;
    fake.faults.push({ on: "poll", raw: "{\"id\":" });
    const [notJson] = await submitOne();
    fake.faults.push({ on: "poll", status: 200, body: { id: "x", status: "DONE", data: [] } });
    const [wrongStatus] = await submitOne();
    expect(notJson).toEqual({ outcome: "error", error: "fullenrich answered 200 with a body that is not JSON", retryable: false, metadata: { provider: "fullenrich", failure: "malformed", status: 200 } });
    expect(wrongStatus).toMatchObject({ outcome: "error", retryable: false, metadata: { failure: "malformed" } });
    expect((wrongStatus as { error: string }).error).toMatch(/^fullenrich answered with an enrichment result that does not follow its format \(status: /);
  });
});

describe("polling a submission", () => {
  async function submitted() {
    const submissionId = crypto.randomUUID();
    const row = person();
    const key = keyFor(submissionId, row);
    fake.options.finishAfterMs = 60_000;
    const ref = await adapter().bulk.submit({ submissionId, label: "x", field: "work_email", contacts: [{ key, row }] });
    return { ref, key };
  }

  it("answers null while FullEnrich says the enrichment is in progress (400 or 200 IN_PROGRESS), and the result once finished", async () => {
    const { ref } = await submitted();
    const provider = adapter();
    expect(await provider.bulk.fetch(ref)).toBeNull();
    fake.options.inProgressAs = 200;
    expect(await provider.bulk.fetch(ref)).toBeNull();
    fake.finish(ref);
    expect(await provider.bulk.fetch(ref)).toEqual(fake.resultBody(ref));
    expect(fake.apiRequests("poll").map((r) => [r.path, r.headers.authorization])).toEqual(Array.from({ length: 3 }, () => [`/api/v2/contact/enrich/bulk/${ref}`, `Bearer ${API_KEY}`]));
  });

  it("takes FullEnrich's 402 as a result stopped for lack of credits", async () => {
    const { ref } = await submitted();
    fake.options.finalStatus = "CREDITS_INSUFFICIENT";
    fake.finish(ref);
    expect(await adapter().bulk.fetch(ref)).toEqual({ ...fake.resultBody(ref), status: "CREDITS_INSUFFICIENT" });
  });

  it("fails on an enrichment FullEnrich does not know", async () => {
    const error = await rejection(adapter().bulk.fetch("2db5ea61-1752-42cf-8ea1-ab1da060cd0a"));
    expect([error.status, error.retryable, error.message]).toEqual([404, false, 'fullenrich answered 404: {"code":"error.enrichment.not_found","message":"Enrichment ID not found"}']);
  });
});

describe("reading results", () => {
  const { read, finishedRef } = adapter().bulk;
  const submissionId = crypto.randomUUID();
  const keys = [0, 1, 2, 3].map(() => ({ submissionId, cellId: crypto.randomUUID(), runToken: crypto.randomUUID(), rowId: crypto.randomUUID() }));
  const record = (key: ContactKey | null, contactInfo: Record<string, unknown>) => ({ input: { first_name: "Ada" }, custom: key ? custom(key) : { user_id: "1" }, contact_info: contactInfo });
  const body = (status: string, data: unknown[]) => ({ id: "2db5ea61-1752-42cf-8ea1-ab1da060cd0a", name: "x", status, cost: { credits: 1 }, data });

  it("maps a finished batch: the most probable usable email, no match when none, records without our ids ignored", () => {
    const outcome = read(
      body("FINISHED", [
        record(keys[0]!, { most_probable_work_email: { email: "ada@analytical.io", status: "DELIVERABLE" }, work_emails: [] }),
        record(keys[1]!, { most_probable_work_email: { email: "bad@x.io", status: "INVALID" }, work_emails: [{ email: "ok@x.io", status: "CATCH_ALL" }] }),
        record(keys[2]!, { work_emails: [{ email: "gone@x.io", status: "INVALID_DOMAIN" }] }),
        record(keys[3]!, {}),
        record(null, { most_probable_work_email: { email: "stranger@x.io", status: "DELIVERABLE" } }),
      ]),
      "work_email",
    );
    const meta = { provider: "fullenrich", enrichmentId: "2db5ea61-1752-42cf-8ea1-ab1da060cd0a" };
    const none = { outcome: "no_match", reason: "fullenrich found no work email for this person", metadata: meta };
    expect(outcome).toEqual({
      providerRef: meta.enrichmentId,
      status: "FINISHED",
      answers: [
        { key: keys[0], result: { outcome: "value", value: "ada@analytical.io", metadata: { ...meta, emailStatus: "DELIVERABLE" } } },
        { key: keys[1], result: { outcome: "value", value: "ok@x.io", metadata: { ...meta, emailStatus: "CATCH_ALL" } } },
        { key: keys[2], result: none },
        { key: keys[3], result: none },
      ],
      unanswered: none,
    });
  });

  it("fails the contacts a stopped batch did not find (CREDITS_INSUFFICIENT, CANCELED)", () => {
    const outcome = read(body("CREDITS_INSUFFICIENT", [record(keys[0]!, { most_probable_phone: { number: "+1 555 0100", region: "US" } }), record(keys[1]!, {})]), "mobile_phone");
    const meta = { provider: "fullenrich", enrichmentId: "2db5ea61-1752-42cf-8ea1-ab1da060cd0a" };
    const stopped = {
      outcome: "error",
      error: "fullenrich stopped the enrichment before finding this contact (CREDITS_INSUFFICIENT)",
      retryable: false,
      metadata: { ...meta, status: "CREDITS_INSUFFICIENT" },
    };
    expect(outcome.answers).toEqual([
      { key: keys[0], result: { outcome: "value", value: "+1 555 0100", metadata: { ...meta, region: "US" } } },
      { key: keys[1], result: stopped },
    ]);
    expect(outcome.unanswered).toEqual(stopped);
  });

  it("refuses a result that is unfinished or not a result at all", () => {
    for (const [payload, message] of [
      [body("IN_PROGRESS", []), "fullenrich answered with an unfinished enrichment (IN_PROGRESS) where a finished one was expected"],
      [{ status: "FINISHED" }, "fullenrich answered with an enrichment result that does not follow its format (id: Invalid input: expected string, received undefined)"],
      ["FINISHED", "fullenrich answered with an enrichment result that does not follow its format (body: Invalid input: expected object, received string)"],
    ] as const) {
      expect(() => finishedRef(payload)).toThrow(message);
      expect(() => read(payload, "work_email")).toThrow(message);
    }
    expect(finishedRef(body("CANCELED", []))).toBe("2db5ea61-1752-42cf-8ea1-ab1da060cd0a");
  });
});

describe("webhook signatures", () => {
  const submissionId = crypto.randomUUID();
  const rawBody = JSON.stringify({ id: "e1", status: "FINISHED", data: [] });
  const headers = (signature?: string) => new Headers(signature === undefined ? {} : { "x-signature-sha1": signature });
  const query = (sig?: string) => new URLSearchParams(sig === undefined ? {} : { sig });

  it("accepts FullEnrich's HMAC-SHA1 of the raw body with the API key, with our URL signature when a secret is set", async () => {
    const { verifyWebhook } = adapter().bulk;
    const good = signBody(API_KEY, rawBody);
    expect(await verifyWebhook({ submissionId, rawBody, headers: headers(good), query: query(urlSig(submissionId)) })).toBe(true);
    expect(await verifyWebhook({ submissionId, rawBody, headers: headers(good.toUpperCase()), query: query(urlSig(submissionId)) })).toBe(true);
    expect(await adapter({ webhookSecret: undefined }).bulk.verifyWebhook({ submissionId, rawBody, headers: headers(good), query: query() })).toBe(true);
  });

  it("refuses a missing or wrong body signature, a tampered body, and a missing or foreign URL signature", async () => {
    const { verifyWebhook } = adapter().bulk;
    const good = signBody(API_KEY, rawBody);
    const sig = urlSig(submissionId);
    const cases = [
      { rawBody, headers: headers(), query: query(sig) },
      { rawBody, headers: headers(signBody("another-key", rawBody)), query: query(sig) },
      { rawBody: rawBody.replace("FINISHED", "CANCELED"), headers: headers(good), query: query(sig) },
      { rawBody, headers: headers(good), query: query() },
      { rawBody, headers: headers(good), query: query(urlSig(crypto.randomUUID())) },
    ];
    for (const c of cases) expect(await verifyWebhook({ submissionId, ...c })).toBe(false);
  });
});

describe("configuration", () => {
  it("is off without FULLENRICH_API_KEY (or with a blank one)", () => {
    expect(createFullEnrichProvider({})).toBeNull();
    expect(createFullEnrichProvider({ FULLENRICH_API_KEY: "" })).toBeNull();
  });

  it("gives both contact kinds one adapter per environment, so they share one concurrency limit", () => {
    const env = { FULLENRICH_API_KEY: "k", PUBLIC_BASE_URL: PUBLIC, FULLENRICH_POLL_INTERVAL_MS: "250" };
    const provider = createFullEnrichProvider(env);
    expect(provider).toMatchObject({ name: "fullenrich", bulk: { maxBatch: 100, pollIntervalMs: 250, pollTimeoutMs: 1_800_000 } });
    expect(createFullEnrichProvider(env)).toBe(provider);
    expect(createFullEnrichProvider({ ...env })).not.toBe(provider);
  });

  it("refuses an invalid environment with the variables named", () => {
    expect(() => createFullEnrichProvider({ FULLENRICH_API_KEY: "k", FULLENRICH_POLL_INTERVAL_MS: "soon", PUBLIC_BASE_URL: "not a url" })).toThrow(
      /^Invalid environment:\n {2}PUBLIC_BASE_URL: .+\n {2}FULLENRICH_POLL_INTERVAL_MS: /,
    );
    expect(() => createFullEnrichProvider({ FULLENRICH_API_KEY: "k", FULLENRICH_WEBHOOK_SECRET: "short" })).toThrow("FULLENRICH_WEBHOOK_SECRET must be at least 16 characters");
  });
});
