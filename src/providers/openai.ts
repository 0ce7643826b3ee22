import { z } from "zod";
import type { AiAnswer, AiClient, AiRequest } from "./ai";
import { createHttpClient, ProviderRequestError, type HttpClientOptions } from "./http";
import type { ProviderEnv } from "./index";
import { blankAsUnset, describeIssues, malformed, parseProviderEnv } from "./common";

// The AiClient over the OpenAI API, or any endpoint that speaks it. Two wire styles: the Responses
// API (the default; live web search through its `web_search` tool) and Chat Completions (for
// compatible servers that only have that; web search through `web_search_options`, which only
// search-capable models accept). Either way the model must answer with structured output
// `{ value, reasoning, found }` under a strict JSON Schema, and the answer is checked against that
// schema before anyone sees it: a 200 that does not carry a valid answer is a malformed answer.

export const OPENAI_PROVIDER = "openai";
export const DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1";
/** Small, fast and able to search the web: one answer per cell, for many cells. */
export const DEFAULT_OPENAI_MODEL = "gpt-5.4-mini";

export type OpenAiApiStyle = "responses" | "chat";

export type OpenAiConfig = {
  apiKey: string;
  baseUrl: string;
  model: string;
  apiStyle: OpenAiApiStyle;
  /** Per attempt; web searches take tens of seconds. */
  timeoutMs: number;
  /** Requests in flight at once through this client. */
  concurrency: number;
  /** Attempts per answer, the first included (429, 5xx, timeouts and network failures are retried). */
  maxAttempts: number;
};

export type OpenAiClientOptions = OpenAiConfig & { http?: Pick<HttpClientOptions, "backoff" | "maxRetryAfterMs" | "fetch"> };

// Unset variables often arrive as empty strings (compose files, .env templates): they mean "use the default".

const openAiEnvSchema = z.object({
  OPENAI_API_KEY: blankAsUnset(z.string().trim().min(1).optional()),
  OPENAI_BASE_URL: blankAsUnset(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).default(DEFAULT_OPENAI_BASE_URL)),
  OPENAI_MODEL: blankAsUnset(z.string().trim().min(1).default(DEFAULT_OPENAI_MODEL)),
  OPENAI_API_STYLE: blankAsUnset(z.enum(["responses", "chat"]).default("responses")),
  OPENAI_TIMEOUT_MS: blankAsUnset(z.coerce.number().int().min(1).max(600_000).default(60_000)),
  OPENAI_CONCURRENCY: blankAsUnset(z.coerce.number().int().min(1).max(1000).default(4)),
  OPENAI_MAX_ATTEMPTS: blankAsUnset(z.coerce.number().int().min(1).max(10).default(3)),
});

/**
 * The client's settings from the environment; null when no OPENAI_API_KEY is set. Malformed values
 * throw, even without a key, so a typo is found at start-up rather than when a key is added.
 */
export function parseOpenAiEnv(env: ProviderEnv): OpenAiConfig | null {
  // The key is a secret: never echoed, even when it is the malformed value.
  const e = parseProviderEnv(openAiEnvSchema, env, ["OPENAI_API_KEY"]);
  if (!e.OPENAI_API_KEY) return null;
  return {
    apiKey: e.OPENAI_API_KEY,
    baseUrl: e.OPENAI_BASE_URL,
    model: e.OPENAI_MODEL,
    apiStyle: e.OPENAI_API_STYLE,
    timeoutMs: e.OPENAI_TIMEOUT_MS,
    concurrency: e.OPENAI_CONCURRENCY,
    maxAttempts: e.OPENAI_MAX_ATTEMPTS,
  };
}

/** The OpenAI client configured by the environment, or null when OPENAI_API_KEY is absent. */
export function createOpenAiClient(env: ProviderEnv): AiClient | null {
  const config = parseOpenAiEnv(env);
  return config ? openAiClient(config) : null;
}

// ---- the structured answer ----

const ANSWER_FORMAT_NAME = "cell_answer";

/** The strict JSON Schema of the whole answer: the value (or null), a short reasoning, and whether anything was found. */
export function answerSchemaOf(valueSchema: Record<string, unknown>): Record<string, unknown> {
  return {
    type: "object",
    additionalProperties: false,
    required: ["value", "reasoning", "found"],
    properties: {
      value: { anyOf: [valueSchema, { type: "null" }] },
      reasoning: { type: "string", description: "One or two short sentences: how the answer was reached, or why there is none." },
      found: { type: "boolean", description: "True when value holds the answer; false when it could not be found or determined." },
    },
  };
}

function framingOf(request: AiRequest): string {
  return [
    "You fill one cell of a lead-research spreadsheet. Reply with JSON following the given schema:",
    '- "value": the answer, in the requested type; null when you could not find or determine it.',
    '- "reasoning": one or two short sentences on how you got the answer, or why there is none.',
    '- "found": true when "value" holds the answer, false otherwise.',
    "Never guess or invent: when nothing supports an answer, set found to false and value to null.",
    request.webSearch
      ? "Search the web as needed and base the answer on the pages you cite."
      : "You cannot search the web: answer from the material you are given only.",
    "",
    "Task:",
    request.instructions,
  ].join("\n");
}

/** A page the model cites, as the annotation gives it. */
type Citation = { url: unknown; title: unknown };

type ModelReply = { text: string; citations: Citation[]; model: unknown; id: unknown };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);


const excerpt = (text: string, max = 120) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * Cited pages, in order and once each, with the first title given for each page. The search tool
 * tags the links it cites with utm_ parameters (utm_source=openai), which would make one page look
 * like several.
 */
function distinctSources(citations: readonly Citation[]): Pick<AiAnswer, "sources" | "sourceTitles"> {
  const titles = new Map<string, string | null>();
  for (const citation of citations) {
    if (typeof citation.url !== "string") continue;
    let url: URL;
    try {
      url = new URL(citation.url);
    } catch {
      continue;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") continue;
    for (const key of [...url.searchParams.keys()]) if (key.toLowerCase().startsWith("utm_")) url.searchParams.delete(key);
    const title = typeof citation.title === "string" && citation.title.trim() ? citation.title.trim() : null;
    const page = url.toString();
    if (!titles.get(page)) titles.set(page, title);
  }
  const named = [...titles].filter((entry): entry is [string, string] => entry[1] !== null);
  return { sources: [...titles.keys()], ...(named.length > 0 ? { sourceTitles: Object.fromEntries(named) } : {}) };
}

function citationsOf(annotations: unknown, citationOf: (annotation: Record<string, unknown>) => unknown): Citation[] {
  if (!Array.isArray(annotations)) return [];
  return annotations.flatMap((annotation) => {
    if (!isObject(annotation) || annotation.type !== "url_citation") return [];
    const citation = citationOf(annotation);
    return isObject(citation) ? [{ url: citation.url, title: citation.title }] : [];
  });
}

/** The answer text and citations of a Responses API body. */
function readResponse(body: Record<string, unknown>): ModelReply {
  if (body.status === "failed") {
    const error = isObject(body.error) && typeof body.error.message === "string" ? body.error.message : "no reason given";
    throw new ProviderRequestError(`${OPENAI_PROVIDER} could not answer: ${error}`, "http", false, 200);
  }
  if (body.status === "incomplete") {
    const reason = isObject(body.incomplete_details) && typeof body.incomplete_details.reason === "string" ? body.incomplete_details.reason : "no reason given";
    throw malformed(`the response is incomplete (${reason})`);
  }
  if (body.status !== undefined && body.status !== "completed") throw malformed(`unexpected response status ${JSON.stringify(body.status)}`);
  if (!Array.isArray(body.output)) throw malformed("the response has no output");

  let text: string | null = null;
  const citations: Citation[] = [];
  for (const item of body.output) {
    if (!isObject(item) || item.type !== "message" || !Array.isArray(item.content)) continue;
    const parts = item.content.filter(isObject);
    const refusal = parts.find((part) => part.type === "refusal");
    if (refusal) throw malformed(`the model refused: ${typeof refusal.refusal === "string" ? refusal.refusal : "no reason given"}`);
    const texts = parts.filter((part) => part.type === "output_text" && typeof part.text === "string");
    // The final message carries the answer; earlier ones (if any) are progress notes around tool calls.
    if (texts.length > 0) text = texts.map((part) => part.text as string).join("");
    for (const part of texts) citations.push(...citationsOf(part.annotations, (annotation) => annotation));
  }
  // Some compatible servers also send the SDKs' `output_text` convenience field, and only that.
  text ??= typeof body.output_text === "string" ? body.output_text : null;
  if (text === null) throw malformed("the response has no output text");
  return { text, citations, model: body.model, id: body.id };
}

/** The answer text and citations of a Chat Completions body. */
function readChatCompletion(body: Record<string, unknown>): ModelReply {
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isObject(choice) || !isObject(choice.message)) throw malformed("the completion has no message");
  const message = choice.message;
  if (typeof message.refusal === "string" && message.refusal) throw malformed(`the model refused: ${message.refusal}`);
  if (choice.finish_reason === "length" || choice.finish_reason === "content_filter") {
    throw malformed(`the response is incomplete (${choice.finish_reason === "length" ? "max_output_tokens" : "content_filter"})`);
  }
  const text = typeof message.content === "string" ? message.content : null;
  if (text === null) throw malformed("the message has no content");
  const citations = citationsOf(message.annotations, (annotation) => annotation.url_citation);
  return { text, citations, model: body.model, id: body.id };
}

type Answer = { value: unknown; reasoning: string; found: boolean };

/** Issues as "path: message", looking into the first branch of a failed anyOf (the value's own schema). */
function describeAnswerIssues(issues: readonly z.core.$ZodIssue[], limit = 3): string {
  const flat = issues.flatMap((issue): z.core.$ZodIssue[] =>
    issue.code === "invalid_union" && issue.errors.length > 0 ? issue.errors[0]!.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })) : [issue],
  );
  return describeIssues(flat, limit, "answer");
}

function parseAnswer(text: string, validator: z.ZodType): Answer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw malformed(`the output is not JSON: ${JSON.stringify(excerpt(text))}`);
  }
  const checked = validator.safeParse(json);
  if (!checked.success) throw malformed(`the answer does not follow its schema (${describeAnswerIssues(checked.error.issues)})`);
  return checked.data as Answer;
}

export function openAiClient(options: OpenAiClientOptions): AiClient {
  const http = createHttpClient({
    provider: OPENAI_PROVIDER,
    baseUrl: options.baseUrl,
    headers: { authorization: `Bearer ${options.apiKey}` },
    timeoutMs: options.timeoutMs,
    maxAttempts: options.maxAttempts,
    concurrency: options.concurrency,
    ...options.http,
  });
  const style = options.apiStyle;

  function requestBody(request: AiRequest, schema: Record<string, unknown>): Record<string, unknown> {
    if (style === "responses") {
      return {
        model: options.model,
        instructions: framingOf(request),
        input: request.input,
        text: { format: { type: "json_schema", name: ANSWER_FORMAT_NAME, schema, strict: true } },
        ...(request.webSearch ? { tools: [{ type: "web_search" }] } : {}),
        // Lead data is not kept on the provider's side.
        store: false,
      };
    }
    return {
      model: options.model,
      messages: [
        { role: "system", content: framingOf(request) },
        { role: "user", content: request.input },
      ],
      response_format: { type: "json_schema", json_schema: { name: ANSWER_FORMAT_NAME, schema, strict: true } },
      ...(request.webSearch ? { web_search_options: {} } : {}),
    };
  }

  return {
    provider: OPENAI_PROVIDER,
    model: options.model,
    async answer(request: AiRequest): Promise<AiAnswer> {
      const schema = answerSchemaOf(request.valueSchema);
      // Built before the call: a schema the checker cannot read is a bug here, not worth a paid request.
      const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
      const res = await http.request("POST", style === "responses" ? "responses" : "chat/completions", {
        body: requestBody(request, schema),
        signal: request.signal,
      });
      let body: unknown;
      try {
        body = JSON.parse(res.text);
      } catch {
        throw malformed(`the body is not JSON: ${JSON.stringify(excerpt(res.text))}`);
      }
      if (!isObject(body)) throw malformed("the body is not a JSON object");
      const reply = style === "responses" ? readResponse(body) : readChatCompletion(body);
      const answer = parseAnswer(reply.text, validator);
      return {
        // "Not found" is one thing to every caller: a null value, whatever else the model put there.
        value: answer.found ? answer.value : null,
        reasoning: answer.reasoning.trim(),
        ...distinctSources(reply.citations),
        metadata: {
          provider: OPENAI_PROVIDER,
          model: typeof reply.model === "string" && reply.model ? reply.model : options.model,
          ...(typeof reply.id === "string" ? { responseId: reply.id } : {}),
        },
      };
    },
  };
}
