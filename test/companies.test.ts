import { and, asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Db } from "../src/db/client";
import * as schema from "../src/db/schema";
import { columns, companyCells, companyRows, leads, personRows } from "../src/db/schema";
import { upsertCompanyRows } from "../src/domain/company-rows";
import { createList } from "../src/domain/lists";
import { credits, progress, type Progress } from "./helpers/column-stats";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client, requestWithoutKey } from "./helpers/harness";

const h = useHarness({ max: 12 });

async function setup() {
  const client = await h.seedWorkspace();
  const list = await createList(h.db, client.workspaceId, {});
  return { client, list, companiesPath: `/api/lists/${list.id}/companies` };
}

/** The company row object with every field empty, overridden where a test expects a value. */
function companyBody(listId: string, fields: Record<string, unknown>) {
  return {
    id: UUID,
    listId,
    leadId: UUID,
    position: expect.any(Number),
    name: expect.any(String),
    domain: null,
    linkedinUrl: null,
    industry: null,
    employeeCount: null,
    location: null,
    website: null,
    description: null,
    attributes: {},
    createdAt: ISO_DATE,
    updatedAt: ISO_DATE,
    ...fields,
  };
}

const notFound = (what: string) => ({ error: `${what} not found`, code: "NOT_FOUND", requestId: REQUEST_ID });

function validationError(path: string, message: unknown = expect.any(String)) {
  return { error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message }] };
}

const storedCompanies = (listId: string) =>
  h.db.select().from(companyRows).where(eq(companyRows.listId, listId)).orderBy(asc(companyRows.position));

const companyLeads = (workspaceId: string) =>
  h.db
    .select()
    .from(leads)
    .where(and(eq(leads.workspaceId, workspaceId), eq(leads.type, "company")))
    .orderBy(asc(leads.id));

async function addCompany(client: Client, listId: string, body: Record<string, unknown>) {
  const res = await client.post(`/api/lists/${listId}/companies`, body);
  expect(res.status).toBe(201);
  return res.body.company;
}

async function addColumn(listId: string, workspaceId: string, column: { name: string; position: number; subject: "person" | "company"; isPreview?: boolean }) {
  const [created] = await h.db
    .insert(columns)
    .values({ listId, workspaceId, name: column.name, position: column.position, subject: column.subject, isPreview: column.isPreview ?? false })
    .returning();
  return created!;
}

/** A database whose drizzle logger counts every statement drizzle sends (transaction control aside). */
function loggingDb() {
  const raw = postgres(inject("databaseUrl"), { max: 1, fetch_types: false, onnotice: () => {} });
  afterAll(() => raw.end({ timeout: 5 }));
  const counter = { statements: 0, db: undefined as unknown as Db };
  counter.db = drizzle(raw, { schema, logger: { logQuery: () => void (counter.statements += 1) } }) as unknown as Db;
  return counter;
}

const logged = loggingDb();

// ---------------------------------------------------------------------------------------------

describe("upsertCompanyRows", () => {
  it("merges inputs that are the same company: same domain, or same name without a domain", async () => {
    const { client, list } = await setup();
    const result = await upsertCompanyRows(h.db, {
      workspaceId: client.workspaceId,
      listId: list.id,
      companies: [
        { name: "Acme", domain: "HTTPS://www.ACME.com/about" },
        { name: "Acme Inc", domain: "acme.com", industry: "Anvils", employeeCount: 10 },
        { name: "Beta" },
        { name: " BETA ", website: "beta.example" },
        { name: "Beta", domain: "beta.io" },
      ],
    });
    const ids = result.map((r) => r.row.id);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[3]).toBe(ids[2]);
    expect(new Set(ids).size).toBe(3);
    expect(result.map((r) => r.created)).toEqual([true, true, true, true, true]);
    expect((await storedCompanies(list.id)).map((c) => [c.id, c.name, c.domain, c.industry, c.employeeCount, c.website])).toEqual([
      [ids[0], "Acme", "acme.com", "Anvils", 10, null],
      [ids[2], "Beta", null, null, null, "beta.example"],
      [ids[4], "Beta", "beta.io", null, null, null],
    ]);
    expect(result[0]!.row).toEqual(await h.db.select().from(companyRows).where(eq(companyRows.id, ids[0]!)).then((r) => r[0]));
    const stored = await companyLeads(client.workspaceId);
    expect(stored.map((l) => [l.fullName, l.domainKey])).toEqual([
      ["Acme", "acme.com"],
      ["Beta", null],
      ["Beta", "beta.io"],
    ]);
    expect(stored[0]).toMatchObject({ industry: "Anvils", size: "10", domain: "acme.com" });
  });

  it("fills only the empty fields of an existing row", async () => {
    const { client, list } = await setup();
    const ws = client.workspaceId;
    const [first] = await upsertCompanyRows(h.db, { workspaceId: ws, listId: list.id, companies: [{ name: "Acme", domain: "acme.com", industry: "Anvils" }] });
    const [second] = await upsertCompanyRows(h.db, {
      workspaceId: ws,
      listId: list.id,
      companies: [{ name: "Other name", domain: "acme.com", industry: "Rockets", employeeCount: 0, location: "Desert", linkedinUrl: "linkedin.com/company/acme", description: "d" }],
    });
    expect(second!.created).toBe(false);
    expect(second!.row).toMatchObject({
      id: first!.row.id,
      name: "Acme",
      domain: "acme.com",
      industry: "Anvils",
      employeeCount: 0,
      location: "Desert",
      linkedinUrl: "linkedin.com/company/acme",
      website: null,
      description: "d",
    });
    expect(second!.row.updatedAt.getTime()).toBeGreaterThanOrEqual(first!.row.updatedAt.getTime());
    expect(await storedCompanies(list.id)).toEqual([second!.row]);
  });

  it("matches a domain-less row by name case-insensitively, never a row with a domain", async () => {
    const { client, list } = await setup();
    const ws = client.workspaceId;
    const [plain, withDomain] = await upsertCompanyRows(h.db, {
      workspaceId: ws,
      listId: list.id,
      companies: [{ name: "Beta  Labs" }, { name: "Gamma", domain: "gamma.io" }],
    });
    const again = await upsertCompanyRows(h.db, {
      workspaceId: ws,
      listId: list.id,
      companies: [{ name: "beta labs" }, { name: "GAMMA" }, { name: "Beta Labs", domain: "beta.io" }],
    });
    expect(again.map((r) => r.created)).toEqual([false, true, true]);
    expect(again[0]!.row.id).toBe(plain!.row.id);
    expect(again[1]!.row.id).not.toBe(withDomain!.row.id);
    expect(await storedCompanies(list.id)).toHaveLength(4);
  });

  it("reuses the workspace's company lead of a domain in another list, never another workspace's", async () => {
    const { client, list } = await setup();
    const other = await createList(h.db, client.workspaceId, {});
    const [a] = await upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: list.id, companies: [{ name: "Acme", domain: "acme.com" }] });
    const [b] = await upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: other.id, companies: [{ name: "Acme", domain: "www.acme.com" }] });
    expect(b!.created).toBe(true);
    expect(b!.row.leadId).toBe(a!.row.leadId);
    expect(await companyLeads(client.workspaceId)).toHaveLength(1);

    const stranger = await setup();
    const [c] = await upsertCompanyRows(h.db, { workspaceId: stranger.client.workspaceId, listId: stranger.list.id, companies: [{ name: "Acme", domain: "acme.com" }] });
    expect(c!.row.leadId).not.toBe(a!.row.leadId);
  });

  it("a domain whose lead already has a row of the list (whose domain was edited) lands in that row", async () => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme", domain: "acme.com" });
    expect((await client.patch(`${companiesPath}/${acme.id}`, { domain: "acme.io" })).status).toBe(200);
    const res = await client.post(companiesPath, { name: "Acme again", domain: "acme.com", industry: "Anvils" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ company: companyBody(list.id, { id: acme.id, leadId: acme.leadId, name: "Acme", domain: "acme.io", industry: "Anvils" }), merged: true });
  });

  it("is a 404 for another workspace's list and writes nothing", async () => {
    const { list } = await setup();
    const stranger = await h.seedWorkspace();
    await expect(upsertCompanyRows(h.db, { workspaceId: stranger.workspaceId, listId: list.id, companies: [{ name: "Acme" }] })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "List not found",
    });
    expect(await storedCompanies(list.id)).toEqual([]);
    expect(await companyLeads(stranger.workspaceId)).toEqual([]);
  });

  it("sends as many statements for 500 companies as for 5", async () => {
    const { client, list } = await setup();
    const companies = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) =>
        i % 5 === 4 ? { name: `Plain ${tag} ${i}` } : i % 5 === 3 ? { name: `Again ${tag}`, domain: `${tag}-0.example` } : { name: `Co ${i}`, domain: `${tag}-${i}.example` },
      );
    // Both runs match an existing row and create new ones, so both take the same paths.
    await upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: list.id, companies: [{ name: "Seed", domain: "seed.example" }] });
    const run = async (n: number, tag: string) => {
      const before = logged.statements;
      const result = await upsertCompanyRows(logged.db, {
        workspaceId: client.workspaceId,
        listId: list.id,
        companies: [{ name: "Seed", domain: "seed.example", industry: tag }, ...companies(n, tag)],
      });
      expect(result).toHaveLength(n + 1);
      return logged.statements - before;
    };
    const five = await run(5, "small");
    const fiveHundred = await run(500, "large");
    expect(fiveHundred).toBe(five);
    expect(five).toBeGreaterThan(3);
    expect(await storedCompanies(list.id)).toHaveLength(1 + 4 + 400);
  });

  it("concurrent imports of the same companies into one list make one row and one lead each", async () => {
    const { client, list } = await setup();
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: list.id, companies: [{ name: "Acme", domain: "acme.com" }, { name: "Plain" }] }),
      ),
    );
    expect(results.filter((r) => r[0]!.created)).toHaveLength(1);
    expect(results.filter((r) => r[1]!.created)).toHaveLength(1);
    expect(await storedCompanies(list.id)).toHaveLength(2);
    expect(await companyLeads(client.workspaceId)).toHaveLength(2);
  });

  it("a row that a writer without the list lock commits meanwhile becomes a match, not an error", async () => {
    const { client, list } = await setup();
    let inserted!: () => void;
    let release!: () => void;
    const rowIsInserted = new Promise<void>((resolve) => (inserted = resolve));
    const mayCommit = new Promise<void>((resolve) => (release = resolve));
    const otherWriter = h.client.begin(async (tx) => {
      const [lead] = await tx.unsafe(
        `insert into leads (workspace_id, type, full_name, domain, domain_key) values ($1, 'company', 'Acme', 'acme.com', 'acme.com') returning id`,
        [client.workspaceId],
      );
      await tx.unsafe(`insert into list_company_rows (list_id, workspace_id, lead_id, name, domain) values ($1, $2, $3, 'Acme', 'acme.com')`, [
        list.id,
        client.workspaceId,
        lead!.id,
      ]);
      inserted();
      await mayCommit;
    });
    await rowIsInserted;
    // The upsert cannot see the uncommitted row, and its lead insert waits on the other writer's lead.
    const upsert = upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: list.id, companies: [{ name: "ACME", domain: "acme.com", industry: "Anvils" }] });
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await otherWriter;
    const [result] = await upsert;
    expect(result!.created).toBe(false);
    expect(result!.row).toMatchObject({ name: "Acme", domain: "acme.com", industry: "Anvils" });
    expect(await storedCompanies(list.id)).toEqual([result!.row]);
    expect(await companyLeads(client.workspaceId)).toHaveLength(1);
  });

  it("concurrent imports of the same domains into different lists share the lead", async () => {
    const { client } = await setup();
    const targets = await Promise.all(Array.from({ length: 6 }, () => createList(h.db, client.workspaceId, {})));
    const domains = Array.from({ length: 20 }, (_, i) => ({ name: `Co ${i}`, domain: `co${i}.example` }));
    await Promise.all(
      targets.map((l, i) =>
        upsertCompanyRows(h.db, { workspaceId: client.workspaceId, listId: l.id, companies: i % 2 ? [...domains].reverse() : domains }),
      ),
    );
    expect(await companyLeads(client.workspaceId)).toHaveLength(20);
    for (const l of targets) expect(await storedCompanies(l.id)).toHaveLength(20);
  });
});

// ---------------------------------------------------------------------------------------------

describe("GET /api/lists/{id}/companies", () => {
  it("answers the company rows by position, the company columns by position and their cells", async () => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme", domain: "acme.com" });
    const beta = await addCompany(client, list.id, { name: "Beta" });
    const size = await addColumn(list.id, client.workspaceId, { name: "Size", position: 20, subject: "company" });
    const news = await addColumn(list.id, client.workspaceId, { name: "News", position: 12, subject: "company" });
    const preview = await addColumn(list.id, client.workspaceId, { name: "Preview", position: 13, subject: "company", isPreview: true });
    await h.db.insert(companyCells).values([
      { listId: list.id, columnId: size.id, companyRowId: beta.id, value: 5, status: "complete" },
      { listId: list.id, columnId: news.id, companyRowId: beta.id, value: "none", status: "pending" },
      { listId: list.id, columnId: size.id, companyRowId: acme.id, value: 300, status: "complete" },
      { listId: list.id, columnId: preview.id, companyRowId: acme.id, value: "p", status: "complete" },
    ]);
    const res = await client.get(companiesPath);
    expect(res.status).toBe(200);
    const column = (c: typeof size, cellProgress: Progress) => ({
      id: c.id,
      listId: list.id,
      name: c.name,
      prompt: null,
      responseType: "auto",
      source: "profile",
      subject: "company",
      isFilter: false,
      position: c.position,
      schema: null,
      enrichmentType: null,
      config: {},
      createdAt: ISO_DATE,
      isPreview: false,
      category: "custom",
      builtInKey: null,
      autoRun: false,
      runIf: null,
      maxCredits: null,
      budgetLeft: null,
      dependsOn: [],
      progress: cellProgress,
      credits: credits(),
    });
    const cell = (columnId: string, companyRowId: string, value: unknown, status: string) => ({
      id: UUID,
      listId: list.id,
      columnId,
      companyRowId,
      value,
      status,
      reasoning: null,
      error: null,
      createdAt: ISO_DATE,
      updatedAt: ISO_DATE,
    });
    expect(res.body).toEqual({
      companies: [acme, beta],
      columns: [column(news, progress({ pending: 1 })), column(size, progress({ completed: 2 }))],
      cells: [cell(size.id, acme.id, 300, "complete"), cell(news.id, beta.id, "none", "pending"), cell(size.id, beta.id, 5, "complete")],
    });
  });

  it("answers an empty list", async () => {
    const { client, companiesPath } = await setup();
    const res = await client.get(companiesPath);
    expect(res.body).toEqual({ companies: [], columns: [], cells: [] });
  });
});

// ---------------------------------------------------------------------------------------------

describe("POST /api/lists/{id}/companies", () => {
  it("creates a company row and its lead: 201", async () => {
    const { client, list, companiesPath } = await setup();
    const res = await client.post(companiesPath, {
      name: " Acme ",
      domain: "https://WWW.Acme.com/",
      linkedinUrl: "https://linkedin.com/company/acme",
      industry: "Anvils",
      employeeCount: 250,
      location: "Desert",
      website: "https://acme.com",
      description: "Makes anvils",
    });
    expect(res.status).toBe(201);
    const fields = {
      name: "Acme",
      domain: "acme.com",
      linkedinUrl: "https://linkedin.com/company/acme",
      industry: "Anvils",
      employeeCount: 250,
      location: "Desert",
      website: "https://acme.com",
      description: "Makes anvils",
    };
    expect(res.body).toEqual({ company: companyBody(list.id, fields), merged: false });
    const [stored] = await storedCompanies(list.id);
    expect(stored).toMatchObject({ id: res.body.company.id, ...fields });
    const [lead] = await companyLeads(client.workspaceId);
    expect(lead).toMatchObject({
      id: res.body.company.leadId,
      type: "company",
      fullName: "Acme",
      domain: "acme.com",
      domainKey: "acme.com",
      industry: "Anvils",
      size: "250",
      location: { raw: "Desert" },
      socials: [{ url: "https://linkedin.com/company/acme" }],
      attributes: { website: "https://acme.com", description: "Makes anvils" },
    });
  });

  it("merges into the row with the same domain, filling only empty fields: 200", async () => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme", domain: "acme.com", industry: "Anvils" });
    const res = await client.post(companiesPath, { name: "ACME Corp", domain: "Acme.com", industry: "Rockets", employeeCount: 3 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ company: companyBody(list.id, { id: acme.id, leadId: acme.leadId, position: acme.position, name: "Acme", domain: "acme.com", industry: "Anvils", employeeCount: 3 }), merged: true });
    expect(await storedCompanies(list.id)).toHaveLength(1);
    expect(await companyLeads(client.workspaceId)).toHaveLength(1);
  });

  it("merges a domain-less company into the domain-less row of the same name: 200", async () => {
    const { client, list, companiesPath } = await setup();
    const beta = await addCompany(client, list.id, { name: "Beta" });
    const res = await client.post(companiesPath, { name: "beta", location: "Oslo" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ company: companyBody(list.id, { id: beta.id, leadId: beta.leadId, name: "Beta", location: "Oslo" }), merged: true });
  });

  it.each([
    [{}, "name"],
    [{ name: "" }, "name"],
    [{ name: "   " }, "name"],
    [{ name: 5 }, "name"],
    [{ name: "Acme", employeeCount: -1 }, "employeeCount"],
    [{ name: "Acme", employeeCount: 1.5 }, "employeeCount"],
    [{ name: "Acme", employeeCount: "12" }, "employeeCount"],
    [{ name: "Acme", domain: 7 }, "domain"],
  ])("rejects %j", async (body, path) => {
    const { client, list, companiesPath } = await setup();
    const res = await client.post(companiesPath, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect(await storedCompanies(list.id)).toEqual([]);
    expect(await companyLeads(client.workspaceId)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("PATCH /api/lists/{id}/companies/{cid}", () => {
  it("overwrites the given fields only; null clears; the domain is normalised", async () => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme", domain: "acme.com", industry: "Anvils", location: "Desert" });
    const res = await client.patch(`${companiesPath}/${acme.id}`, { name: " Acme Corp ", domain: "HTTP://Acme.IO/x", industry: null, employeeCount: 0 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      company: companyBody(list.id, { id: acme.id, leadId: acme.leadId, name: "Acme Corp", domain: "acme.io", industry: null, employeeCount: 0, location: "Desert" }),
    });
    const [stored] = await storedCompanies(list.id);
    expect(stored).toMatchObject({ name: "Acme Corp", domain: "acme.io", industry: null, employeeCount: 0, location: "Desert" });
  });

  it("keeping its own domain is fine", async () => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme", domain: "acme.com" });
    const res = await client.patch(`${companiesPath}/${acme.id}`, { domain: "ACME.com" });
    expect(res.status).toBe(200);
    expect(res.body.company.domain).toBe("acme.com");
  });

  it("a domain another company row of the list has is a 409", async () => {
    const { client, list, companiesPath } = await setup();
    await addCompany(client, list.id, { name: "Acme", domain: "acme.com" });
    const beta = await addCompany(client, list.id, { name: "Beta", domain: "beta.com" });
    const res = await client.patch(`${companiesPath}/${beta.id}`, { name: "Beta 2", domain: "www.acme.com" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: "Another company of this list has the domain acme.com", code: "CONFLICT", requestId: REQUEST_ID });
    expect((await storedCompanies(list.id)).map((c) => [c.name, c.domain])).toEqual([
      ["Acme", "acme.com"],
      ["Beta", "beta.com"],
    ]);
  });

  it.each([
    [{}, ""],
    [{ name: "" }, "name"],
    [{ name: null }, "name"],
    [{ employeeCount: -3 }, "employeeCount"],
  ])("rejects %j", async (body, path) => {
    const { client, list, companiesPath } = await setup();
    const acme = await addCompany(client, list.id, { name: "Acme" });
    const res = await client.patch(`${companiesPath}/${acme.id}`, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect((await storedCompanies(list.id)).map((c) => c.name)).toEqual(["Acme"]);
  });

  it("an unknown company, or one of another list of the workspace, is a 404", async () => {
    const { client, list, companiesPath } = await setup();
    const other = await createList(h.db, client.workspaceId, {});
    const elsewhere = await addCompany(client, other.id, { name: "Elsewhere" });
    for (const cid of [crypto.randomUUID(), elsewhere.id]) {
      const res = await client.patch(`${companiesPath}/${cid}`, { name: "Renamed" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(notFound("Company"));
    }
    expect((await storedCompanies(other.id)).map((c) => c.name)).toEqual(["Elsewhere"]);
    expect(await storedCompanies(list.id)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("DELETE /api/lists/{id}/companies/{cid}", () => {
  it("deletes the row and its cells; its people stay, unlinked; its lead stays", async () => {
    const { client, list, companiesPath } = await setup();
    const person = await client.post(`/api/lists/${list.id}/rows`, { firstName: "Ada", company: "Acme", domain: "acme.com" });
    const acmeId = person.body.row.companyRowId as string;
    const keep = await addCompany(client, list.id, { name: "Beta" });
    const size = await addColumn(list.id, client.workspaceId, { name: "Size", position: 20, subject: "company" });
    await h.db.insert(companyCells).values([
      { listId: list.id, columnId: size.id, companyRowId: acmeId, value: 1, status: "complete" },
      { listId: list.id, columnId: size.id, companyRowId: keep.id, value: 2, status: "complete" },
    ]);
    const res = await client.delete(`${companiesPath}/${acmeId}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect((await storedCompanies(list.id)).map((c) => c.id)).toEqual([keep.id]);
    expect((await h.db.select().from(companyCells).where(eq(companyCells.listId, list.id))).map((c) => c.companyRowId)).toEqual([keep.id]);
    const [row] = await h.db.select().from(personRows).where(eq(personRows.listId, list.id));
    expect(row).toMatchObject({ id: person.body.row.id, companyRowId: null, company: "Acme", domain: "acme.com" });
    expect(await companyLeads(client.workspaceId)).toHaveLength(2);

    const again = await client.delete(`${companiesPath}/${acmeId}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual(notFound("Company"));
  });

  it("a company of another list of the workspace is a 404 and stays", async () => {
    const { client, companiesPath } = await setup();
    const other = await createList(h.db, client.workspaceId, {});
    const elsewhere = await addCompany(client, other.id, { name: "Elsewhere" });
    const res = await client.delete(`${companiesPath}/${elsewhere.id}`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("Company"));
    expect(await storedCompanies(other.id)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe("ownership, ids and auth on every company route", () => {
  const routes: [string, string, (listId: string, cid: string) => [string, unknown?]][] = [
    ["GET", "companies", (l) => [`/api/lists/${l}/companies`]],
    ["POST", "companies", (l) => [`/api/lists/${l}/companies`, { name: "Intruder", domain: "acme.com" }]],
    ["PATCH", "companies/{cid}", (l, c) => [`/api/lists/${l}/companies/${c}`, { name: "Renamed" }]],
    ["DELETE", "companies/{cid}", (l, c) => [`/api/lists/${l}/companies/${c}`]],
  ];

  it.each(routes)("%s %s: another workspace's list is a 404 and nothing changes", async (method, _path, route) => {
    const owner = await setup();
    const acme = await addCompany(owner.client, owner.list.id, { name: "Acme", domain: "acme.com" });
    const stranger = await h.seedWorkspace();
    const [path, body] = route(owner.list.id, acme.id);
    const res = await stranger.request(method, path, body);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("List"));
    expect((await storedCompanies(owner.list.id)).map((c) => [c.id, c.name])).toEqual([[acme.id, "Acme"]]);
    expect(await companyLeads(stranger.workspaceId)).toEqual([]);
  });

  it.each(routes)("%s %s: an unknown list is a 404", async (method, _path, route) => {
    const { client } = await setup();
    const [path, body] = route(crypto.randomUUID(), crypto.randomUUID());
    const res = await client.request(method, path, body);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("List"));
  });

  it.each(routes)("%s %s: a malformed list id is a 400", async (method, _path, route) => {
    const { client } = await setup();
    const [path, body] = route("nope", crypto.randomUUID());
    const res = await client.request(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("id", "Invalid UUID"));
  });

  it.each(routes.filter(([, path]) => path.includes("{cid}")))("%s %s: a malformed company id is a 400", async (method, _path, route) => {
    const { client, list } = await setup();
    const [path, body] = route(list.id, "12345");
    const res = await client.request(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("cid", "Invalid UUID"));
  });

  it.each(routes)("%s %s: 401 without a key", async (method, _path, route) => {
    const { list } = await setup();
    const [path, body] = route(list.id, crypto.randomUUID());
    const res = await requestWithoutKey(h.app, method, path, body);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
    expect(await storedCompanies(list.id)).toEqual([]);
  });
});
