import type { ProviderMetadata, ProviderResult } from "./types";

// The one way provider adapters talk HTTP: a per-attempt timeout, retries with exponential backoff
// and jitter on 429, 5xx, timeouts and network failures (honouring Retry-After), a limit on requests
// in flight per provider, and one error type that says whether asking again could help.

export type HttpClientOptions = {
  /** The provider's name, in errors and logs. */
  provider: string;
  baseUrl: string;
  headers?: Record<string, string>;
  /** Per attempt. */
  timeoutMs?: number;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  /** Backoff before attempt n+1: random in [0, min(maxMs, minMs × 2^(n−1))] (full jitter). */
  backoff?: { minMs?: number; maxMs?: number };
  /** A Retry-After longer than this is not waited for: the request fails (retryable) at once. */
  maxRetryAfterMs?: number;
  /** Requests in flight at once through this client; more wait their turn. */
  concurrency?: number;
  fetch?: typeof fetch;
};

export type RequestFailure = "http" | "timeout" | "network" | "malformed";

export class ProviderRequestError extends Error {
  override readonly name = "ProviderRequestError";
  constructor(
    message: string,
    readonly failure: RequestFailure,
    /** True when a later attempt could succeed (rate limit, server error, timeout, network). */
    readonly retryable: boolean,
    readonly status?: number,
    readonly attempts: number = 1,
    /** What the provider asked for in Retry-After, if it did. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export type HttpRequest = {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Statuses answered to the caller instead of thrown (e.g. 404 meaning "no match"). */
  accept?: readonly number[];
};

export type HttpResponse = { status: number; headers: Headers; text: string; json<T = unknown>(): T };

const DEFAULTS = { timeoutMs: 15_000, maxAttempts: 3, minMs: 250, maxMs: 5_000, maxRetryAfterMs: 30_000, concurrency: 4 };

const isRetryableStatus = (status: number) => status === 429 || status === 408 || status >= 500;

/** Seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** At most `limit` holders at once; the rest wait in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly limit: number) {}

  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

export type HttpClient = {
  request(method: string, path: string, request?: HttpRequest): Promise<HttpResponse>;
  /** `request`, then the body parsed as JSON: an unparseable body is a `malformed` failure. */
  json<T>(method: string, path: string, request?: HttpRequest): Promise<{ status: number; body: T; headers: Headers }>;
};

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts);
  const minMs = options.backoff?.minMs ?? DEFAULTS.minMs;
  const maxMs = options.backoff?.maxMs ?? DEFAULTS.maxMs;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? DEFAULTS.maxRetryAfterMs;
  const limiter = new Semaphore(options.concurrency ?? DEFAULTS.concurrency);
  const doFetch = options.fetch ?? fetch;
  const provider = options.provider;

  async function attempt(method: string, url: string, request: HttpRequest, attemptNo: number): Promise<HttpResponse> {
    const signals = [AbortSignal.timeout(timeoutMs), ...(request.signal ? [request.signal] : [])];
    const hasBody = request.body !== undefined;
    let res: Response;
    try {
      res = await limiter.use(() =>
        doFetch(url, {
          method,
          headers: { accept: "application/json", ...(hasBody ? { "content-type": "application/json" } : {}), ...options.headers, ...request.headers },
          body: hasBody ? JSON.stringify(request.body) : undefined,
          signal: AbortSignal.any(signals),
        }),
      );
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      const timedOut = (error as Error)?.name === "TimeoutError";
      throw new ProviderRequestError(
        timedOut ? `${provider} did not answer within ${timeoutMs} ms` : `${provider} could not be reached: ${(error as Error)?.message ?? error}`,
        timedOut ? "timeout" : "network",
        true,
        undefined,
        attemptNo,
      );
    }
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      throw new ProviderRequestError(`${provider} broke off its answer: ${(error as Error)?.message}`, "network", true, res.status, attemptNo);
    }
    const response: HttpResponse = {
      status: res.status,
      headers: res.headers,
      text,
      json<T>() {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new ProviderRequestError(`${provider} answered ${res.status} with a body that is not JSON`, "malformed", false, res.status, attemptNo);
        }
      },
    };
    if (res.ok || request.accept?.includes(res.status)) return response;
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new ProviderRequestError(
      `${provider} answered ${res.status}${excerpt ? `: ${excerpt}` : ""}`,
      "http",
      isRetryableStatus(res.status),
      res.status,
      attemptNo,
      retryAfterMs(res.headers.get("retry-after")),
    );
  }

  async function request(method: string, path: string, request: HttpRequest = {}): Promise<HttpResponse> {
    const url = new URL(path, options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    for (const [key, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    for (let attemptNo = 1; ; attemptNo += 1) {
      try {
        return await attempt(method, url.toString(), request, attemptNo);
      } catch (error) {
        if (!(error instanceof ProviderRequestError) || !error.retryable || attemptNo >= maxAttempts) {
          if (error instanceof ProviderRequestError) {
            throw new ProviderRequestError(
              attemptNo > 1 ? `${error.message} (after ${attemptNo} attempts)` : error.message,
              error.failure,
              error.retryable,
              error.status,
              attemptNo,
              error.retryAfterMs,
            );
          }
          throw error;
        }
        const backoff = Math.random() * Math.min(maxMs, minMs * 2 ** (attemptNo - 1));
        const asked = error.retryAfterMs;
        if (asked !== null && asked > maxRetryAfterMs) {
          throw new ProviderRequestError(
            `${error.message} (asked to retry after ${Math.round(asked / 1000)} s)`,
            error.failure,
            true,
            error.status,
            attemptNo,
            asked,
          );
        }
        await sleep(asked !== null ? Math.max(asked, backoff) : backoff, request.signal);
      }
    }
  }

  return {
    request,
    async json<T>(method: string, path: string, req?: HttpRequest) {
      const res = await request(method, path, req);
      return { status: res.status, body: res.json<T>(), headers: res.headers };
    },
  };
}

/** The error outcome for a request that failed for good: retries already happened inside the client. */
export function failedOutcome(error: unknown, metadata: ProviderMetadata): ProviderResult {
  if (error instanceof ProviderRequestError) return { outcome: "error", error: error.message, retryable: false, metadata: { ...metadata, failure: error.failure, status: error.status ?? null } };
  return { outcome: "error", error: `${metadata.provider} failed: ${(error as Error)?.message ?? String(error)}`, retryable: false, metadata };
}
