import { createRoute, z, type RouteConfig } from "@hono/zod-openapi";
import type { Context, ValidationTargets } from "hono";
import type { AppEnv } from "../context";
import { ERROR_STATUS, type ErrorCode } from "../errors";
import { validate } from "../validation";

/**
 * One operation of the API: the route as a contract (@hono/zod-openapi's createRoute: params, query,
 * body, every response) plus its handler. Everything that describes or calls the API is derived from
 * the list of these (src/routes/index.ts): the mounted routes, /openapi.json, the MCP tools, the CLI
 * and the tests that walk every route.
 */

/** The resources, as callers name them: the OpenAPI tags, the CLI's first word, the MCP tool groups. */
export const TAGS = {
  account: "The caller's account, profile, workspace and balance.",
  credits: "Prices, cost previews and the credit ledger.",
  leads: "The workspace's people and companies, each known once.",
  lists: "Lists (sheets) of people and companies.",
  rows: "The people of a list.",
  companies: "The companies of a list.",
  columns: "A list's columns: manual, AI (prompted, optionally from the live web) and enrichment columns.",
  cells: "Manual writes to one cell.",
  enrichments: "The catalog of enrichments a run can use.",
  enrichment: "Enrichment runs over leads: start (or preview), follow, page through items, cancel.",
} as const;
export type Tag = keyof typeof TAGS;

export type ErrorStatus = 400 | 401 | 402 | 404 | 409 | 410 | 413 | 415 | 429 | 500 | 502 | 503;

const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The one error envelope every failure is answered with (flat: `error` is the message). */
export const errorEnvelope = z
  .object({
    error: z.string().openapi({ description: "What went wrong, for a person." }),
    code: z.enum(ERROR_CODES).openapi({ description: "The machine-readable code; the list is closed." }),
    requestId: z.string().openapi({ description: "Also sent as the X-Request-Id header; quote it when reporting a problem." }),
    issues: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: "VALIDATION_ERROR, INVALID_FILTER, UNKNOWN_REFERENCE: each fault with the dotted path of the input it concerns." }),
    required: z.number().int().optional().openapi({ description: "INSUFFICIENT_CREDITS, BUDGET_EXCEEDED: the credits the request needs." }),
    balance: z.number().int().optional().openapi({ description: "INSUFFICIENT_CREDITS, BUDGET_EXCEEDED: the credits available now." }),
    budgetLeft: z.number().int().optional().openapi({ description: "BUDGET_EXCEEDED: what the column's maxCredits still allows." }),
    cycle: z.array(z.string()).optional().openapi({ description: "DEPENDENCY_CYCLE: the names of the columns along the loop, the first again at the end." }),
    retryAfter: z.number().int().optional().openapi({ description: "RATE_LIMITED, UNAVAILABLE: seconds to wait (also the Retry-After header)." }),
  })
  // Some codes carry more context (e.g. CONFLICT's `reason`, DISPATCH_FAILED's `enrichmentRunId`).
  .catchall(z.unknown())
  .openapi("Error");

const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: "The request is invalid (VALIDATION_ERROR with `issues`, or a rule of this operation).",
  401: "Missing or invalid API key (UNAUTHORIZED).",
  402: "Not enough credits (INSUFFICIENT_CREDITS with `required` and `balance`), or past a column's budget (BUDGET_EXCEEDED, also with `budgetLeft`); nothing was written or charged.",
  404: "The resource does not exist in the caller's workspace (NOT_FOUND).",
  409: "The request conflicts with the resource's state (CONFLICT, IDEMPOTENCY_KEY_REUSED).",
  410: "The event id is too old to replay from (CURSOR_EXPIRED): reload, then reconnect without it.",
  413: "The body is larger than the server accepts (PAYLOAD_TOO_LARGE).",
  415: "The body is not JSON (UNSUPPORTED_MEDIA_TYPE).",
  429: "Too many requests for this workspace (RATE_LIMITED); retry after `retryAfter` seconds.",
  500: "Background work could not be dispatched (DISPATCH_FAILED: nothing charged) or an internal error.",
  502: "The background run could not be dispatched (DISPATCH_FAILED); the run is failed and nothing is charged.",
  503: "The database is temporarily unavailable (UNAVAILABLE); retry after `retryAfter` seconds.",
};

/** Statuses every authenticated operation can answer, whatever it does. */
const ALWAYS: ErrorStatus[] = [401, 429, 500, 503];

/** `{ success: true }`, the answer of operations that only act. */
export const success = z.strictObject({ success: z.literal(true) });

/** How the CLI's `--wait` follows the background work an operation starts. */
export type BackgroundWork = "column" | "cells" | "run";

type Responses = Partial<Record<200 | 201 | 202, { description: string; schema: z.ZodType; mediaType?: "application/json" | "text/event-stream" }>>;

type OperationSpec = {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** The full path, `/api/...`, with `{param}` placeholders. */
  path: `/api/${string}`;
  operationId: string;
  tag: Tag;
  /** The CLI verb under the tag (`lists create`). */
  command: string;
  summary: string;
  description?: string;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Responses;
  /** The error statuses this operation can answer besides those every operation can. */
  errors?: ErrorStatus[];
  background?: BackgroundWork;
  /** The answer is a stream (text/event-stream) that stays open: no MCP tool; the CLI prints it as it comes. */
  stream?: true;
  /**
   * The handler checks the API key inside its own statement (`c.var.apiKeyHash`, see Caller in
   * src/domain/accounts.ts), so the request is one round trip; the key middleware only reads the
   * header. Without a rate limit only: counting requests needs the middleware's statement.
   */
  checksKeyItself?: true;
};

type Part<S extends OperationSpec, Key extends "params" | "query" | "body", Target extends keyof ValidationTargets> = S[Key] extends z.ZodType
  ? { in: { [T in Target]: z.input<S[Key]> }; out: { [T in Target]: z.output<S[Key]> } }
  : {};

/** What a handler is given: the request context, its validated parts typed from the operation's schemas. */
export type OperationContext<S extends OperationSpec> = Context<AppEnv, string, Part<S, "params", "param"> & Part<S, "query", "query"> & Part<S, "body", "json">>;

export type Operation = {
  spec: OperationSpec;
  route: RouteConfig;
  /** Request validation, in order: path, query, body (each failure is the one VALIDATION_ERROR envelope). */
  validators: ReturnType<typeof validate>[];
  handler: (c: never) => Response | Promise<Response>;
};

export function defineOperation<const S extends OperationSpec>(spec: S, handler: (c: OperationContext<S>) => Response | Promise<Response>): Operation {
  const errors = [...new Set<ErrorStatus>([...ALWAYS, ...(spec.params || spec.query || spec.body ? [400 as const] : []), ...(spec.body ? [413 as const, 415 as const] : []), ...(spec.errors ?? [])])].sort(
    (a, b) => a - b,
  );
  const responses: RouteConfig["responses"] = {};
  for (const [status, response] of Object.entries(spec.responses)) {
    responses[status] = { description: response.description, content: { [response.mediaType ?? "application/json"]: { schema: response.schema } } };
  }
  for (const status of errors) responses[status] = { description: ERROR_DESCRIPTIONS[status], content: { "application/json": { schema: errorEnvelope } } };
  const route = createRoute({
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    tags: [spec.tag],
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    security: [{ bearerAuth: [] }],
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query as z.ZodObject } : {}),
      ...(spec.body ? { body: { content: { "application/json": { schema: spec.body } }, required: true } } : {}),
    },
    responses,
  });
  const parts: [keyof ValidationTargets, z.ZodType | undefined][] = [
    ["param", spec.params],
    ["query", spec.query],
    ["json", spec.body],
  ];
  const validators = parts.flatMap(([target, schema]) => (schema ? [validate(target, schema)] : []));
  return { spec, route, validators, handler: handler as Operation["handler"] };
}

/** The path in Hono's routing syntax (`/lists/:id`). */
export const honoPath = (path: string) => path.replaceAll(/\{(\w+)\}/g, ":$1");

/** A matcher of the operations that check the key themselves, by method and concrete path. */
export function keyCheckedByRoute(operations: readonly Operation[]): (method: string, path: string) => boolean {
  const routes = operations
    .filter((operation) => operation.spec.checksKeyItself)
    .map((operation) => ({ method: operation.spec.method.toUpperCase(), path: new RegExp(`^${operation.spec.path.replaceAll(/\{\w+\}/g, "[^/]+")}$`) }));
  return (method, path) => routes.some((route) => route.method === method && route.path.test(path));
}
