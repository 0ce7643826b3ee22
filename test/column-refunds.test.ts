import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { columns, personCells } from "../src/db/schema";
import { chargeCell } from "../src/domain/cell-store";
import { addCompanies, addPeople } from "./helpers/fixtures";
import { useHarnessOverFakeTrigger } from "./helpers/fake-trigger-harness";
import { REQUEST_ID, type Client } from "./helpers/harness";

// Credits paid for cells that will never be filled come back when their column (or list) is deleted.
// The fake Trigger.dev accepts dispatches and runs nothing, so cells stay pending as the route left them.
const { fake, h } = await useHarnessOverFakeTrigger();

async function listWithPeople(client: Client, people: number) {
  const listId = (await client.post("/api/lists", { name: "Refunds" })).body.list.id as string;
  await addPeople(
    h.db,
    client.workspaceId,
    listId,
    Array.from({ length: people }, (_, i) => `Person ${i}`),
  );
  return listId;
}

async function refunds(client: Client) {
  return (await client.ledger()).filter((e) => e.kind === "refund").map((e) => ({ action: e.action, delta: e.delta, note: e.note }));
}

describe("deleting a column refunds its unfinished cells", () => {
  it("AI column: every pending cell is refunded, balance back where it started", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const listId = await listWithPeople(client, 4);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Write a one-line pitch" });
    expect(created.status).toBe(201);
    expect(await client.balance()).toBe(46);

    const res = await client.delete(`/api/lists/${listId}/columns/${created.body.column.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await refunds(client)).toEqual(
      Array.from({ length: 4 }, () => ({ action: "CUSTOM_ENRICHMENT_WEB", delta: 1, note: "Refund: column deleted before the cell was filled" })),
    );
    expect(await client.ledgerConsistency()).toEqual({ balance: 50, ledgerSum: 50, entries: 6 });
    expect(await h.db.select().from(personCells).where(eq(personCells.columnId, created.body.column.id))).toEqual([]);
    const again = await client.delete(`/api/lists/${listId}/columns/${created.body.column.id}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ error: "Column not found", code: "NOT_FOUND", requestId: REQUEST_ID });
    expect(await client.ledgerConsistency()).toEqual({ balance: 50, ledgerSum: 50, entries: 6 });
  });

  it("finished cells are not refunded", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const listId = await listWithPeople(client, 3);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch?", dataSource: "profile" });
    const columnId = created.body.column.id;
    const [first] = await h.db.select().from(personCells).where(eq(personCells.columnId, columnId)).limit(1);
    await h.db.update(personCells).set({ status: "completed", value: "Done" }).where(eq(personCells.id, first!.id));

    expect((await client.delete(`/api/lists/${listId}/columns/${columnId}`)).status).toBe(200);
    expect(await refunds(client)).toEqual(
      Array.from({ length: 2 }, () => ({ action: "CUSTOM_ENRICHMENT_AI", delta: 1, note: "Refund: column deleted before the cell was filled" })),
    );
    expect(await client.ledgerConsistency()).toEqual({ balance: 49, ledgerSum: 49, entries: 4 });
  });

  it("contact column: only cells the task already charged are refunded, each once", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, 3);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Email", isDynamic: false, enrichmentType: "work_email" });
    expect(created.status).toBe(201);
    expect(await client.balance()).toBe(100);
    const cells = await h.db.select().from(personCells).where(eq(personCells.columnId, created.body.column.id));
    // The task had charged two rows when the column was deleted; the third was never sent.
    for (const cell of cells.slice(0, 2)) {
      const column = { id: created.body.column.id as string, workspaceId: client.workspaceId, subject: "person" as const };
      expect(await chargeCell(h.db, column, { cellId: cell.id, runToken: cell.runToken! }, { action: "EMAIL_LOOKUP", price: 2 })).toBe("charged");
    }
    expect(await client.balance()).toBe(96);

    expect((await client.delete(`/api/lists/${listId}/columns/${created.body.column.id}`)).status).toBe(200);
    expect(await refunds(client)).toEqual(
      Array.from({ length: 2 }, () => ({ action: "EMAIL_LOOKUP", delta: 2, note: "Refund: column deleted before the cell was filled" })),
    );
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 5 });
  });

  it("cleanup-previews refunds the preview cells", async () => {
    const client = await h.seedWorkspace({ credits: 20 });
    const listId = await listWithPeople(client, 5);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Try", isDynamic: true, prompt: "Guess", isPreview: true });
    expect(await client.balance()).toBe(17);
    const res = await client.post(`/api/lists/${listId}/columns/cleanup-previews`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await h.db.select().from(columns).where(eq(columns.id, created.body.column.id))).toEqual([]);
    expect(await client.ledgerConsistency()).toEqual({ balance: 20, ledgerSum: 20, entries: 5 });
  });
});

describe("deleting a list refunds the unfinished cells of all its columns", () => {
  it("person and company columns alike, and cancels their runs", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = await listWithPeople(client, 2);
    await addCompanies(h.db, client.workspaceId, listId, ["Acme", "Globex", "Initech"]);
    const person = await client.post(`/api/lists/${listId}/columns`, { name: "Pitch", isDynamic: true, prompt: "Pitch" });
    const company = await client.post(`/api/lists/${listId}/columns`, { name: "Overview", isDynamic: false, enrichmentType: "website_overview", subject: "company" });
    expect([person.status, company.status]).toEqual([201, 201]);
    expect(await client.balance()).toBe(95);
    fake.clearRecords();

    const res = await client.delete(`/api/lists/${listId}`);
    expect(res.status).toBe(200);
    expect(await client.ledgerConsistency()).toEqual({ balance: 100, ledgerSum: 100, entries: 8 });
    expect((await refunds(client)).map((r) => r.action).sort()).toEqual(
      ["CUSTOM_ENRICHMENT_WEB", "CUSTOM_ENRICHMENT_WEB", "WEBSITE_ENRICHMENT", "WEBSITE_ENRICHMENT", "WEBSITE_ENRICHMENT"].sort(),
    );
    expect(fake.requests.filter((r) => r.path.endsWith("/cancel") || r.path.includes("/batches/")).length).toBeGreaterThan(0);
    expect(await h.db.select().from(columns).where(and(eq(columns.listId, listId)))).toEqual([]);
  });
});
