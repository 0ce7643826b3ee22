import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ValidationIssue } from "../errors";
import type { ToolRoute } from "./tools";

/** The API request a tool call stands for, or what keeps the arguments from making one. */
export type ApiRequest = { request: Request } | { issues: ValidationIssue[] };

/**
 * A tool call's arguments as its operation's HTTP request: path parameters into the path, query
 * parameters into the query string, everything else into the JSON body when the operation takes
 * one (else into the query string, where the API ignores what it does not know, as it would over
 * HTTP). The API itself validates all of it, so the tool answers exactly what the route would.
 */
export function apiRequest(route: ToolRoute, args: Record<string, unknown>, origin: string, headers: Record<string, string>): ApiRequest {
  const missing = route.pathParams.filter((name) => args[name] === undefined || args[name] === null || args[name] === "");
  // Without them there is no path to send, so the API could not name the fault itself.
  if (missing.length > 0) return { issues: missing.map((name) => ({ path: name, message: "Required" })) };

  const path = route.path.replaceAll(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(scalar(args[name])));
  const query = new URLSearchParams();
  const body: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined || route.pathParams.includes(name)) continue;
    if (route.hasBody && !route.queryParams.includes(name)) {
      body[name] = value;
      continue;
    }
    if (value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(name, scalar(item));
  }

  const url = new URL(path, origin);
  url.search = query.toString();
  // A GET or HEAD request cannot carry a body at all.
  const withBody = route.hasBody && route.method !== "GET" && route.method !== "HEAD";
  const request = new Request(url, {
    method: route.method,
    headers: { accept: "application/json", ...headers, ...(withBody ? { "content-type": "application/json" } : {}) },
    ...(withBody ? { body: JSON.stringify(body) } : {}),
  });
  return { request };
}

function scalar(value: unknown): string {
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

/** The API's answer as the tool's result: its JSON as text and as structured content; an error is a tool error carrying the envelope. */
export async function toolResult(response: Response): Promise<CallToolResult> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { content: [{ type: "text", text }], ...(response.ok ? {} : { isError: true }) };
  }
  return resultOf(body, !response.ok);
}

export function resultOf(body: unknown, isError: boolean): CallToolResult {
  const structured = typeof body === "object" && body !== null && !Array.isArray(body);
  return {
    content: [{ type: "text", text: JSON.stringify(body) }],
    ...(structured ? { structuredContent: body as Record<string, unknown> } : {}),
    ...(isError ? { isError: true } : {}),
  };
}
