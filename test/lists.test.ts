import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { columns, companyRows, leads, lists, personCells, personRows } from "../src/db/schema";
import { BUILT_IN_PERSON_COLUMNS } from "../src/domain/built-in-columns";
import { addCompanies, addPeople } from "./helpers/fixtures";
import { ISO_DATE, REQUEST_ID, UUID, useHarness, type Client } from "./helpers/harness";

const h = useHarness();

const BUILT_IN_KEYS = ["name", "role", "company", "location", "domain", "linkedin", "headline", "seniority", "departments", "functions", "experience"];

function listBody(overrides: Record<string, unknown> = {}) {
  return {
    id: UUID,
    name: "Untitled List",
    description: null,
    leadType: "person",
    enrichmentStatus: "idle",
    rowCount: 0,
    companyCount: 0,
    leadCount: 0,
    createdAt: ISO_DATE,
    updatedAt: ISO_DATE,
    ...overrides,
  };
}

async function addMembers(client: Client, listId: string, people: string[], companies: string[] = []) {
  const rowIds = await addPeople(h.db, client.workspaceId, listId, people);
  await addCompanies(h.db, client.workspaceId, listId, companies);
  return rowIds;
}

describe("POST /api/lists", () => {
  it("creates a list with the 11 built-in person columns", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/lists", { name: "  Founders  ", description: "Seed-stage founders" });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ list: listBody({ name: "Founders", description: "Seed-stage founders" }) });
    const cols = await h.db.select().from(columns).where(eq(columns.listId, res.body.list.id)).orderBy(columns.position);
    expect(cols.map((c) => [c.builtInKey, c.position, c.source, c.category, c.subject, c.isDynamic])).toEqual(
      BUILT_IN_KEYS.map((key, i) => [key, i, "profile", "built-in", "person", false]),
    );
    expect(cols.map((c) => c.name)).toEqual(BUILT_IN_PERSON_COLUMNS.map((c) => c.name));
  });

  it.each([{}, { name: "" }, { name: "   " }, { name: null }])("names a blank list Untitled List (%j)", async (body) => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/lists", body);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ list: listBody() });
  });

  it("accepts a lead type", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/lists", { name: "Accounts", leadType: "company" });
    expect(res.body).toEqual({ list: listBody({ name: "Accounts", leadType: "company" }) });
  });

  it("rejects a bad lead type and writes nothing", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/lists", { name: "X", leadType: "robot" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: expect.stringMatching(/^leadType: /),
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "leadType", message: expect.any(String) }],
    });
    expect(await h.db.select().from(lists).where(eq(lists.workspaceId, client.workspaceId))).toEqual([]);
  });

  it("is all or nothing: a failing column seed leaves no list", async () => {
    const client = await h.seedWorkspace();
    // A trigger that rejects the seventh built-in column makes the seeding fail half-way.
    const fn = `fail_seed_${client.workspaceId.replace(/-/g, "")}`;
    await h.client.unsafe(`create function ${fn}() returns trigger language plpgsql as $$
      begin if new.workspace_id = '${client.workspaceId}' and new.built_in_key = 'headline' then raise exception 'boom'; end if; return new; end $$`);
    await h.client.unsafe(`create trigger ${fn} before insert on list_columns for each row execute function ${fn}()`);
    try {
      const res = await client.post("/api/lists", { name: "Doomed" });
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: "Internal server error", code: "INTERNAL", requestId: REQUEST_ID });
    } finally {
      await h.client.unsafe(`drop trigger ${fn} on list_columns; drop function ${fn}()`);
    }
    expect(await h.db.select().from(lists).where(eq(lists.workspaceId, client.workspaceId))).toEqual([]);
    expect(await h.db.select().from(columns).where(eq(columns.workspaceId, client.workspaceId))).toEqual([]);
  });
});

describe("GET /api/lists", () => {
  it("lists the workspace's lists newest first with exact counts", async () => {
    const client = await h.seedWorkspace();
    const first = (await client.post("/api/lists", { name: "First" })).body.list;
    const second = (await client.post("/api/lists", { name: "Second" })).body.list;
    await addMembers(client, first.id, ["Ada Lovelace", "Alan Turing"], ["Acme"]);
    const other = await h.seedWorkspace();
    await other.post("/api/lists", { name: "Not mine" });

    const res = await client.get("/api/lists");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      lists: [
        listBody({ id: second.id, name: "Second" }),
        listBody({ id: first.id, name: "First", rowCount: 2, companyCount: 1, leadCount: 3 }),
      ],
    });
  });

  it("is empty for a new workspace", async () => {
    const client = await h.seedWorkspace();
    expect((await client.get("/api/lists")).body).toEqual({ lists: [] });
  });
});

describe("GET /api/lists/{id}", () => {
  it("returns the sheet: list, person rows, non-preview person columns, cells", async () => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", { name: "Sheet" })).body.list;
    const [rowId] = await addMembers(client, list.id, ["Ada Lovelace"], ["Acme"]);
    await h.db.insert(columns).values({ listId: list.id, workspaceId: client.workspaceId, name: "Draft", position: 20, isPreview: true });
    const res = await client.get(`/api/lists/${list.id}`);
    expect(res.status).toBe(200);
    expect(res.body.sheet).toEqual(listBody({ id: list.id, name: "Sheet", rowCount: 1, companyCount: 1, leadCount: 2 }));
    expect(res.body.truncated).toBe(false);
    expect(res.body.rows).toEqual([expect.objectContaining({ id: rowId, listId: list.id, fullName: "Ada Lovelace", firstName: "Ada", role: "Engineer" })]);
    expect(res.body.columns.map((c: { builtInKey: string }) => c.builtInKey)).toEqual(BUILT_IN_KEYS);
    expect(res.body.cells).toHaveLength(11);
    const byColumn = new Map(res.body.columns.map((c: { id: string; builtInKey: string }) => [c.id, c.builtInKey]));
    const values = Object.fromEntries(res.body.cells.map((cell: { columnId: string; value: unknown }) => [byColumn.get(cell.columnId), cell.value]));
    expect(values).toEqual({
      name: "Ada Lovelace",
      role: "Engineer",
      company: null,
      location: null,
      domain: null,
      linkedin: null,
      headline: null,
      seniority: null,
      departments: null,
      functions: null,
      experience: null,
    });
    const nameColumn = res.body.columns.find((c: { builtInKey: string }) => c.builtInKey === "name");
    expect(res.body.cells.find((cell: { columnId: string }) => cell.columnId === nameColumn.id)).toEqual({
      id: UUID,
      listId: list.id,
      columnId: nameColumn.id,
      rowId,
      value: "Ada Lovelace",
      status: "completed",
      reasoning: null,
      error: null,
      createdAt: ISO_DATE,
      updatedAt: ISO_DATE,
    });
  });

  it("returns the companies segment", async () => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", { name: "Sheet" })).body.list;
    await addMembers(client, list.id, ["Ada Lovelace"], ["Acme", "Globex"]);
    const res = await client.get(`/api/lists/${list.id}?segment=companies`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      sheet: listBody({ id: list.id, name: "Sheet", rowCount: 1, companyCount: 2, leadCount: 3 }),
      rows: [expect.objectContaining({ name: "Acme", domain: "acme.com" }), expect.objectContaining({ name: "Globex", domain: "globex.com" })],
      columns: [],
      cells: [],
      truncated: false,
    });
  });

  it("rejects an unknown segment", async () => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", {})).body.list;
    const res = await client.get(`/api/lists/${list.id}?segment=robots`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "segment" }] });
  });

  it("answers 400 for a malformed id and 404 for unknown or foreign lists", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const foreign = (await other.post("/api/lists", {})).body.list;
    const malformed = await client.get("/api/lists/not-a-uuid");
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual({ error: "id: Invalid UUID", code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path: "id", message: "Invalid UUID" }] });
    for (const id of [foreign.id, "00000000-0000-0000-0000-000000000000", crypto.randomUUID()]) {
      const res = await client.get(`/api/lists/${id}`);
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    }
  });
});

describe("PATCH /api/lists", () => {
  it("renames and redescribes", async () => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", { name: "Old" })).body.list;
    const res = await client.patch("/api/lists", { id: list.id, name: "New", description: "Now described" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ list: listBody({ id: list.id, name: "New", description: "Now described" }) });
    expect(new Date(res.body.list.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(list.updatedAt).getTime());
    const [stored] = await h.db.select().from(lists).where(eq(lists.id, list.id));
    expect([stored!.name, stored!.description]).toEqual(["New", "Now described"]);
  });

  it("rejects an empty patch and writes nothing", async () => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", { name: "Same" })).body.list;
    const res = await client.patch("/api/lists", { id: list.id });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "Nothing to update: give name or description",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "", message: "Nothing to update: give name or description" }],
    });
    const [stored] = await h.db.select().from(lists).where(eq(lists.id, list.id));
    expect(stored!.name).toBe("Same");
  });

  it("answers 404 for another workspace's list and leaves it alone", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const foreign = (await other.post("/api/lists", { name: "Theirs" })).body.list;
    const res = await client.patch("/api/lists", { id: foreign.id, name: "Mine now" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    const [stored] = await h.db.select().from(lists).where(eq(lists.id, foreign.id));
    expect(stored!.name).toBe("Theirs");
  });

  it("answers 400 for a missing or malformed id", async () => {
    const client = await h.seedWorkspace();
    expect((await client.patch("/api/lists", { name: "x" })).body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "id" }] });
    expect((await client.patch("/api/lists", { id: "nope", name: "x" })).body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "id", message: "Invalid UUID" }] });
  });
});

describe("DELETE /api/lists", () => {
  it.each(["path", "body"])("deletes by %s with rows, company rows, columns and cells, keeping leads", async (style) => {
    const client = await h.seedWorkspace();
    const list = (await client.post("/api/lists", { name: "Doomed" })).body.list;
    const [rowId] = await addMembers(client, list.id, ["Ada Lovelace"], ["Acme"]);
    const res = style === "path" ? await client.delete(`/api/lists/${list.id}`) : await client.delete("/api/lists", { id: list.id });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await h.db.select().from(lists).where(eq(lists.id, list.id))).toEqual([]);
    expect(await h.db.select().from(personRows).where(eq(personRows.listId, list.id))).toEqual([]);
    expect(await h.db.select().from(companyRows).where(eq(companyRows.listId, list.id))).toEqual([]);
    expect(await h.db.select().from(columns).where(eq(columns.listId, list.id))).toEqual([]);
    expect(await h.db.select().from(personCells).where(eq(personCells.rowId, rowId!))).toEqual([]);
    expect(await h.db.select().from(leads).where(and(eq(leads.workspaceId, client.workspaceId)))).toHaveLength(2);
    const again = await client.delete(`/api/lists/${list.id}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID });
  });

  it("answers 404 for another workspace's list and deletes nothing", async () => {
    const client = await h.seedWorkspace();
    const other = await h.seedWorkspace();
    const foreign = (await other.post("/api/lists", { name: "Theirs" })).body.list;
    expect((await client.delete(`/api/lists/${foreign.id}`)).status).toBe(404);
    expect((await client.delete("/api/lists", { id: foreign.id })).status).toBe(404);
    expect(await h.db.select().from(lists).where(eq(lists.id, foreign.id))).toHaveLength(1);
  });

  it("answers 400 for a malformed id", async () => {
    const client = await h.seedWorkspace();
    expect((await client.delete("/api/lists/xyz")).status).toBe(400);
    expect((await client.delete("/api/lists", { id: 42 })).body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "id" }] });
  });
});
