import { eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { companyRows, leads, personCells, personRows } from "../src/db/schema";
import { createList } from "../src/domain/lists";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client, type Json } from "./helpers/harness";

const h = useHarness({ max: 20 });

/** The lead object with every field empty, overridden where a test expects a value. */
function leadBody(overrides: Record<string, unknown> = {}) {
  return {
    id: UUID,
    type: "person",
    name: { full: null, short: null, first: null, last: null },
    title: null,
    company: { name: null, id: null, domain: null },
    location: { city: null, state: null, country: null, raw: null },
    socials: [],
    contacts: [],
    domain: null,
    industry: null,
    size: null,
    attributes: {},
    lists: [],
    createdAt: ISO_DATE,
    updatedAt: ISO_DATE,
    ...overrides,
  };
}

const ADA = {
  type: "person",
  name: { first: " Ada ", last: "Lovelace" },
  title: "Mathematician",
  company: { name: "Analytical Engines", domain: "analytical.org" },
  location: { city: "London", country: "UK" },
  socials: [{ url: "https://www.linkedin.com/in/ada-lovelace/" }, { url: "https://twitter.com/ada" }],
  contacts: [{ value: "Ada@Analytical.org" }, { value: "+44 20 1234" }],
  industry: "Computing",
  size: 12,
  attributes: { era: "victorian" },
  raw: { source: "import" },
};

const ADA_LEAD = leadBody({
  name: { full: "Ada Lovelace", short: "Ada", first: "Ada", last: "Lovelace" },
  title: "Mathematician",
  company: { name: "Analytical Engines", id: null, domain: "analytical.org" },
  location: { city: "London", state: null, country: "UK", raw: null },
  socials: [{ url: "https://www.linkedin.com/in/ada-lovelace/" }, { url: "https://twitter.com/ada" }],
  contacts: [{ value: "Ada@Analytical.org" }, { value: "+44 20 1234" }],
  industry: "Computing",
  size: "12",
  attributes: { era: "victorian" },
});

const notFound = (what: string) => ({ error: `${what} not found`, code: "NOT_FOUND", requestId: REQUEST_ID });

function validationError(path: string, message: unknown = expect.any(String)) {
  return { error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message }] };
}

async function storedLeads(client: Client) {
  return h.db.select().from(leads).where(eq(leads.workspaceId, client.workspaceId)).orderBy(leads.id);
}

async function storedKeys(client: Client) {
  return (await storedLeads(client)).map((l) => ({ type: l.type, linkedinKey: l.linkedinKey, emailKey: l.emailKey, domainKey: l.domainKey }));
}

async function makeList(client: Client, name: string) {
  return createList(h.db, client.workspaceId, { name });
}

async function create(client: Client, body: Record<string, unknown>): Promise<Json> {
  const res = await client.post("/api/leads", body);
  expect(res.status).toBe(201);
  return res.body.lead;
}

describe("POST /api/leads", () => {
  it("creates a person lead with every field, deriving the full name and the dedupe keys", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/leads", ADA);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ lead: ADA_LEAD });
    const [stored] = await storedLeads(client);
    expect(stored).toMatchObject({
      id: res.body.lead.id,
      raw: { source: "import" },
      linkedinKey: "linkedin.com/in/ada-lovelace",
      emailKey: "ada@analytical.org",
      domainKey: null,
      companyLeadId: null,
    });
    expect(await storedKeys(client)).toHaveLength(1);
  });

  it("derives first and last from a person's full name, and keeps a company's name whole", async () => {
    const client = await h.seedWorkspace();
    const person = await create(client, { type: "person", name: { full: "  Augusta Ada  King " } });
    expect(person).toEqual(leadBody({ name: { full: "Augusta Ada  King", short: "Augusta", first: "Augusta", last: "Ada  King" } }));
    const lastOnly = await create(client, { type: "person", name: { last: "Hopper" } });
    expect(lastOnly.name).toEqual({ full: "Hopper", short: "Hopper", first: null, last: "Hopper" });
    const company = await create(client, { type: "company", name: { full: "Acme Widgets" }, domain: "https://www.Acme.com/about" });
    expect(company).toEqual(
      leadBody({ type: "company", name: { full: "Acme Widgets", short: "Acme Widgets", first: null, last: null }, domain: "https://www.Acme.com/about" }),
    );
    expect(await storedKeys(client)).toEqual([
      { type: "person", linkedinKey: null, emailKey: null, domainKey: null },
      { type: "person", linkedinKey: null, emailKey: null, domainKey: null },
      { type: "company", linkedinKey: null, emailKey: null, domainKey: "acme.com" },
    ]);
  });

  it.each([
    ["LinkedIn URL", { type: "person", socials: [{ url: "https://www.LinkedIn.com/in/Ada/" }] }, { type: "person", socials: [{ url: "linkedin.com/in/ada" }] }],
    ["work email", { type: "person", contacts: [{ value: "+1 555" }, { value: " Ada@Example.COM" }] }, { type: "person", contacts: [{ value: "ada@example.com" }] }],
    ["company domain", { type: "company", domain: "https://www.ACME.com/about" }, { type: "company", domain: "acme.com" }],
  ])("dedupes on the normalised %s and answers 200 with the existing lead", async (_identifier, first, second) => {
    const client = await h.seedWorkspace();
    const created = await create(client, first);
    const keysBefore = await storedKeys(client);
    const res = await client.post("/api/leads", second);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ lead: created });
    expect(await storedKeys(client)).toEqual(keysBefore);
  });

  it("fills only the empty fields of the matched lead", async () => {
    const client = await h.seedWorkspace();
    const first = await create(client, {
      type: "person",
      name: { full: "Ada Lovelace" },
      title: "Mathematician",
      socials: [{ url: "https://linkedin.com/in/ada" }],
      contacts: [{ value: "ada@a.org" }],
      location: { city: "London" },
      attributes: { era: "victorian", score: 1 },
    });
    const res = await client.post("/api/leads", {
      type: "person",
      name: { full: "Augusta Ada King" },
      title: "Countess",
      company: { name: "Analytical Engines" },
      industry: "Computing",
      socials: [{ url: "http://www.linkedin.com/in/ADA?trk=x" }, { url: "https://github.com/ada" }],
      contacts: [{ value: "ADA@a.org" }, { value: "+44 1" }],
      location: { city: "Paris", country: "UK" },
      attributes: { score: 2, rank: 3 },
      raw: { from: "second" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      lead: leadBody({
        id: first.id,
        name: { full: "Ada Lovelace", short: "Ada", first: "Ada", last: "Lovelace" },
        title: "Mathematician",
        company: { name: "Analytical Engines", id: null, domain: null },
        industry: "Computing",
        socials: [{ url: "https://linkedin.com/in/ada" }, { url: "https://github.com/ada" }],
        contacts: [{ value: "ada@a.org" }, { value: "+44 1" }],
        location: { city: "London", state: null, country: "UK", raw: null },
        attributes: { era: "victorian", score: 1, rank: 3 },
        createdAt: first.createdAt,
      }),
    });
    const [stored] = await storedLeads(client);
    expect(stored).toMatchObject({ raw: { from: "second" }, linkedinKey: "linkedin.com/in/ada", emailKey: "ada@a.org", domainKey: null });
    expect(await storedKeys(client)).toHaveLength(1);
  });

  it("leaves a matched lead untouched when there is nothing to fill", async () => {
    const client = await h.seedWorkspace();
    const first = await create(client, ADA);
    const res = await client.post("/api/leads", ADA);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ lead: first });
    expect(res.body.lead.updatedAt).toBe(first.updatedAt);
  });

  it("fills a matched lead's missing key, unless another lead holds it", async () => {
    const client = await h.seedWorkspace();
    const ada = await create(client, { type: "person", socials: [{ url: "linkedin.com/in/ada" }] });
    await create(client, { type: "person", contacts: [{ value: "grace@navy.mil" }] });
    const res = await client.post("/api/leads", {
      type: "person",
      socials: [{ url: "linkedin.com/in/ada" }],
      contacts: [{ value: "grace@navy.mil" }],
    });
    expect(res.status).toBe(200);
    expect(res.body.lead).toEqual(leadBody({ id: ada.id, socials: [{ url: "linkedin.com/in/ada" }], contacts: [{ value: "grace@navy.mil" }] }));
    expect(await storedKeys(client)).toEqual([
      { type: "person", linkedinKey: "linkedin.com/in/ada", emailKey: null, domainKey: null },
      { type: "person", linkedinKey: null, emailKey: "grace@navy.mil", domainKey: null },
    ]);
    const filled = await client.post("/api/leads", { type: "person", socials: [{ url: "linkedin.com/in/ada" }], contacts: [{ value: "ada@a.org" }] });
    expect(filled.status).toBe(200);
    expect(filled.body.lead).toEqual(
      leadBody({ id: ada.id, socials: [{ url: "linkedin.com/in/ada" }], contacts: [{ value: "grace@navy.mil" }, { value: "ada@a.org" }] }),
    );
    expect((await storedKeys(client))[0]).toEqual({ type: "person", linkedinKey: "linkedin.com/in/ada", emailKey: "ada@a.org", domainKey: null });
  });

  it("does not dedupe people on their company's domain", async () => {
    const client = await h.seedWorkspace();
    await create(client, { type: "person", name: { full: "Ada Lovelace" }, domain: "acme.com", company: { domain: "acme.com" } });
    await create(client, { type: "person", name: { full: "Grace Hopper" }, domain: "acme.com", company: { domain: "acme.com" } });
    expect(await storedKeys(client)).toEqual([
      { type: "person", linkedinKey: null, emailKey: null, domainKey: null },
      { type: "person", linkedinKey: null, emailKey: null, domainKey: null },
    ]);
  });

  it("matches only a lead of the same type; a key held by the other type stays with it", async () => {
    const client = await h.seedWorkspace();
    const company = await create(client, { type: "company", name: { full: "Acme" }, socials: [{ url: "linkedin.com/company/acme" }] });
    const person = await create(client, { type: "person", name: { full: "Wile Coyote" }, socials: [{ url: "https://linkedin.com/company/acme/" }] });
    expect(person.id).not.toBe(company.id);
    expect(await storedKeys(client)).toEqual([
      { type: "company", linkedinKey: "linkedin.com/company/acme", emailKey: null, domainKey: null },
      { type: "person", linkedinKey: null, emailKey: null, domainKey: null },
    ]);
  });

  it("links a person to the workspace's company lead of its company domain, and creates none", async () => {
    const client = await h.seedWorkspace();
    const acme = await create(client, { type: "company", name: { full: "Acme" }, domain: "acme.com" });
    const linked = await create(client, { type: "person", name: { full: "Wile Coyote" }, company: { name: "Acme", domain: "https://www.ACME.com" } });
    expect(linked.company).toEqual({ name: "Acme", id: acme.id, domain: "https://www.ACME.com" });
    const unlinked = await create(client, { type: "person", name: { full: "Road Runner" }, company: { domain: "nowhere.org" } });
    expect(unlinked.company).toEqual({ name: null, id: null, domain: "nowhere.org" });
    const stored = await storedLeads(client);
    expect(stored.map((l) => [l.type, l.companyLeadId])).toEqual([
      ["company", null],
      ["person", acme.id],
      ["person", null],
    ]);
  });

  it("links an existing person to its company lead when a later create matches it", async () => {
    const client = await h.seedWorkspace();
    const person = await create(client, { type: "person", contacts: [{ value: "wile@acme.com" }], company: { domain: "acme.com" } });
    const acme = await create(client, { type: "company", domain: "acme.com" });
    const res = await client.post("/api/leads", { type: "person", contacts: [{ value: "wile@acme.com" }] });
    expect(res.status).toBe(200);
    expect(res.body.lead).toEqual({ ...person, company: { name: null, id: acme.id, domain: "acme.com" }, updatedAt: ISO_DATE });
  });

  it("yields one lead when identical creates race", async () => {
    const client = await h.seedWorkspace();
    const body = { type: "person", name: { full: "Ada Lovelace" }, socials: [{ url: "linkedin.com/in/ada" }], contacts: [{ value: "ada@a.org" }] };
    const results = await Promise.all(Array.from({ length: 12 }, () => client.post("/api/leads", body)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(results.map((r) => r.body.lead.id));
    expect(ids.size).toBe(1);
    expect(await storedKeys(client)).toEqual([{ type: "person", linkedinKey: "linkedin.com/in/ada", emailKey: "ada@a.org", domainKey: null }]);
  });

  it("adds a person lead to each list once, with a row built from the lead", async () => {
    const client = await h.seedWorkspace();
    const beta = await makeList(client, "Beta");
    const alpha = await makeList(client, "Alpha");
    const res = await client.post("/api/leads", { ...ADA, listIds: [beta.id, alpha.id, beta.id] });
    expect(res.status).toBe(201);
    const alphaRef = { id: alpha.id, name: "Alpha" };
    const betaRef = { id: beta.id, name: "Beta" };
    expect(res.body).toEqual({ lead: { ...ADA_LEAD, lists: [alphaRef, betaRef] } });
    const rows = await h.db.select().from(personRows).where(eq(personRows.leadId, res.body.lead.id)).orderBy(personRows.listId);
    const expectedRow = {
      workspaceId: client.workspaceId,
      leadId: res.body.lead.id,
      companyRowId: expect.any(String),
      firstName: "Ada",
      lastName: "Lovelace",
      fullName: "Ada Lovelace",
      company: "Analytical Engines",
      role: "Mathematician",
      headline: "Mathematician",
      linkedinUrl: "https://www.linkedin.com/in/ada-lovelace/",
      location: "London, UK",
      domain: "analytical.org",
      email: "Ada@Analytical.org",
      phone: null,
      linkedinKey: "linkedin.com/in/ada-lovelace",
      nameKey: "ada lovelace",
      companyKey: "analytical engines",
      locationKey: "london, uk",
      attributes: {},
    };
    expect(rows).toEqual(
      [beta.id, alpha.id].sort().map((listId) => expect.objectContaining({ ...expectedRow, listId })),
    );
    // Like any person row: a company row of its list for its company, and its 11 built-in cells.
    for (const row of rows) {
      const [company] = await h.db.select().from(companyRows).where(eq(companyRows.id, row.companyRowId!));
      expect(company).toMatchObject({ listId: row.listId, name: "Analytical Engines", domain: "analytical.org" });
      const cells = await h.db.select().from(personCells).where(eq(personCells.rowId, row.id));
      expect(cells).toHaveLength(11);
      expect(cells.every((cell) => cell.status === "completed")).toBe(true);
      expect(cells.map((cell) => cell.value).filter((v) => v !== null).sort()).toEqual(
        ["Ada Lovelace", "Analytical Engines", "London, UK", "Mathematician", "Mathematician", "analytical.org", "https://www.linkedin.com/in/ada-lovelace/"].sort(),
      );
    }
    const gamma = await makeList(client, "Gamma");
    const again = await client.post("/api/leads", { type: "person", socials: [{ url: "linkedin.com/in/ada-lovelace" }], listIds: [beta.id, gamma.id] });
    expect(again.status).toBe(200);
    expect(again.body.lead.lists).toEqual([alphaRef, betaRef, { id: gamma.id, name: "Gamma" }]);
    const after = await h.db.select().from(personRows).where(eq(personRows.leadId, res.body.lead.id));
    expect(after.map((r) => r.listId).sort()).toEqual([alpha.id, beta.id, gamma.id].sort());
  });

  it("uses the raw location for a person row when one is given", async () => {
    const client = await h.seedWorkspace();
    const list = await makeList(client, "People");
    await create(client, { type: "person", name: { full: "Grace Hopper" }, location: { city: "Arlington", raw: "Arlington, VA, USA" }, listIds: [list.id] });
    const [row] = await h.db.select().from(personRows).where(eq(personRows.listId, list.id));
    expect(row).toMatchObject({ fullName: "Grace Hopper", firstName: "Grace", lastName: "Hopper", location: "Arlington, VA, USA", locationKey: "arlington, va, usa", linkedinUrl: null, linkedinKey: null, email: null, domain: null });
  });

  it("adds a company lead to a list as a company row, once", async () => {
    const client = await h.seedWorkspace();
    const list = await makeList(client, "Accounts");
    const body = { type: "company", name: { full: "Acme" }, domain: "https://www.Acme.com/", industry: "Widgets", listIds: [list.id] };
    const res = await client.post("/api/leads", body);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      lead: leadBody({
        type: "company",
        name: { full: "Acme", short: "Acme", first: null, last: null },
        domain: "https://www.Acme.com/",
        industry: "Widgets",
        lists: [{ id: list.id, name: "Accounts" }],
      }),
    });
    const again = await client.post("/api/leads", body);
    expect(again.status).toBe(200);
    const rows = await h.db.select().from(companyRows).where(eq(companyRows.listId, list.id));
    expect(rows).toEqual([
      expect.objectContaining({ leadId: res.body.lead.id, workspaceId: client.workspaceId, name: "Acme", domain: "acme.com", industry: "Widgets" }),
    ]);
    expect(await h.db.select().from(personRows).where(eq(personRows.listId, list.id))).toEqual([]);
  });

  it.each([
    ["another workspace's list", true],
    ["an unknown list", false],
  ])("answers 404 for %s and writes nothing", async (_case, foreign) => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const own = await makeList(client, "Mine");
    const missing = foreign ? (await makeList(other, "Theirs")).id : "01900000-0000-7000-8000-000000000000";
    const res = await client.post("/api/leads", { ...ADA, listIds: [own.id, missing] });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("List"));
    expect(await storedLeads(client)).toEqual([]);
    expect(await h.db.select().from(personRows).where(inArray(personRows.listId, [own.id, missing]))).toEqual([]);
  });

  it("answers 404 for a foreign list on a dedupe match too, filling nothing", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const theirs = await makeList(other, "Theirs");
    const first = await create(client, { type: "person", socials: [{ url: "linkedin.com/in/ada" }] });
    const res = await client.post("/api/leads", { type: "person", title: "Countess", socials: [{ url: "linkedin.com/in/ada" }], listIds: [theirs.id] });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(notFound("List"));
    const [stored] = await storedLeads(client);
    expect(stored!.title).toBeNull();
    expect(stored!.updatedAt.toISOString()).toBe(first.updatedAt);
  });

  it.each([
    [{}, "type"],
    [{ type: "robot" }, "type"],
    [{ type: "person", socials: [{ url: "  " }] }, "socials.0.url"],
    [{ type: "person", contacts: [{}] }, "contacts.0.value"],
    [{ type: "person", attributes: [1] }, "attributes"],
    [{ type: "person", name: { full: 7 } }, "name.full"],
    [{ type: "person", listIds: ["not-a-uuid"] }, "listIds.0"],
  ])("rejects %j with VALIDATION_ERROR at %s and writes nothing", async (body, path) => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/leads", body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError(path));
    expect(await storedLeads(client)).toEqual([]);
  });

  it("answers 401 without a key", async () => {
    const res = await h.app.request("/api/leads", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADA) });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
  });
});

describe("GET /api/leads", () => {
  it("returns one lead by id, with its lists", async () => {
    const client = await h.seedWorkspace();
    const list = await makeList(client, "Founders");
    const created = await create(client, { ...ADA, listIds: [list.id] });
    const res = await client.get(`/api/leads?id=${created.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ leads: [{ ...ADA_LEAD, id: created.id, lists: [{ id: list.id, name: "Founders" }] }], nextCursor: null });
  });

  it("answers 404 for an unknown id and for another workspace's lead", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const theirs = await create(other, ADA);
    for (const id of [theirs.id, "01900000-0000-7000-8000-000000000000"]) {
      const res = await client.get(`/api/leads?id=${id}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual(notFound("Lead"));
    }
  });

  it("rejects a malformed id or cursor", async () => {
    const client = await h.seedWorkspace();
    for (const param of ["id", "cursor"]) {
      const res = await client.get(`/api/leads?${param}=nope`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(validationError(param, "Invalid UUID"));
    }
  });

  it("pages newest first with a stable cursor", async () => {
    const client = await h.seedWorkspace();
    const created = [];
    for (let i = 1; i <= 7; i++) created.push(await create(client, { type: "person", name: { full: `Person ${i}` } }));
    const newestFirst = [...created].reverse();
    const first = await client.get("/api/leads?limit=3");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ leads: newestFirst.slice(0, 3), nextCursor: created[4].id });
    const second = await client.get(`/api/leads?limit=3&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ leads: newestFirst.slice(3, 6), nextCursor: created[1].id });
    const third = await client.get(`/api/leads?limit=3&cursor=${second.body.nextCursor}`);
    expect(third.body).toEqual({ leads: newestFirst.slice(6), nextCursor: null });
    const all = await client.get("/api/leads");
    expect(all.body).toEqual({ leads: newestFirst, nextCursor: null });
  });

  it("ends with a null cursor when the last page is exactly full", async () => {
    const client = await h.seedWorkspace();
    const a = await create(client, { type: "person", name: { full: "A" } });
    const b = await create(client, { type: "person", name: { full: "B" } });
    const res = await client.get("/api/leads?limit=2");
    expect(res.body).toEqual({ leads: [b, a], nextCursor: null });
  });

  it("never lists another workspace's leads", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    await create(other, ADA);
    const mine = await create(client, { type: "person", name: { full: "Grace Hopper" } });
    const res = await client.get("/api/leads?q=a");
    expect(res.body).toEqual({ leads: [mine], nextCursor: null });
  });

  async function seedFilterLeads(client: Client) {
    const ada = await create(client, {
      type: "person",
      name: { full: "Ada Lovelace" },
      title: "Chief Mathematician",
      company: { name: "Analytical Engines", domain: "analytical.org" },
      contacts: [{ value: "ada@analytical.org" }],
      industry: "Computing",
      location: { city: "London", country: "UK" },
    });
    const grace = await create(client, {
      type: "person",
      name: { full: "Grace Hopper" },
      title: "Rear Admiral",
      company: { name: "US Navy", domain: "navy.mil" },
      contacts: [{ value: "grace@navy.mil" }],
      industry: "Defense",
      location: { raw: "Arlington, Virginia" },
    });
    const widgets = await create(client, {
      type: "company",
      name: { full: "Acme 100% Widgets" },
      domain: "acme_widgets.com",
      industry: "Manufacturing",
      location: { state: "Ohio" },
      contacts: [{ value: "+1 555 0100" }],
    });
    const gadgets = await create(client, { type: "company", name: { full: "Acme 1000 Gadgets" }, domain: "acmex.com", industry: "Manufacturing" });
    return { ada, grace, widgets, gadgets } as Record<string, Json>;
  }

  it.each([
    ["name=LOVELACE", ["ada"]],
    ["name=grace", ["grace"]],
    ["title=admiral", ["grace"]],
    ["company=engines", ["ada"]],
    ["domain=navy", ["grace"]],
    ["domain=acme_", ["widgets"]],
    ["name=100%25", ["widgets"]],
    ["email=ANALYTICAL", ["ada"]],
    ["email=555", []],
    ["industry=defen", ["grace"]],
    ["industry=manufacturing", ["gadgets", "widgets"]],
    ["location=london", ["ada"]],
    ["location=uk", ["ada"]],
    ["location=virginia", ["grace"]],
    ["location=ohio", ["widgets"]],
    ["q=navy", ["grace"]],
    ["q=math", ["ada"]],
    ["q=acme", ["gadgets", "widgets"]],
    ["q=analytical.org", ["ada"]],
    ["type=company", ["gadgets", "widgets"]],
    ["type=person", ["grace", "ada"]],
    ["q=a&industry=computing", ["ada"]],
    ["type=company&name=gadgets", ["gadgets"]],
    ["title=admiral&industry=computing", []],
    ["name=", ["gadgets", "widgets", "grace", "ada"]],
  ])("filters with %s", async (query, expected) => {
    const client = await h.seedWorkspace();
    const seeded = await seedFilterLeads(client);
    const res = await client.get(`/api/leads?${query}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ leads: expected.map((name) => seeded[name]), nextCursor: null });
  });

  it.each(["0", "101", "abc", "1.5"])("rejects limit=%s", async (limit) => {
    const client = await h.seedWorkspace();
    const res = await client.get(`/api/leads?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("limit", "limit must be an integer from 1 to 100"));
  });

  it("rejects an unknown type", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/leads?type=robot");
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("type"));
  });

  it("answers 401 without a key", async () => {
    const res = await h.app.request("/api/leads");
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
  });
});

describe("PATCH /api/leads", () => {
  it("replaces the given fields, merges attributes and re-derives the name", async () => {
    const client = await h.seedWorkspace();
    const ada = await create(client, ADA);
    const res = await client.patch("/api/leads", {
      id: ada.id,
      name: { last: "King" },
      title: "Countess",
      location: { city: null, state: "Greater London" },
      industry: null,
      size: "10-50",
      attributes: { score: 5 },
      raw: { patched: true },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      lead: {
        ...ADA_LEAD,
        id: ada.id,
        name: { full: "Ada King", short: "Ada", first: "Ada", last: "King" },
        title: "Countess",
        location: { city: null, state: "Greater London", country: "UK", raw: null },
        industry: null,
        size: "10-50",
        attributes: { era: "victorian", score: 5 },
        createdAt: ada.createdAt,
      },
    });
    const [stored] = await storedLeads(client);
    expect(stored).toMatchObject({ raw: { source: "import", patched: true }, linkedinKey: "linkedin.com/in/ada-lovelace", emailKey: "ada@analytical.org" });
    const full = await client.patch("/api/leads", { id: ada.id, name: { full: "Augusta Ada King" } });
    expect(full.body.lead.name).toEqual({ full: "Augusta Ada King", short: "Augusta", first: "Augusta", last: "Ada King" });
  });

  it("moves the dedupe keys when socials, contacts or a company's domain change", async () => {
    const client = await h.seedWorkspace();
    const ada = await create(client, ADA);
    const acme = await create(client, { type: "company", name: { full: "Acme" }, domain: "acme.com" });
    const person = await client.patch("/api/leads", {
      id: ada.id,
      socials: [{ url: "https://github.com/ada" }, { url: "https://LinkedIn.com/in/Countess/" }],
      contacts: [{ value: "countess@king.org" }],
      domain: "king.org",
    });
    expect(person.status).toBe(200);
    expect(person.body.lead).toMatchObject({
      socials: [{ url: "https://github.com/ada" }, { url: "https://LinkedIn.com/in/Countess/" }],
      contacts: [{ value: "countess@king.org" }],
      domain: "king.org",
    });
    const company = await client.patch("/api/leads", { id: acme.id, domain: "https://www.Acme.io" });
    expect(company.status).toBe(200);
    expect(company.body.lead).toEqual({ ...acme, domain: "https://www.Acme.io", updatedAt: ISO_DATE });
    expect(await storedKeys(client)).toEqual([
      { type: "person", linkedinKey: "linkedin.com/in/countess", emailKey: "countess@king.org", domainKey: null },
      { type: "company", linkedinKey: null, emailKey: null, domainKey: "acme.io" },
    ]);
    const cleared = await client.patch("/api/leads", { id: ada.id, socials: [], contacts: [] });
    expect(cleared.body.lead).toMatchObject({ socials: [], contacts: [] });
    expect((await storedKeys(client))[0]).toEqual({ type: "person", linkedinKey: null, emailKey: null, domainKey: null });
  });

  it("keeps a lead's own key when the patch restates it", async () => {
    const client = await h.seedWorkspace();
    const ada = await create(client, { type: "person", socials: [{ url: "linkedin.com/in/ada" }] });
    const res = await client.patch("/api/leads", { id: ada.id, socials: [{ url: "https://www.linkedin.com/in/ADA/" }] });
    expect(res.status).toBe(200);
    expect(res.body.lead.socials).toEqual([{ url: "https://www.linkedin.com/in/ADA/" }]);
    expect(await storedKeys(client)).toEqual([{ type: "person", linkedinKey: "linkedin.com/in/ada", emailKey: null, domainKey: null }]);
  });

  it.each([
    ["LinkedIn URL", "person", { socials: [{ url: "linkedin.com/in/taken" }] }, { socials: [{ url: "https://www.linkedin.com/in/Taken" }] }],
    ["email", "person", { contacts: [{ value: "taken@a.org" }] }, { contacts: [{ value: "TAKEN@a.org" }] }],
    ["domain", "company", { domain: "taken.com" }, { domain: "www.taken.com" }],
  ])("answers 409 when the new %s belongs to another lead, changing nothing", async (what, type, holderFields, patch) => {
    const client = await h.seedWorkspace();
    const holder = await create(client, { type, ...holderFields });
    const target = await create(client, { type, title: "Before" });
    const keysBefore = await storedKeys(client);
    const res = await client.patch("/api/leads", { id: target.id, title: "After", ...patch });
    expect(res.status).toBe(409);
    expect(res.body).toEqual({ error: `Another lead already has this ${what}`, code: "CONFLICT", requestId: REQUEST_ID, leadId: holder.id });
    expect(await storedKeys(client)).toEqual(keysBefore);
    expect((await storedLeads(client))[1]!.title).toBe("Before");
  });

  it("re-links a person when its company domain changes", async () => {
    const client = await h.seedWorkspace();
    const acme = await create(client, { type: "company", domain: "acme.com" });
    const person = await create(client, { type: "person", name: { full: "Wile Coyote" } });
    const linked = await client.patch("/api/leads", { id: person.id, company: { domain: "ACME.com" } });
    expect(linked.body.lead.company).toEqual({ name: null, id: acme.id, domain: "ACME.com" });
    const unlinked = await client.patch("/api/leads", { id: person.id, company: { domain: null } });
    expect(unlinked.body.lead.company).toEqual({ name: null, id: null, domain: null });
    expect((await storedLeads(client)).map((l) => l.companyLeadId)).toEqual([null, null]);
  });

  it("rejects type as read-only and changes nothing", async () => {
    const client = await h.seedWorkspace();
    const ada = await create(client, ADA);
    const res = await client.patch("/api/leads", { id: ada.id, type: "company", title: "Countess" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "type: type is read-only",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "type", message: "type is read-only" }],
    });
    expect((await storedLeads(client))[0]).toMatchObject({ type: "person", title: "Mathematician" });
  });

  it.each([[{}], [{ unknownField: 1 }]])("rejects a patch with nothing to update (%j)", async (extra) => {
    const client = await h.seedWorkspace();
    const ada = await create(client, ADA);
    const res = await client.patch("/api/leads", { id: ada.id, ...extra });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "Nothing to update: give at least one field besides id",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "", message: "Nothing to update: give at least one field besides id" }],
    });
  });

  it("rejects a malformed id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.patch("/api/leads", { id: "nope", title: "x" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(validationError("id", "Invalid UUID"));
  });

  it("answers 404 for an unknown id and for another workspace's lead, changing nothing", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const theirs = await create(other, ADA);
    for (const id of [theirs.id, "01900000-0000-7000-8000-000000000000"]) {
      const res = await client.patch("/api/leads", { id, title: "Hijacked" });
      expect(res.status).toBe(404);
      expect(res.body).toEqual(notFound("Lead"));
    }
    expect((await storedLeads(other))[0]!.title).toBe("Mathematician");
  });

  it("answers 401 without a key", async () => {
    const res = await h.app.request("/api/leads", { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "01900000-0000-7000-8000-000000000000", title: "x" }) });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
  });
});
