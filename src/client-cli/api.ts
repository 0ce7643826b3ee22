/** A failure the command line reports itself: a message on stderr and an exit code (2 for usage errors). */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The API answered with a status outside 2xx; `body` is its error envelope (or its text when not JSON). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(describeFailure(status, body));
  }

  /** Worth asking again after a pause: the API said so (rate limit, database briefly unavailable). */
  get retryAfterMs(): number | null {
    if (this.status !== 429 && this.status !== 503) return null;
    const seconds = isRecord(this.body) && typeof this.body.retryAfter === "number" ? this.body.retryAfter : 1;
    return seconds * 1000;
  }
}

function describeFailure(status: number, body: unknown): string {
  if (isRecord(body) && typeof body.code === "string") return `error: ${body.code} (${status}): ${String(body.error ?? "")}`;
  const text = typeof body === "string" ? body.trim().slice(0, 200) : "";
  return `error: HTTP ${status}${text ? `: ${text}` : ""}`;
}

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

export type QueryValue = string | number | boolean | null | undefined | unknown[] | Record<string, unknown>;

export type RequestOptions = { query?: Record<string, QueryValue>; body?: unknown; onStream?: (text: string) => void };

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly key: string | undefined,
  ) {}

  url(path: string, query: Record<string, QueryValue> = {}): URL {
    // Keeps a path prefix of the base (a server mounted under /something).
    const base = this.baseUrl.endsWith("/") ? this.baseUrl : `${this.baseUrl}/`;
    const url = new URL(path.replace(/^\//, ""), base);
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, typeof item === "object" && item !== null ? JSON.stringify(item) : String(item));
    }
    return url;
  }

  /** The parsed JSON answer of a 2xx response; an ApiError for any other status, a CliError when the server cannot be reached. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<unknown> {
    let url: URL;
    try {
      url = this.url(path, options.query);
    } catch {
      throw new CliError(2, `error: invalid server URL: ${this.baseUrl}`);
    }
    const headers: Record<string, string> = { accept: options.onStream ? "text/event-stream" : "application/json" };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, { method: method.toUpperCase(), headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    } catch (error) {
      throw new CliError(1, `error: cannot reach ${url.origin}: ${reasonOf(error)}`);
    }
    if (response.ok && options.onStream && response.body) {
      // A stream (the list's events) is passed on as it comes, until the server or the caller ends it.
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) options.onStream(decoder.decode(chunk, { stream: true }));
      return null;
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's page, say): kept as text for the message.
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  get(path: string, query?: Record<string, QueryValue>): Promise<unknown> {
    return this.request("get", path, { query });
  }
}

function reasonOf(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
