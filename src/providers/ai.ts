import type { ColumnSchema } from "../db/schema";

// What the AI-backed providers ask of a language model, whichever API answers: an instruction, the
// material to work from, and the JSON Schema the answer must follow. AI columns, website overviews,
// hiring classification and the web-search fallback of the company enrichments all go through it.

export type AiRequest = {
  /** What to do, e.g. the column's prompt with the row's data rendered in. */
  instructions: string;
  /** The material: the row's data, a crawled page's text. */
  input: string;
  /** JSON Schema of the `value` the answer must carry. */
  valueSchema: Record<string, unknown>;
  /** Live web search allowed (AI columns with source `web`, and the web fallbacks). */
  webSearch: boolean;
  signal: AbortSignal;
};

export type AiAnswer = {
  value: unknown;
  /** A short explanation, kept on the cell. */
  reasoning: string;
  /** URLs the answer relied on (web search). */
  sources: string[];
  /** The titles of those pages, by URL, where the search named them; absent when it named none. */
  sourceTitles?: Record<string, string>;
  metadata: { provider: string; model: string } & Record<string, unknown>;
};

export interface AiClient {
  readonly provider: string;
  readonly model: string;
  /** Rejects with a ProviderRequestError (src/providers/http.ts) when the model cannot answer. */
  answer(request: AiRequest): Promise<AiAnswer>;
}

/** The JSON Schema of a cell value of the given column schema, for structured output. */
export type ValueSchemaOf = (schema: ColumnSchema | null) => Record<string, unknown>;
