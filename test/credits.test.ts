import { describe, expect, it } from "vitest";
import { chargeCredits, refundCredits } from "../src/domain/credits";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { ISO_DATE, REQUEST_ID, UUID, useHarness } from "./helpers/harness";

const h = useHarness({ max: 20 });

describe("GET /api/credits/config", () => {
  it("lists every documented price", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/credits/config");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      costs: {
        FIND_PERSON: 1,
        IMPORT_LEAD: 1,
        EMAIL_LOOKUP: 2,
        HUNTER_EMAIL_LOOKUP: 1,
        PHONE_LOOKUP: 8,
        LINKEDIN_PROFILE: 1,
        LINKEDIN_POSTS: 1,
        COMPANY_NEWS: 4,
        PERSON_NEWS: 4,
        HIRING_STATUS: 1,
        WEBSITE_ENRICHMENT: 1,
        SITE_CRAWL_ENRICHMENT: 4,
        CUSTOM_ENRICHMENT_AI: 1,
        CUSTOM_ENRICHMENT_WEB: 1,
        DEEP_RESEARCH: 40,
      },
    });
    expect(res.body.costs).toEqual(DEFAULT_CREDIT_COSTS);
  });
});

describe("POST /api/credits/preview", () => {
  it("prices an action without moving credits", async () => {
    const client = await h.seedWorkspace({ credits: 20 });
    const res = await client.post("/api/credits/preview", { action: "PHONE_LOOKUP", count: 3 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ action: "PHONE_LOOKUP", count: 3, costPerUnit: 8, totalCredits: 24, sufficient: false, balance: 20 });
    expect(await client.ledgerConsistency()).toEqual({ balance: 20, ledgerSum: 20, entries: 1 });
  });

  it("is sufficient when the balance covers the total exactly", async () => {
    const client = await h.seedWorkspace({ credits: 24 });
    const res = await client.post("/api/credits/preview", { action: "PHONE_LOOKUP", count: 3 });
    expect(res.body).toEqual({ action: "PHONE_LOOKUP", count: 3, costPerUnit: 8, totalCredits: 24, sufficient: true, balance: 24 });
  });

  it.each([
    [{ action: "EMAIL_LOOKUP", count: 0 }, "count"],
    [{ action: "EMAIL_LOOKUP", count: 1.5 }, "count"],
    [{ action: "EMAIL_LOOKUP" }, "count"],
    [{ count: 1 }, "action"],
    [{ action: "", count: 1 }, "action"],
  ])("rejects %j with VALIDATION_ERROR at %s", async (body, path) => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/credits/preview", body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.any(String), code: "VALIDATION_ERROR", requestId: REQUEST_ID, issues: [{ path, message: expect.any(String) }] });
  });

  it("rejects an unpriced action", async () => {
    const client = await h.seedWorkspace();
    const res = await client.post("/api/credits/preview", { action: "TELEPATHY", count: 1 });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "action: Unknown action: TELEPATHY",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "action", message: "Unknown action: TELEPATHY" }],
    });
  });
});

describe("GET /api/credits/ledger", () => {
  it("pages the workspace's movements newest first", async () => {
    const client = await h.seedWorkspace({ credits: 100 });
    const ws = client.workspaceId;
    await chargeCredits(h.db, { workspaceId: ws, action: "EMAIL_LOOKUP", units: 3, amount: 6, reference: { type: "column", id: ws } });
    await refundCredits(h.db, { workspaceId: ws, action: "EMAIL_LOOKUP", units: 1, amount: 2 });
    const first = await client.get("/api/credits/ledger?limit=2");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      entries: [
        { id: UUID, kind: "refund", action: "EMAIL_LOOKUP", units: 1, delta: 2, balanceAfter: 96, reference: null, note: null, createdAt: ISO_DATE },
        { id: UUID, kind: "charge", action: "EMAIL_LOOKUP", units: 3, delta: -6, balanceAfter: 94, reference: { type: "column", id: ws }, note: null, createdAt: ISO_DATE },
      ],
      nextCursor: first.body.entries[1].id,
    });
    const second = await client.get(`/api/credits/ledger?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({
      entries: [{ id: UUID, kind: "grant", action: "GRANT", units: 100, delta: 100, balanceAfter: 100, reference: null, note: "initial grant", createdAt: ISO_DATE }],
      nextCursor: null,
    });
  });

  it("never shows another workspace's entries", async () => {
    const a = await h.seedWorkspace({ credits: 5 });
    const b = await h.seedWorkspace({ credits: 7 });
    const res = await b.get("/api/credits/ledger");
    expect(res.body.entries.map((e: { delta: number }) => e.delta)).toEqual([7]);
    expect(a.workspaceId).not.toBe(b.workspaceId);
  });

  it.each(["0", "101", "abc", "1.5"])("rejects limit=%s", async (limit) => {
    const client = await h.seedWorkspace();
    const res = await client.get(`/api/credits/ledger?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "limit" }] });
  });

  it("rejects a malformed cursor", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get(`/api/credits/ledger?cursor=nope`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "cursor", message: "Invalid UUID" }] });
  });
});

describe("the ledger under concurrency", () => {
  it("100 simultaneous 1-credit charges against 37 credits: exactly 37 succeed", async () => {
    const client = await h.seedWorkspace({ credits: 37 });
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        chargeCredits(h.db, { workspaceId: client.workspaceId, action: "CUSTOM_ENRICHMENT_AI", units: 1, amount: 1 }),
      ),
    );
    expect(results.filter((r) => r.status === "applied")).toHaveLength(37);
    expect(results.filter((r) => r.status === "insufficient")).toHaveLength(63);
    expect(await client.ledgerConsistency()).toEqual({ balance: 0, ledgerSum: 0, entries: 38 });
    const balances = (await client.ledger()).filter((e) => e.kind === "charge").map((e) => e.balanceAfter).sort((x, y) => x - y);
    expect(balances).toEqual(Array.from({ length: 37 }, (_, i) => i));
  });

  it("a charge with a dedupe key applies once, however many retries race", async () => {
    const client = await h.seedWorkspace({ credits: 50 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        chargeCredits(h.db, { workspaceId: client.workspaceId, action: "EMAIL_LOOKUP", units: 1, amount: 2, dedupeKey: "row:1" }),
      ),
    );
    expect(results.filter((r) => r.status === "applied")).toHaveLength(1);
    expect(results.filter((r) => r.status === "duplicate")).toHaveLength(19);
    expect(await client.ledgerConsistency()).toEqual({ balance: 48, ledgerSum: 48, entries: 2 });
  });

  it("never lets a charge bigger than the balance through, nor writes its ledger row", async () => {
    const client = await h.seedWorkspace({ credits: 3 });
    const result = await chargeCredits(h.db, { workspaceId: client.workspaceId, action: "PHONE_LOOKUP", units: 1, amount: 8 });
    expect(result).toEqual({ status: "insufficient", balance: 3, required: 8 });
    expect(await client.ledgerConsistency()).toEqual({ balance: 3, ledgerSum: 3, entries: 1 });
  });
});

it("the 401 envelope carries a request id", async () => {
  const res = await h.app.request("/api/credits/config");
  expect(await res.json()).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
});
