import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { openApiDocument } from "../../src/routes";

/**
 * Every response a test receives from an /api route is checked against the schema the OpenAPI
 * document gives for that operation and status, so code and document cannot drift apart unnoticed:
 * an undocumented status or a body that does not match fails the test that received it.
 */

type Operation = { method: string; template: string; pattern: RegExp; operationId: string; responses: Record<string, unknown> };

const document = openApiDocument();
const ajv = new Ajv2020({ strict: false, allErrors: true, allowUnionTypes: true });
(addFormats as unknown as (ajv: Ajv2020) => void)(ajv);

const operations: Operation[] = Object.entries(document.paths ?? {})
  .flatMap(([template, item]) =>
    Object.entries(item as Record<string, { operationId: string; responses: Record<string, unknown> }>).map(([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replaceAll(/\{\w+\}/g, "[^/]+")}$`),
      operationId: operation.operationId,
      responses: operation.responses,
    })),
  )
  // A literal segment wins over a parameter in the same place (`/columns/cleanup-previews`).
  .sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));

const validators = new Map<string, ValidateFunction>();

function validatorFor(operation: Operation, status: number): ValidateFunction | null {
  const key = `${operation.operationId} ${status}`;
  let validator = validators.get(key);
  if (!validator) {
    const response = operation.responses[String(status)] as { content?: Record<string, { schema: object }> } | undefined;
    const schema = response?.content?.["application/json"]?.schema;
    if (!schema) return null;
    validator = ajv.compile({ ...schema, components: document.components });
    validators.set(key, validator);
  }
  return validator;
}

/** The operation a request reaches, if it is one of the document's. */
export function operationOf(method: string, path: string): Operation | undefined {
  const pathname = new URL(path, "http://api.test").pathname;
  return operations.find((operation) => operation.method === method.toUpperCase() && operation.pattern.test(pathname));
}


/** Throws when an /api response (a JSON body; a stream only by its status and media type) is not what the document says the operation answers. */
export function assertDocumentedResponse(method: string, path: string, status: number, contentType: string | null, body: unknown): void {
  const pathname = new URL(path, "http://api.test").pathname;
  if (!pathname.startsWith("/api/")) return;
  const operation = operationOf(method, pathname);
  // A path or method the API does not have is answered with the error envelope.
  const validator = operation ? validatorFor(operation, status) : ajv.compile({ $ref: "#/components/schemas/Error", components: document.components });
  const where = operation ? `${operation.operationId} (${method} ${operation.template})` : `${method} ${pathname} (no such operation)`;
  if (!validator) {
    const streamed = (operation?.responses[String(status)] as { content?: Record<string, unknown> } | undefined)?.content?.["text/event-stream"];
    if (streamed && /^text\/event-stream\b/.test(contentType ?? "")) return;
    throw new Error(`${where} answered ${status}, a status the OpenAPI document does not give it`);
  }
  if (!/^application\/json\b/.test(contentType ?? "")) throw new Error(`${where} answered ${status} with ${contentType ?? "no content type"}, not JSON`);
  if (!validator(body)) {
    throw new Error(`${where} answered ${status} with a body that does not match the document: ${ajv.errorsText(validator.errors, { separator: "; " })}\n${JSON.stringify(body).slice(0, 2000)}`);
  }
}
