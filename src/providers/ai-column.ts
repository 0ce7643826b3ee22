import { columnKey, fieldKey, PLACEHOLDER, PLACEHOLDER_FIELDS, referenceText } from "../domain/engine/placeholders";
import type { AiAnswer, AiClient } from "./ai";
import { misfitFailure, personName } from "./common";
import { failedOutcome } from "./http";
import type { CellProvider, CellRequest, ProviderColumn, ProviderResult, RowData } from "./types";
import { valueSchemaOf } from "./value-schema";

// The `ai` provider: AI prompt columns (sheet-ai-enrich) and `custom_ai` enrichment runs. It renders
// the column's prompt with the row's data, asks the model for a value of the column's type (with live
// web search for `source: web`, from the row's data alone for `reasoning`), and maps what comes back
// to a result: an answer that fits the column is the cell's value; "nothing found" completes the cell
// empty with the model's reason; everything else is a failure with a clear error.

const UNKNOWN = "(unknown)";

type Fields = Record<string, string | null>;

/** Placeholder names a prompt may use (their field keys, src/domain/engine/placeholders.ts), with the row's values. */
function placeholderFields(row: RowData): Fields {
  const values: Record<string, string | null> =
    row.subject === "company"
      ? {
          name: row.name || null,
          domain: row.domain,
          // A company row often has only its domain; that is its website for a prompt.
          website: row.website ?? row.domain,
          industry: row.industry,
          location: row.location,
          description: row.description,
        }
      : {
          name: personName(row),
          firstName: row.firstName,
          lastName: row.lastName,
          company: row.company,
          domain: row.domain,
          title: row.role,
          linkedinUrl: row.linkedinUrl,
          location: row.location,
          email: row.email,
        };
  return Object.fromEntries(Object.entries(PLACEHOLDER_FIELDS[row.subject]).map(([key, field]) => [key, values[field] ?? null]));
}

/**
 * The prompt with its `{{…}}` placeholders replaced: another column the prompt names (`refs`, resolved
 * when the column was written) by the row's value in it, a row field (any case, `first_name` or
 * `firstName`) by the row's value; either reads "(unknown)" when the row has no value there, and a
 * name that is neither is left as written.
 */
export function renderPrompt(prompt: string, row: RowData, refs: ProviderColumn["refs"] = []): string {
  const fields = placeholderFields(row);
  return prompt.replace(PLACEHOLDER, (whole, name: string) => {
    const ref = refs.find((r) => r.name === columnKey(name));
    if (ref) return referenceText(row.referenced?.[ref.columnId]) ?? UNKNOWN;
    const key = fieldKey(name);
    if (!(key in fields)) return whole;
    const value = fields[key]?.trim();
    return value ? value : UNKNOWN;
  });
}

/** The row's data as compact JSON, with only the fields it has, for the model to work from. */
export function rowInput(row: RowData): string {
  const data =
    row.subject === "company"
      ? { type: "company", name: row.name, domain: row.domain, website: row.website, industry: row.industry, location: row.location, description: row.description }
      : {
          type: "person",
          name: personName(row),
          firstName: row.firstName,
          lastName: row.lastName,
          role: row.role,
          company: row.company,
          domain: row.domain,
          linkedin: row.linkedinUrl,
          location: row.location,
          email: row.email,
        };
  return JSON.stringify(Object.fromEntries(Object.entries(data).filter(([, value]) => typeof value === "string" && value.trim() !== "")));
}

/** `web` columns may search; every other source answers from the row's data alone. */
const searchesWeb = (column: ProviderColumn) => column.source === "web";

export function instructionsFor(column: ProviderColumn, row: RowData): string {
  const question = renderPrompt(column.prompt?.trim() || column.name, row, column.refs);
  const subject = row.subject === "company" ? "company" : "person";
  return [
    `Spreadsheet column "${column.name}", one row per ${subject}. For the ${subject} described by the JSON input, answer:`,
    question,
    searchesWeb(column)
      ? `Look the ${subject} up on the live web and cite the pages the answer comes from.`
      : `Answer from the ${subject}'s data in the input only, by reasoning over it; do not look anything up or add facts from elsewhere. If that data does not settle the question, report it as not found.`,
  ].join("\n");
}

function answerResult(column: ProviderColumn, answer: AiAnswer): ProviderResult {
  if (answer.value === null || answer.value === undefined) {
    return { outcome: "no_match", reason: answer.reasoning || "The model found no answer", metadata: answer.metadata };
  }
  const misfit = misfitFailure(column.schema, answer.value, answer.metadata);
  if (misfit) return misfit;
  return {
    outcome: "value",
    value: answer.value,
    reasoning: answer.reasoning,
    ...(searchesWeb(column) ? { sources: answer.sources, ...(answer.sourceTitles ? { sourceTitles: answer.sourceTitles } : {}) } : {}),
    metadata: answer.metadata,
  };
}

export function createAiColumnProvider(ai: AiClient): CellProvider {
  return {
    name: ai.provider,
    async enrich({ column, row, signal }: CellRequest): Promise<ProviderResult> {
      let answer: AiAnswer;
      try {
        answer = await ai.answer({
          instructions: instructionsFor(column, row),
          input: rowInput(row),
          valueSchema: valueSchemaOf(column.schema),
          webSearch: searchesWeb(column),
          signal,
        });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        return failedOutcome(error, { provider: ai.provider, model: ai.model });
      }
      return answerResult(column, answer);
    },
  };
}
