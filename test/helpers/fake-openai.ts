import type { ServerResponse } from "node:http";
import { openAiClient, type OpenAiClientOptions } from "../../src/providers/openai";
import { sendJson, startHttpFake, type FakeRequest } from "./http-fake";

// A fake OpenAI API on 127.0.0.1 that speaks both wire formats the AI client uses: the Responses API
// (POST /v1/responses) and Chat Completions (POST /v1/chat/completions). Tests script its replies in
// terms of what the model says (an answer, a refusal, a cut-off, raw text) or what the HTTP layer does
// (a status with headers, a hang); the fake renders them in the wire format of the route that was
// called, checks the bearer key like the real API, and records every call, parsed, for assertions.

export const FAKE_OPENAI_KEY = "sk-test-fake-openai-key";
/** The model the tests configure their clients with. */
export const FAKE_OPENAI_MODEL = "gpt-test-mini";

/** The project's OpenAI client pointed at the fake, with short timeouts and backoff; `overrides` on top. */
export function fakeOpenAiClient(fake: Pick<FakeOpenAi, "apiKey" | "baseUrl">, overrides: Partial<OpenAiClientOptions> = {}) {
  return openAiClient({
    apiKey: fake.apiKey,
    baseUrl: fake.baseUrl,
    model: FAKE_OPENAI_MODEL,
    apiStyle: "responses",
    timeoutMs: 2000,
    concurrency: 4,
    maxAttempts: 2,
    http: { backoff: { minMs: 5, maxMs: 20 } },
    ...overrides,
  });
}

export type OpenAiStyle = "responses" | "chat";

/** One request as the fake understood it, whichever route it came to. */
export type OpenAiCall = {
  style: OpenAiStyle;
  model: unknown;
  /** The system/developer text (Responses `instructions`; Chat system and developer messages). */
  instructions: string;
  /** The user text (Responses `input`; Chat user messages). */
  input: string;
  /** The structured-output format asked for, or null when none was. */
  format: { name: unknown; strict: unknown; schema: Record<string, unknown> } | null;
  /** The JSON Schema of the answer's `value` (the first non-null branch of `properties.value`), or null. */
  valueSchema: Record<string, unknown> | null;
  /** True when the request asked for live web search (a web_search tool, or Chat's web_search_options). */
  webSearch: boolean;
  authorization: string | undefined;
  body: Record<string, unknown>;
  request: FakeRequest;
};

/** What the model "says" or what the HTTP layer does, for one request. */
export type FakeOpenAiReply = (
  | { kind: "answer"; answer: { value: unknown; reasoning: string; found: boolean }; sources?: string[] }
  /** Output text given verbatim instead of an answer's JSON (for malformed answers). */
  | { kind: "text"; text: string; sources?: string[] }
  | { kind: "refusal"; refusal: string }
  /** The output was cut off: Responses status `incomplete`, Chat finish_reason `length`/`content_filter`. */
  | { kind: "incomplete"; reason: "max_output_tokens" | "content_filter"; text?: string }
  /** A raw HTTP reply: an error status in OpenAI's error shape unless `body` is given (a string is sent verbatim). */
  | { kind: "http"; status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answers (until the caller gives up or the fake closes). */
  | { kind: "hang" }
) & { delayMs?: number };

export type Responder = (call: OpenAiCall) => FakeOpenAiReply | Promise<FakeOpenAiReply>;

export type FakeOpenAi = {
  /** The API base URL, `/v1` included: what OPENAI_BASE_URL is set to. */
  baseUrl: string;
  /** The key the fake accepts (anything else gets 401, as from OpenAI). */
  apiKey: string;
  /** Every request to a known route, parsed, in arrival order (rejected ones included). */
  calls: OpenAiCall[];
  /** Answers every later request (after any queued replies); a reply instead of a function answers all alike. */
  respond(responder: Responder | FakeOpenAiReply): void;
  /** Answers the next requests with these replies, one each, in order, before falling back to `respond`. */
  enqueue(...replies: FakeOpenAiReply[]): void;
  /** Forgets the calls and the queue and goes back to the default responder. */
  reset(): void;
  close(): Promise<void>;
};

// ---- replies, as tests write them ----

/** A found answer with its value, citing `sources` (web answers). */
export function fakeAnswer(value: unknown, options: { reasoning?: string; sources?: string[] } = {}): FakeOpenAiReply {
  return { kind: "answer", answer: { value, reasoning: options.reasoning ?? "Stated on the cited pages.", found: true }, sources: options.sources };
}

/** The model looked and found nothing. */
export function fakeNotFound(reasoning = "No source mentions it."): FakeOpenAiReply {
  return { kind: "answer", answer: { value: null, reasoning, found: false } };
}

/** An error status in OpenAI's error shape, e.g. fakeHttpError(429, { "retry-after": "1" }). */
export function fakeHttpError(status: number, headers: Record<string, string> = {}): FakeOpenAiReply {
  return { kind: "http", status, headers };
}

/**
 * A value that fits a JSON Schema of the kinds structured output uses (type, enum, anyOf, format,
 * items, properties): what the default responder answers, so a test that does not care what the
 * model says still gets a valid answer.
 */
export function sampleValue(schema: unknown): unknown {
  if (!schema || typeof schema !== "object") return "example";
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum.find((option) => option !== null) ?? s.enum[0];
  if ("const" in s) return s.const;
  if (Array.isArray(s.anyOf)) return sampleValue(s.anyOf.find((branch) => (branch as { type?: unknown })?.type !== "null") ?? s.anyOf[0]);
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== "null") ?? "null") : s.type;
  switch (type) {
    case "null":
      return null;
    case "boolean":
      return true;
    case "number":
    case "integer":
      return typeof s.minimum === "number" ? s.minimum : 42;
    case "array": {
      const size = Math.min(2, typeof s.maxItems === "number" ? s.maxItems : 2);
      return Array.from({ length: Math.max(size, typeof s.minItems === "number" ? s.minItems : 0) }, () => sampleValue(s.items));
    }
    case "object": {
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(properties).map(([key, property]) => [key, sampleValue(property)]));
    }
    default:
      if (s.format === "email") return "someone@example.com";
      if (s.format === "date") return "2024-05-17";
      if (s.format === "date-time") return "2024-05-17T09:30:00Z";
      if (s.format === "uri") return "https://example.com/";
      return "example";
  }
}

/** Answers every call with a sample value of the schema it asked for, citing one page when it may search. */
export const sampleResponder: Responder = (call) =>
  fakeAnswer(sampleValue(call.valueSchema), { sources: call.webSearch ? ["https://example.com/source"] : undefined });

// ---- reading requests ----

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The text of a message `content`: a string, or an array of text parts. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((part) => (isObject(part) && typeof part.text === "string" ? part.text : ""))
    .filter(Boolean)
    .join("\n");
}

function messagesText(messages: unknown, roles: readonly string[]): string {
  if (!Array.isArray(messages)) return "";
  return messages
    .filter((message) => isObject(message) && roles.includes(String(message.role ?? "user")))
    .map((message) => contentText((message as Record<string, unknown>).content))
    .filter(Boolean)
    .join("\n");
}

function valueSchemaOf(schema: Record<string, unknown> | undefined): Record<string, unknown> | null {
  const value = isObject(schema?.properties) ? (schema.properties as Record<string, unknown>).value : undefined;
  if (!isObject(value)) return null;
  if (Array.isArray(value.anyOf)) {
    const branch = value.anyOf.find((b) => isObject(b) && b.type !== "null");
    return isObject(branch) ? branch : null;
  }
  return value;
}

function parseCall(style: OpenAiStyle, request: FakeRequest): OpenAiCall {
  const body = isObject(request.body) ? request.body : {};
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const searchTool = tools.some((tool) => isObject(tool) && typeof tool.type === "string" && tool.type.startsWith("web_search"));
  let format: OpenAiCall["format"] = null;
  if (style === "responses") {
    const f = isObject(body.text) && isObject(body.text.format) ? body.text.format : null;
    if (f?.type === "json_schema" && isObject(f.schema)) format = { name: f.name, strict: f.strict, schema: f.schema };
  } else {
    const f = isObject(body.response_format) ? body.response_format : null;
    const js = f?.type === "json_schema" && isObject(f.json_schema) ? f.json_schema : null;
    if (js && isObject(js.schema)) format = { name: js.name, strict: js.strict, schema: js.schema };
  }
  return {
    style,
    model: body.model,
    instructions: style === "responses" ? (typeof body.instructions === "string" ? body.instructions : "") : messagesText(body.messages, ["system", "developer"]),
    input: style === "responses" ? (typeof body.input === "string" ? body.input : messagesText(body.input, ["user"])) : messagesText(body.messages, ["user"]),
    format,
    valueSchema: valueSchemaOf(format?.schema),
    webSearch: style === "responses" ? searchTool : searchTool || body.web_search_options !== undefined,
    authorization: request.headers.authorization,
    body,
    request,
  };
}

// ---- writing replies in OpenAI's wire formats ----

let serial = 0;
const nextId = (prefix: string) => `${prefix}_${(++serial).toString(16).padStart(8, "0")}${Math.random().toString(16).slice(2, 10)}`;
const now = () => Math.floor(Date.now() / 1000);

function openAiError(status: number): { error: { message: string; type: string; param: null; code: string | null } } {
  const [type, code, message] =
    status === 401
      ? ["invalid_request_error", "invalid_api_key", "Incorrect API key provided."]
      : status === 404
        ? ["invalid_request_error", "unknown_url", "Unknown request URL."]
        : status === 429
          ? ["requests", "rate_limit_exceeded", "Rate limit reached for requests."]
          : status >= 500
            ? ["server_error", null, "The server had an error while processing your request."]
            : ["invalid_request_error", null, "Invalid request."];
  return { error: { message, type, param: null, code } };
}

function citations(text: string, sources: readonly string[] | undefined) {
  return (sources ?? []).map((url) => ({ start_index: 0, end_index: text.length, url, title: `Page at ${url}` }));
}

type ModelOutput = { text: string | null; refusal: string | null; sources?: string[]; incomplete: Extract<FakeOpenAiReply, { kind: "incomplete" }> | null };

function modelOutput(reply: FakeOpenAiReply): ModelOutput {
  switch (reply.kind) {
    case "answer":
      return { text: JSON.stringify(reply.answer), refusal: null, sources: reply.sources, incomplete: null };
    case "text":
      return { text: reply.text, refusal: null, sources: reply.sources, incomplete: null };
    case "refusal":
      return { text: null, refusal: reply.refusal, incomplete: null };
    case "incomplete":
      return { text: reply.text ?? '{"value": "', refusal: null, incomplete: reply };
    default:
      throw new Error(`not a model output: ${reply.kind}`);
  }
}

function responsesBody(call: OpenAiCall, output: ModelOutput) {
  const content =
    output.refusal !== null
      ? [{ type: "refusal", refusal: output.refusal }]
      : [{ type: "output_text", text: output.text ?? "", annotations: citations(output.text ?? "", output.sources).map((c) => ({ type: "url_citation", ...c })), logprobs: [] }];
  const searched = call.webSearch && (output.sources?.length ?? 0) > 0;
  return {
    id: nextId("resp"),
    object: "response",
    created_at: now(),
    status: output.incomplete ? "incomplete" : "completed",
    error: null,
    incomplete_details: output.incomplete ? { reason: output.incomplete.reason } : null,
    instructions: call.body.instructions ?? null,
    model: call.model,
    output: [
      ...(searched ? [{ type: "web_search_call", id: nextId("ws"), status: "completed", action: { type: "search", query: call.input.slice(0, 80) } }] : []),
      { type: "message", id: nextId("msg"), status: output.incomplete ? "incomplete" : "completed", role: "assistant", content },
    ],
    parallel_tool_calls: true,
    store: call.body.store ?? true,
    text: call.body.text ?? { format: { type: "text" } },
    tools: call.body.tools ?? [],
    usage: { input_tokens: 120, input_tokens_details: { cached_tokens: 0 }, output_tokens: 40, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 160 },
  };
}

function chatBody(call: OpenAiCall, output: ModelOutput) {
  const finishReason = output.incomplete ? (output.incomplete.reason === "content_filter" ? "content_filter" : "length") : "stop";
  return {
    id: nextId("chatcmpl"),
    object: "chat.completion",
    created: now(),
    model: call.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: output.text,
          refusal: output.refusal,
          annotations: citations(output.text ?? "", output.sources).map((c) => ({ type: "url_citation", url_citation: c })),
        },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 },
  };
}

async function send(call: OpenAiCall, reply: FakeOpenAiReply, response: ServerResponse): Promise<void> {
  if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
  if (reply.kind === "hang") return new Promise<void>(() => {});
  if (reply.kind === "http") return sendJson(response, reply.status, reply.body === undefined ? openAiError(reply.status) : reply.body, reply.headers);
  const output = modelOutput(reply);
  sendJson(response, 200, call.style === "responses" ? responsesBody(call, output) : chatBody(call, output), { "x-request-id": nextId("req") });
}

const ROUTES: Record<string, OpenAiStyle> = { "/v1/responses": "responses", "/v1/chat/completions": "chat" };

export async function startFakeOpenAi(options: { apiKey?: string; responder?: Responder | FakeOpenAiReply } = {}): Promise<FakeOpenAi> {
  const apiKey = options.apiKey ?? FAKE_OPENAI_KEY;
  const initial = options.responder ?? sampleResponder;
  const toResponder = (r: Responder | FakeOpenAiReply): Responder => (typeof r === "function" ? r : () => r);
  let responder = toResponder(initial);
  const queue: FakeOpenAiReply[] = [];
  const calls: OpenAiCall[] = [];

  const http = await startHttpFake(async (request, response) => {
    const style = ROUTES[request.path];
    if (!style || request.method !== "POST") return sendJson(response, 404, openAiError(404));
    const call = parseCall(style, request);
    calls.push(call);
    if (call.authorization !== `Bearer ${apiKey}`) return sendJson(response, 401, openAiError(401));
    const reply = queue.shift() ?? (await responder(call));
    await send(call, reply, response);
  });

  return {
    baseUrl: `${http.url}/v1`,
    apiKey,
    calls,
    respond(next) {
      responder = toResponder(next);
    },
    enqueue(...replies) {
      queue.push(...replies);
    },
    reset() {
      calls.length = 0;
      queue.length = 0;
      http.requests.length = 0;
      responder = toResponder(initial);
    },
    close: () => http.close(),
  };
}
