import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { serveStatic } from "@hono/node-server/serve-static";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { OPERATIONS } from "../src/routes";
import { TAGS } from "../src/routes/operation";
import { copyVendorAssets, PUBLIC_DIR } from "../src/vendor-assets";
import { useHarness } from "./helpers/harness";

// The API describes itself: /openapi.json is a valid OpenAPI 3.1 document of every operation, and
// /docs renders it with scripts the app serves itself.
const h = useHarness();

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; tags: string[]; security: unknown; summary: string; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
};

async function documentOverHttp(): Promise<Document> {
  const res = await h.app.request("/openapi.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return (await res.json()) as Document;
}

describe("GET /openapi.json", () => {
  it("is a valid OpenAPI 3.1 document, served without a key", async () => {
    const document = await documentOverHttp();
    expect(document.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("has every operation once, each with an operationId, a known tag, the Bearer scheme and the error envelope", async () => {
    const document = await documentOverHttp();
    const documented = Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ path, method, operation })));
    expect(documented.map((d) => `${d.method.toUpperCase()} ${d.path}`).sort()).toEqual(OPERATIONS.map((o) => `${o.spec.method.toUpperCase()} ${o.spec.path}`).sort());
    const ids = documented.map((d) => d.operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.components.securitySchemes).toEqual({ bearerAuth: { type: "http", scheme: "bearer", description: expect.any(String) } });
    for (const { operation } of documented) {
      expect(Object.keys(TAGS)).toContain(operation.tags[0]);
      expect(operation.tags).toHaveLength(1);
      expect(operation.security).toEqual([{ bearerAuth: [] }]);
      expect(operation.summary.length).toBeGreaterThan(10);
      const statuses = Object.keys(operation.responses);
      expect(statuses.some((status) => status.startsWith("2"))).toBe(true);
      for (const status of ["401", "429", "500", "503"]) expect(statuses).toContain(status);
      for (const status of statuses.filter((s) => !s.startsWith("2"))) {
        expect(operation.responses[status]).toMatchObject({ content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
      }
    }
  });

  it("lists every route of the README's route table", async () => {
    const document = await documentOverHttp();
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const table = readme.slice(readme.indexOf("| area | routes |"));
    const routes = [...table.slice(0, table.indexOf("\n\n")).matchAll(/`([A-Z/]+) (\/api\/[^`]+)`/g)].flatMap(([, methods, path]) =>
      methods!.split("/").map((method) => `${method} ${path}`),
    );
    expect(routes.length).toBeGreaterThan(30);
    const documented = new Set(Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)));
    expect(routes.filter((route) => !documented.has(route))).toEqual([]);
  });

  it("documents request bodies and parameters from the validating schemas", async () => {
    const document = await documentOverHttp();
    const create = document.paths["/api/credits/preview"]!.post as unknown as { requestBody: unknown };
    expect(create.requestBody).toEqual({
      required: true,
      content: {
        "application/json": {
          schema: {
            type: "object",
            properties: {
              action: { type: "string", maxLength: expect.any(Number), minLength: 1, description: expect.any(String) },
              count: { type: "integer", minimum: 1, maximum: 2147483647, description: expect.any(String) },
            },
            required: ["action", "count"],
          },
        },
      },
    });
  });
});

describe("GET /docs", () => {
  it("renders the reference from /openapi.json with a script the app serves, nothing from elsewhere", async () => {
    const res = await h.app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<script src="/assets/vendor/scalar-api-reference.js"></script>');
    expect(html).toContain('"url": "/openapi.json"');
    // No script, style or font from another origin: the page works offline.
    expect(html.match(/(src|href)="https?:\/\//g)).toBeNull();
    expect(html).toContain('"withDefaultFonts": false');
    // Nor does the page call a hosted service of its own ("Ask AI").
    expect(html).toMatch(/"agent": \{\s*"disabled": true\s*\}/);
  });

  it("the Node server serves the reference's script from public/", async () => {
    await copyVendorAssets();
    const app = createApp(() => ({ services: h.services }), { staticFiles: serveStatic({ root: PUBLIC_DIR }) });
    const res = await app.request("/assets/vendor/scalar-api-reference.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/javascript/);
    const script = await res.text();
    expect(script.length).toBeGreaterThan(1_000_000);
    expect(script).toContain("createApiReference");
    expect((await app.request("/assets/vendor/missing.js")).status).toBe(404);
  });
});
