import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { createHttpClient, failedOutcome, ProviderRequestError, retryAfterMs } from "../src/providers/http";
import { sendJson, startHttpFake } from "./helpers/http-fake";

const fake = await startHttpFake();
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

const client = (overrides: Parameters<typeof createHttpClient>[0] extends infer O ? Partial<O> : never = {}) =>
  createHttpClient({ provider: "acme", baseUrl: fake.url, timeoutMs: 300, maxAttempts: 3, backoff: { minMs: 5, maxMs: 20 }, ...overrides });

async function failure(promise: Promise<unknown>): Promise<ProviderRequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProviderRequestError) return error;
    throw error;
  }
  throw new Error("expected a failure");
}

describe("provider HTTP client", () => {
  it("sends JSON with the configured headers and parses the answer", async () => {
    fake.handle((req, res) => sendJson(res, 200, { echo: req.body, auth: req.headers.authorization, q: req.query.get("q") }));
    const res = await client({ headers: { authorization: "Bearer k" } }).json<{ echo: unknown; auth: string; q: string }>("POST", "/v1/things", {
      body: { a: 1 },
      query: { q: "x", skip: undefined },
    });
    expect(res).toEqual({ status: 200, headers: expect.any(Headers), body: { echo: { a: 1 }, auth: "Bearer k", q: "x" } });
    expect(fake.requests.map((r) => [r.method, r.path, r.headers["content-type"]])).toEqual([["POST", "/v1/things", "application/json"]]);
  });

  it("retries a 500 and succeeds", async () => {
    let calls = 0;
    fake.handle((_req, res) => (++calls < 3 ? sendJson(res, 500, { error: "boom" }) : sendJson(res, 200, { ok: true })));
    expect((await client().json("GET", "/x")).body).toEqual({ ok: true });
    expect(fake.requests).toHaveLength(3);
  });

  it("gives up after the last attempt with a retryable http error", async () => {
    fake.handle((_req, res) => sendJson(res, 503, { error: "down" }));
    const error = await failure(client().json("GET", "/x"));
    expect([error.failure, error.status, error.retryable, error.attempts, error.message]).toEqual([
      "http",
      503,
      true,
      3,
      'acme answered 503: {"error":"down"} (after 3 attempts)',
    ]);
    expect(fake.requests).toHaveLength(3);
  });

  it("does not retry a 400", async () => {
    fake.handle((_req, res) => sendJson(res, 400, { error: "bad" }));
    const error = await failure(client().json("GET", "/x"));
    expect([error.status, error.retryable, error.attempts]).toEqual([400, false, 1]);
    expect(fake.requests).toHaveLength(1);
  });

  it("waits as long as Retry-After asks on a 429", async () => {
    let calls = 0;
    fake.handle((_req, res) => (++calls === 1 ? sendJson(res, 429, { error: "slow down" }, { "retry-after": "1" }) : sendJson(res, 200, { ok: 1 })));
    const started = Date.now();
    expect((await client().json("GET", "/x")).body).toEqual({ ok: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests).toHaveLength(2);
  });

  it("fails at once when Retry-After asks for longer than it may wait", async () => {
    fake.handle((_req, res) => sendJson(res, 429, { error: "tomorrow" }, { "retry-after": "3600" }));
    const error = await failure(client({ maxRetryAfterMs: 1000 }).json("GET", "/x"));
    expect([error.status, error.retryable, error.retryAfterMs]).toEqual([429, true, 3_600_000]);
    expect(error.message).toMatch(/asked to retry after 3600 s/);
    expect(fake.requests).toHaveLength(1);
  });

  it("times out a hanging provider on every attempt", async () => {
    fake.handle(() => new Promise(() => {}));
    const started = Date.now();
    const error = await failure(client({ maxAttempts: 2 }).json("GET", "/x"));
    expect([error.failure, error.retryable, error.attempts]).toEqual(["timeout", true, 2]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.requests).toHaveLength(2);
  });

  it("reports a body that is not JSON as malformed, without retrying", async () => {
    fake.handle((_req, res) => sendJson(res, 200, "<html>oops"));
    const error = await failure(client().json("GET", "/x"));
    expect([error.failure, error.retryable, error.status]).toEqual(["malformed", false, 200]);
    expect(fake.requests).toHaveLength(1);
  });

  it("answers accepted statuses instead of throwing", async () => {
    fake.handle((_req, res) => sendJson(res, 404, { error: "no such person" }));
    expect(await client().json("GET", "/x", { accept: [404] })).toMatchObject({ status: 404, body: { error: "no such person" } });
  });

  it("a network failure is retryable", async () => {
    const error = await failure(createHttpClient({ provider: "acme", baseUrl: "http://127.0.0.1:9", maxAttempts: 2, backoff: { minMs: 1, maxMs: 2 } }).json("GET", "/x"));
    expect([error.failure, error.retryable, error.attempts]).toEqual(["network", true, 2]);
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let most = 0;
    fake.handle(async (_req, res) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight -= 1;
      sendJson(res, 200, {});
    });
    const limited = client({ concurrency: 3 });
    await Promise.all(Array.from({ length: 10 }, () => limited.json("GET", "/x")));
    expect(most).toBe(3);
    expect(fake.requests).toHaveLength(10);
  });

  it("stops when the caller aborts", async () => {
    fake.handle(() => new Promise(() => {}));
    const controller = new AbortController();
    const pending = client({ timeoutMs: 5000 }).json("GET", "/x", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("cancelled")), 20);
    await expect(pending).rejects.toThrow("cancelled");
  });
});

describe("Retry-After and error outcomes", () => {
  it("reads seconds and HTTP dates", () => {
    expect(retryAfterMs("2")).toBe(2000);
    expect(retryAfterMs("0.5")).toBe(500);
    expect(retryAfterMs(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(retryAfterMs("soon")).toBeNull();
    expect(retryAfterMs(null)).toBeNull();
  });

  it("turns a final failure into a non-retryable error outcome with its provider", () => {
    const error = new ProviderRequestError("acme answered 500", "http", true, 500, 3);
    expect(failedOutcome(error, { provider: "acme" })).toEqual({
      outcome: "error",
      error: "acme answered 500",
      retryable: false,
      metadata: { provider: "acme", failure: "http", status: 500 },
    });
  });
});
