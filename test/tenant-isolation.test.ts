import { sql } from "drizzle-orm";
import { z } from "zod";
import { beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { UUID_PATTERN } from "../src/ids";
import { OPERATIONS } from "../src/routes";
import type { Operation } from "../src/routes/operation";
import { operationOf } from "./helpers/contract";
import { addColumn } from "./helpers/fixtures";
import { REQUEST_ID, useHarness, type Client } from "./helpers/harness";

/**
 * Whether any part of the operation's input (path, query, body at any depth) is the id of a resource.
 * A paging cursor is an id too, but only positions a page of the caller's own records.
 */
function takesAnId(operation: Operation): boolean {
  const { params, query, body } = operation.spec;
  return [params, query, body].some((schema) => {
    if (schema === undefined) return false;
    const inputSchema = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown> };
    delete inputSchema.properties?.cursor;
    return JSON.stringify(inputSchema).includes(JSON.stringify(UUID_PATTERN.source));
  });
}

// Another workspace's resources are always a 404 with the resource named, never a 403, and a foreign
// request changes nothing. Every route that takes an id is tried with the owner's ids.
const h = useHarness();

let owner: Client;
let intruder: Client;
const ids = { list: "", row: "", company: "", lead: "", column: "", companyColumn: "", aiColumn: "", run: "" };

async function ownerState() {
  const [state] = rowsOf<Record<string, string>>(
    await h.db.execute(sql`
      select
        (select json_agg(l order by l.id) from lists l where l.workspace_id = ${owner.workspaceId}) as lists,
        (select json_agg(r order by r.id) from list_rows r where r.workspace_id = ${owner.workspaceId}) as rows,
        (select json_agg(c order by c.id) from list_company_rows c where c.workspace_id = ${owner.workspaceId}) as companies,
        (select json_agg(x order by x.id) from leads x where x.workspace_id = ${owner.workspaceId}) as leads,
        (select json_agg(c order by c.id) from list_columns c where c.workspace_id = ${owner.workspaceId}) as columns,
        (select json_agg(c order by c.id) from list_cells c where c.list_id = ${ids.list}) as cells,
        (select json_agg(c order by c.id) from list_company_cells c where c.list_id = ${ids.list}) as company_cells,
        (select json_agg(r order by r.id) from enrichment_runs r where r.workspace_id = ${owner.workspaceId}) as runs,
        (select json_agg(i order by i.id) from enrichment_run_items i where i.workspace_id = ${owner.workspaceId}) as items,
        (select json_agg(l order by l.id) from credit_ledger l where l.workspace_id = ${owner.workspaceId}) as ledger,
        (select credit_balance from workspaces where id = ${owner.workspaceId}) as balance`),
  );
  return state;
}

beforeAll(async () => {
  owner = await h.seedWorkspace({ credits: 100 });
  intruder = await h.seedWorkspace({ credits: 100 });
  ids.list = (await owner.post("/api/lists", { name: "Private" })).body.list.id;
  const row = await owner.post(`/api/lists/${ids.list}/rows`, { firstName: "Ada", lastName: "Lovelace", company: "Analytical", domain: "analytical.org" });
  ids.row = row.body.row.id;
  ids.company = row.body.row.companyRowId;
  ids.lead = (await owner.post("/api/leads", { type: "person", name: { full: "Grace Hopper" }, contacts: [{ value: "grace@navy.mil" }] })).body.lead.id;
  ids.column = await addColumn(h.db, owner.workspaceId, ids.list, { name: "Notes" });
  ids.companyColumn = await addColumn(h.db, owner.workspaceId, ids.list, { name: "Size", subject: "company" });
  ids.aiColumn = (await owner.post(`/api/lists/${ids.list}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?" })).body.column.id;
  ids.run = (await owner.post("/api/enrichment", { enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [ids.lead] } })).body.enrichmentRunId;
  await h.settle();
});

type Attempt = [operationId: string, label: string, method: string, path: () => string, body: () => unknown, notFound: string];

const attempts: Attempt[] = [
  ["listLeads", "read the lead", "GET", () => `/api/leads?id=${ids.lead}`, () => undefined, "Lead not found"],
  ["updateLead", "patch the lead", "PATCH", () => "/api/leads", () => ({ id: ids.lead, title: "Admiral" }), "Lead not found"],
  ["createLead", "create a lead into the list", "POST", () => "/api/leads", () => ({ type: "person", name: { full: "Eve" }, listIds: [ids.list] }), "List not found"],
  ["getList", "read the sheet", "GET", () => `/api/lists/${ids.list}`, () => undefined, "List not found"],
  ["getList", "read the companies sheet", "GET", () => `/api/lists/${ids.list}?segment=companies`, () => undefined, "List not found"],
  ["updateList", "rename the list", "PATCH", () => "/api/lists", () => ({ id: ids.list, name: "Mine" }), "List not found"],
  ["deleteList", "delete the list by path", "DELETE", () => `/api/lists/${ids.list}`, () => undefined, "List not found"],
  ["deleteListByBody", "delete the list by body", "DELETE", () => "/api/lists", () => ({ id: ids.list }), "List not found"],
  ["addRow", "add a row", "POST", () => `/api/lists/${ids.list}/rows`, () => ({ firstName: "Eve" }), "List not found"],
  ["addRows", "bulk add rows", "POST", () => `/api/lists/${ids.list}/rows/bulk`, () => ({ rows: [{ firstName: "Eve" }] }), "List not found"],
  ["listRows", "read rows", "GET", () => `/api/lists/${ids.list}/rows`, () => undefined, "List not found"],
  ["updateRow", "patch a row", "PATCH", () => `/api/lists/${ids.list}/rows/${ids.row}`, () => ({ field: "name", value: "Eve" }), "List not found"],
  ["deleteRows", "delete rows", "DELETE", () => `/api/lists/${ids.list}/rows`, () => ({ rowIds: [ids.row] }), "List not found"],
  ["listCompanies", "read companies", "GET", () => `/api/lists/${ids.list}/companies`, () => undefined, "List not found"],
  ["addCompany", "add a company", "POST", () => `/api/lists/${ids.list}/companies`, () => ({ name: "Evil Corp" }), "List not found"],
  ["updateCompany", "patch a company", "PATCH", () => `/api/lists/${ids.list}/companies/${ids.company}`, () => ({ name: "Evil" }), "List not found"],
  ["deleteCompany", "delete a company", "DELETE", () => `/api/lists/${ids.list}/companies/${ids.company}`, () => undefined, "List not found"],
  ["writeCell", "write a person cell", "PUT", () => `/api/lists/${ids.list}/cells`, () => ({ rowId: ids.row, columnId: ids.column, value: "x" }), "List not found"],
  [
    "writeCompanyCell",
    "write a company cell",
    "PATCH",
    () => `/api/lists/${ids.list}/companies/${ids.company}/cells`,
    () => ({ columnId: ids.companyColumn, value: "x" }),
    "List not found",
  ],
  ["listColumns", "list columns", "GET", () => `/api/lists/${ids.list}/columns`, () => undefined, "List not found"],
  ["getColumn", "read a column", "GET", () => `/api/lists/${ids.list}/columns/${ids.aiColumn}`, () => undefined, "List not found"],
  ["createColumn", "create a column", "POST", () => `/api/lists/${ids.list}/columns`, () => ({ name: "Mine", isDynamic: true, prompt: "x" }), "List not found"],
  ["updateColumn", "patch a column", "PATCH", () => `/api/lists/${ids.list}/columns/${ids.column}`, () => ({ name: "Mine" }), "List not found"],
  ["updateColumn", "promote a column", "PATCH", () => `/api/lists/${ids.list}/columns/${ids.aiColumn}`, () => ({ isPreview: false }), "List not found"],
  ["deleteColumn", "delete a column", "DELETE", () => `/api/lists/${ids.list}/columns/${ids.aiColumn}`, () => undefined, "List not found"],
  ["cleanupPreviewColumns", "clean up previews", "POST", () => `/api/lists/${ids.list}/columns/cleanup-previews`, () => ({}), "List not found"],
  ["listPreviewCells", "read preview cells", "GET", () => `/api/lists/${ids.list}/columns/${ids.aiColumn}/preview-cells`, () => undefined, "List not found"],
  ["generateCells", "generate", "POST", () => `/api/lists/${ids.list}/columns/${ids.aiColumn}/generate`, () => ({ rowIds: [ids.row] }), "List not found"],
  [
    "createEnrichmentRun",
    "enrich the owner's leads",
    "POST",
    () => "/api/enrichment",
    () => ({ enrichmentId: "work_email", scope: { type: "explicit_leads", leadIds: [ids.lead] } }),
    "Lead not found",
  ],
  ["createEnrichmentRun", "enrich the owner's list", "POST", () => "/api/enrichment", () => ({ enrichmentId: "work_email", scope: { type: "list", listId: ids.list } }), "List not found"],
  ["getEnrichmentRun", "read a run", "GET", () => `/api/enrichment/${ids.run}`, () => undefined, "Enrichment run not found"],
  ["listEnrichmentRunItems", "read a run's items", "GET", () => `/api/enrichment/${ids.run}/items`, () => undefined, "Enrichment run not found"],
  ["cancelEnrichmentRun", "cancel a run", "POST", () => `/api/enrichment/${ids.run}/cancel`, () => ({}), "Enrichment run not found"],
  ["streamListEvents", "follow the list's events", "GET", () => `/api/lists/${ids.list}/events`, () => undefined, "List not found"],
];

describe("another workspace's ids", () => {
  it("tries every operation that takes an id, as the route table has them", () => {
    // Built from the registered operations, so a new route that takes an id cannot be left out.
    const takingIds = OPERATIONS.filter((operation) => takesAnId(operation)).map((operation) => operation.spec.operationId);
    expect(takingIds.length).toBeGreaterThan(25);
    expect(takingIds.filter((operationId) => !attempts.some(([tried]) => tried === operationId))).toEqual([]);
    for (const [operationId, label, method, path] of attempts) {
      expect({ label, operationId: operationOf(method, path())?.operationId }).toEqual({ label, operationId });
    }
  });

  it.each(attempts)("%s (%s): 404 and nothing changes", async (_operationId, _label, method, path, body, notFound) => {
    const before = await ownerState();
    const res = await intruder.request(method, path(), body());
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: notFound, code: "NOT_FOUND", requestId: REQUEST_ID });
    expect(await ownerState()).toEqual(before);
  });

  it("lists, leads and the ledger never show another workspace's records", async () => {
    expect((await intruder.get("/api/lists")).body).toEqual({ lists: [] });
    expect((await intruder.get("/api/leads")).body).toEqual({ leads: [], nextCursor: null });
    const ledger = (await intruder.get("/api/credits/ledger")).body.entries;
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({ kind: "grant", delta: 100 });
  });

  it("the owner still sees everything", async () => {
    const sheet = await owner.get(`/api/lists/${ids.list}`);
    expect(sheet.status).toBe(200);
    expect(sheet.body.rows.map((r: { id: string }) => r.id)).toEqual([ids.row]);
    expect((await owner.get(`/api/leads?id=${ids.lead}`)).status).toBe(200);
  });
});
