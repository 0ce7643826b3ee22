import { sendJson, startHttpFake, type FakeRequest, type HttpFake } from "./http-fake";

// Hunter's Email Finder on 127.0.0.1, as documented (https://hunter.io/api-documentation/v2#email-finder):
// `GET /v2/email-finder?domain|company&first_name&last_name|linkedin_handle&api_key` answers
// `{ data: { first_name, last_name, email, score, domain, position, sources, verification }, meta }`,
// with `email: null` when no address was found; errors are `{ errors: [{ id, code, details }] }`
// (401 authentication_failed for a wrong key, 400 wrong_params, 429 too_many_requests).

export type HunterQuery = { domain?: string; company?: string; first_name?: string; last_name?: string; linkedin_handle?: string };

/** What Hunter knows of a person: an address (with its score), no address (200, email null), or nobody (404). */
export type HunterFinding = { email: string; score?: number } | "no_email" | "not_found";

export type HunterFault = { status: number; body?: unknown; headers?: Record<string, string> } | { hang: true } | { raw: string; status?: number };

export type FakeHunter = {
  /** The API's base URL, for HUNTER_BASE_URL. */
  url: string;
  http: HttpFake;
  /** Served instead of the next requests, in order. */
  faults: HunterFault[];
  directory: (query: HunterQuery) => HunterFinding;
  /** The Email Finder requests received, as their queries. */
  lookups(): HunterQuery[];
  close(): Promise<void>;
};

const errorBody = (id: string, code: number, details: string) => ({ errors: [{ id, code, details }] });

export async function startFakeHunter(options: { apiKey: string; directory?: (query: HunterQuery) => HunterFinding }): Promise<FakeHunter> {
  const fake: FakeHunter = {
    url: "",
    http: undefined as unknown as HttpFake,
    faults: [],
    directory: options.directory ?? (() => "no_email"),
    lookups: () => fake.http.requests.filter((r) => r.path === "/v2/email-finder").map(queryOf),
    close: () => fake.http.close(),
  };
  fake.http = await startHttpFake(async (request, response) => {
    if (request.method !== "GET" || request.path !== "/v2/email-finder") return sendJson(response, 404, errorBody("not_found", 404, "This route does not exist"));
    const fault = fake.faults.shift();
    if (fault) {
      if ("hang" in fault) return new Promise<void>(() => {});
      if ("raw" in fault) {
        response.writeHead(fault.status ?? 200, { "content-type": "application/json" });
        return void response.end(fault.raw);
      }
      return sendJson(response, fault.status, fault.body ?? errorBody("fault", fault.status, "scripted fault"), fault.headers);
    }
    if (request.query.get("api_key") !== options.apiKey) return sendJson(response, 401, errorBody("authentication_failed", 401, "No user found for the API key supplied"));
    const query = queryOf(request);
    const hasPerson = (query.first_name && query.last_name) || query.linkedin_handle;
    if (!hasPerson || (!query.linkedin_handle && !query.domain && !query.company)) {
      return sendJson(response, 400, errorBody("wrong_params", 400, "You are missing the domain or the company, or the name of the person"));
    }
    const found = fake.directory(query);
    if (found === "not_found") return sendJson(response, 404, errorBody("email_not_found", 404, "No email address was found for this person"));
    const email = found === "no_email" ? null : found.email;
    sendJson(response, 200, {
      data: {
        first_name: query.first_name ?? null,
        last_name: query.last_name ?? null,
        email,
        score: found === "no_email" ? null : (found.score ?? 91),
        domain: query.domain ?? null,
        accept_all: false,
        position: null,
        twitter: null,
        linkedin_url: null,
        phone_number: null,
        company: query.company ?? null,
        sources: [],
        verification: { date: null, status: email ? "valid" : null },
      },
      meta: { params: query },
    });
  });
  fake.url = fake.http.url;
  return fake;
}

function queryOf(request: FakeRequest): HunterQuery {
  const query: HunterQuery = {};
  for (const key of ["domain", "company", "first_name", "last_name", "linkedin_handle"] as const) {
    const value = request.query.get(key);
    if (value !== null) query[key] = value;
  }
  return query;
}
