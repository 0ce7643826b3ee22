import type { Operation } from "../routes/operation";

/** The tool name of the operation at (method, path), if the API has it. */
export type ToolNames = (method: Operation["spec"]["method"], path: string) => string | undefined;

// The operations agents are pointed to, by their place in the API (stable) rather than by name.
const READS = {
  creditCosts: ["get", "/api/credits/config"],
  creditPreview: ["post", "/api/credits/preview"],
  column: ["get", "/api/lists/{id}/columns/{colId}"],
  sheet: ["get", "/api/lists/{id}"],
  rows: ["get", "/api/lists/{id}/rows"],
  companies: ["get", "/api/lists/{id}/companies"],
  previewCells: ["get", "/api/lists/{id}/columns/{colId}/preview-cells"],
  run: ["get", "/api/enrichment/{id}"],
  runItems: ["get", "/api/enrichment/{id}/items"],
} as const satisfies Record<string, [Operation["spec"]["method"], string]>;

const POLL = "every 2–5 seconds (not faster)";

function nameOf(names: ToolNames, read: keyof typeof READS): string {
  const [method, path] = READS[read];
  return names(method, path) ?? `${method.toUpperCase()} ${path}`;
}

/** "a", "a or b", "a, b or c": only the parts whose tool exists. */
function either(parts: (string | undefined)[], conjunction = "or"): string {
  const present = parts.filter((part): part is string => Boolean(part));
  return present.length <= 1 ? (present[0] ?? "") : `${present.slice(0, -1).join(", ")} ${conjunction} ${present.at(-1)}`;
}

function cellReaders(names: ToolNames): string {
  const readers = [
    names(...READS.column) && `${names(...READS.column)} (the column's \`progress\`)`,
    names(...READS.sheet),
    names(...READS.rows) && `${names(...READS.rows)} (people)`,
    names(...READS.companies) && `${names(...READS.companies)} (companies)`,
    names(...READS.previewCells) && `${names(...READS.previewCells)} (a preview column)`,
  ];
  return either(readers) || `${nameOf(names, "sheet")}`;
}

function followCells(names: ToolNames): string {
  return `Background work: the answer comes at once with the cells \`pending\`. Poll ${POLL} with ${cellReaders(names)} until none of the cells is \`pending\` or \`processing\`; \`completed\` and \`failed\` are final.`;
}

function followRun(names: ToolNames): string {
  return (
    `Background work: a run (any mode but \`preview\`) continues after the answer. Poll ${nameOf(names, "run")} with its \`enrichmentRunId\` ${POLL} ` +
    `until \`status\` is \`completed\`, \`failed\` or \`cancelled\`, then read each lead's result with ${nameOf(names, "runItems")} (\`status: "failed"\` to triage).`
  );
}

function creditGate(names: ToolNames): string {
  return (
    "Can cost credits. When the balance does not cover the whole request, the call fails with INSUFFICIENT_CREDITS (HTTP 402) carrying `required` and `balance`, " +
    `and nothing is written or charged. Check prices with ${nameOf(names, "creditCosts")} and a cost with ${nameOf(names, "creditPreview")} first; on a 402, ask the human to top up rather than retrying.`
  );
}

const IDEMPOTENCY =
  "pass an `idempotencyKey` whenever the call may be retried: the same key with the same arguments returns the same run (`reusedExistingRun: true`) and charges once; " +
  "the same key with other arguments fails with IDEMPOTENCY_KEY_REUSED (HTTP 409).";

/** What an agent should know about one tool beyond its operation's own description. */
export function toolGuidance(operation: Operation, argumentNames: string[], names: ToolNames): string[] {
  const { spec } = operation;
  const guidance: string[] = [];
  if (spec.background === "column" || spec.background === "cells") guidance.push(followCells(names));
  if (spec.background === "run") guidance.push(followRun(names));
  if (spec.errors?.includes(402)) guidance.push(creditGate(names));
  if (argumentNames.includes("idempotencyKey")) guidance.push(`Retry-safe: ${IDEMPOTENCY}`);
  return guidance;
}

/** The server's instructions: what holds for every tool. */
export function serverInstructions(operations: readonly Operation[], names: ToolNames, retrySafe: string[]): string {
  const background = operations.filter((operation) => operation.spec.background).map((operation) => operation.spec.operationId);
  const paid = operations.filter((operation) => operation.spec.errors?.includes(402)).map((operation) => operation.spec.operationId);
  return [
    "The lead-enrichment API as tools: lists (sheets) of people and companies whose columns are filled by AI prompts (optionally from the live web) and by enrichment providers, every paid action priced in credits. " +
      "Each tool is one API operation, named by its operationId; its arguments are the operation's path parameters, query parameters and body properties, and its result is the API's JSON answer (as text and as structuredContent). Every call acts in the workspace of the API key this server was reached with.",
    "Errors: a failed call is a tool error whose text and structuredContent are the API's error envelope `{ error, code, requestId, ... }`; act on `code`. " +
      "VALIDATION_ERROR carries `issues` (`{ path, message }`) naming the bad arguments; NOT_FOUND means the id is not in this workspace; RATE_LIMITED and UNAVAILABLE carry `retryAfter`, the seconds to wait before trying again. Quote `requestId` when reporting a problem.",
    `Credits: ${paid.length > 0 ? `${either(paid, "and")} can cost credits. ` : ""}A call the balance does not cover fails with INSUFFICIENT_CREDITS (HTTP 402) carrying \`required\` and \`balance\`; nothing is written or charged. ` +
      `Check prices with ${nameOf(names, "creditCosts")} and a cost with ${nameOf(names, "creditPreview")} before paid work, and ask the human to top up rather than retrying a 402.`,
    `Background work: ${background.length > 0 ? `${either(background, "and")} answer at once and continue in the background. ` : "some calls answer at once and continue in the background. "}` +
      `Poll ${POLL}: a column's cells with ${cellReaders(names)} until none is \`pending\` or \`processing\`; an enrichment run with ${nameOf(names, "run")} until its \`status\` is \`completed\`, \`failed\` or \`cancelled\`.`,
    ...(retrySafe.length > 0 ? [`Retries: for ${either(retrySafe, "and")}, ${IDEMPOTENCY}`] : []),
  ].join("\n\n");
}
