import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { lists, rateLimitWindows } from "../src/db/schema";
import { REQUEST_ID, useHarness } from "./helpers/harness";

// With a per-workspace limit configured, the request over it is a 429 in the one envelope with a
// Retry-After header; other workspaces are not affected; the count rides on the key lookup.
const h = useHarness({ requestsPerMinute: 3 });

describe("rate limiting", () => {
  it("answers the fourth request of a minute with 429 RATE_LIMITED and Retry-After", async () => {
    const client = await h.seedWorkspace();
    for (let i = 0; i < 3; i++) expect((await client.get("/api/account")).status).toBe(200);
    const limited = await client.get("/api/account");
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.body).toEqual({
      error: "Too many requests: at most 3 a minute per workspace",
      code: "RATE_LIMITED",
      requestId: REQUEST_ID,
      retryAfter,
    });
    const [window] = await h.db.select().from(rateLimitWindows).where(eq(rateLimitWindows.workspaceId, client.workspaceId));
    expect(window!.requestCount).toBe(4);
  });

  it("limits each workspace on its own", async () => {
    const busy = await h.seedWorkspace();
    const quiet = await h.seedWorkspace();
    for (let i = 0; i < 4; i++) await busy.get("/api/account");
    expect((await busy.get("/api/account")).status).toBe(429);
    expect((await quiet.get("/api/account")).status).toBe(200);
  });

  it("a limited request writes nothing", async () => {
    const client = await h.seedWorkspace();
    for (let i = 0; i < 3; i++) await client.get("/api/lists");
    const res = await client.post("/api/lists", { name: "Too late" });
    expect(res.status).toBe(429);
    expect((await client.ledgerConsistency()).entries).toBe(1);
    expect(await h.db.select().from(lists).where(eq(lists.workspaceId, client.workspaceId))).toEqual([]);
  });

  it("starts a fresh window each minute", async () => {
    const client = await h.seedWorkspace();
    for (let i = 0; i < 4; i++) await client.get("/api/account");
    await h.db
      .update(rateLimitWindows)
      .set({ windowStart: new Date(Date.now() - 120_000) })
      .where(eq(rateLimitWindows.workspaceId, client.workspaceId));
    expect((await client.get("/api/account")).status).toBe(200);
  });

  it("still answers 401 for a bad key without counting anything", async () => {
    const res = await h.app.request("/api/account", { headers: { authorization: `Bearer pk_live_${"z".repeat(43)}` } });
    expect(res.status).toBe(401);
  });
});
