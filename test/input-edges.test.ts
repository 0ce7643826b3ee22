import { sql } from "drizzle-orm";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { ERROR_STATUS, type ErrorCode } from "../src/errors";
import { UUID_PATTERN } from "../src/ids";
import { INT4_MAX, LIMITS } from "../src/limits";
import { REQUEST_ID, useHarness, type Client, type Json } from "./helpers/harness";

// Hard input edges of every write route: a body PostgreSQL could not store, past a documented limit,
// of the wrong type or not labelled JSON is a 4xx in the one envelope, and the workspace is unchanged.

const h = useHarness();

const NUL = "must not contain a NUL character (U+0000)";
const SURROGATE = "must not contain an unpaired UTF-16 surrogate";
const NOT_JSON = {
  error: "The request body must be JSON, sent with Content-Type: application/json",
  code: "UNSUPPORTED_MEDIA_TYPE",
  requestId: REQUEST_ID,
};

const validationError = (path: string, message: string) => ({
  error: path ? `${path}: ${message}` : message,
  code: "VALIDATION_ERROR",
  requestId: REQUEST_ID,
  issues: [{ path, message }],
});

type Fixture = { client: Client; list: string; row: string; companyRow: string; column: string; companyColumn: string; aiColumn: string; lead: string };

/** A workspace with one list holding a person row, its company row, a static column of each subject, an AI column, and a lead. */
async function fixture(): Promise<Fixture> {
  const client = await h.seedWorkspace({ credits: 1000 });
  const created = async (res: Promise<{ status: number; body: Json }>) => {
    const { status, body } = await res;
    expect(status, JSON.stringify(body)).toBeLessThan(300);
    return body;
  };
  const list = (await created(client.post("/api/lists", { name: "Edges" }))).list.id;
  const row = (await created(client.post(`/api/lists/${list}/rows`, { firstName: "Ada", lastName: "Lovelace", company: "Analytical", domain: "analytical.example" }))).row;
  const column = (await created(client.post(`/api/lists/${list}/columns`, { name: "Notes", isDynamic: false }))).column.id;
  const companyColumn = (await created(client.post(`/api/lists/${list}/columns`, { name: "Size", isDynamic: false, subject: "company" }))).column.id;
  const aiColumn = (await created(client.post(`/api/lists/${list}/columns`, { name: "Pitch", isDynamic: true, prompt: "What does {{company}} sell?" }))).column.id;
  const lead = (await created(client.post("/api/leads", { type: "person", name: { full: "Grace Hopper" } }))).lead.id;
  await h.settle();
  return { client, list, row: row.id, companyRow: row.companyRowId, column, companyColumn, aiColumn, lead };
}

/** A request with exactly the given content type (none when undefined) and raw body. */
async function send(client: Client, method: string, path: string, body: string | undefined, contentType: string | undefined) {
  const headers: Record<string, string> = { authorization: `Bearer ${client.apiKey}` };
  if (contentType !== undefined) headers["content-type"] = contentType;
  const res = await h.app.request(path, { method, headers, body });
  const text = await res.text();
  let parsed: Json = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body: parsed };
}

const sendJson = (client: Client, method: string, path: string, body: Json) => send(client, method, path, JSON.stringify(body), "application/json");

// ---- the workspace's state: every table holding its records, row by row ----

let workspaceTables: { name: string; where: string }[] = [];

beforeAll(async () => {
  const found = rowsOf<{ table_name: string; column_name: string }>(
    await h.db.execute(sql`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and column_name in ('workspace_id', 'list_id')
        -- Tables other test files create and drop while this one runs are not the project's.
        and table_name not like 'test\_%'`),
  );
  const byTable = new Map<string, Set<string>>();
  for (const { table_name, column_name } of found) byTable.set(table_name, (byTable.get(table_name) ?? new Set()).add(column_name));
  workspaceTables = [...byTable]
    // The rate limiter's window counts requests, which is not a write of the caller's data.
    .filter(([name]) => name !== "rate_limit_windows")
    .map(([name, cols]) => ({
      name,
      where: cols.has("workspace_id") ? "t.workspace_id = $1" : "t.list_id in (select id from lists where workspace_id = $1)",
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  expect(workspaceTables.map((t) => t.name)).toEqual(expect.arrayContaining(["credit_ledger", "leads", "list_cells", "list_columns", "list_company_cells", "list_company_rows", "list_rows", "lists"]));
});

/** Row count and a hash of every row, per table, and the balance: equal snapshots mean nothing was written. */
async function snapshot(client: Client): Promise<Record<string, unknown>> {
  const selects = workspaceTables.map(
    (t) =>
      `select '${t.name}' as name, count(*)::int as count, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as hash from ${t.name} t where ${t.where.replace("$1", "$ws")}`,
  );
  const query = `${selects.join(" union all ")} union all select 'workspaces', credit_balance::int, md5(w::text) from workspaces w where w.id = $ws`;
  const rows = rowsOf<{ name: string; count: number; hash: string }>(
    await h.db.execute(sql.raw(query.replaceAll("$ws", `'${client.workspaceId}'::uuid`))),
  );
  return Object.fromEntries(rows.map((r) => [r.name, { count: r.count, hash: r.hash }]));
}

// ---- every route that takes a JSON body, with a body it accepts ----

type Path = (string | number)[];
type Route = {
  name: string;
  method: string;
  path: (f: Fixture) => string;
  body: (f: Fixture) => Record<string, Json>;
  /** Fields and values each certainly invalid for that field. */
  fields: (f: Fixture) => [Path, fc.Arbitrary<Json>][];
};

const CHARS = ["a", "é", "語", "😀", "İ"];
/** Text longer than `max` characters (code points), of one- to four-byte characters. */
const overLong = (max: number) => fc.tuple(fc.integer({ min: 1, max: 200 }), fc.constantFrom(...CHARS)).map(([extra, ch]) => ch.repeat(max + extra));
const notText = fc.constantFrom<Json>(42, true, [], {}, ["a"], { a: "b" });
/** `nonEmpty`: "" is invalid too, and so is blank text where the field is trimmed first. */
const badText = (max: number, options: { required?: boolean; nonEmpty?: "trimmed" | "exact" } = {}) =>
  fc.oneof(
    overLong(max),
    notText,
    ...(options.required ? [fc.constant(null)] : []),
    ...(options.nonEmpty ? [fc.constantFrom(...(options.nonEmpty === "trimmed" ? ["", "   "] : [""]))] : []),
  );
const badNumber = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ min: 1, max: INT4_MAX }).map((n) => max + n),
    fc.constantFrom(2 ** 31, 2 ** 53, 1e300, -(2 ** 31) - 1),
    fc.integer({ min: -(2 ** 31), max: min - 1 }),
    fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((x) => !Number.isInteger(x)),
    fc.constantFrom<Json>(true, [], {}, [1]),
  );
const badInt = (min: number, max: number) => fc.oneof(badNumber(min, max), fc.constantFrom<Json>("7", "1e3"));
const badUuid = fc.oneof(fc.string({ maxLength: 40 }).filter((s) => !UUID_PATTERN.test(s)), fc.constantFrom<Json>(42, true, {}, [], null));
const badBool = fc.constantFrom<Json>("true", "false", 1, 0, [], {}, null);
const badEnum = (values: string[]) => fc.oneof(fc.string({ maxLength: 20 }).filter((s) => !values.includes(s)), fc.constantFrom<Json>(1, true, {}, [], null));
const badObject = fc.constantFrom<Json>("x", 5, true, [], ["a"], null);
const nest = (depth: number): Json => (depth === 0 ? "leaf" : depth % 2 ? { a: nest(depth - 1) } : [nest(depth - 1)]);
const tooDeep = fc.integer({ min: LIMITS.jsonDepth + 1, max: LIMITS.jsonDepth + 10 }).map((d) => ({ a: nest(d - 1) }));
const tooBig = fc.integer({ min: 1, max: 2000 }).map((extra) => ({ k: "x".repeat(LIMITS.jsonBytes + extra) }));
/** Any JSON is fine there but too deep or too big. */
const badJson = fc.oneof(tooDeep, tooBig);
const badRecord = fc.oneof(tooDeep, tooBig, badObject);
const badArray = (options: { min1?: boolean; max?: number; item?: Json } = {}) =>
  fc.oneof(
    fc.constantFrom<Json>("x", 5, true, {}, null),
    ...(options.min1 ? [fc.constant([])] : []),
    ...(options.max !== undefined ? [fc.constant(Array.from({ length: options.max + 1 }, () => options.item))] : []),
  );
const anyValue = fc.jsonValue({ maxDepth: 2 });

const personRow = (f: Fixture, n: number) => ({
  firstName: `Alan${n}`,
  lastName: "Turing",
  company: "Bletchley",
  role: "Cryptanalyst",
  linkedinUrl: `https://linkedin.com/in/alan-turing-${n}`,
  location: "London",
  domain: "bletchley.example",
  email: `alan${n}@bletchley.example`,
  phone: "+44 20 0000",
  customColumns: { [f.column]: "note" },
});
const rowFields = (f: Fixture, at: Path): [Path, fc.Arbitrary<Json>][] => [
  [at, badObject],
  [[...at, "firstName"], badText(LIMITS.namePart)],
  [[...at, "lastName"], badText(LIMITS.namePart)],
  [[...at, "company"], badText(LIMITS.text)],
  [[...at, "role"], badText(LIMITS.text)],
  [[...at, "linkedinUrl"], badText(LIMITS.identifierUrl)],
  [[...at, "location"], badText(LIMITS.text)],
  [[...at, "domain"], badText(LIMITS.domain)],
  [[...at, "email"], badText(LIMITS.email)],
  [[...at, "phone"], badText(LIMITS.phone)],
  [[...at, "customColumns"], badRecord],
  [[...at, "customColumns", f.column], badJson],
];
const companyFields = (at: Path): [Path, fc.Arbitrary<Json>][] => [
  [[...at, "name"], badText(LIMITS.text, { required: true, nonEmpty: "trimmed" })],
  [[...at, "domain"], badText(LIMITS.domain)],
  [[...at, "linkedinUrl"], badText(LIMITS.identifierUrl)],
  [[...at, "industry"], badText(LIMITS.text)],
  [[...at, "employeeCount"], badInt(0, INT4_MAX)],
  [[...at, "location"], badText(LIMITS.text)],
  [[...at, "website"], badText(LIMITS.url)],
  [[...at, "description"], badText(LIMITS.longText)],
];
const leadBody = () => ({
  name: { full: "Alan Turing", first: "Alan", last: "Turing" },
  title: "Cryptanalyst",
  company: { name: "Bletchley", domain: "bletchley.example" },
  location: { city: "London", state: "England", country: "UK", raw: "London, UK" },
  socials: [{ url: "https://linkedin.com/in/alan-turing" }],
  contacts: [{ value: "alan@bletchley.example" }],
  domain: "bletchley.example",
  industry: "Research",
  size: "51-200",
  attributes: { score: 7, tags: ["a"] },
  raw: { source: "import" },
});
const leadFields: [Path, fc.Arbitrary<Json>][] = [
  [["name"], badObject],
  [["name", "full"], badText(LIMITS.fullName)],
  [["name", "first"], badText(LIMITS.namePart)],
  [["name", "last"], badText(LIMITS.namePart)],
  [["title"], badText(LIMITS.text)],
  [["company"], badObject],
  [["company", "name"], badText(LIMITS.text)],
  [["company", "domain"], badText(LIMITS.domain)],
  [["location", "city"], badText(LIMITS.text)],
  [["location", "raw"], badText(LIMITS.text)],
  [["socials"], badArray({ max: LIMITS.socials, item: { url: "https://example.com" } })],
  [["socials", 0, "url"], badText(LIMITS.identifierUrl, { required: true, nonEmpty: "trimmed" })],
  [["contacts"], badArray({ max: LIMITS.contacts, item: { value: "a@b.example" } })],
  [["contacts", 0, "value"], badText(LIMITS.email, { required: true, nonEmpty: "trimmed" })],
  [["domain"], badText(LIMITS.domain)],
  [["industry"], badText(LIMITS.text)],
  [["size"], fc.oneof(overLong(LIMITS.token), badNumber(0, INT4_MAX))],
  [["attributes"], badRecord],
  [["raw"], badRecord],
];

const ROUTES: Route[] = [
  {
    name: "POST /api/lists",
    method: "POST",
    path: () => "/api/lists",
    body: () => ({ name: "New list", description: "About it", leadType: "person" }),
    fields: () => [
      [["name"], badText(LIMITS.text)],
      [["description"], badText(LIMITS.longText)],
      [["leadType"], badEnum(["person", "company", "mixed"])],
    ],
  },
  {
    name: "PATCH /api/lists",
    method: "PATCH",
    path: () => "/api/lists",
    body: (f) => ({ id: f.list, name: "Renamed", description: "About it" }),
    fields: () => [
      [["id"], badUuid],
      [["name"], badText(LIMITS.text)],
      [["description"], badText(LIMITS.longText)],
    ],
  },
  {
    name: "DELETE /api/lists",
    method: "DELETE",
    path: () => "/api/lists",
    body: (f) => ({ id: f.list }),
    fields: () => [[["id"], badUuid]],
  },
  {
    name: "POST /api/leads",
    method: "POST",
    path: () => "/api/leads",
    body: (f) => ({ type: "person", ...leadBody(), listIds: [f.list] }),
    fields: () => [
      [["type"], badEnum(["person", "company"])],
      ...leadFields,
      [["listIds"], badArray({ max: LIMITS.listIds, item: "0190a000-0000-7000-8000-000000000001" })],
      [["listIds", 0], badUuid],
    ],
  },
  {
    name: "PATCH /api/leads",
    method: "PATCH",
    path: () => "/api/leads",
    body: (f) => ({ id: f.lead, ...leadBody() }),
    fields: () => [[["id"], badUuid], [["type"], anyValue], ...leadFields],
  },
  {
    name: "POST /api/lists/{id}/rows",
    method: "POST",
    path: (f) => `/api/lists/${f.list}/rows`,
    body: (f) => personRow(f, 1),
    fields: (f) => rowFields(f, []).slice(1),
  },
  {
    name: "POST /api/lists/{id}/rows/bulk",
    method: "POST",
    path: (f) => `/api/lists/${f.list}/rows/bulk`,
    body: (f) => ({ rows: [personRow(f, 1), personRow(f, 2)] }),
    fields: (f) => [
      [["rows"], badArray({ min1: true, max: LIMITS.bulkRows, item: { firstName: "Ada" } })],
      ...rowFields(f, ["rows", 0]),
      ...rowFields(f, ["rows", 1]),
    ],
  },
  {
    name: "PATCH /api/lists/{id}/rows/{rowId}",
    method: "PATCH",
    path: (f) => `/api/lists/${f.list}/rows/${f.row}`,
    body: () => ({ field: "role", value: "Chief" }),
    fields: () => [
      [["field"], badText(LIMITS.token, { required: true })],
      [["value"], fc.oneof(overLong(LIMITS.text), notText)],
    ],
  },
  {
    name: "DELETE /api/lists/{id}/rows",
    method: "DELETE",
    path: (f) => `/api/lists/${f.list}/rows`,
    body: (f) => ({ rowIds: [f.row] }),
    fields: () => [
      [["rowIds"], badArray({ min1: true })],
      [["rowIds", 0], badUuid],
    ],
  },
  {
    name: "POST /api/lists/{id}/companies",
    method: "POST",
    path: (f) => `/api/lists/${f.list}/companies`,
    body: () => ({
      name: "Cobol Corp",
      domain: "cobol.example",
      linkedinUrl: "https://linkedin.com/company/cobol",
      industry: "Software",
      employeeCount: 42,
      location: "Arlington",
      website: "https://cobol.example",
      description: "Compilers",
    }),
    fields: () => companyFields([]),
  },
  {
    name: "PATCH /api/lists/{id}/companies/{cid}",
    method: "PATCH",
    path: (f) => `/api/lists/${f.list}/companies/${f.companyRow}`,
    body: () => ({ name: "Renamed", industry: "Engines", employeeCount: 7, website: "https://analytical.example" }),
    fields: () => companyFields([]),
  },
  {
    name: "PUT /api/lists/{id}/cells",
    method: "PUT",
    path: (f) => `/api/lists/${f.list}/cells`,
    body: (f) => ({ rowId: f.row, columnId: f.column, value: "hello" }),
    fields: () => [
      [["rowId"], badUuid],
      [["columnId"], badUuid],
      [["value"], badJson],
    ],
  },
  {
    name: "PATCH /api/lists/{id}/companies/{cid}/cells",
    method: "PATCH",
    path: (f) => `/api/lists/${f.list}/companies/${f.companyRow}/cells`,
    body: (f) => ({ columnId: f.companyColumn, value: "big" }),
    fields: () => [
      [["columnId"], badUuid],
      [["value"], badJson],
    ],
  },
  {
    name: "POST /api/lists/{id}/columns",
    method: "POST",
    path: (f) => `/api/lists/${f.list}/columns`,
    body: () => ({
      name: "Stage",
      isDynamic: false,
      prompt: null,
      subject: "person",
      schema: { type: "enum", options: ["Seed", "Series A"], maxItems: 2, format: "plain", currency: "EUR", scale: "1", textFormat: "plain", itemType: "text", linkType: "web" },
      config: {},
      isPreview: false,
    }),
    fields: () => [
      [["name"], badText(LIMITS.text, { required: true, nonEmpty: "trimmed" })],
      [["isDynamic"], badBool],
      [["prompt"], badText(LIMITS.longText)],
      [["schema"], badObject],
      [["schema", "type"], badEnum(["text", "number", "boolean", "url", "enum", "multiselect", "list", "date", "email", "phone"])],
      [["schema", "options"], badArray({ max: LIMITS.options, item: "x" })],
      [["schema", "options", 0], badText(LIMITS.option, { required: true })],
      [["schema", "maxItems"], badInt(1, LIMITS.maxItems)],
      [["schema", "format"], badText(LIMITS.token, { required: true })],
      [["schema", "linkType"], badText(LIMITS.token, { required: true })],
      [["config"], badObject],
      [["config", "timePeriod"], badEnum(["1m", "3m", "6m", "1y", "all"])],
      [["isPreview"], badBool],
    ],
  },
  {
    name: "PATCH /api/lists/{id}/columns/{colId}",
    method: "PATCH",
    path: (f) => `/api/lists/${f.list}/columns/${f.column}`,
    body: () => ({ name: "Renamed", isFilter: true, position: 3 }),
    fields: () => [
      [["name"], badText(LIMITS.text, { required: true, nonEmpty: "trimmed" })],
      [["isFilter"], badBool],
      [["position"], badInt(0, INT4_MAX)],
      [["isPreview"], fc.constantFrom<Json>(true, "false", 0, null)],
    ],
  },
  {
    name: "POST /api/lists/{id}/columns/{colId}/generate",
    method: "POST",
    path: (f) => `/api/lists/${f.list}/columns/${f.aiColumn}/generate`,
    body: (f) => ({ rowIds: [f.row] }),
    fields: () => [
      [["rowIds"], badArray({ min1: true })],
      [["rowIds", 0], badUuid],
    ],
  },
  {
    name: "POST /api/enrichment",
    method: "POST",
    path: () => "/api/enrichment",
    body: (f) => ({
      enrichmentId: "work_email",
      mode: "persisted",
      scope: { type: "explicit_leads", leadIds: [f.lead] },
      input: {},
      output: { target: "lead", attributeKey: "workEmail" },
      writePolicy: "overwrite",
      idempotencyKey: "edge-1",
    }),
    fields: () => [
      [["enrichmentId"], badText(LIMITS.token, { required: true, nonEmpty: "trimmed" })],
      [["mode"], badEnum(["persisted", "preview"])],
      [["scope"], badObject],
      [["scope", "type"], badEnum(["explicit_leads", "list", "filtered_list"])],
      [["scope", "leadIds"], badArray({ min1: true, max: LIMITS.leadIds, item: "0190a000-0000-7000-8000-000000000001" })],
      [["scope", "leadIds", 0], badUuid],
      [["scope", "subject"], anyValue],
      [["input"], badRecord],
      [["output"], badObject],
      [["output", "target"], badEnum(["lead", "membership"])],
      [["output", "attributeKey"], badText(LIMITS.token, { required: true, nonEmpty: "trimmed" })],
      [["output", "column"], anyValue],
      [["writePolicy"], badEnum(["overwrite", "skip_existing"])],
      [["idempotencyKey"], badText(LIMITS.idempotencyKey, { required: true, nonEmpty: "exact" })],
    ],
  },
  {
    name: "POST /api/credits/preview",
    method: "POST",
    path: () => "/api/credits/preview",
    body: () => ({ action: "EMAIL_LOOKUP", count: 3 }),
    fields: () => [
      [["action"], badText(LIMITS.token, { required: true, nonEmpty: "exact" })],
      [["count"], badInt(1, INT4_MAX)],
    ],
  },
];

// ---------------------------------------------------------------------------------------------

describe("the bodies the edges start from", () => {
  it.each(ROUTES.map((r) => [r.name, r] as const))("%s accepts its base body (so the invalid variants fail for their edge)", async (_name, route) => {
    const f = await fixture();
    const res = await sendJson(f.client, route.method, route.path(f), route.body(f));
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  });
});

describe("415 for a JSON route's body that is not labelled JSON", () => {
  let f: Fixture;
  let before: Record<string, unknown>;
  beforeAll(async () => {
    f = await fixture();
    before = await snapshot(f.client);
  });

  const cases = ROUTES.flatMap((route) =>
    (
      [
        ["no content type", undefined, (b: Json) => JSON.stringify(b)],
        ["text/plain", "text/plain", (b: Json) => JSON.stringify(b)],
        ["a form", "application/x-www-form-urlencoded", (b: Json) => new URLSearchParams(Object.entries(b).map(([k, v]): [string, string] => [k, String(v)])).toString()],
      ] as const
    ).map(([label, contentType, encode]) => [route.name, label, route, contentType, encode] as const),
  );

  it.each(cases)("%s with %s: 415 and nothing written", async (_name, _label, route, contentType, encode) => {
    const res = await send(f.client, route.method, route.path(f), encode(route.body(f)), contentType);
    expect(res).toEqual({ status: 415, body: NOT_JSON });
    expect(await snapshot(f.client)).toEqual(before);
  });

  it("a text/plain body no longer creates an Untitled List", async () => {
    const res = await send(f.client, "POST", "/api/lists", JSON.stringify({ name: "Named" }), "text/plain;charset=UTF-8");
    expect(res).toEqual({ status: 415, body: NOT_JSON });
    expect((await f.client.get("/api/lists")).body.lists.map((l: Json) => l.name)).toEqual(["Edges"]);
  });

  it.each(["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", "application/vnd.api+json ; charset=UTF-8"])(
    "accepts %s",
    async (contentType) => {
      const client = await h.seedWorkspace();
      const res = await send(client, "POST", "/api/lists", JSON.stringify({ name: "Typed" }), contentType);
      expect(res.status).toBe(201);
      expect(res.body.list.name).toBe("Typed");
    },
  );

  it("routes without a body need no content type", async () => {
    const g = await fixture();
    const run = "0190a000-0000-7000-8000-00000000abcd";
    const answers = [
      await send(g.client, "POST", `/api/lists/${g.list}/columns/cleanup-previews`, undefined, undefined),
      await send(g.client, "POST", `/api/enrichment/${run}/cancel`, undefined, undefined),
      await send(g.client, "DELETE", `/api/lists/${g.list}/columns/${g.column}`, undefined, undefined),
      await send(g.client, "DELETE", `/api/lists/${g.list}/companies/${g.companyRow}`, undefined, undefined),
      await send(g.client, "DELETE", `/api/lists/${g.list}`, undefined, undefined),
    ];
    expect(answers).toEqual([
      { status: 200, body: { success: true } },
      { status: 404, body: { error: "Enrichment run not found", code: "NOT_FOUND", requestId: REQUEST_ID } },
      { status: 200, body: { success: true } },
      { status: 200, body: { success: true } },
      { status: 200, body: { success: true } },
    ]);
    expect((await g.client.get("/api/lists")).body).toEqual({ lists: [] });
  });
});

describe("NUL characters and unpaired surrogates", () => {
  let f: Fixture;
  let before: Record<string, unknown>;
  beforeAll(async () => {
    f = await fixture();
    before = await snapshot(f.client);
  });

  const bulk = (f: Fixture) => ({ rows: [0, 1, 2, 3].map((n) => ({ firstName: n === 3 ? "Ada\u0000" : `Ada${n}` })) });
  const cases: [label: string, method: string, path: (f: Fixture) => string, body: (f: Fixture) => Json, issuePath: (f: Fixture) => string, message: string][] = [
    ["a NUL in a bulk row's first name", "POST", (f) => `/api/lists/${f.list}/rows/bulk`, bulk, () => "rows.3.firstName", NUL],
    ["a lone high surrogate in a list name", "POST", () => "/api/lists", () => ({ name: "Seed \ud800" }), () => "name", SURROGATE],
    ["a lone low surrogate in a list description", "PATCH", () => "/api/lists", (f) => ({ id: f.list, description: "\udc00 founders" }), () => "description", SURROGATE],
    ["a reversed surrogate pair", "POST", () => "/api/lists", () => ({ name: "\ude00\ud83d" }), () => "name", SURROGATE],
    ["a NUL deep in lead attributes", "POST", () => "/api/leads", () => ({ type: "person", attributes: { profile: { tags: ["ok", "bad\u0000"] } } }), () => "attributes.profile.tags.1", NUL],
    ["a NUL in a key of lead raw", "POST", () => "/api/leads", () => ({ type: "person", raw: { "a\u0000b": 1 } }), () => "raw", "keys must not contain a NUL character (U+0000)"],
    ["a lone surrogate in a lead's social URL", "PATCH", () => "/api/leads", (f) => ({ id: f.lead, socials: [{ url: "https://linkedin.com/in/\udbff" }] }), () => "socials.0.url", SURROGATE],
    ["a lone surrogate in a customColumns value", "POST", (f) => `/api/lists/${f.list}/rows`, (f) => ({ firstName: "Ada", customColumns: { [f.column]: { note: "\ud83d" } } }), (f) => `customColumns.${f.column}.note`, SURROGATE],
    ["a NUL in a row patch value", "PATCH", (f) => `/api/lists/${f.list}/rows/${f.row}`, () => ({ field: "company", value: "Acme\u0000" }), () => "value", NUL],
    ["a NUL in a company name", "POST", (f) => `/api/lists/${f.list}/companies`, () => ({ name: "Acme\u0000", domain: "acme.example" }), () => "name", NUL],
    ["a NUL in a company patch", "PATCH", (f) => `/api/lists/${f.list}/companies/${f.companyRow}`, () => ({ description: "\u0000" }), () => "description", NUL],
    ["a NUL in a cell value", "PUT", (f) => `/api/lists/${f.list}/cells`, (f) => ({ rowId: f.row, columnId: f.column, value: "\u0000" }), () => "value", NUL],
    ["a lone surrogate in a company cell value", "PATCH", (f) => `/api/lists/${f.list}/companies/${f.companyRow}/cells`, (f) => ({ columnId: f.companyColumn, value: ["x", "\udfff"] }), () => "value.1", SURROGATE],
    ["a NUL in a column prompt", "POST", (f) => `/api/lists/${f.list}/columns`, () => ({ name: "Pitch", isDynamic: true, prompt: "Pitch \u0000" }), () => "prompt", NUL],
    ["a NUL in a column rename", "PATCH", (f) => `/api/lists/${f.list}/columns/${f.column}`, () => ({ name: "N\u0000" }), () => "name", NUL],
    [
      "a NUL in enrichment input",
      "POST",
      () => "/api/enrichment",
      (f) => ({ enrichmentId: "custom_ai", scope: { type: "explicit_leads", leadIds: [f.lead] }, input: { prompt: "Is \u0000 technical?" } }),
      () => "input.prompt",
      NUL,
    ],
    ["a NUL in a credit action", "POST", () => "/api/credits/preview", () => ({ action: "EMAIL\u0000", count: 1 }), () => "action", NUL],
    ["a NUL in a key the schema would drop", "POST", () => "/api/lists", () => ({ name: "Fine", extra: "\u0000" }), () => "extra", NUL],
  ];

  it.each(cases)("%s: 400 naming the field, nothing written", async (_label, method, path, body, issuePath, message) => {
    const res = await sendJson(f.client, method, path(f), body(f));
    expect(res).toEqual({ status: 400, body: validationError(issuePath(f), message) });
    expect(await snapshot(f.client)).toEqual(before);
  });

  it("reports every bad string of a body, up to 20", async () => {
    const rows = Array.from({ length: 30 }, (_, i) => ({ firstName: `A\u0000${i}` }));
    const res = await sendJson(f.client, "POST", `/api/lists/${f.list}/rows/bulk`, { rows });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual(Array.from({ length: 20 }, (_, i) => ({ path: `rows.${i}.firstName`, message: NUL })));
    expect(await snapshot(f.client)).toEqual(before);
  });

  it("stores a well-formed surrogate pair", async () => {
    const client = await h.seedWorkspace();
    const res = await sendJson(client, "POST", "/api/lists", { name: "Rocket 🚀" });
    expect([res.status, res.body.list.name]).toEqual([201, "Rocket 🚀"]);
  });

  it.each([
    ["/api/leads?q=%00", "q"],
    ["/api/leads?name=Ada%00", "name"],
    ["/api/leads?company=a&company=b%00", "company.1"],
    ["/api/enrichments?q=mail%00", "q"],
  ])("a NUL in the query %s: 400 naming %s", async (path, issuePath) => {
    const res = await f.client.get(path);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(issuePath, NUL));
  });
});

describe("limits: one past is a 400 naming the field, the limit itself is stored", () => {
  let f: Fixture;
  let before: Record<string, unknown>;
  beforeAll(async () => {
    f = await fixture();
    before = await snapshot(f.client);
  });

  const nested = (depth: number): Json => (depth === 0 ? 1 : { a: nested(depth - 1) });
  const cases: [label: string, method: string, path: (f: Fixture) => string, body: (f: Fixture) => Json, issuePath: string, message: string][] = [
    ["a 501-character list name", "POST", () => "/api/lists", () => ({ name: "a".repeat(501) }), "name", "must be at most 500 characters"],
    ["a 10,001-character description", "PATCH", () => "/api/lists", (f) => ({ id: f.list, description: "d".repeat(10_001) }), "description", "must be at most 10000 characters"],
    ["a 201-character first name", "POST", (f) => `/api/lists/${f.list}/rows`, () => ({ firstName: "😀".repeat(201) }), "firstName", "must be at most 200 characters"],
    [
      "a 501-character LinkedIn URL in a bulk row",
      "POST",
      (f) => `/api/lists/${f.list}/rows/bulk`,
      () => ({ rows: [{ firstName: "Ada" }, { firstName: "Alan", linkedinUrl: `https://linkedin.com/in/${"語".repeat(501 - 24)}` }] }),
      "rows.1.linkedinUrl",
      "must be at most 500 characters",
    ],
    ["a 501-character name by row patch", "PATCH", (f) => `/api/lists/${f.list}/rows/${f.row}`, () => ({ field: "name", value: "n".repeat(501) }), "value", "must be at most 500 characters"],
    ["a 501-character role by row patch", "PATCH", (f) => `/api/lists/${f.list}/rows/${f.row}`, () => ({ field: "role", value: "r".repeat(501) }), "value", "must be at most 500 characters"],
    ["a 501-character social URL", "POST", () => "/api/leads", () => ({ type: "person", socials: [{ url: "u".repeat(501) }] }), "socials.0.url", "must be at most 500 characters"],
    ["a 501-character full name", "PATCH", () => "/api/leads", (f) => ({ id: f.lead, name: { full: "𐐀".repeat(501) } }), "name.full", "must be at most 500 characters"],
    ["an employeeCount of 2^31", "POST", (f) => `/api/lists/${f.list}/companies`, () => ({ name: "Acme", employeeCount: 2 ** 31 }), "employeeCount", "must be an integer from 0 to 2147483647"],
    ["a negative employeeCount", "PATCH", (f) => `/api/lists/${f.list}/companies/${f.companyRow}`, () => ({ employeeCount: -1 }), "employeeCount", "must be an integer from 0 to 2147483647"],
    ["a fractional employeeCount", "PATCH", (f) => `/api/lists/${f.list}/companies/${f.companyRow}`, () => ({ employeeCount: 1.5 }), "employeeCount", "must be an integer"],
    ["a 2,049-character website", "POST", (f) => `/api/lists/${f.list}/companies`, () => ({ name: "Acme", website: "w".repeat(2049) }), "website", "must be at most 2048 characters"],
    ["a column position of 2^31", "PATCH", (f) => `/api/lists/${f.list}/columns/${f.column}`, () => ({ position: 2 ** 31 }), "position", "must be an integer from 0 to 2147483647"],
    ["a 10,001-character prompt", "POST", (f) => `/api/lists/${f.list}/columns`, () => ({ name: "P", isDynamic: true, prompt: "p".repeat(10_001) }), "prompt", "must be at most 10000 characters"],
    ["a credit preview count of 2^31", "POST", () => "/api/credits/preview", () => ({ action: "EMAIL_LOOKUP", count: 2 ** 31 }), "count", "must be an integer from 1 to 2147483647"],
    ["attributes over 64 KiB", "POST", () => "/api/leads", () => ({ type: "person", attributes: { blob: "x".repeat(LIMITS.jsonBytes) } }), "attributes", "must be at most 65536 bytes of JSON"],
    ["a cell value nested 11 deep", "PUT", (f) => `/api/lists/${f.list}/cells`, (f) => ({ rowId: f.row, columnId: f.column, value: nested(11) }), "value", "must not nest more than 10 levels deep"],
    ["enrichment input nested 11 deep", "POST", () => "/api/enrichment", (f) => ({ enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [f.lead] }, input: nested(11) }), "input", "must not nest more than 10 levels deep"],
    ["a body nested 33 deep", "POST", () => "/api/lists", () => ({ name: "x", extra: nested(33) }), ["extra", ...Array(31).fill("a")].join("."), "must not nest more than 32 levels deep"],
  ];

  it.each(cases)("%s: 400 naming the field, nothing written", async (_label, method, path, body, issuePath, message) => {
    const res = await sendJson(f.client, method, path(f), body(f));
    expect(res).toEqual({ status: 400, body: validationError(issuePath, message) });
    expect(await snapshot(f.client)).toEqual(before);
  });

  // "𐐀" is 4 bytes of UTF-8 and lowercases to "𐐨", 4 bytes too: the most a character takes in a dedupe key.
  const wide = (n: number) => "𐐀".repeat(n);
  const linkedin = (n: number, handle = "") => `https://linkedin.com/in/${handle}${wide(n - 24 - handle.length)}`;

  it("stores a person row with every dedupe field at its limit, and matches it again", async () => {
    const { client, list } = await fixture();
    const row = {
      firstName: wide(LIMITS.namePart),
      lastName: wide(LIMITS.namePart),
      company: wide(LIMITS.text),
      linkedinUrl: linkedin(LIMITS.identifierUrl),
      location: wide(LIMITS.text),
      domain: wide(LIMITS.domain),
      email: `${wide(LIMITS.email - 10)}@x.example`,
    };
    const first = await sendJson(client, "POST", `/api/lists/${list}/rows`, row);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.row).toMatchObject({ ...row, domain: row.domain.toLowerCase() });
    expect(first.body.merged).toBe(false);
    const again = await sendJson(client, "POST", `/api/lists/${list}/rows/bulk`, { rows: [row, { ...row, linkedinUrl: null }] });
    expect(again.body).toEqual({ inserted: 0, merged: 2, rowIds: [first.body.row.id, first.body.row.id] });
    const named = await sendJson(client, "PATCH", `/api/lists/${list}/rows/${first.body.row.id}`, { field: "name", value: wide(LIMITS.fullName) });
    const linked = await sendJson(client, "PATCH", `/api/lists/${list}/rows/${first.body.row.id}`, { field: "linkedin", value: linkedin(LIMITS.identifierUrl, "x") });
    expect([named.status, linked.status]).toEqual([200, 200]);
  });

  it("stores leads and companies with every limited field at its limit", async () => {
    const { client, list, companyRow } = await fixture();
    const lead = await sendJson(client, "POST", "/api/leads", {
      type: "company",
      name: { full: wide(LIMITS.fullName) },
      domain: wide(LIMITS.domain),
      socials: [{ url: linkedin(LIMITS.identifierUrl) }],
      contacts: [{ value: `${wide(LIMITS.email - 10)}@x.example` }],
      size: INT4_MAX,
      listIds: [list],
    });
    expect(lead.status, JSON.stringify(lead.body)).toBe(201);
    expect(lead.body.lead).toMatchObject({ domain: wide(LIMITS.domain), size: String(INT4_MAX) });
    const company = {
      name: wide(LIMITS.text),
      domain: `${wide(LIMITS.domain - 8)}.example`,
      linkedinUrl: linkedin(LIMITS.identifierUrl),
      employeeCount: INT4_MAX,
      website: `https://${wide(LIMITS.url - 8)}`,
      description: wide(LIMITS.longText),
    };
    const created = await sendJson(client, "POST", `/api/lists/${list}/companies`, company);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.company).toMatchObject({ ...company, domain: company.domain.toLowerCase() });
    const patched = await sendJson(client, "PATCH", `/api/lists/${list}/companies/${companyRow}`, { employeeCount: 0 });
    expect([patched.status, patched.body.company?.employeeCount]).toEqual([200, 0]);
  });

  it("accepts int4's largest position and count", async () => {
    const { client, list, column } = await fixture();
    const balance = await client.balance();
    const moved = await sendJson(client, "PATCH", `/api/lists/${list}/columns/${column}`, { position: INT4_MAX });
    expect([moved.status, moved.body.column?.position]).toEqual([200, INT4_MAX]);
    const preview = await sendJson(client, "POST", "/api/credits/preview", { action: "EMAIL_LOOKUP", count: INT4_MAX });
    expect(preview).toEqual({
      status: 200,
      body: { action: "EMAIL_LOOKUP", count: INT4_MAX, costPerUnit: 2, totalCredits: 2 * INT4_MAX, sufficient: false, balance },
    });
  });
});

// ---------------------------------------------------------------------------------------------

type Case =
  | { kind: "media"; contentType: string | undefined }
  | { kind: "junk"; body: Json }
  | { kind: "malformed"; text: string }
  | { kind: "mutated"; mutations: Mutation[] };
type Mutation =
  | { kind: "field"; path: Path; value: Json }
  | { kind: "unstorable"; pick: number; bad: string; asKey: boolean; key: string }
  | { kind: "deep"; pick: number };

const BAD_MEDIA = fc.constantFrom(
  undefined,
  "text/plain",
  "text/plain; charset=utf-8",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "text/json",
  "application/jsonx",
  "json",
);
const unstorableString = fc
  .tuple(fc.string({ maxLength: 8 }), fc.constantFrom("\u0000", "\ud800", "\udbff", "\udc00", "\udfff", "\ude00\ud83d"), fc.string({ maxLength: 8 }))
  .map(([a, bad, b]) => a + bad + b);
/** Top-level JSON that is not an object: every body schema is an object. */
const junk = fc.oneof(fc.constant(null), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string(), fc.array(fc.jsonValue({ maxDepth: 2 })));
const malformed = fc
  .oneof(fc.constantFrom("", "{", '{"a":', "[1,", "nul", "'x'", '{"a":1,}', "{a:1}", "\u0000"), fc.string({ maxLength: 30 }))
  .filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  });

const caseOf = (route: Route, f: Fixture): fc.Arbitrary<Case> => {
  const fields = route.fields(f);
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...fields).chain(([path, value]) => value.map((v): Mutation => ({ kind: "field", path, value: v }))) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant("unstorable" as const), pick: fc.nat(), bad: unstorableString, asKey: fc.boolean(), key: fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__") }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("deep" as const), pick: fc.nat() }) },
  );
  return fc.oneof(
    { weight: 1, arbitrary: BAD_MEDIA.map((contentType): Case => ({ kind: "media", contentType })) },
    { weight: 1, arbitrary: junk.map((body): Case => ({ kind: "junk", body })) },
    { weight: 1, arbitrary: malformed.map((text): Case => ({ kind: "malformed", text })) },
    { weight: 6, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }).map((mutations): Case => ({ kind: "mutated", mutations })) },
  );
};

/** Every node of a JSON value with its path, the root first. */
function nodesOf(value: Json, path: Path = []): { path: Path; value: Json }[] {
  const here = [{ path, value }];
  if (Array.isArray(value)) return here.concat(value.flatMap((item, i) => nodesOf(item, [...path, i])));
  if (value !== null && typeof value === "object") return here.concat(Object.entries(value).flatMap(([k, item]) => nodesOf(item, [...path, k])));
  return here;
}

function containerAt(body: Json, path: Path): Json | undefined {
  let node = body;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = node[key];
  }
  return node !== null && typeof node === "object" ? node : undefined;
}

/** Applies one mutation in place; each leaves the body invalid, and none makes an invalid part valid again. */
function mutate(body: Json, m: Mutation): void {
  if (m.kind === "field") {
    const parent = containerAt(body, m.path.slice(0, -1));
    if (parent) parent[m.path.at(-1)!] = m.value;
    return;
  }
  const nodes = nodesOf(body);
  const { path, value } = nodes[m.pick % nodes.length]!;
  const replacement = m.kind === "deep" ? nest(LIMITS.bodyDepth + 1) : m.bad;
  if (m.kind === "unstorable" && Array.isArray(value)) value.push(m.bad);
  else if (m.kind === "unstorable" && value !== null && typeof value === "object") {
    if (m.asKey) value[m.bad] = "v";
    else value[m.key || "extra"] = m.bad;
  } else if (path.length === 0) body.extra = replacement;
  else containerAt(body, path.slice(0, -1))![path.at(-1)!] = replacement;
}

function requestOf(route: Route, f: Fixture, c: Case): { body: string; contentType: string | undefined } {
  const base = route.body(f);
  if (c.kind === "media") return { body: JSON.stringify(base), contentType: c.contentType };
  if (c.kind === "junk") return { body: JSON.stringify(c.body), contentType: "application/json" };
  if (c.kind === "malformed") return { body: c.text, contentType: "application/json" };
  const body = structuredClone(base);
  for (const m of c.mutations) mutate(body, m);
  return { body: JSON.stringify(body), contentType: "application/json" };
}

describe("generated invalid requests on every write route: a 4xx in the envelope, nothing written", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture();
  });

  it.each(ROUTES.map((r) => [r.name, r] as const))("%s", async (_name, route) => {
    await fc.assert(
      fc.asyncProperty(caseOf(route, f), async (c) => {
        // Taken before every run, so a shrunk counterexample is judged on its own.
        const before = await snapshot(f.client);
        const { body, contentType } = requestOf(route, f, c);
        const res = await send(f.client, route.method, route.path(f), body, contentType);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.body).toMatchObject({ error: expect.any(String), code: expect.any(String), requestId: REQUEST_ID });
        expect(ERROR_STATUS[res.body.code as ErrorCode]).toBe(res.status);
        if (c.kind === "media") {
          expect(res.body).toEqual(NOT_JSON);
        } else {
          expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: expect.any(Array) });
          expect(res.body.issues.length).toBeGreaterThan(0);
          for (const issue of res.body.issues) expect(issue).toEqual({ path: expect.any(String), message: expect.any(String) });
        }
        expect(await snapshot(f.client)).toEqual(before);
      }),
      { numRuns: 80 },
    );
  });
});
