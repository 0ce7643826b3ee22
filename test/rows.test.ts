import { and, asc, eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { columns, companyRows, leads, personCells, personRows } from "../src/db/schema";
import { createList } from "../src/domain/lists";
import { countingApp } from "./helpers/counting";
import { Client, ISO_DATE, REQUEST_ID, UUID, useHarness, type Json, requestWithoutKey } from "./helpers/harness";

const h = useHarness({ max: 12 });

// ---------------------------------------------------------------------------------------------
// Helpers

async function setup() {
  const client = await h.seedWorkspace();
  const list = await createList(h.db, client.workspaceId, {});
  return { client, list, rowsPath: `/api/lists/${list.id}/rows` };
}

/** The row object with every field empty, overridden where a test expects a value. */
function rowBody(listId: string, fields: Record<string, unknown> = {}) {
  return {
    id: UUID,
    listId,
    leadId: UUID,
    companyRowId: null,
    position: expect.any(Number),
    firstName: null,
    lastName: null,
    fullName: null,
    company: null,
    role: null,
    headline: null,
    linkedinUrl: null,
    location: null,
    domain: null,
    email: null,
    phone: null,
    seniority: null,
    departments: null,
    functions: null,
    experience: null,
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

const storedRows = (listId: string) => h.db.select().from(personRows).where(eq(personRows.listId, listId)).orderBy(asc(personRows.position));

const storedCompanies = (listId: string) =>
  h.db.select().from(companyRows).where(eq(companyRows.listId, listId)).orderBy(asc(companyRows.position));

const storedLeads = (workspaceId: string, type: "person" | "company") =>
  h.db
    .select()
    .from(leads)
    .where(and(eq(leads.workspaceId, workspaceId), eq(leads.type, type)))
    .orderBy(asc(leads.id));

async function storedCells(listId: string) {
  return h.db.select().from(personCells).where(eq(personCells.listId, listId)).orderBy(asc(personCells.id));
}

/** The built-in cells of a row as { builtInKey: { value, status } }. */
async function builtInCells(rowId: string) {
  const cells = await h.db
    .select({ key: columns.builtInKey, value: personCells.value, status: personCells.status })
    .from(personCells)
    .innerJoin(columns, eq(columns.id, personCells.columnId))
    .where(and(eq(personCells.rowId, rowId), sql`${columns.builtInKey} is not null`));
  return Object.fromEntries(cells.map((c) => [c.key, { value: c.value, status: c.status }]));
}

/** What the 11 built-in cells of a row hold, given the row's fields. */
function expectedBuiltIns(fields: Record<string, string | null>) {
  const cell = (value: string | null | undefined) => ({ value: value ?? null, status: "completed" });
  return {
    name: cell(fields.fullName),
    role: cell(fields.role),
    company: cell(fields.company),
    location: cell(fields.location),
    domain: cell(fields.domain),
    linkedin: cell(fields.linkedinUrl),
    headline: cell(fields.headline),
    seniority: cell(null),
    departments: cell(null),
    functions: cell(null),
    experience: cell(null),
  };
}

async function addColumn(
  listId: string,
  workspaceId: string,
  column: { name: string; isDynamic?: boolean; enrichmentType?: string; subject?: "person" | "company"; isPreview?: boolean },
) {
  const [{ next }] = rowsOf<{ next: number }>(
    await h.db.execute(sql`select coalesce(max(position), -1) + 1 as next from list_columns where list_id = ${listId}`),
  ) as [{ next: number }];
  const [created] = await h.db
    .insert(columns)
    .values({
      listId,
      workspaceId,
      name: column.name,
      isDynamic: column.isDynamic ?? false,
      enrichmentType: column.enrichmentType ?? null,
      subject: column.subject ?? "person",
      isPreview: column.isPreview ?? false,
      position: Number(next),
      source: column.isDynamic ? "web" : "profile",
      prompt: column.isDynamic ? "What is their favourite colour?" : null,
    })
    .returning();
  return created!;
}

async function addRow(client: Client, listId: string, body: Record<string, unknown>): Promise<Json> {
  const res = await client.post(`/api/lists/${listId}/rows`, body);
  expect(res.status).toBe(200);
  return res.body.row;
}

const counted = countingApp(h);

// ---------------------------------------------------------------------------------------------

describe("POST /api/lists/{id}/rows", () => {
  it("creates a row with its lead, its 11 built-in cells and a company row", async () => {
    const { client, list, rowsPath } = await setup();
    const res = await client.post(rowsPath, {
      firstName: " Ada ",
      lastName: "Lovelace",
      company: "Analytical Engines",
      role: "Mathematician",
      linkedinUrl: "https://www.linkedin.com/in/Ada-Lovelace/",
      location: "London",
      domain: "https://WWW.Analytical.org/about",
      email: "Ada@Analytical.org",
      phone: "+44 20 1234",
    });
    expect(res.status).toBe(200);
    const fields = {
      firstName: "Ada",
      lastName: "Lovelace",
      fullName: "Ada Lovelace",
      company: "Analytical Engines",
      role: "Mathematician",
      headline: "Mathematician",
      linkedinUrl: "https://www.linkedin.com/in/Ada-Lovelace/",
      location: "London",
      domain: "analytical.org",
      email: "Ada@Analytical.org",
      phone: "+44 20 1234",
    };
    expect(res.body).toEqual({ row: rowBody(list.id, { ...fields, companyRowId: UUID }), columnsToEnrich: [], merged: false });

    const [row] = await storedRows(list.id);
    expect(row).toMatchObject({
      id: res.body.row.id,
      ...fields,
      linkedinKey: "linkedin.com/in/ada-lovelace",
      nameKey: "ada lovelace",
      companyKey: "analytical engines",
      locationKey: "london",
    });
    expect(await builtInCells(row!.id)).toEqual(expectedBuiltIns(fields));
    expect(await storedCells(list.id)).toHaveLength(11);

    const [company] = await storedCompanies(list.id);
    expect(company).toMatchObject({ id: row!.companyRowId, name: "Analytical Engines", domain: "analytical.org" });
    const [companyLead] = await storedLeads(client.workspaceId, "company");
    expect(companyLead).toMatchObject({ id: company!.leadId, fullName: "Analytical Engines", domain: "analytical.org", domainKey: "analytical.org" });
    const [personLead] = await storedLeads(client.workspaceId, "person");
    expect(personLead).toMatchObject({
      id: row!.leadId,
      fullName: "Ada Lovelace",
      firstName: "Ada",
      lastName: "Lovelace",
      title: "Mathematician",
      companyName: "Analytical Engines",
      companyDomain: "analytical.org",
      companyLeadId: companyLead!.id,
      location: { raw: "London" },
      socials: [{ url: "https://www.linkedin.com/in/Ada-Lovelace/" }],
      contacts: [{ value: "Ada@Analytical.org" }, { value: "+44 20 1234" }],
      linkedinKey: "linkedin.com/in/ada-lovelace",
      emailKey: "ada@analytical.org",
    });
  });

  it("creates no company row for a person without company and domain", async () => {
    const { client, list, rowsPath } = await setup();
    const res = await client.post(rowsPath, { email: "someone@example.com" });
    expect(res.body).toEqual({ row: rowBody(list.id, { email: "someone@example.com" }), columnsToEnrich: [], merged: false });
    expect(await storedCompanies(list.id)).toEqual([]);
    expect(await builtInCells(res.body.row.id)).toEqual(expectedBuiltIns({}));
  });

  it("names a company row after the domain when only a domain is given", async () => {
    const { list, client, rowsPath } = await setup();
    const res = await client.post(rowsPath, { firstName: "Ada", domain: "Acme.COM" });
    const [company] = await storedCompanies(list.id);
    expect(company).toMatchObject({ id: res.body.row.companyRowId, name: "acme.com", domain: "acme.com" });
  });

  it("lists the AI and enrichment person columns with no cell for the row in columnsToEnrich", async () => {
    const { client, list, rowsPath } = await setup();
    const ai = await addColumn(list.id, client.workspaceId, { name: "Colour", isDynamic: true });
    const email = await addColumn(list.id, client.workspaceId, { name: "Work email", enrichmentType: "work_email" });
    const answered = await addColumn(list.id, client.workspaceId, { name: "Answered", isDynamic: true });
    await addColumn(list.id, client.workspaceId, { name: "Notes" });
    await addColumn(list.id, client.workspaceId, { name: "Hiring", enrichmentType: "hiring_status", subject: "company" });
    const res = await client.post(rowsPath, { firstName: "Ada", customColumns: { [answered.id]: "blue" } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ row: rowBody(list.id, { firstName: "Ada", fullName: "Ada" }), columnsToEnrich: [ai.id, email.id], merged: false });
  });

  it("writes customColumns as completed cells", async () => {
    const { client, list, rowsPath } = await setup();
    const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
    const score = await addColumn(list.id, client.workspaceId, { name: "Score", isDynamic: true });
    const res = await client.post(rowsPath, { firstName: "Ada", customColumns: { [notes.id]: "met at the fair", [score.id]: 42 } });
    expect(res.status).toBe(200);
    const custom = (await storedCells(list.id)).filter((c) => c.columnId === notes.id || c.columnId === score.id);
    expect(custom.map((c) => ({ columnId: c.columnId, rowId: c.rowId, value: c.value, status: c.status }))).toEqual(
      expect.arrayContaining([
        { columnId: notes.id, rowId: res.body.row.id, value: "met at the fair", status: "completed" },
        { columnId: score.id, rowId: res.body.row.id, value: 42, status: "completed" },
      ]),
    );
    expect(custom).toHaveLength(2);
    expect(await storedCells(list.id)).toHaveLength(13);
  });

  it("overwrites a custom cell when a merge brings a new value", async () => {
    const { client, list, rowsPath } = await setup();
    const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
    const first = await client.post(rowsPath, { firstName: "Ada", customColumns: { [notes.id]: "one" } });
    const second = await client.post(rowsPath, { firstName: "ada", customColumns: { [notes.id]: "two" } });
    expect(second.body.merged).toBe(true);
    const cells = (await storedCells(list.id)).filter((c) => c.columnId === notes.id);
    expect(cells.map((c) => ({ rowId: c.rowId, value: c.value, status: c.status }))).toEqual([
      { rowId: first.body.row.id, value: "two", status: "completed" },
    ]);
  });

  describe("customColumns that are not custom person columns of this list: 404, nothing written", () => {
    it.each([
      ["an unknown column", async () => crypto.randomUUID()],
      ["a built-in column", async (listId: string) => (await h.db.select().from(columns).where(eq(columns.listId, listId)))[0]!.id],
      [
        "a company column",
        async (listId: string, workspaceId: string) => (await addColumn(listId, workspaceId, { name: "Industry", subject: "company" })).id,
      ],
      [
        "another list's column",
        async (_listId: string, workspaceId: string) =>
          (await addColumn((await createList(h.db, workspaceId, {})).id, workspaceId, { name: "Notes" })).id,
      ],
    ])("%s", async (_name, columnOf) => {
      const { client, list, rowsPath } = await setup();
      const columnId = await columnOf(list.id, client.workspaceId);
      const res = await client.post(rowsPath, { firstName: "Ada", company: "Acme", customColumns: { [columnId]: "x" } });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(notFound("Column"));
      expect(await storedRows(list.id)).toEqual([]);
      expect(await storedCompanies(list.id)).toEqual([]);
      expect(await storedLeads(client.workspaceId, "person")).toEqual([]);
    });
  });

  it("rejects a malformed customColumns key", async () => {
    const { list, client, rowsPath } = await setup();
    const res = await client.post(rowsPath, { firstName: "Ada", customColumns: { "not-a-uuid": "x" } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("customColumns.not-a-uuid"));
    expect(await storedRows(list.id)).toEqual([]);
  });

  it.each([
    ["no identifying field", { company: "Acme", role: "CEO", phone: "1" }],
    ["only blank identifying fields", { firstName: "  ", lastName: "", linkedinUrl: " ", email: null }],
    ["an empty body", {}],
  ])("rejects %s", async (_name, body) => {
    const { list, client, rowsPath } = await setup();
    const res = await client.post(rowsPath, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "A name (firstName or lastName), linkedinUrl or email is required",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "", message: "A name (firstName or lastName), linkedinUrl or email is required" }],
    });
    expect(await storedRows(list.id)).toEqual([]);
  });

  it("rejects a field of the wrong type", async () => {
    const { list, client, rowsPath } = await setup();
    const res = await client.post(rowsPath, { firstName: "Ada", email: 7 });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("email"));
    expect(await storedRows(list.id)).toEqual([]);
  });

  it("accepts a lone lastName, linkedinUrl or email", async () => {
    const { list, client, rowsPath } = await setup();
    for (const body of [{ lastName: "Lovelace" }, { linkedinUrl: "linkedin.com/in/x" }, { email: "x@example.com" }]) {
      expect((await client.post(rowsPath, body)).status).toBe(200);
    }
    expect(await storedRows(list.id)).toHaveLength(3);
  });

  describe("dedupe inside the list", () => {
    it("1. LinkedIn URL, however it is written, whatever the name", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", company: "Acme", linkedinUrl: "https://www.linkedin.com/in/ada/" });
      const res = await client.post(rowsPath, { firstName: "Augusta", lastName: "King", company: "Other", role: "Countess", linkedinUrl: "http://LinkedIn.com/in/ADA?x=1" });
      expect(res.body).toEqual({
        row: rowBody(list.id, {
          id: existing.id,
          companyRowId: existing.companyRowId,
          firstName: "Ada",
          lastName: "King",
          fullName: "Ada King",
          company: "Acme",
          role: "Countess",
          headline: "Countess",
          linkedinUrl: "https://www.linkedin.com/in/ada/",
        }),
        columnsToEnrich: [],
        merged: true,
      });
      expect(await storedRows(list.id)).toHaveLength(1);
      expect(await builtInCells(existing.id)).toEqual(expectedBuiltIns(res.body.row));
    });

    it("2. name + company, case- and whitespace-insensitive", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", company: "Acme Corp" });
      const res = await client.post(rowsPath, { firstName: "ADA ", lastName: " lovelace", company: "acme   corp", email: "ada@acme.com" });
      expect(res.body.merged).toBe(true);
      expect(res.body.row).toEqual(rowBody(list.id, { ...pick(existing), email: "ada@acme.com" }));
      expect(await storedRows(list.id)).toHaveLength(1);
    });

    it("2. name + company is no match when both LinkedIn URLs are present and differ", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", company: "Acme", linkedinUrl: "linkedin.com/in/ada-1" });
      const res = await client.post(rowsPath, { firstName: "Ada", company: "Acme", linkedinUrl: "linkedin.com/in/ada-2" });
      expect(res.body.merged).toBe(false);
      expect(await storedRows(list.id)).toHaveLength(2);
    });

    it("2. name + company matches a row without a LinkedIn URL and fills it", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", company: "Acme" });
      const res = await client.post(rowsPath, { firstName: "Ada", company: "Acme", linkedinUrl: "linkedin.com/in/ada" });
      expect(res.body.row).toEqual(rowBody(list.id, { ...pick(existing), linkedinUrl: "linkedin.com/in/ada" }));
      const [row] = await storedRows(list.id);
      expect(row!.linkedinKey).toBe("linkedin.com/in/ada");
    });

    it("3. name + location when the company does not match", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", company: "Acme", location: "London" });
      const res = await client.post(rowsPath, { firstName: "Ada", lastName: "Lovelace", company: "Other", location: " LONDON" });
      expect(res.body.merged).toBe(true);
      expect(res.body.row).toEqual(rowBody(list.id, pick(existing)));
      expect(await storedRows(list.id)).toHaveLength(1);
    });

    it("3. name + location is no match when both LinkedIn URLs are present and differ", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", location: "London", linkedinUrl: "linkedin.com/in/ada-1" });
      const res = await client.post(rowsPath, { firstName: "Ada", location: "London", linkedinUrl: "linkedin.com/in/ada-2" });
      expect(res.body.merged).toBe(false);
      expect(await storedRows(list.id)).toHaveLength(2);
    });

    it("2 before 3: name + company wins over an earlier row matching name + location", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", company: "Acme", location: "Paris" });
      const beta = await addRow(client, list.id, { firstName: "Ada", company: "Beta", location: "London" });
      const res = await client.post(rowsPath, { firstName: "Ada", company: "Beta", location: "Paris" });
      expect(res.body.row.id).toBe(beta.id);
    });

    it("1 before 2: the LinkedIn URL wins over an earlier row matching name + company", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", company: "Acme" });
      const byUrl = await addRow(client, list.id, { firstName: "Someone", linkedinUrl: "linkedin.com/in/ada" });
      const res = await client.post(rowsPath, { firstName: "Ada", company: "Acme", linkedinUrl: "linkedin.com/in/ada" });
      expect(res.body.row.id).toBe(byUrl.id);
    });

    it("4. name alone, for an input with neither company nor location, matches the earliest row of that name", async () => {
      const { client, list, rowsPath } = await setup();
      const first = await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", company: "Acme", location: "London" });
      await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", company: "Beta" });
      const res = await client.post(rowsPath, { firstName: "Ada", lastName: "Lovelace", phone: "123" });
      expect(res.body.merged).toBe(true);
      expect(res.body.row).toEqual(rowBody(list.id, { ...pick(first), phone: "123" }));
    });

    it("4. name alone does not apply when the input has a company", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", location: "London" });
      const res = await client.post(rowsPath, { firstName: "Ada", lastName: "Lovelace", company: "Acme" });
      expect(res.body.merged).toBe(false);
      expect(await storedRows(list.id)).toHaveLength(2);
    });

    it("4. name alone does not apply when the input has a location", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", lastName: "Lovelace", company: "Acme" });
      const res = await client.post(rowsPath, { firstName: "Ada", lastName: "Lovelace", location: "Paris" });
      expect(res.body.merged).toBe(false);
      expect(await storedRows(list.id)).toHaveLength(2);
    });

    it("4. name alone skips a row whose LinkedIn URL differs from the input's", async () => {
      const { client, list, rowsPath } = await setup();
      await addRow(client, list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada-1" });
      const noUrl = await addRow(client, list.id, { firstName: "Ada", location: "Paris" });
      const res = await client.post(rowsPath, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada-2" });
      expect(res.body.row).toEqual(rowBody(list.id, { ...pick(noUrl), linkedinUrl: "linkedin.com/in/ada-2" }));
      const res2 = await client.post(rowsPath, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada-3" });
      expect(res2.body.merged).toBe(false);
      expect(await storedRows(list.id)).toHaveLength(3);
    });

    it("an email alone never matches a row (no rule uses it) but reuses the person lead", async () => {
      const { client, list, rowsPath } = await setup();
      const first = await addRow(client, list.id, { email: "ada@example.com" });
      const res = await client.post(rowsPath, { email: "ADA@example.com " });
      expect(res.body.merged).toBe(false);
      expect(res.body.row.leadId).toBe(first.leadId);
      expect(await storedRows(list.id)).toHaveLength(2);
      expect(await storedLeads(client.workspaceId, "person")).toHaveLength(1);
    });

    it("never matches rows of another list", async () => {
      const { client, list, rowsPath } = await setup();
      const other = await createList(h.db, client.workspaceId, {});
      const there = await addRow(client, other.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      const res = await client.post(rowsPath, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      expect(res.body.merged).toBe(false);
      expect(res.body.row.id).not.toBe(there.id);
      expect(res.body.row.leadId).toBe(there.leadId);
      expect(await storedRows(list.id)).toHaveLength(1);
    });
  });

  describe("a merge", () => {
    it("fills only empty fields, refreshes the built-in cells and keeps the lead", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, {
        firstName: "Ada",
        lastName: "Lovelace",
        role: "Mathematician",
        linkedinUrl: "linkedin.com/in/ada",
        email: "ada@one.org",
      });
      const leadsBefore = await storedLeads(client.workspaceId, "person");
      const res = await client.post(rowsPath, {
        firstName: "Augusta",
        lastName: "King",
        role: "Countess",
        linkedinUrl: "linkedin.com/in/ada",
        location: "London",
        email: "ada@two.org",
        phone: "123",
      });
      expect(res.status).toBe(200);
      const merged = { ...pick(existing), location: "London", phone: "123" };
      expect(res.body).toEqual({ row: rowBody(list.id, merged), columnsToEnrich: [], merged: true });
      const [row] = await storedRows(list.id);
      expect(row).toMatchObject({ ...merged, locationKey: "london", nameKey: "ada lovelace" });
      expect(await builtInCells(existing.id)).toEqual(expectedBuiltIns(merged));
      expect(await storedLeads(client.workspaceId, "person")).toEqual(leadsBefore);
    });

    it("with nothing to fill leaves the row as it was", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", company: "Acme" });
      const res = await client.post(rowsPath, { firstName: "Ada", company: "ACME" });
      expect(res.body).toEqual({ row: existing, columnsToEnrich: [], merged: true });
    });

    it("gives a row without a company row one when it brings a company", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      const res = await client.post(rowsPath, { linkedinUrl: "linkedin.com/in/ada", company: "Acme", domain: "acme.com" });
      const [company] = await storedCompanies(list.id);
      expect(company).toMatchObject({ name: "Acme", domain: "acme.com" });
      expect(res.body.row).toEqual(rowBody(list.id, { ...pick(existing), companyRowId: company!.id, company: "Acme", domain: "acme.com" }));
    });

    it("keeps a full name that is not made of the parts", async () => {
      const { client, list, rowsPath } = await setup();
      const existing = await addRow(client, list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      await h.db.update(personRows).set({ fullName: "Lady Ada" }).where(eq(personRows.id, existing.id));
      const res = await client.post(rowsPath, { lastName: "Lovelace", linkedinUrl: "linkedin.com/in/ada" });
      expect(res.body.row).toMatchObject({ firstName: "Ada", lastName: "Lovelace", fullName: "Lady Ada" });
    });
  });

  describe("the person lead of a new row", () => {
    it("is the workspace's lead with the same LinkedIn URL, else the same email", async () => {
      const { client, list, rowsPath } = await setup();
      const other = await createList(h.db, client.workspaceId, {});
      const byUrl = await addRow(client, other.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada", email: "ada@example.com" });
      const byEmail = await addRow(client, other.id, { firstName: "Grace", email: "grace@example.com" });
      const a = await client.post(rowsPath, { firstName: "A.", linkedinUrl: "https://linkedin.com/in/ADA/", email: "grace@example.com" });
      const b = await client.post(rowsPath, { firstName: "G.", email: " Grace@Example.com" });
      expect(a.body.row.leadId).toBe(byUrl.leadId);
      expect(b.body.row.leadId).toBe(byEmail.leadId);
      expect(await storedLeads(client.workspaceId, "person")).toHaveLength(2);
      expect(await storedRows(list.id)).toHaveLength(2);
    });

    it("is never another workspace's lead", async () => {
      const one = await setup();
      const two = await setup();
      const a = await addRow(one.client, one.list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      const b = await addRow(two.client, two.list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
      expect(b.leadId).not.toBe(a.leadId);
      expect(await storedLeads(two.client.workspaceId, "person")).toHaveLength(1);
    });
  });

  it("shares one company row between people of the same company", async () => {
    const { client, list, rowsPath } = await setup();
    const a = await addRow(client, list.id, { firstName: "Ada", company: "Acme", domain: "acme.com" });
    const b = await addRow(client, list.id, { firstName: "Bob", company: "ACME Inc", domain: "https://www.acme.com" });
    const c = await addRow(client, list.id, { firstName: "Cy", company: "Beta" });
    const d = await client.post(rowsPath, { firstName: "Di", company: "beta" });
    expect(b.companyRowId).toBe(a.companyRowId);
    expect(d.body.row.companyRowId).toBe(c.companyRowId);
    expect((await storedCompanies(list.id)).map((r) => ({ name: r.name, domain: r.domain }))).toEqual([
      { name: "Acme", domain: "acme.com" },
      { name: "Beta", domain: null },
    ]);
    expect(await storedLeads(client.workspaceId, "company")).toHaveLength(2);
  });
});

/** The row fields a response shows, for building the expected body of a later response. */
function pick(row: Json) {
  const { id, leadId, companyRowId, position, createdAt: _c, updatedAt: _u, ...fields } = row;
  return { id, leadId, companyRowId, position, ...fields };
}

// ---------------------------------------------------------------------------------------------

/**
 * A batch whose every group of ten inputs holds the same mix: four inputs merge into earlier ones of
 * the same group (by LinkedIn URL, name + company, name + location, name alone), one shares a name
 * with another but not its LinkedIn URL, and the first one of group 0 merges into `seedRow`.
 */
function batch(n: number, tag: string, customColumnId: string) {
  return Array.from({ length: n }, (_, i) => {
    const g = Math.floor(i / 10);
    const url = (s: string) => `https://linkedin.com/in/${tag}-${g}-${s}`;
    switch (i % 10) {
      case 0:
        return { firstName: `P${g}a`, lastName: tag, company: `Co${g}`, domain: `co${g}.example`, linkedinUrl: url("a"), email: `p${g}a@${tag}.example`, customColumns: { [customColumnId]: `v${i}` } };
      case 1:
        return { firstName: `P${g}b`, lastName: tag, company: `Co${g}` };
      case 2:
        return { firstName: `P${g}c`, lastName: tag, location: "Paris" };
      case 3:
        return { email: `p${g}d@${tag}.example` };
      case 4:
        return { linkedinUrl: url("a").replace("https://", "https://www.").toUpperCase() + "/", role: "CEO" };
      case 5:
        return { firstName: `p${g}B`, lastName: tag.toUpperCase(), company: `co${g}`, role: "CTO" };
      case 6:
        return { firstName: `P${g}c`, lastName: tag, location: "paris ", company: "X" };
      case 7:
        return { firstName: `P${g}e`, lastName: tag, linkedinUrl: url("e") };
      case 8:
        return { firstName: `P${g}e`, lastName: tag, linkedinUrl: url("f") };
      default:
        return { firstName: `P${g}e`, lastName: tag, phone: `${i}` };
    }
  });
}

const seedRow = (tag: string) => ({ firstName: "P0a", lastName: tag, company: "Co0" });

async function bulkSetup() {
  const { client, list, rowsPath } = await setup();
  const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
  const tag = `t${crypto.randomUUID().slice(0, 8)}`;
  const seed = await addRow(client, list.id, seedRow(tag));
  return { client, list, bulkPath: `${rowsPath}/bulk`, notes, tag, seed };
}

describe("POST /api/lists/{id}/rows/bulk", () => {
  it("inserts, merges with the list and inside the batch, and answers the row of every input in order", async () => {
    const { client, list, bulkPath, notes, tag, seed } = await bulkSetup();
    const res = await client.post(bulkPath, { rows: batch(20, tag, notes.id) });
    expect(res.status).toBe(200);
    const ids = res.body.rowIds as string[];
    expect(res.body).toEqual({ inserted: 11, merged: 9, rowIds: ids });
    expect(ids).toHaveLength(20);
    expect(ids[0]).toBe(seed.id);
    for (const g of [0, 10]) {
      expect([ids[g + 4], ids[g + 5], ids[g + 6], ids[g + 9]]).toEqual([ids[g], ids[g + 1], ids[g + 2], ids[g + 7]]);
      expect(new Set([ids[g], ids[g + 1], ids[g + 2], ids[g + 3], ids[g + 7], ids[g + 8]]).size).toBe(6);
    }
    const rows = await storedRows(list.id);
    expect(rows.map((r) => r.id)).toEqual([seed.id, ...[1, 2, 3, 7, 8, 10, 11, 12, 13, 17, 18].map((i) => ids[i])]);

    const byId = new Map(rows.map((r) => [r.id, r]));
    const companies = await storedCompanies(list.id);
    const companyNamed = (name: string, domain: string | null) => companies.find((c) => c.name === name && c.domain === domain)!.id;
    expect(byId.get(seed.id)).toMatchObject({
      firstName: "P0a",
      lastName: tag,
      company: "Co0",
      role: "CEO",
      headline: "CEO",
      linkedinUrl: `https://linkedin.com/in/${tag}-0-a`,
      domain: "co0.example",
      email: `p0a@${tag}.example`,
      companyRowId: seed.companyRowId,
    });
    expect(byId.get(ids[10]!)).toMatchObject({
      firstName: "P1a",
      company: "Co1",
      role: "CEO",
      linkedinUrl: `https://linkedin.com/in/${tag}-1-a`,
      domain: "co1.example",
      companyRowId: companyNamed("Co1", "co1.example"),
    });
    expect(byId.get(ids[11]!)).toMatchObject({ firstName: "P1b", role: "CTO", companyRowId: companyNamed("Co1", null) });
    expect(byId.get(ids[12]!)).toMatchObject({ firstName: "P1c", location: "Paris", company: "X", companyRowId: companyNamed("X", null) });
    expect(byId.get(ids[17]!)).toMatchObject({ firstName: "P1e", linkedinUrl: `https://linkedin.com/in/${tag}-1-e`, phone: "19" });
    expect(byId.get(ids[18]!)).toMatchObject({ firstName: "P1e", linkedinUrl: `https://linkedin.com/in/${tag}-1-f`, phone: null });
    for (const row of rows) expect(await builtInCells(row.id)).toEqual(expectedBuiltIns(row as unknown as Record<string, string | null>));

    expect(companies.map((c) => [c.name, c.domain])).toEqual([
      ["Co0", null],
      ["X", null],
      ["Co1", "co1.example"],
      ["Co1", null],
    ]);
    const customCells = (await storedCells(list.id)).filter((c) => c.columnId === notes.id);
    expect(customCells.map((c) => [c.rowId, c.value, c.status]).sort((x, y) => String(x[1]).localeCompare(String(y[1])))).toEqual([
      [seed.id, "v0", "completed"],
      [ids[10], "v10", "completed"],
    ]);
    expect(await storedLeads(client.workspaceId, "person")).toHaveLength(12);
    expect(await storedLeads(client.workspaceId, "company")).toHaveLength(4);
  });

  it("1000 rows with duplicates inside the batch: exact counts in the answer and in the database", async () => {
    const { client, list, bulkPath, notes, tag, seed } = await bulkSetup();
    const res = await client.post(bulkPath, { rows: batch(1000, tag, notes.id) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ inserted: 599, merged: 401, rowIds: expect.any(Array) });
    const ids = res.body.rowIds as string[];
    expect(ids).toHaveLength(1000);
    expect(ids[0]).toBe(seed.id);
    expect(new Set(ids).size).toBe(600);
    for (let g = 0; g < 100; g++) {
      const at = (k: number) => ids[g * 10 + k];
      expect([at(4), at(5), at(6), at(9)]).toEqual([at(0), at(1), at(2), at(7)]);
    }
    const counts = rowsOf<Json>(await h.db.execute(sql`
      select (select count(*)::int from list_rows where list_id = ${list.id}) as rows,
             (select count(*)::int from list_cells where list_id = ${list.id}) as cells,
             (select count(*)::int from list_cells where list_id = ${list.id} and column_id = ${notes.id}) as custom_cells,
             (select count(*)::int from list_cells where list_id = ${list.id} and status <> 'completed') as unfinished_cells,
             (select count(*)::int from list_company_rows where list_id = ${list.id}) as companies,
             (select count(*)::int from leads where workspace_id = ${client.workspaceId} and type = 'person') as person_leads,
             (select count(*)::int from leads where workspace_id = ${client.workspaceId} and type = 'company') as company_leads,
             (select count(*)::int from list_rows where list_id = ${list.id} and company_row_id is null) as unlinked`));
    // 600 rows with 11 built-in cells each, plus a Notes cell for each group's first input; company rows:
    // Co0 (the seed's), X, and for groups 1..99 one with and one without a domain; per group, the
    // email-only row and the two LinkedIn-only-and-name rows have no company.
    expect(counts[0]).toEqual({
      rows: 600,
      cells: 600 * 11 + 100,
      custom_cells: 100,
      unfinished_cells: 0,
      companies: 2 + 99 * 2,
      person_leads: 600,
      company_leads: 200,
      unlinked: 100 * 3,
    });
  });

  it("sends as many statements for 1000 rows as for 10", async () => {
    const small = await bulkSetup();
    const large = await bulkSetup();
    const ten = await counted.count(async () => {
      const res = await counted.as(small.client).post(small.bulkPath, { rows: batch(10, small.tag, small.notes.id) });
      expect(res.body).toMatchObject({ inserted: 5, merged: 5 });
    });
    const thousand = await counted.count(async () => {
      const res = await counted.as(large.client).post(large.bulkPath, { rows: batch(1000, large.tag, large.notes.id) });
      expect(res.body).toMatchObject({ inserted: 599, merged: 401 });
    });
    expect(thousand).toBe(ten);
    expect(ten).toBeLessThan(25);
  });

  it.each([
    ["no rows", []],
    ["1001 rows", Array.from({ length: 1001 }, (_, i) => ({ email: `p${i}@example.com` }))],
  ])("rejects %s", async (_name, rows) => {
    const { list, client } = await setup();
    const res = await client.post(`/api/lists/${list.id}/rows/bulk`, { rows });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("rows", "rows must hold 1 to 1000 rows"));
    expect(await storedRows(list.id)).toEqual([]);
  });

  it("rejects a batch with one bad row and writes none of it", async () => {
    const { list, client } = await setup();
    const res = await client.post(`/api/lists/${list.id}/rows/bulk`, { rows: [{ firstName: "Ada" }, { company: "Acme" }] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("rows.1", "A name (firstName or lastName), linkedinUrl or email is required"));
    expect(await storedRows(list.id)).toEqual([]);
  });

  it("rejects a missing rows field", async () => {
    const { list, client } = await setup();
    const res = await client.post(`/api/lists/${list.id}/rows/bulk`, {});
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("rows"));
  });

  it("a customColumns id that is no custom column of the list: 404 and nothing written", async () => {
    const { list, client } = await setup();
    const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
    const builtIn = (await h.db.select().from(columns).where(eq(columns.listId, list.id)))[0]!;
    const res = await client.post(`/api/lists/${list.id}/rows/bulk`, {
      rows: [
        { firstName: "Ada", company: "Acme", customColumns: { [notes.id]: "ok" } },
        { firstName: "Bob", customColumns: { [builtIn.id]: "nope" } },
      ],
    });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("Column"));
    expect(await storedRows(list.id)).toEqual([]);
    expect(await storedCompanies(list.id)).toEqual([]);
    expect(await storedCells(list.id)).toEqual([]);
    expect(await storedLeads(client.workspaceId, "person")).toEqual([]);
  });

  it("the last value given for a cell inside one batch wins", async () => {
    const { list, client } = await setup();
    const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
    const res = await client.post(`/api/lists/${list.id}/rows/bulk`, {
      rows: [
        { firstName: "Ada", customColumns: { [notes.id]: "first" } },
        { firstName: "ada", customColumns: { [notes.id]: "second" } },
      ],
    });
    expect(res.body).toEqual({ inserted: 1, merged: 1, rowIds: [UUID, res.body.rowIds[0]] });
    const cells = (await storedCells(list.id)).filter((c) => c.columnId === notes.id);
    expect(cells.map((c) => c.value)).toEqual(["second"]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("GET /api/lists/{id}/rows", () => {
  it("pages the rows by position, each with its cells by column position", async () => {
    const { client, list, rowsPath } = await setup();
    const notes = await addColumn(list.id, client.workspaceId, { name: "Notes" });
    const a = await addRow(client, list.id, { firstName: "Ada", company: "Acme", customColumns: { [notes.id]: "hello" } });
    const b = await addRow(client, list.id, { firstName: "Bob" });
    const c = await addRow(client, list.id, { firstName: "Cy" });
    const listColumns = await h.db.select().from(columns).where(eq(columns.listId, list.id)).orderBy(asc(columns.position));

    const first = await client.get(`${rowsPath}?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      rows: [
        { ...a, cells: expect.any(Array) },
        { ...b, cells: expect.any(Array) },
      ],
      total: 3,
      limit: 2,
      offset: 0,
      hasMore: true,
    });
    const aCells = first.body.rows[0].cells;
    expect(aCells.map((cell: Json) => cell.columnId)).toEqual(listColumns.map((col) => col.id));
    expect(aCells).toHaveLength(12);
    expect(aCells[0]).toEqual({
      id: UUID,
      listId: list.id,
      columnId: listColumns[0]!.id,
      rowId: a.id,
      value: "Ada",
      status: "completed",
      reasoning: null,
      error: null,
      createdAt: ISO_DATE,
      updatedAt: ISO_DATE,
    });
    expect(aCells[11]).toMatchObject({ columnId: notes.id, value: "hello", status: "completed" });
    expect(first.body.rows[1].cells).toHaveLength(11);

    const second = await client.get(`${rowsPath}?limit=2&offset=2`);
    expect(second.body).toEqual({ rows: [{ ...c, cells: expect.any(Array) }], total: 3, limit: 2, offset: 2, hasMore: false });
    const past = await client.get(`${rowsPath}?offset=5`);
    expect(past.body).toEqual({ rows: [], total: 3, limit: 100, offset: 5, hasMore: false });
    // Past what an int4 holds: still an empty page, not a failure.
    const far = await client.get(`${rowsPath}?offset=3000000000`);
    expect(far.status).toBe(200);
    expect(far.body).toEqual({ rows: [], total: 3, limit: 100, offset: 3000000000, hasMore: false });
  });

  it("answers an empty list with defaults", async () => {
    const { client, rowsPath } = await setup();
    const res = await client.get(rowsPath);
    expect(res.body).toEqual({ rows: [], total: 0, limit: 100, offset: 0, hasMore: false });
  });

  it("takes as many statements for a page of 50 rows as for a page of 2", async () => {
    const { client, rowsPath } = await setup();
    await client.post(`${rowsPath}/bulk`, { rows: Array.from({ length: 50 }, (_, i) => ({ firstName: `P${i}` })) });
    const two = await counted.count(async () => expect((await counted.as(client).get(`${rowsPath}?limit=2`)).body.rows).toHaveLength(2));
    const fifty = await counted.count(async () => expect((await counted.as(client).get(`${rowsPath}?limit=50`)).body.rows).toHaveLength(50));
    expect(fifty).toBe(two);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=501", "limit"],
    ["limit=abc", "limit"],
    ["limit=1.5", "limit"],
    ["offset=-1", "offset"],
    ["offset=1.5", "offset"],
    ["offset=x", "offset"],
  ])("rejects %s", async (query, path) => {
    const { client, rowsPath } = await setup();
    const res = await client.get(`${rowsPath}?${query}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
  });

  it("accepts limit=1 and limit=500", async () => {
    const { client, rowsPath } = await setup();
    expect((await client.get(`${rowsPath}?limit=1`)).body.limit).toBe(1);
    expect((await client.get(`${rowsPath}?limit=500`)).body.limit).toBe(500);
  });
});

// ---------------------------------------------------------------------------------------------

describe("PATCH /api/lists/{id}/rows/{rowId}", () => {
  async function patched(body: Record<string, unknown>, initial: Record<string, unknown> = { firstName: "Ada", lastName: "Lovelace" }) {
    const ctx = await setup();
    const row = await addRow(ctx.client, ctx.list.id, initial);
    const res = await ctx.client.patch(`${ctx.rowsPath}/${row.id}`, body);
    const [stored] = await h.db.select().from(personRows).where(eq(personRows.id, row.id));
    return { ...ctx, row, res, stored: stored! };
  }

  it("name: splits on the first whitespace and refreshes the name key and cell", async () => {
    const { res, stored } = await patched({ field: "name", value: "  Grace  Brewster Hopper " });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(stored).toMatchObject({ firstName: "Grace", lastName: "Brewster Hopper", fullName: "Grace Brewster Hopper", nameKey: "grace brewster hopper" });
    expect((await builtInCells(stored.id)).name).toEqual({ value: "Grace Brewster Hopper", status: "completed" });
  });

  it("name: one word is a first name only; null clears the name", async () => {
    const one = await patched({ field: "name", value: "Cher" });
    expect(one.stored).toMatchObject({ firstName: "Cher", lastName: null, fullName: "Cher", nameKey: "cher" });
    const cleared = await patched({ field: "name", value: null });
    expect(cleared.stored).toMatchObject({ firstName: null, lastName: null, fullName: null, nameKey: null });
    expect((await builtInCells(cleared.stored.id)).name).toEqual({ value: null, status: "completed" });
  });

  it("role: sets role and headline", async () => {
    const { res, stored } = await patched({ field: "role", value: "Admiral" });
    expect(res.body).toEqual({ success: true });
    expect(stored).toMatchObject({ role: "Admiral", headline: "Admiral" });
    const cells = await builtInCells(stored.id);
    expect([cells.role, cells.headline]).toEqual([
      { value: "Admiral", status: "completed" },
      { value: "Admiral", status: "completed" },
    ]);
  });

  it("company: sets company and its key, and links a company row", async () => {
    const { res, stored, list } = await patched({ field: "company", value: "Navy " });
    expect(res.body).toEqual({ success: true });
    const [company] = await storedCompanies(list.id);
    expect(stored).toMatchObject({ company: "Navy", companyKey: "navy", companyRowId: company!.id });
    expect(company).toMatchObject({ name: "Navy", domain: null });
    expect((await builtInCells(stored.id)).company).toEqual({ value: "Navy", status: "completed" });
  });

  it("company: leaves an existing company row link alone", async () => {
    const { stored, row, list } = await patched({ field: "company", value: "Beta" }, { firstName: "Ada", company: "Acme" });
    expect(stored).toMatchObject({ company: "Beta", companyKey: "beta", companyRowId: row.companyRowId });
    expect(await storedCompanies(list.id)).toHaveLength(1);
  });

  it("location: sets location and its key", async () => {
    const { stored } = await patched({ field: "location", value: "New York" });
    expect(stored).toMatchObject({ location: "New York", locationKey: "new york" });
    expect((await builtInCells(stored.id)).location).toEqual({ value: "New York", status: "completed" });
  });

  it("domain: lowercased, and carried to the linked company row", async () => {
    const { stored, row, list } = await patched({ field: "domain", value: "HTTPS://WWW.Acme.IO/" }, { firstName: "Ada", company: "Acme", domain: "acme.com" });
    expect(stored).toMatchObject({ domain: "acme.io", companyRowId: row.companyRowId });
    expect((await storedCompanies(list.id)).map((c) => [c.id, c.domain])).toEqual([[row.companyRowId, "acme.io"]]);
    expect((await builtInCells(stored.id)).domain).toEqual({ value: "acme.io", status: "completed" });
  });

  it("domain: a row without a company row gets one", async () => {
    const { stored, list } = await patched({ field: "domain", value: "Acme.com" });
    const [company] = await storedCompanies(list.id);
    expect(company).toMatchObject({ name: "acme.com", domain: "acme.com" });
    expect(stored).toMatchObject({ domain: "acme.com", companyRowId: company!.id });
  });

  it("domain: another company row of the list with that domain becomes the row's company", async () => {
    const { client, list, rowsPath } = await setup();
    const ada = await addRow(client, list.id, { firstName: "Ada", company: "Acme", domain: "acme.com" });
    const bob = await addRow(client, list.id, { firstName: "Bob", company: "Beta", domain: "beta.com" });
    const res = await client.patch(`${rowsPath}/${bob.id}`, { field: "domain", value: "ACME.com" });
    expect(res.body).toEqual({ success: true });
    const [stored] = await h.db.select().from(personRows).where(eq(personRows.id, bob.id));
    expect(stored).toMatchObject({ domain: "acme.com", companyRowId: ada.companyRowId });
    expect((await storedCompanies(list.id)).map((c) => c.domain)).toEqual(["acme.com", "beta.com"]);
  });

  it("domain: null clears the row's domain and leaves the company row alone", async () => {
    const { stored, row, list } = await patched({ field: "domain", value: null }, { firstName: "Ada", company: "Acme", domain: "acme.com" });
    expect(stored).toMatchObject({ domain: null, companyRowId: row.companyRowId });
    expect((await storedCompanies(list.id)).map((c) => c.domain)).toEqual(["acme.com"]);
  });

  it("linkedin: sets the URL and its key", async () => {
    const { stored } = await patched({ field: "linkedin", value: "https://www.linkedin.com/in/Grace/" });
    expect(stored).toMatchObject({ linkedinUrl: "https://www.linkedin.com/in/Grace/", linkedinKey: "linkedin.com/in/grace" });
    expect((await builtInCells(stored.id)).linkedin).toEqual({ value: "https://www.linkedin.com/in/Grace/", status: "completed" });
  });

  it("linkedin: the row's own URL again is fine; null clears it", async () => {
    const { client, rowsPath, row } = await patched({ field: "linkedin", value: "linkedin.com/in/ada" }, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
    const cleared = await client.patch(`${rowsPath}/${row.id}`, { field: "linkedin", value: null });
    expect(cleared.body).toEqual({ success: true });
    const [stored] = await h.db.select().from(personRows).where(eq(personRows.id, row.id));
    expect(stored).toMatchObject({ linkedinUrl: null, linkedinKey: null });
  });

  it("linkedin: 409 when another row of the list has it", async () => {
    const { client, list, rowsPath } = await setup();
    await addRow(client, list.id, { firstName: "Ada", linkedinUrl: "linkedin.com/in/ada" });
    const bob = await addRow(client, list.id, { firstName: "Bob" });
    const res = await client.patch(`${rowsPath}/${bob.id}`, { field: "linkedin", value: "https://www.LinkedIn.com/in/ada/" });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: "Another row of this list has this LinkedIn URL", code: "CONFLICT", requestId: REQUEST_ID });
    const [stored] = await h.db.select().from(personRows).where(eq(personRows.id, bob.id));
    expect(stored).toMatchObject({ linkedinUrl: null, linkedinKey: null });
  });

  it.each(["email", "phone", "seniority", "Name", ""])("rejects field %j with exactly 'Unknown field: <name>'", async (field) => {
    const { res, stored, row } = await patched({ field, value: "x" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: `Unknown field: ${field}`,
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "field", message: `Unknown field: ${field}` }],
    });
    expect(stored.updatedAt.toISOString()).toBe(row.updatedAt);
  });

  it.each([
    [{ field: "role" }, "value"],
    [{ field: "role", value: 3 }, "value"],
    [{ value: "x" }, "field"],
  ])("rejects %j", async (body, path) => {
    const { res } = await patched(body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
  });

  it("a row of another list of the same workspace is a 404", async () => {
    const { client, list } = await setup();
    const other = await createList(h.db, client.workspaceId, {});
    const row = await addRow(client, other.id, { firstName: "Ada" });
    const res = await client.patch(`/api/lists/${list.id}/rows/${row.id}`, { field: "role", value: "CEO" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("Row"));
    const [stored] = await h.db.select().from(personRows).where(eq(personRows.id, row.id));
    expect(stored!.role).toBeNull();
  });

  it("an unknown row is a 404", async () => {
    const { client, rowsPath } = await setup();
    const res = await client.patch(`${rowsPath}/${crypto.randomUUID()}`, { field: "role", value: "CEO" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("Row"));
  });
});

// ---------------------------------------------------------------------------------------------

describe("DELETE /api/lists/{id}/rows", () => {
  it("deletes the list's rows among the ids, ignoring unknown and other lists' ids; cells cascade, leads stay", async () => {
    const { client, list, rowsPath } = await setup();
    const other = await createList(h.db, client.workspaceId, {});
    const a = await addRow(client, list.id, { firstName: "Ada" });
    const b = await addRow(client, list.id, { firstName: "Bob" });
    const c = await addRow(client, list.id, { firstName: "Cy" });
    const elsewhere = await addRow(client, other.id, { firstName: "Di" });
    const res = await client.delete(rowsPath, { rowIds: [a.id, c.id, c.id, elsewhere.id, crypto.randomUUID()] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true, deleted: 2 });
    expect((await storedRows(list.id)).map((r) => r.id)).toEqual([b.id]);
    expect((await storedRows(other.id)).map((r) => r.id)).toEqual([elsewhere.id]);
    expect((await storedCells(list.id)).every((cell) => cell.rowId === b.id)).toBe(true);
    expect(await storedCells(list.id)).toHaveLength(11);
    expect(await storedLeads(client.workspaceId, "person")).toHaveLength(4);
  });

  it("answers deleted: 0 when no id is a row of the list", async () => {
    const { client, rowsPath } = await setup();
    const res = await client.delete(rowsPath, { rowIds: [crypto.randomUUID()] });
    expect(res.body).toEqual({ success: true, deleted: 0 });
  });

  it.each([
    [{ rowIds: [] }, "rowIds"],
    [{}, "rowIds"],
    [{ rowIds: ["nope"] }, "rowIds.0"],
  ])("rejects %j", async (body, path) => {
    const { client, list, rowsPath } = await setup();
    await addRow(client, list.id, { firstName: "Ada" });
    const res = await client.delete(rowsPath, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect(await storedRows(list.id)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe("ownership, ids and auth on every row route", () => {
  const routes: [string, string, (listId: string, rowId: string) => [string, unknown?]][] = [
    ["POST", "rows", (l) => [`/api/lists/${l}/rows`, { firstName: "Ada" }]],
    ["POST", "rows/bulk", (l) => [`/api/lists/${l}/rows/bulk`, { rows: [{ firstName: "Ada" }] }]],
    ["GET", "rows", (l) => [`/api/lists/${l}/rows`]],
    ["PATCH", "rows/{rowId}", (l, r) => [`/api/lists/${l}/rows/${r}`, { field: "role", value: "CEO" }]],
    ["DELETE", "rows", (l, r) => [`/api/lists/${l}/rows`, { rowIds: [r] }]],
  ];

  it.each(routes)("%s %s: another workspace's list is a 404 and nothing changes", async (method, _path, route) => {
    const owner = await setup();
    const row = await addRow(owner.client, owner.list.id, { firstName: "Grace", role: "Admiral" });
    const stranger = await h.seedWorkspace();
    const [path, body] = route(owner.list.id, row.id);
    const res = await stranger.request(method, path, body);
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("List"));
    const rows = await storedRows(owner.list.id);
    expect(rows.map((r) => ({ id: r.id, role: r.role }))).toEqual([{ id: row.id, role: "Admiral" }]);
    expect(await storedLeads(stranger.workspaceId, "person")).toEqual([]);
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
    const [path, body] = route("not-a-uuid", crypto.randomUUID());
    const res = await client.request(method, path, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("id", "Invalid UUID"));
  });

  it("PATCH: a malformed row id is a 400", async () => {
    const { client, rowsPath } = await setup();
    const res = await client.patch(`${rowsPath}/123`, { field: "role", value: "CEO" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("rowId", "Invalid UUID"));
  });

  it.each(routes)("%s %s: 401 without a key", async (method, _path, route) => {
    const { list } = await setup();
    const [path, body] = route(list.id, crypto.randomUUID());
    const res = await requestWithoutKey(h.app, method, path, body);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
    expect(await storedRows(list.id)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("concurrent writers", () => {
  it("the same person posted ten times at once into one list makes one row, one lead, one company row", async () => {
    const { client, list, rowsPath } = await setup();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => client.post(rowsPath, { firstName: "Ada", lastName: "Lovelace", company: "Acme" })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(results.filter((r) => !r.body.merged)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.row.id)).size).toBe(1);
    expect(await storedRows(list.id)).toHaveLength(1);
    expect(await storedCompanies(list.id)).toHaveLength(1);
    expect(await storedLeads(client.workspaceId, "person")).toHaveLength(1);
    expect(await storedLeads(client.workspaceId, "company")).toHaveLength(1);
  });

  it("a row that a writer without the list lock commits meanwhile is merged into, not a 500", async () => {
    const { client, list, rowsPath } = await setup();
    let inserted!: () => void;
    let release!: () => void;
    const rowIsInserted = new Promise<void>((resolve) => (inserted = resolve));
    const mayCommit = new Promise<void>((resolve) => (release = resolve));
    const otherWriter = h.client.begin(async (tx) => {
      const [lead] = await tx.unsafe(
        `insert into leads (workspace_id, type, linkedin_key) values ($1, 'person', 'linkedin.com/in/ada') returning id`,
        [client.workspaceId],
      );
      await tx.unsafe(
        `insert into list_rows (list_id, workspace_id, lead_id, linkedin_url, linkedin_key) values ($1, $2, $3, 'linkedin.com/in/ada', 'linkedin.com/in/ada')`,
        [list.id, client.workspaceId, lead!.id],
      );
      inserted();
      await mayCommit;
    });
    await rowIsInserted;
    // The request cannot see the uncommitted row; its lead insert waits on the other writer's lead,
    // then its row insert hits the committed row's LinkedIn key and the whole upsert runs again.
    const request = client.post(rowsPath, { firstName: "Ada", linkedinUrl: "https://www.linkedin.com/in/ada/" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await otherWriter;
    const res = await request;
    expect(res.status).toBe(200);
    const [row] = await storedRows(list.id);
    expect(res.body).toEqual({
      row: rowBody(list.id, { id: row!.id, leadId: row!.leadId, firstName: "Ada", fullName: "Ada", linkedinUrl: "linkedin.com/in/ada" }),
      columnsToEnrich: [],
      merged: true,
    });
    expect(await storedRows(list.id)).toHaveLength(1);
    expect(await builtInCells(row!.id)).toEqual(expectedBuiltIns({ fullName: "Ada", linkedinUrl: "linkedin.com/in/ada" }));
    expect(await storedLeads(client.workspaceId, "person")).toHaveLength(1);
  });

  it("bulk imports of the same people into several lists at once share the workspace's leads", async () => {
    const { client } = await setup();
    const targets = await Promise.all(Array.from({ length: 4 }, () => createList(h.db, client.workspaceId, {})));
    const people = Array.from({ length: 50 }, (_, i) => ({
      firstName: `P${i}`,
      linkedinUrl: `linkedin.com/in/p${i}`,
      email: `p${i}@people.example`,
      company: `Co${i % 5}`,
      domain: `co${i % 5}.example`,
    }));
    const results = await Promise.all(
      targets.map((l, i) => client.post(`/api/lists/${l.id}/rows/bulk`, { rows: i % 2 ? [...people].reverse() : people })),
    );
    expect(results.map((r) => [r.status, r.body.inserted, r.body.merged])).toEqual(Array(4).fill([200, 50, 0]));
    expect(await storedLeads(client.workspaceId, "person")).toHaveLength(50);
    expect(await storedLeads(client.workspaceId, "company")).toHaveLength(5);
    for (const l of targets) {
      expect(await storedRows(l.id)).toHaveLength(50);
      expect(await storedCompanies(l.id)).toHaveLength(5);
      expect(await storedCells(l.id)).toHaveLength(550);
    }
  });
});
