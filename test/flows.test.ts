import { describe, expect, it } from "vitest";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { REQUEST_ID, useHarness, type Client } from "./helpers/harness";

// Whole flows as a caller meets them: the real app, the real task handlers running in-process (as
// under `npm start`), sandbox providers, real Postgres. The figures asserted are the ones a caller
// would check: every cell terminal and typed, the balance moved by exactly what was used.
const h = useHarness({ max: 12 });

async function listWithPeople(client: Client, count: number): Promise<{ listId: string; rowIds: string[] }> {
  const listId = (await client.post("/api/lists", { name: "Flow" })).body.list.id as string;
  const rows = Array.from({ length: count }, (_, i) => ({
    firstName: `First${i}`,
    lastName: `Last${i}`,
    company: `Company ${i % 25}`,
    domain: `company${i % 25}.example`,
  }));
  const res = await client.post(`/api/lists/${listId}/rows/bulk`, { rows });
  expect(res.status).toBe(200);
  expect([res.body.inserted, res.body.merged]).toEqual([count, 0]);
  return { listId, rowIds: res.body.rowIds };
}

async function previewCells(client: Client, listId: string, columnId: string) {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}/preview-cells`);
  expect(res.status).toBe(200);
  return res.body.cells as Array<{ rowId: string; name: string; value: unknown; status: string; error: string | null }>;
}

describe("an AI column on 250 rows", () => {
  it("fills every cell with a typed value and charges exactly 250 × the price", async () => {
    const client = await h.seedWorkspace({ credits: 1000 });
    const { listId } = await listWithPeople(client, 250);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "B2B?", isDynamic: true, prompt: "Is this company B2B?" });
    expect(created.status).toBe(201);
    expect(created.body.column).toMatchObject({ source: "web", schema: { type: "boolean" }, isPreview: false });
    await h.settle();

    const cells = await previewCells(client, listId, created.body.column.id);
    expect(cells).toHaveLength(250);
    expect(cells.filter((c) => c.status === "completed")).toHaveLength(250);
    expect(cells.every((c) => typeof c.value === "boolean" && c.error === null)).toBe(true);
    const price = DEFAULT_CREDIT_COSTS.CUSTOM_ENRICHMENT_WEB!;
    expect(await client.ledgerConsistency()).toEqual({ balance: 1000 - 250 * price, ledgerSum: 1000 - 250 * price, entries: 2 });
  });
});

describe("a preview column, its promotion, and a re-run", () => {
  it("previews 3 rows, fills the rest on promotion, re-runs 5 rows for 5 credits", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const { listId, rowIds } = await listWithPeople(client, 20);
    const created = await client.post(`/api/lists/${listId}/columns`, {
      name: "Team size",
      isDynamic: true,
      prompt: "How many engineers work there?",
      dataSource: "profile",
      isPreview: true,
    });
    expect(created.status).toBe(201);
    const columnId = created.body.column.id;
    await h.settle();
    const preview = await previewCells(client, listId, columnId);
    expect(preview.map((c) => c.rowId)).toEqual(rowIds.slice(0, 3));
    expect(preview.every((c) => c.status === "completed" && typeof c.value === "number")).toBe(true);
    expect(await client.balance()).toBe(97);
    // Preview columns stay out of the column list until promoted.
    expect((await client.get(`/api/lists/${listId}/columns?subject=person`)).body.columns.map((c: { id: string }) => c.id)).not.toContain(columnId);

    const promoted = await client.patch(`/api/lists/${listId}/columns/${columnId}`, { isPreview: false });
    expect(promoted.status).toBe(200);
    expect(promoted.body.column.isPreview).toBe(false);
    await h.settle();
    const all = await previewCells(client, listId, columnId);
    expect(all).toHaveLength(20);
    expect(all.every((c) => c.status === "completed")).toBe(true);
    expect(await client.balance()).toBe(80);

    const rerun = await client.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds: rowIds.slice(5, 10) });
    expect(rerun.status).toBe(200);
    expect(rerun.body).toEqual({ success: true, taskId: expect.stringMatching(/^run_/), rowCount: 5 });
    await h.settle();
    expect((await previewCells(client, listId, columnId)).every((c) => c.status === "completed")).toBe(true);
    expect(await client.ledgerConsistency()).toEqual({ balance: 75, ledgerSum: 75, entries: 4 });
  });
});

describe("a work-email column", () => {
  it("charges each row sent once, and refunds the rows with no result", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const listId = (await client.post("/api/lists", { name: "Contacts" })).body.list.id;
    // Rows without a domain cannot get a work email: the sandbox finds nothing for them.
    const rows = [
      ...Array.from({ length: 6 }, (_, i) => ({ firstName: `Ann${i}`, lastName: "Lee", domain: "acme.example" })),
      ...Array.from({ length: 4 }, (_, i) => ({ firstName: `Bob${i}`, lastName: "Roe", company: "Nowhere Inc" })),
    ];
    expect((await client.post(`/api/lists/${listId}/rows/bulk`, { rows })).status).toBe(200);
    const created = await client.post(`/api/lists/${listId}/columns`, { name: "Work email", isDynamic: false, enrichmentType: "work_email" });
    expect(created.status).toBe(201);
    expect(await client.balance()).toBe(100);
    await h.settle();

    const cells = await previewCells(client, listId, created.body.column.id);
    expect(cells.filter((c) => c.status === "completed" && typeof c.value === "string" && c.value.endsWith("@acme.example"))).toHaveLength(6);
    expect(cells.filter((c) => c.status === "completed" && c.value === null)).toHaveLength(4);
    const price = DEFAULT_CREDIT_COSTS.EMAIL_LOOKUP!;
    const ledger = await client.ledger();
    expect(ledger.filter((e) => e.kind === "charge")).toHaveLength(10);
    expect(ledger.filter((e) => e.kind === "refund")).toHaveLength(4);
    expect(await client.ledgerConsistency()).toEqual({ balance: 100 - 6 * price, ledgerSum: 100 - 6 * price, entries: 15 });
  });
});

describe("a lead enrichment run over a 40-lead list", () => {
  it("completes with 40 items, charged once; the same key returns the same run; a completed run cannot be cancelled", async () => {
    const client = await h.seedWorkspace({ credits: 500 });
    const { listId } = await listWithPeople(client, 40);
    const body = { enrichmentId: "work_email", scope: { type: "list", listId }, idempotencyKey: "flow-40" };

    const preview = await client.post("/api/enrichment", { ...body, mode: "preview" });
    expect(preview.status).toBe(200);
    expect(preview.body).toEqual({
      mode: "preview",
      leadCount: 40,
      cost: { creditAction: "EMAIL_LOOKUP", required: 80, balance: 500, sufficient: true },
    });
    expect(await client.ledgerConsistency()).toEqual({ balance: 500, ledgerSum: 500, entries: 1 });

    const started = await client.post("/api/enrichment", body);
    expect(started.status).toBe(202);
    expect(started.body).toEqual({
      enrichmentRunId: expect.any(String),
      runId: started.body.enrichmentRunId,
      status: expect.any(String),
      leadCount: 40,
      triggerRunId: expect.stringMatching(/^run_/),
      reusedExistingRun: false,
    });
    await h.settle();

    const run = await client.get(`/api/enrichment/${started.body.enrichmentRunId}`);
    expect(run.status).toBe(200);
    expect(run.body.run.status).toBe("completed");
    const counts = run.body.run.scope.counts;
    expect(counts.pending + counts.running).toBe(0);
    expect(counts.completed + counts.skipped + counts.failed).toBe(40);
    const items = await client.get(`/api/enrichment/${started.body.enrichmentRunId}/items?limit=100`);
    expect(items.body.items).toHaveLength(40);

    const again = await client.post("/api/enrichment", body);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ enrichmentRunId: started.body.enrichmentRunId, reusedExistingRun: true, leadCount: 40 });
    const charges = (await client.ledger()).filter((e) => e.kind === "charge");
    expect(charges).toHaveLength(1);
    expect(charges[0]!.delta).toBe(-80);
    const { balance, ledgerSum } = await client.ledgerConsistency();
    expect(balance).toBe(ledgerSum);
    expect(balance).toBe(500 - 80 + 2 * (counts.skipped + counts.failed));

    const cancel = await client.post(`/api/enrichment/${started.body.enrichmentRunId}/cancel`);
    expect(cancel.status).toBe(409);
    expect(cancel.body).toEqual({ error: expect.any(String), code: "CONFLICT", requestId: REQUEST_ID, reason: "run_not_cancellable" });
  });
});
