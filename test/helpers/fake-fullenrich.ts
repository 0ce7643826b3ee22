import { createHmac, randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { sendJson, startHttpFake, type FakeRequest, type HttpFake } from "./http-fake";

// FullEnrich's API v2 on 127.0.0.1, as documented: `POST /api/v2/contact/enrich/bulk` (Bearer key,
// `{ name, webhook_url?, data: [{ first_name, last_name, domain, company_name, linkedin_url,
// enrich_fields, custom }] }` → `{ enrichment_id }`), `GET /api/v2/contact/enrich/bulk/{id}` (the
// result, or 400 `error.enrichment.in_progress` while it runs), and the batch-finished webhook: the
// result POSTed to `webhook_url`, signed in `X-Signature-SHA1` with the API key. Tests script faults
// (429 with Retry-After, 500, hangs, malformed bodies) and what the directory finds per contact.
//
// Run on its own for `npm start`: FULLENRICH_API_KEY=… npx tsx test/helpers/fake-fullenrich.ts

export type FakeContact = {
  first_name?: string;
  last_name?: string;
  domain?: string;
  company_name?: string;
  linkedin_url?: string;
  enrich_fields: string[];
  custom?: Record<string, string>;
};

/** What the directory knows of a contact; absent fields are not found. */
export type Found = { email?: string; emailStatus?: string; phone?: string; region?: string };

export type FakeStatus = "CREATED" | "IN_PROGRESS" | "FINISHED" | "CANCELED" | "CREDITS_INSUFFICIENT";

export type FakeEnrichment = {
  id: string;
  name: string;
  webhookUrl: string | null;
  contacts: FakeContact[];
  status: FakeStatus;
  /** Webhook calls made for it, with what our API answered. */
  deliveries: Array<{ status: number; body: unknown }>;
};

/** Served instead of the next matching API request. */
export type Fault = { on?: "submit" | "poll" } & (
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { hang: true }
  | { raw: string; status?: number }
);

export type FakeFullEnrichOptions = {
  apiKey: string;
  directory?: (contact: FakeContact) => Found;
  /** How long an enrichment runs after its submission. */
  finishAfterMs?: number;
  /** Whether a finished enrichment is POSTed to its webhook_url. */
  deliverWebhooks?: boolean;
  /** The status an enrichment finishes with. */
  finalStatus?: Exclude<FakeStatus, "CREATED" | "IN_PROGRESS">;
  /** While running, GET answers the documented 400 in_progress, or 200 with status IN_PROGRESS. */
  inProgressAs?: 400 | 200;
};

export type FakeFullEnrich = {
  /** The API's base URL, for FULLENRICH_BASE_URL. */
  url: string;
  http: HttpFake;
  options: Required<Omit<FakeFullEnrichOptions, "directory">> & { directory: (contact: FakeContact) => Found };
  enrichments: Map<string, FakeEnrichment>;
  faults: Fault[];
  /** Submissions (POST bodies) FullEnrich accepted, in order. */
  submitted(): FakeEnrichment[];
  /** Requests to the API, not counting webhook deliveries (which the fake makes). */
  apiRequests(route?: "submit" | "poll"): FakeRequest[];
  /** The documented result body of an enrichment (what GET answers and the webhook carries). */
  resultBody(id: string): Record<string, unknown>;
  /** Marks an enrichment finished now. */
  finish(id: string): void;
  /** POSTs an enrichment's result to its webhook now, signed unless told otherwise; returns our answer. */
  deliver(id: string, tamper?: { body?: string; signature?: string | null; url?: string }): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Waits for webhook deliveries in flight. */
  idle(): Promise<void>;
  close(): Promise<void>;
};

export const signBody = (apiKey: string, body: string) => createHmac("sha1", apiKey).update(body).digest("hex");

const ENRICH_FIELDS = new Set(["contact.work_emails", "contact.phones", "contact.personal_emails"]);

const error = (code: string, message: string) => ({ code, message });

function slug(text: string | undefined): string {
  return (text ?? "")
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "");
}

/** Default directory: an email for anyone with a name and a domain, a phone for anyone with a LinkedIn URL. */
export function defaultDirectory(contact: FakeContact): Found {
  const found: Found = {};
  if (contact.first_name && contact.last_name && contact.domain) found.email = `${slug(contact.first_name)}.${slug(contact.last_name)}@${contact.domain}`;
  if (contact.linkedin_url) found.phone = "+33 6 12 34 56 78";
  return found;
}

const withoutUndefined = (record: Record<string, unknown>) => Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));

function validate(body: unknown): { code: string; message: string } | null {
  const b = body as { name?: unknown; webhook_url?: unknown; data?: unknown };
  if (typeof b !== "object" || b === null) return error("error.body", "Body must be a JSON object");
  if (typeof b.name !== "string" || !b.name.trim()) return error("error.enrichment.name.empty", "Enrichment name not set");
  if (b.webhook_url !== undefined && (typeof b.webhook_url !== "string" || !/^https?:\/\//.test(b.webhook_url))) {
    return error("error.enrichment.webhook_url", "Webhook URL must be start with http or https");
  }
  if (!Array.isArray(b.data) || b.data.length === 0) return error("error.enrichment.data.empty", "Data is empty");
  if (b.data.length > 100) return error("error.enrichment.data.size", "You can enrich up to 100 contacts in bulk");
  for (const contact of b.data as FakeContact[]) {
    if (!contact.linkedin_url) {
      if (!contact.first_name) return error("error.enrichment.first_name.empty", "First name cannot be empty");
      if (!contact.last_name) return error("error.enrichment.last_name.empty", "Last name cannot be empty");
      if (!contact.domain && !contact.company_name) return error("error.enrichment.domain.empty", "Domain cannot be empty");
    }
    if (!Array.isArray(contact.enrich_fields) || contact.enrich_fields.length === 0) return error("error.enrichment.enrich_fields.empty", "enrichFields cannot be empty");
    const wrong = contact.enrich_fields.find((field) => !ENRICH_FIELDS.has(field));
    if (wrong) return error("error.enrichment.enrich_field.value", `enrichField '${wrong}' not valid must be contact.work_emails or contact.phones or contact.personal_emails`);
    const custom = contact.custom ?? {};
    if (Object.keys(custom).length > 10) return error("error.enrichment.custom.key.exceeded", "Custom field contains too many keys (max: 10 keys)");
    for (const value of Object.values(custom)) {
      if (typeof value !== "string") return error("error.enrichment.custom.value.type", "Custom values must be strings");
      if (value.length > 100) return error("error.enrichment.custom.value.exceeded", "Custom field value max len exceeded (max: 100 character)");
    }
  }
  return null;
}

export async function startFakeFullEnrich(input: FakeFullEnrichOptions): Promise<FakeFullEnrich> {
  const options = {
    finishAfterMs: 0,
    deliverWebhooks: true,
    finalStatus: "FINISHED" as const,
    inProgressAs: 400 as const,
    ...input,
    directory: input.directory ?? defaultDirectory,
  };
  const enrichments = new Map<string, FakeEnrichment>();
  const faults: Fault[] = [];
  const deliveries = new Set<Promise<unknown>>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const http = await startHttpFake();
  const base = `${http.url}/api/v2`;

  const track = (work: Promise<unknown>) => {
    deliveries.add(work);
    void work.finally(() => deliveries.delete(work));
  };

  function resultBody(id: string): Record<string, unknown> {
    const enrichment = enrichments.get(id);
    if (!enrichment) throw new Error(`no enrichment ${id}`);
    let credits = 0;
    const data = enrichment.contacts.map((contact) => {
      const found = enrichment.status === "FINISHED" ? options.directory(contact) : {};
      const wantsEmail = contact.enrich_fields.includes("contact.work_emails");
      const wantsPhone = contact.enrich_fields.includes("contact.phones");
      const email = wantsEmail && found.email ? { email: found.email, status: found.emailStatus ?? "DELIVERABLE" } : null;
      const phone = wantsPhone && found.phone ? { number: found.phone, region: found.region ?? "FR" } : null;
      if (email) credits += 1;
      if (phone) credits += 10;
      return {
        input: withoutUndefined({
          first_name: contact.first_name,
          last_name: contact.last_name,
          company_domain: contact.domain,
          company_name: contact.company_name,
          professional_network_url: contact.linkedin_url,
        }),
        custom: contact.custom ?? {},
        contact_info: {
          ...(email ? { most_probable_work_email: email } : {}),
          ...(phone ? { most_probable_phone: phone } : {}),
          work_emails: email ? [email] : [],
          personal_emails: [],
          phones: phone ? [phone] : [],
        },
      };
    });
    return { id, name: enrichment.name, status: enrichment.status, cost: { credits }, data };
  }

  async function deliver(id: string, tamper: { body?: string; signature?: string | null; url?: string } = {}) {
    const enrichment = enrichments.get(id);
    if (!enrichment) throw new Error(`no enrichment ${id}`);
    const url = tamper.url ?? enrichment.webhookUrl;
    if (!url) throw new Error(`enrichment ${id} has no webhook_url`);
    const body = tamper.body ?? JSON.stringify(resultBody(id));
    const signature = tamper.signature === undefined ? signBody(options.apiKey, body) : tamper.signature;
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(signature !== null ? { "x-signature-sha1": signature } : {}) },
      body,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* keep the text */
    }
    enrichment.deliveries.push({ status: res.status, body: parsed });
    return { status: res.status, body: parsed };
  }

  function finish(id: string) {
    clearTimeout(timers.get(id));
    timers.delete(id);
    const enrichment = enrichments.get(id);
    if (!enrichment || (enrichment.status !== "CREATED" && enrichment.status !== "IN_PROGRESS")) return;
    enrichment.status = options.finalStatus;
    if (options.deliverWebhooks && enrichment.webhookUrl) track(deliver(id).catch(() => undefined));
  }

  function takeFault(route: "submit" | "poll"): Fault | undefined {
    const index = faults.findIndex((fault) => !fault.on || fault.on === route);
    return index < 0 ? undefined : faults.splice(index, 1)[0];
  }

  http.handle(async (req, res) => {
    const submit = req.method === "POST" && req.path === "/api/v2/contact/enrich/bulk";
    const poll = req.method === "GET" && req.path.startsWith("/api/v2/contact/enrich/bulk/");
    if (!submit && !poll) return sendJson(res, 404, error("error.not_found", "Not found"));
    if (req.headers.authorization !== `Bearer ${options.apiKey}`) return sendJson(res, 401, error("error.api.key", "Unknown api key"));

    const fault = takeFault(submit ? "submit" : "poll");
    if (fault && "hang" in fault) return new Promise<void>(() => {});
    if (fault && "raw" in fault) {
      res.writeHead(fault.status ?? 200, { "content-type": "application/json" });
      return void res.end(fault.raw);
    }
    if (fault) return sendJson(res, fault.status, fault.body ?? error(fault.status === 429 ? "error.rate.limit" : "error.internal", "Scripted fault"), fault.headers);

    if (submit) {
      const invalid = validate(req.body);
      if (invalid) return sendJson(res, 400, invalid);
      const body = req.body as { name: string; webhook_url?: string; data: FakeContact[] };
      const id = randomUUID();
      enrichments.set(id, { id, name: body.name, webhookUrl: body.webhook_url ?? null, contacts: body.data, status: "IN_PROGRESS", deliveries: [] });
      sendJson(res, 200, { enrichment_id: id });
      timers.set(id, setTimeout(() => finish(id), options.finishAfterMs));
      return;
    }
    const id = decodeURIComponent(req.path.slice("/api/v2/contact/enrich/bulk/".length));
    const enrichment = enrichments.get(id);
    if (!enrichment) return sendJson(res, 404, error("error.enrichment.not_found", "Enrichment ID not found"));
    const running = enrichment.status === "CREATED" || enrichment.status === "IN_PROGRESS";
    if (running && options.inProgressAs === 400) return sendJson(res, 400, error("error.enrichment.in_progress", "Enrichment not ready, try again in 30 seconds"));
    return sendJson(res, enrichment.status === "CREDITS_INSUFFICIENT" ? 402 : 200, resultBody(id));
  });

  const apiPath = (route?: "submit" | "poll") => (r: FakeRequest) =>
    r.path.startsWith("/api/v2/contact/enrich/bulk") && (!route || (route === "submit" ? r.method === "POST" : r.method === "GET"));

  async function idle() {
    while (deliveries.size > 0) await Promise.allSettled([...deliveries]);
  }

  return {
    url: base,
    http,
    options,
    enrichments,
    faults,
    submitted: () => [...enrichments.values()],
    apiRequests: (route) => http.requests.filter(apiPath(route)),
    resultBody,
    finish,
    deliver,
    idle,
    async close() {
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await idle();
      await http.close();
    },
  };
}

// Standalone: a FullEnrich stand-in for `npm start` (FULLENRICH_BASE_URL set to the printed URL).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const apiKey = process.env.FULLENRICH_API_KEY;
  if (!apiKey) {
    console.error("Set FULLENRICH_API_KEY (the same value the API is started with).");
    process.exit(1);
  }
  const fake = await startFakeFullEnrich({ apiKey, finishAfterMs: Number(process.env.FAKE_FULLENRICH_FINISH_AFTER_MS ?? 2000) });
  console.log(`Fake FullEnrich listening. Start the API with FULLENRICH_BASE_URL=${fake.url}`);
  const stop = async () => {
    await fake.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
