import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation";
import type { Context } from "hono";
import type { AppEnv } from "../context";
import { AppError, errorBody } from "../errors";
import { OPERATIONS, openApiDocument } from "../routes";
import { apiRequest, resultOf, toolResult } from "./call";
import { MAX_BODY_BYTES } from "../limits";
import { buildTools, type ApiTool, type ToolCatalog } from "./tools";

/** Sends one request through the whole API (auth, validation, handler, error envelope). */
export type CallApi = (request: Request) => Promise<Response>;

// The server never asks the client for input (elicitation), the one thing it would validate against
// a JSON Schema itself; tool arguments are validated by the API. So no validator is compiled, which
// also keeps code generation (refused on Workers) out of every request.
const NO_SCHEMA_VALIDATION: jsonSchemaValidator = {
  getValidator() {
    throw new Error("The MCP server validates no JSON Schema itself");
  },
};

let catalog: (ToolCatalog & { byName: Map<string, ApiTool> }) | undefined;

/** The tools, built once per process from the operations and their OpenAPI document (both pure). */
function toolCatalog() {
  if (!catalog) {
    const built = buildTools(openApiDocument(), OPERATIONS);
    catalog = { ...built, byName: new Map(built.tools.map((entry) => [entry.tool.name, entry])) };
  }
  return catalog;
}

/**
 * The MCP server (Streamable HTTP, stateless: a new server and transport per request, JSON answers).
 * The low-level Server is used because the tools' input schemas are the OpenAPI document's JSON
 * Schemas as they are, and because the arguments must reach the API unvalidated: the API's own
 * validation answers, so a bad argument is the same VALIDATION_ERROR envelope as over HTTP.
 */
export async function handleMcpRequest(c: Context<AppEnv>, callApi: CallApi): Promise<Response> {
  // Stateless: there is no session to stream server messages on (GET) or to end (DELETE).
  if (c.req.method !== "POST") {
    return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed." }, id: null }), {
      status: 405,
      headers: { Allow: "POST", "Content-Type": "application/json" },
    });
  }

  const { tools, instructions, byName } = toolCatalog();
  const server = new Server(
    { name: "lead-enrichment-api", title: "Lead enrichment API", version: openApiDocument().info.version },
    { capabilities: { tools: {} }, instructions, jsonSchemaValidator: NO_SCHEMA_VALIDATION },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: tools.map((entry) => entry.tool) }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const entry = byName.get(request.params.name);
    if (!entry) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    // The caller's own key and request id, so the call is authenticated, limited and traced as theirs.
    const headers: Record<string, string> = { authorization: c.req.header("authorization") ?? "", "x-request-id": c.var.requestId };
    const prepared = apiRequest(entry.route, request.params.arguments ?? {}, new URL(c.req.url).origin, headers);
    if ("issues" in prepared) {
      const error = AppError.validation(prepared.issues);
      return resultOf(errorBody(c, error.code, error.message, error.extra), true);
    }
    return toolResult(await callApi(prepared.request));
  });

  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true, maxRequestBodySize: MAX_BODY_BYTES /* that of /api; the transport's own default is lower */ });
  await server.connect(transport);
  try {
    return await transport.handleRequest(c.req.raw);
  } finally {
    await server.close();
  }
}
