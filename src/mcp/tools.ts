import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import type { Operation } from "../routes/operation";
import { serverInstructions, toolGuidance, type ToolNames } from "./guidance";

/** A JSON Schema as the OpenAPI document gives it. */
export type JsonSchema = Record<string, unknown>;

/** The parts of the OpenAPI document the tools are built from (the generated document is one). */
export type ApiDocument = { paths?: Record<string, object>; components?: { schemas?: Record<string, object>; parameters?: Record<string, object> } };

/** How a tool's arguments become its operation's HTTP request. */
export type ToolRoute = {
  method: string;
  /** `/api/...` with `{param}` placeholders. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  /** Whether the operation takes a JSON body: every argument that is not a parameter goes in it. */
  hasBody: boolean;
};

export type ApiTool = { tool: Tool; route: ToolRoute };

/** The tools of every operation and the instructions that hold for all of them. */
export type ToolCatalog = { tools: ApiTool[]; instructions: string };

type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: JsonSchema };

/**
 * One tool per operation, named by its operationId. Its input schema is one object: the path
 * parameters, the query parameters and the top-level body properties, from the same JSON Schemas the
 * OpenAPI document gives them, with every `$ref` resolved so a client needs nothing else. Two parts
 * naming the same property could not be told apart in the arguments, so that is refused here.
 */
export function buildTools(document: ApiDocument, allOperations: readonly Operation[]): ToolCatalog {
  // A stream never ends, so it cannot be a tool's one answer.
  const operations = allOperations.filter((operation) => !operation.spec.stream);
  const names: ToolNames = (method, path) => operations.find((operation) => operation.spec.method === method && operation.spec.path === path)?.spec.operationId;
  const seen = new Set<string>();
  const tools = operations.map((operation): ApiTool => {
    const { spec } = operation;
    if (seen.has(spec.operationId)) throw new Error(`Two operations are named ${spec.operationId}: tool names must be unique`);
    seen.add(spec.operationId);
    const where = `${spec.operationId} (${spec.method.toUpperCase()} ${spec.path})`;
    const item = (document.paths?.[spec.path] as Record<string, unknown> | undefined)?.[spec.method] as JsonSchema | undefined;
    if (!item) throw new Error(`${where} is not in the OpenAPI document`);
    const resolver = new SchemaResolver(document, where);

    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    const partOf = new Map<string, string>();
    const add = (name: string, schema: JsonSchema, part: string, isRequired: boolean) => {
      const earlier = partOf.get(name);
      if (earlier) throw new Error(`${where}: "${name}" is both a ${earlier} and a ${part}; its tool's arguments cannot hold both`);
      partOf.set(name, part);
      properties[name] = schema;
      if (isRequired) required.push(name);
    };

    const route: ToolRoute = { method: spec.method.toUpperCase(), path: spec.path, pathParams: [], queryParams: [], hasBody: false };
    for (const entry of (item.parameters as JsonSchema[] | undefined) ?? []) {
      const parameter = resolver.resolve(entry) as Parameter;
      if (parameter.in !== "path" && parameter.in !== "query") throw new Error(`${where}: a ${parameter.in} parameter (${parameter.name}) cannot be a tool argument`);
      const schema = resolver.resolve(parameter.schema ?? {});
      const described = parameter.description && schema.description === undefined ? { ...schema, description: parameter.description } : schema;
      add(parameter.name, described, `${parameter.in} parameter`, parameter.in === "path" || parameter.required === true);
      (parameter.in === "path" ? route.pathParams : route.queryParams).push(parameter.name);
    }
    for (const placeholder of spec.path.matchAll(/\{(\w+)\}/g)) {
      if (!route.pathParams.includes(placeholder[1]!)) throw new Error(`${where}: the path parameter ${placeholder[1]} has no schema in the document`);
    }

    let additionalProperties: unknown;
    const content = ((item.requestBody as JsonSchema | undefined)?.content as Record<string, JsonSchema> | undefined)?.["application/json"];
    if (content) {
      route.hasBody = true;
      const body = resolver.resolve(content.schema ?? {});
      if (body.type !== "object") throw new Error(`${where}: the body is not an object schema, so it has no properties to be arguments`);
      const bodyRequired = new Set((body.required as string[] | undefined) ?? []);
      for (const [name, schema] of Object.entries((body.properties as Record<string, JsonSchema> | undefined) ?? {})) add(name, schema, "body property", bodyRequired.has(name));
      additionalProperties = body.additionalProperties;
    }

    const inputSchema: Tool["inputSchema"] = {
      type: "object",
      properties,
      ...(required.length > 0 ? { required } : {}),
      ...(additionalProperties !== undefined ? { additionalProperties } : {}),
      ...resolver.definitions(),
    };
    const tool: Tool = {
      name: spec.operationId,
      title: spec.summary,
      description: [spec.summary, spec.description, ...toolGuidance(operation, Object.keys(properties), names)].filter(Boolean).join("\n\n"),
      inputSchema,
      annotations: annotationsOf(spec.method),
    };
    return { tool, route };
  });
  const retrySafe = tools.filter(({ tool }) => "idempotencyKey" in (tool.inputSchema.properties ?? {})).map(({ tool }) => tool.name);
  return { tools, instructions: serverInstructions(operations, names, retrySafe) };
}

/**
 * What a client may assume about a tool without reading it. MCP's default for a tool that is not
 * read-only is "destructive", so the writes that only add or change say they are not.
 */
function annotationsOf(method: Operation["spec"]["method"]): NonNullable<Tool["annotations"]> {
  if (method === "get") return { readOnlyHint: true };
  return { readOnlyHint: false, destructiveHint: method === "delete", idempotentHint: method === "put" || method === "delete" };
}

/**
 * Resolves the document's `$ref`s by copying what they point to in place. A schema that refers to
 * itself (directly or not) cannot be copied to the end, so such a schema goes into the tool schema's
 * own `$defs` and is referred to there.
 */
class SchemaResolver {
  private readonly defs: Record<string, JsonSchema> = {};

  constructor(
    private readonly document: ApiDocument,
    private readonly where: string,
  ) {}

  resolve(node: unknown): JsonSchema {
    return this.inline(node, []) as JsonSchema;
  }

  definitions(): { $defs?: Record<string, JsonSchema> } {
    return Object.keys(this.defs).length > 0 ? { $defs: this.defs } : {};
  }

  private inline(node: unknown, inside: string[]): unknown {
    if (Array.isArray(node)) return node.map((entry) => this.inline(entry, inside));
    if (node === null || typeof node !== "object") return node;
    const { $ref, ...rest } = node as JsonSchema;
    const siblings = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, this.inline(value, inside)]));
    if (typeof $ref !== "string") return siblings;
    const match = /^#\/components\/(schemas|parameters)\/([^/]+)$/.exec($ref);
    const target = match ? this.document.components?.[match[1] as "schemas" | "parameters"]?.[match[2]!] : undefined;
    if (!match || !target) throw new Error(`${this.where}: cannot resolve ${$ref}`);
    const name = match[2]!;
    if (inside.includes(name)) {
      if (!(name in this.defs)) {
        this.defs[name] = {};
        this.defs[name] = this.inline(target, [name]) as JsonSchema;
      }
      return { $ref: `#/$defs/${name}`, ...siblings };
    }
    return { ...(this.inline(target, [...inside, name]) as JsonSchema), ...siblings };
  }
}
