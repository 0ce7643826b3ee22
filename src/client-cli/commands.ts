import { Command, InvalidArgumentError, Option } from "commander";
import type { Operation } from "../routes/operation";
import { ApiClient, CliError, isRecord } from "./api";
import { follow } from "./wait";

/** The parts of the OpenAPI document the command line reads. */
export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
  default?: unknown;
};
type DocParameter = { name: string; in: string; required?: boolean; description?: string; schema?: JsonSchema };
type DocOperation = {
  summary?: string;
  description?: string;
  parameters?: DocParameter[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
};
export type ApiDocument = {
  info?: { title?: string };
  tags?: Array<{ name: string; description?: string }>;
  paths?: Record<string, Record<string, DocOperation | unknown> | undefined>;
  components?: unknown;
};

export type OperationSpec = Pick<Operation["spec"], "method" | "path" | "tag" | "command" | "background" | "stream">;

export const DEFAULT_URL = "http://127.0.0.1:8787";

/** How a flag's text becomes a value: by the JSON Schema type the document gives the field. */
type Kind = "string" | "integer" | "number" | "boolean" | "strings" | "json" | "any";
type ValueType = { kind: Kind; nullable: boolean; choices?: unknown[] };

type Location = "path" | "query" | "body";
type Field = {
  flag: string;
  /** Usually one; a name used both in the path and in the body is set in both by its one flag. */
  targets: Array<{ in: Location; name: string }>;
  type: ValueType;
  required: boolean;
  description?: string;
  defaultValue?: unknown;
};

/** Flags of the command line itself; an API field of the same name gets `--field-<name>`. */
const RESERVED_FLAGS = new Set(["key", "url", "body", "help", "wait", "timeout", "poll-ms"]);

export function kebabCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/[_\s]+/g, "-")
    .toLowerCase();
}

function resolve(document: ApiDocument, schema: JsonSchema | undefined): JsonSchema {
  let current = schema ?? {};
  for (let depth = 0; current.$ref && depth < 32; depth++) {
    const pointer = current.$ref.replace(/^#\//, "").split("/").map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"));
    let target: unknown = document;
    for (const part of pointer) target = isRecord(target) ? target[part] : undefined;
    current = isRecord(target) ? (target as JsonSchema) : {};
  }
  return current;
}

const JSON_KINDS = new Set<Kind>(["json", "strings"]);

export function valueType(document: ApiDocument, schema: JsonSchema | undefined): ValueType {
  const type = typeOf(document, schema);
  return type === "null" ? { kind: "any", nullable: true } : type;
}

/** The value type of a schema, or "null" for a schema that allows only null (a branch of a nullable union). */
function typeOf(document: ApiDocument, input: JsonSchema | undefined): ValueType | "null" {
  const schema = resolve(document, input);
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches) {
    const types = branches.map((branch) => typeOf(document, branch));
    const others = types.filter((type): type is ValueType => type !== "null");
    if (others.length === 0) return "null";
    const nullable = types.includes("null") || others.some((type) => type.nullable);
    const kinds = [...new Set(others.map((type) => type.kind))];
    if (kinds.length === 1) {
      const choices = others.every((type) => type.choices) ? others.flatMap((type) => type.choices!) : undefined;
      return { kind: kinds[0]!, nullable, ...(choices ? { choices } : {}) };
    }
    return { kind: kinds.every((kind) => JSON_KINDS.has(kind)) ? "json" : "any", nullable };
  }
  if (schema.allOf?.length === 1) return typeOf(document, schema.allOf[0]);
  const choices = schema.enum ?? (schema.const !== undefined ? [schema.const] : undefined);
  let types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length === 0 && choices) types = [...new Set(choices.map((choice) => (choice === null ? "null" : typeof choice)))];
  // No type at all: any JSON value (a cell's `value`).
  if (types.length === 0) return { kind: "any", nullable: true };
  const nullable = types.includes("null");
  const rest = types.filter((type) => type !== "null");
  if (rest.length === 0) return "null";
  if (rest.length > 1) return { kind: "any", nullable };
  const listed = choices?.filter((choice) => choice !== null);
  const withChoices = (kind: Kind): ValueType => ({ kind, nullable, ...(listed?.length ? { choices: listed } : {}) });
  switch (rest[0]) {
    case "string":
      return withChoices("string");
    case "integer":
      return withChoices("integer");
    case "number":
      return withChoices("number");
    case "boolean":
      return withChoices("boolean");
    case "array":
      return { kind: valueType(document, schema.items).kind === "string" ? "strings" : "json", nullable };
    default:
      return { kind: "json", nullable };
  }
}

/** The properties of a body schema (an object, or the union of a union's branches) and which are required. */
function bodyProperties(document: ApiDocument, input: JsonSchema | undefined): { properties: Record<string, JsonSchema>; required: Set<string> } {
  const schema = resolve(document, input);
  const properties: Record<string, JsonSchema> = { ...(schema.properties ?? {}) };
  const required = new Set(schema.required ?? []);
  for (const part of schema.allOf ?? []) {
    const inner = bodyProperties(document, part);
    Object.assign(properties, inner.properties);
    for (const name of inner.required) required.add(name);
  }
  const branches = schema.anyOf ?? schema.oneOf;
  if (branches?.length) {
    const inner = branches.map((branch) => bodyProperties(document, branch));
    for (const branch of inner) for (const [name, property] of Object.entries(branch.properties)) properties[name] ??= property;
    // Required only when every branch requires it.
    for (const name of inner[0]!.required) if (inner.every((branch) => branch.required.has(name))) required.add(name);
  }
  return { properties, required };
}

const PLACEHOLDERS: Record<Kind, string> = {
  string: "<string>",
  integer: "<integer>",
  number: "<number>",
  boolean: "[boolean]",
  strings: "<strings>",
  json: "<json>",
  any: "<value>",
};

const KIND_HINTS: Record<Kind, string> = {
  string: "",
  integer: "",
  number: "",
  boolean: "true or false (the flag alone is true).",
  strings: "Comma-separated or a JSON array; repeatable.",
  json: "JSON.",
  any: "JSON, or else taken as text.",
};

function helpOf(field: Field): string {
  const parts: string[] = [];
  if (field.required) parts.push("(required)");
  if (field.description) parts.push(/[.!?]$/.test(field.description) ? field.description : `${field.description}.`);
  if (KIND_HINTS[field.type.kind]) parts.push(KIND_HINTS[field.type.kind]);
  if (field.type.choices) parts.push(`One of: ${field.type.choices.map((choice) => String(choice)).join(", ")}.`);
  if (field.type.nullable && field.type.kind !== "string" && field.type.kind !== "any") parts.push("null clears it.");
  if (field.defaultValue !== undefined) parts.push(`Default: ${JSON.stringify(field.defaultValue)}.`);
  if (field.flag.startsWith("field-")) parts.push(`The ${field.targets[0]!.in} field \`${field.targets[0]!.name}\`.`);
  return parts.join(" ");
}

function parseValue(field: Field, text: string, previous: unknown): unknown {
  const { kind, nullable } = field.type;
  if (nullable && text === "null" && kind !== "string") return null;
  switch (kind) {
    case "string":
      return text;
    case "integer": {
      if (!/^-?\d+$/.test(text.trim())) throw new InvalidArgumentError("Expected an integer.");
      return Number(text);
    }
    case "number": {
      const value = Number(text);
      if (text.trim() === "" || !Number.isFinite(value)) throw new InvalidArgumentError("Expected a number.");
      return value;
    }
    case "boolean": {
      if (text === "true") return true;
      if (text === "false") return false;
      throw new InvalidArgumentError("Expected true or false.");
    }
    case "strings": {
      const items = text.trim().startsWith("[") ? parseJson(text) : text.split(",").map((item) => item.trim()).filter((item) => item !== "");
      if (!Array.isArray(items)) throw new InvalidArgumentError("Expected a JSON array or comma-separated values.");
      return [...(Array.isArray(previous) ? previous : []), ...items];
    }
    case "json":
      return parseJson(text);
    case "any":
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`Expected JSON (${error instanceof Error ? error.message : String(error)}).`);
  }
}

function fieldsOf(document: ApiDocument, operation: DocOperation): { fields: Field[]; hasBody: boolean } {
  const byFlag = new Map<string, Field>();
  const add = (location: Location, name: string, schema: JsonSchema | undefined, required: boolean, description: string | undefined) => {
    let flag = kebabCase(name);
    if (RESERVED_FLAGS.has(flag)) flag = `field-${flag}`;
    const existing = byFlag.get(flag);
    if (existing) {
      existing.targets.push({ in: location, name });
      existing.required ||= required;
      return;
    }
    const resolved = resolve(document, schema);
    byFlag.set(flag, {
      flag,
      targets: [{ in: location, name }],
      type: valueType(document, schema),
      required,
      description: description ?? resolved.description,
      defaultValue: resolved.default,
    });
  };
  for (const parameter of operation.parameters ?? []) {
    if (parameter.in !== "path" && parameter.in !== "query") continue;
    add(parameter.in, parameter.name, parameter.schema, parameter.in === "path" || parameter.required === true, parameter.description);
  }
  const bodySchema = operation.requestBody?.content?.["application/json"]?.schema;
  if (bodySchema) {
    const { properties, required } = bodyProperties(document, bodySchema);
    for (const [name, property] of Object.entries(properties)) add("body", name, property, required.has(name), undefined);
  }
  return { fields: [...byFlag.values()], hasBody: bodySchema !== undefined };
}

/** The command line's streams and what the action decided, so the entry point and tests read the same thing. */
export type CliIo = {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  exitCode: number;
};

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(typeof value === "string" ? `${value}\n` : `${JSON.stringify(value, null, 2)}\n`);
}

function integerOption(min: number) {
  return (text: string) => {
    if (!/^\d+$/.test(text.trim()) || Number(text) < min) throw new InvalidArgumentError(`Expected an integer of at least ${min}.`);
    return Number(text);
  };
}

/** `lead-api <resource> <operation> [--flag value ...]`, one command per operation of the document. */
export function buildProgram(document: ApiDocument, operations: readonly OperationSpec[], io: CliIo): Command {
  const program = new Command("lead-api");
  program
    .description(`Command-line client of the ${document.info?.title ?? "API"}: one command per operation, JSON answers on stdout.`)
    .addOption(new Option("--key <key>", "API key, sent as a Bearer token").env("LEAD_API_KEY"))
    .addOption(new Option("--url <url>", "the API server").env("LEAD_API_URL").default(DEFAULT_URL))
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  lead-api lists create --name Prospects",
        "  lead-api rows bulk-create --id <listId> --rows '[{\"firstName\":\"Ada\",\"lastName\":\"Lovelace\"}]'",
        "  lead-api enrichment create --enrichment-id work_email --scope '{\"type\":\"list\",\"listId\":\"<listId>\"}' --wait",
        "",
        "Success: the JSON answer on stdout, exit 0. API error: the error envelope on stdout, one line on",
        "stderr, exit 1. Usage error: a message on stderr, exit 2.",
      ].join("\n"),
    );

  const docOperations = new Map<string, DocOperation>();
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item ?? {})) if (isRecord(operation)) docOperations.set(`${method} ${path}`, operation as DocOperation);
  }
  const tags = document.tags ?? [];
  const tagOrder = [...tags.map((tag) => tag.name), ...operations.map((operation) => operation.tag)];
  for (const tag of [...new Set(tagOrder)]) {
    const ofTag = operations.filter((operation) => operation.tag === tag);
    if (ofTag.length === 0) continue;
    const resource = program.command(tag).description(tags.find((t) => t.name === tag)?.description ?? tag);
    for (const spec of ofTag) {
      const operation = docOperations.get(`${spec.method} ${spec.path}`);
      if (operation) addOperation(document, resource, spec, operation, io);
    }
  }
  return program;
}

function addOperation(document: ApiDocument, resource: Command, spec: OperationSpec, operation: DocOperation, io: CliIo): void {
  const { fields, hasBody } = fieldsOf(document, operation);
  const summary = operation.summary ?? spec.command;
  const command = resource
    .command(spec.command)
    .summary(summary)
    .description([summary, operation.description, `${spec.method.toUpperCase()} ${spec.path}`].filter(Boolean).join("\n\n"));
  const optionOf = new Map<Field, Option>();
  for (const field of fields) {
    const option = new Option(`--${field.flag} ${PLACEHOLDERS[field.type.kind]}`, helpOf(field)).argParser((text, previous) => parseValue(field, text, previous));
    // Path and query parameters can only be given as flags; body properties may come in --body.
    if (field.required && field.targets.some((target) => target.in !== "body")) option.makeOptionMandatory();
    command.addOption(option);
    optionOf.set(field, option);
  }
  if (hasBody) command.option("--body <json>", "the whole request body as a JSON object; the flags above override its keys");
  if (spec.background) {
    command
      .option("--wait", `follow the background work to its end (progress on stderr), then print ${waitResult(spec.background)}`)
      .option("--timeout <seconds>", "with --wait: give up (exit 1) after this many seconds", integerOption(0), 600)
      .option("--poll-ms <ms>", "with --wait: the pause between polls, in milliseconds", integerOption(50), 1000);
  }

  command.action(async (options: Record<string, unknown>, self: Command) => {
    const globals = self.optsWithGlobals() as { key?: string; url: string };
    const values: Record<Location, Record<string, unknown>> = { path: {}, query: {}, body: {} };
    for (const field of fields) {
      const value = options[optionOf.get(field)!.attributeName()];
      if (value === undefined) continue;
      for (const target of field.targets) values[target.in][target.name] = value;
    }
    let body: Record<string, unknown> | undefined;
    if (hasBody) {
      body = { ...bodyBase(options.body), ...values.body };
      const missing = fields.filter((field) => field.required && field.targets.every((target) => target.in === "body") && body![field.targets[0]!.name] === undefined);
      if (missing.length > 0) {
        throw new CliError(2, `error: required option${missing.length > 1 ? "s" : ""} ${missing.map((field) => `'--${field.flag}'`).join(", ")} not specified (nor in --body)`);
      }
    }
    const path = spec.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(values.path[name])));
    const api = new ApiClient(globals.url, globals.key || undefined);
    if (spec.stream) {
      await api.request(spec.method, path, { query: values.query as Record<string, never>, onStream: (text) => io.stdout.write(text) });
      return;
    }
    const answer = await api.request(spec.method, path, { query: values.query as Record<string, never>, body });
    if (spec.background && options.wait) {
      const followed = await follow(spec.background, api, answer, { params: values.path, body }, {
        timeoutMs: Number(options.timeout) * 1000,
        pollMs: Number(options.pollMs),
        stderr: io.stderr,
      });
      printJson(io, followed.output);
      io.exitCode = followed.exitCode;
      return;
    }
    printJson(io, answer);
  });
}

function bodyBase(text: unknown): Record<string, unknown> {
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(text));
  } catch (error) {
    throw new CliError(2, `error: option '--body <json>' argument is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(parsed)) throw new CliError(2, "error: option '--body <json>' must be a JSON object");
  return parsed;
}

function waitResult(kind: NonNullable<OperationSpec["background"]>): string {
  if (kind === "run") return "the final run (exit 1 if it failed)";
  return "the answer with `cells: { total, completed, failed }`";
}
