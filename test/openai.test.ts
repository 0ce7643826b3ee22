import { afterAll, beforeEach, describe, expect, it } from "vitest";
import type { ColumnSchema } from "../src/db/schema";
import type { AiRequest } from "../src/providers/ai";
import { ProviderRequestError } from "../src/providers/http";
import { createOpenAiClient, DEFAULT_OPENAI_MODEL, parseOpenAiEnv, type OpenAiApiStyle, type OpenAiClientOptions } from "../src/providers/openai";
import { valueSchemaOf } from "../src/providers/value-schema";
import { FAKE_OPENAI_MODEL, fakeAnswer, fakeHttpError, fakeNotFound, fakeOpenAiClient, startFakeOpenAi, type FakeOpenAiReply } from "./helpers/fake-openai";

const fake = await startFakeOpenAi();
afterAll(() => fake.close());
beforeEach(() => fake.reset());

const MODEL = FAKE_OPENAI_MODEL;

function client(apiStyle: OpenAiApiStyle, overrides: Partial<OpenAiClientOptions> = {}) {
  return fakeOpenAiClient(fake, { apiStyle, maxAttempts: 3, ...overrides });
}

const TEXT_SCHEMA = valueSchemaOf({ type: "text" });

function ask(apiStyle: OpenAiApiStyle, request: Partial<AiRequest> = {}, overrides: Partial<OpenAiClientOptions> = {}) {
  return client(apiStyle, overrides).answer({
    instructions: "Name the CEO.",
    input: '{"type":"company","name":"Acme"}',
    valueSchema: TEXT_SCHEMA,
    webSearch: false,
    signal: new AbortController().signal,
    ...request,
  });
}

/** The strict schema every request must carry around the value's own schema. */
function answerFormat(valueSchema: Record<string, unknown>) {
  return {
    type: "object",
    additionalProperties: false,
    required: ["value", "reasoning", "found"],
    properties: {
      value: { anyOf: [valueSchema, { type: "null" }] },
      reasoning: { type: "string", description: expect.any(String) },
      found: { type: "boolean", description: expect.any(String) },
    },
  };
}

const WEB_INSTRUCTIONS = expect.stringMatching(/^You fill one cell[\s\S]*Search the web as needed[\s\S]*\nTask:\nName the CEO\.$/);
const OFFLINE_INSTRUCTIONS = expect.stringMatching(/^You fill one cell[\s\S]*You cannot search the web[\s\S]*\nTask:\nName the CEO\.$/);
const RESPONSE_ID = expect.stringMatching(/^(resp|chatcmpl)_[0-9a-f]+$/);

const metadata = () => ({ provider: "openai", model: MODEL, responseId: RESPONSE_ID });

describe("OpenAI client: the request", () => {
  it("Responses API: model, instructions, input, strict structured output, the web_search tool, no storage, the bearer key", async () => {
    fake.enqueue(fakeAnswer("Jane Roe", { sources: ["https://acme.com/team"] }));
    await ask("responses", { webSearch: true });

    expect(fake.calls).toHaveLength(1);
    const [call] = fake.calls;
    expect([call!.request.method, call!.request.path, call!.authorization, call!.request.headers["content-type"]]).toEqual([
      "POST",
      "/v1/responses",
      `Bearer ${fake.apiKey}`,
      "application/json",
    ]);
    expect(call!.body).toEqual({
      model: MODEL,
      instructions: WEB_INSTRUCTIONS,
      input: '{"type":"company","name":"Acme"}',
      text: { format: { type: "json_schema", name: "cell_answer", schema: answerFormat(TEXT_SCHEMA), strict: true } },
      tools: [{ type: "web_search" }],
      store: false,
    });
  });

  it("Responses API: no tools at all when web search is not allowed", async () => {
    await ask("responses", { webSearch: false });
    expect(fake.calls[0]!.body).toEqual({
      model: MODEL,
      instructions: OFFLINE_INSTRUCTIONS,
      input: '{"type":"company","name":"Acme"}',
      text: { format: { type: "json_schema", name: "cell_answer", schema: answerFormat(TEXT_SCHEMA), strict: true } },
      store: false,
    });
  });

  it("Chat Completions: system and user messages, response_format json_schema, web_search_options only for web search", async () => {
    const schema = valueSchemaOf({ type: "number" });
    await ask("chat", { webSearch: true, valueSchema: schema });
    await ask("chat", { webSearch: false, valueSchema: schema });

    expect(fake.calls.map((call) => [call.request.path, call.authorization])).toEqual([
      ["/v1/chat/completions", `Bearer ${fake.apiKey}`],
      ["/v1/chat/completions", `Bearer ${fake.apiKey}`],
    ]);
    const body = (instructions: unknown) => ({
      model: MODEL,
      messages: [
        { role: "system", content: instructions },
        { role: "user", content: '{"type":"company","name":"Acme"}' },
      ],
      response_format: { type: "json_schema", json_schema: { name: "cell_answer", schema: answerFormat(schema), strict: true } },
    });
    expect(fake.calls[0]!.body).toEqual({ ...body(WEB_INSTRUCTIONS), web_search_options: {} });
    expect(fake.calls[1]!.body).toEqual(body(OFFLINE_INSTRUCTIONS));
  });
});

describe.each<OpenAiApiStyle>(["responses", "chat"])("OpenAI client over the %s API", (style) => {
  it.each<[string, ColumnSchema, unknown]>([
    ["text", { type: "text" }, "Jane Roe"],
    ["number", { type: "number", format: "currency", currency: "USD" }, 1250000.5],
    ["boolean", { type: "boolean" }, false],
    ["url", { type: "url" }, "https://acme.com/careers"],
    ["date", { type: "date" }, "2024-02-29"],
    ["enum", { type: "enum", options: ["Seed", "Series A", "Series B"] }, "Series A"],
    ["multiselect", { type: "multiselect", options: ["SaaS", "Retail", "Health"], maxItems: 2 }, ["SaaS", "Health"]],
    ["list of emails", { type: "list", itemType: "email", maxItems: 3 }, ["ceo@acme.com", "cto@acme.com"]],
  ])("answers a %s value with its reasoning and metadata", async (_name, columnSchema, value) => {
    const valueSchema = valueSchemaOf(columnSchema);
    fake.enqueue(fakeAnswer(value, { reasoning: "  From the company's About page.  " }));

    const answer = await ask(style, { valueSchema });

    expect(answer).toEqual({ value, reasoning: "From the company's About page.", sources: [], metadata: metadata() });
    expect(fake.calls[0]!.valueSchema).toEqual(valueSchema);
  });

  it("captures the cited pages once each, without the search tool's tracking parameters", async () => {
    fake.enqueue(
      fakeAnswer("Jane Roe", {
        sources: ["https://acme.com/team?utm_source=openai", "https://news.example.org/acme-ceo", "https://acme.com/team", "not a url", "https://news.example.org/acme-ceo"],
      }),
    );
    const answer = await ask(style, { webSearch: true });
    expect(answer).toEqual({
      value: "Jane Roe",
      reasoning: "Stated on the cited pages.",
      sources: ["https://acme.com/team", "https://news.example.org/acme-ceo"],
      // The first title cited for a page is its title.
      sourceTitles: { "https://acme.com/team": "Page at https://acme.com/team?utm_source=openai", "https://news.example.org/acme-ceo": "Page at https://news.example.org/acme-ceo" },
      metadata: metadata(),
    });
  });

  it("reports nothing found as a null value with the model's reason", async () => {
    fake.enqueue(fakeNotFound("No page names a CEO."));
    expect(await ask(style)).toEqual({ value: null, reasoning: "No page names a CEO.", sources: [], metadata: metadata() });
  });

  it("drops a value the model says it did not find", async () => {
    fake.enqueue({ kind: "answer", answer: { value: "Probably Jane", reasoning: "Only a guess.", found: false } });
    expect(await ask(style)).toEqual({ value: null, reasoning: "Only a guess.", sources: [], metadata: metadata() });
  });

  it("waits as long as Retry-After asks on a 429, then answers", async () => {
    fake.enqueue(fakeHttpError(429, { "retry-after": "1" }), fakeAnswer("Jane Roe"));
    const started = Date.now();
    expect((await ask(style)).value).toBe("Jane Roe");
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.calls).toHaveLength(2);
  });

  it("retries a 500 until its attempts are spent, then fails with the status", async () => {
    fake.respond(fakeHttpError(500));
    const error = await ask(style).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderRequestError);
    expect(error).toMatchObject({
      failure: "http",
      status: 500,
      retryable: true,
      attempts: 3,
      message: expect.stringMatching(/^openai answered 500: \{"error":\{"message":"The server had an error.*\(after 3 attempts\)$/),
    });
    expect(fake.calls).toHaveLength(3);
  });

  it("recovers when a 503 is followed by an answer", async () => {
    fake.enqueue(fakeHttpError(503), fakeAnswer("Jane Roe"));
    expect((await ask(style)).value).toBe("Jane Roe");
    expect(fake.calls).toHaveLength(2);
  });

  it("times out a provider that does not answer, on every attempt", async () => {
    fake.respond({ kind: "hang" });
    const started = Date.now();
    await expect(ask(style, {}, { timeoutMs: 150, maxAttempts: 2 })).rejects.toMatchObject({
      failure: "timeout",
      retryable: true,
      attempts: 2,
      message: "openai did not answer within 150 ms (after 2 attempts)",
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(fake.calls).toHaveLength(2);
  });

  it("does not retry a rejected key", async () => {
    await expect(ask(style, {}, { apiKey: "sk-wrong" })).rejects.toMatchObject({ failure: "http", status: 401, retryable: false, attempts: 1 });
    expect(fake.calls).toHaveLength(1);
  });

  it.each<[string, FakeOpenAiReply, string]>([
    ["a body that is not JSON", { kind: "http", status: 200, body: "<html>gateway</html>" }, 'malformed answer: the body is not JSON: "<html>gateway</html>"'],
    ["a JSON body that is not an object", { kind: "http", status: 200, body: [1, 2] }, "malformed answer: the body is not a JSON object"],
    ["output text that is not JSON", { kind: "text", text: "The CEO is Jane Roe." }, 'malformed answer: the output is not JSON: "The CEO is Jane Roe."'],
    ["a refusal", { kind: "refusal", refusal: "I can't help with that." }, "malformed answer: the model refused: I can't help with that."],
    ["an output cut off at the token limit", { kind: "incomplete", reason: "max_output_tokens" }, "malformed answer: the response is incomplete (max_output_tokens)"],
    ["an output stopped by the content filter", { kind: "incomplete", reason: "content_filter" }, "malformed answer: the response is incomplete (content_filter)"],
    [
      "a value of the wrong type",
      { kind: "text", text: '{"value": 42, "reasoning": "x", "found": true}' },
      "malformed answer: the answer does not follow its schema (value: Invalid input: expected string, received number)",
    ],
    [
      "an answer missing a key",
      { kind: "text", text: '{"value": "Jane", "reasoning": "x"}' },
      "malformed answer: the answer does not follow its schema (found: Invalid input: expected boolean, received undefined)",
    ],
    [
      "an answer with an extra key",
      { kind: "text", text: '{"value": "Jane", "reasoning": "x", "found": true, "confidence": 0.4}' },
      'malformed answer: the answer does not follow its schema (answer: Unrecognized key: "confidence")',
    ],
  ])("fails on %s, without retrying", async (_name, reply, message) => {
    fake.enqueue(reply);
    await expect(ask(style)).rejects.toMatchObject({ failure: "malformed", retryable: false, status: 200, message });
    expect(fake.calls).toHaveLength(1);
  });

  it("fails on an option outside the column's options or too many items", async () => {
    const valueSchema = valueSchemaOf({ type: "multiselect", options: ["SaaS", "Retail"], maxItems: 1 });
    fake.enqueue(fakeAnswer(["Crypto"]), fakeAnswer(["SaaS", "Retail"]));
    await expect(ask(style, { valueSchema })).rejects.toMatchObject({
      failure: "malformed",
      message: expect.stringMatching(/^malformed answer: the answer does not follow its schema \(value\.0: Invalid option: expected one of "SaaS"\|"Retail"\)$/),
    });
    await expect(ask(style, { valueSchema })).rejects.toMatchObject({
      failure: "malformed",
      message: "malformed answer: the answer does not follow its schema (value: Too big: expected array to have <=1 items)",
    });
  });

  it("stops when the caller aborts, with the caller's reason", async () => {
    fake.respond({ kind: "hang" });
    const controller = new AbortController();
    const pending = ask(style, { signal: controller.signal }, { timeoutMs: 5000 });
    setTimeout(() => controller.abort(new Error("run cancelled")), 30);
    await expect(pending).rejects.toThrow("run cancelled");
    expect(fake.calls).toHaveLength(1);
  });

  it("keeps at most `concurrency` requests in flight", async () => {
    let inFlight = 0;
    let most = 0;
    fake.respond(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 40));
      inFlight -= 1;
      return fakeAnswer("Jane Roe");
    });
    const limited = client(style, { concurrency: 2 });
    const answers = await Promise.all(
      Array.from({ length: 7 }, () =>
        limited.answer({ instructions: "Name the CEO.", input: "{}", valueSchema: TEXT_SCHEMA, webSearch: false, signal: new AbortController().signal }),
      ),
    );
    expect(answers.map((answer) => answer.value)).toEqual(Array(7).fill("Jane Roe"));
    expect(most).toBe(2);
    expect(fake.calls).toHaveLength(7);
  });
});

describe("OpenAI client: Responses API details", () => {
  it("reads the answer from the last message, and citations from every message", async () => {
    fake.enqueue({
      kind: "http",
      status: 200,
      body: {
        id: "resp_1",
        object: "response",
        status: "completed",
        model: "gpt-test-mini-2026-01-01",
        output: [
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "Searching…", annotations: [{ type: "url_citation", url: "https://a.example/" }] }] },
          { type: "web_search_call", id: "ws_1", status: "completed", action: { type: "search", query: "Acme CEO" } },
          {
            type: "message",
            role: "assistant",
            content: [
              {
                type: "output_text",
                text: '{"value":"Jane Roe","reasoning":"Named on the team page.","found":true}',
                annotations: [{ type: "url_citation", url: "https://b.example/team", start_index: 0, end_index: 10, title: "Team" }, { type: "file_citation", file_id: "f" }],
              },
            ],
          },
        ],
      },
    });
    expect(await ask("responses", { webSearch: true })).toEqual({
      value: "Jane Roe",
      reasoning: "Named on the team page.",
      sources: ["https://a.example/", "https://b.example/team"],
      // The first citation names no title, so that page has none.
      sourceTitles: { "https://b.example/team": "Team" },
      metadata: { provider: "openai", model: "gpt-test-mini-2026-01-01", responseId: "resp_1" },
    });
  });

  it("accepts a compatible server's bare output_text", async () => {
    fake.enqueue({ kind: "http", status: 200, body: { output: [], output_text: '{"value":"Jane Roe","reasoning":"r","found":true}' } });
    expect(await ask("responses")).toEqual({ value: "Jane Roe", reasoning: "r", sources: [], metadata: { provider: "openai", model: MODEL } });
  });

  it.each<[string, unknown, string]>([
    ["a failed response", { status: "failed", error: { code: "server_error", message: "The model crashed." }, output: [] }, "openai could not answer: The model crashed."],
    ["a response still in progress", { status: "in_progress", output: [] }, 'malformed answer: unexpected response status "in_progress"'],
    ["a response without output", { status: "completed" }, "malformed answer: the response has no output"],
    ["a response without text", { status: "completed", output: [{ type: "web_search_call", id: "ws" }] }, "malformed answer: the response has no output text"],
  ])("fails on %s", async (_name, body, message) => {
    fake.enqueue({ kind: "http", status: 200, body });
    await expect(ask("responses")).rejects.toMatchObject({ retryable: false, status: 200, message });
  });
});

describe("OpenAI client: Chat Completions details", () => {
  it.each<[string, unknown, string]>([
    ["a completion without choices", { id: "c", choices: [] }, "malformed answer: the completion has no message"],
    ["a message without content", { id: "c", choices: [{ index: 0, message: { role: "assistant", content: null }, finish_reason: "stop" }] }, "malformed answer: the message has no content"],
  ])("fails on %s", async (_name, body, message) => {
    fake.enqueue({ kind: "http", status: 200, body });
    await expect(ask("chat")).rejects.toMatchObject({ failure: "malformed", retryable: false, message });
  });
});

describe("OpenAI client from the environment", () => {
  it("is absent without a key (a blank key counts as none)", () => {
    expect(createOpenAiClient({})).toBeNull();
    expect(createOpenAiClient({ OPENAI_API_KEY: "  ", OPENAI_MODEL: "gpt-x" })).toBeNull();
  });

  it("reads its settings, with defaults for what is unset or blank", () => {
    expect(parseOpenAiEnv({ OPENAI_API_KEY: "sk-1", OPENAI_TIMEOUT_MS: "" })).toEqual({
      apiKey: "sk-1",
      baseUrl: "https://api.openai.com/v1",
      model: DEFAULT_OPENAI_MODEL,
      apiStyle: "responses",
      timeoutMs: 60_000,
      concurrency: 4,
      maxAttempts: 3,
    });
    expect(
      parseOpenAiEnv({
        OPENAI_API_KEY: "sk-2",
        OPENAI_BASE_URL: "http://127.0.0.1:8000/v1",
        OPENAI_MODEL: "local-model",
        OPENAI_API_STYLE: "chat",
        OPENAI_TIMEOUT_MS: "1500",
        OPENAI_CONCURRENCY: 8,
        OPENAI_MAX_ATTEMPTS: "1",
      }),
    ).toEqual({ apiKey: "sk-2", baseUrl: "http://127.0.0.1:8000/v1", model: "local-model", apiStyle: "chat", timeoutMs: 1500, concurrency: 8, maxAttempts: 1 });
  });

  it("fails clearly on malformed values, naming each, even without a key", () => {
    expect(() => parseOpenAiEnv({ OPENAI_TIMEOUT_MS: "soon", OPENAI_API_STYLE: "completions", OPENAI_BASE_URL: "ftp://models.local" })).toThrow(
      [
        "Invalid environment:",
        '  OPENAI_BASE_URL: expected an http(s) URL (got "ftp://models.local")',
        '  OPENAI_API_STYLE: Invalid option: expected one of "responses"|"chat" (got "completions")',
        '  OPENAI_TIMEOUT_MS: Invalid input: expected number, received NaN (got "soon")',
      ].join("\n"),
    );
    expect(() => parseOpenAiEnv({ OPENAI_API_KEY: "sk", OPENAI_CONCURRENCY: "0", OPENAI_MAX_ATTEMPTS: "2.5" })).toThrow(
      ["Invalid environment:", '  OPENAI_CONCURRENCY: Too small: expected number to be >=1 (got "0")', '  OPENAI_MAX_ATTEMPTS: Invalid input: expected int, received number (got "2.5")'].join(
        "\n",
      ),
    );
  });

  it("talks to the configured endpoint, style and model", async () => {
    const ai = createOpenAiClient({ OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, OPENAI_API_STYLE: "chat", OPENAI_MODEL: "compatible-7b" });
    expect([ai?.provider, ai?.model]).toEqual(["openai", "compatible-7b"]);
    fake.enqueue(fakeAnswer("Jane Roe"));
    const answer = await ai!.answer({ instructions: "Name the CEO.", input: "{}", valueSchema: TEXT_SCHEMA, webSearch: false, signal: new AbortController().signal });
    expect(answer).toEqual({ value: "Jane Roe", reasoning: "Stated on the cited pages.", sources: [], metadata: { provider: "openai", model: "compatible-7b", responseId: RESPONSE_ID } });
    expect(fake.calls.map((call) => [call.request.path, call.model])).toEqual([["/v1/chat/completions", "compatible-7b"]]);
  });
});
