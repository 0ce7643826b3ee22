import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../src/db/client";
import { apiKeys } from "../src/db/schema";
import { createAccount, hashApiKey, revokeApiKey, rotateApiKey } from "../src/domain/accounts";
import { AppError } from "../src/errors";
import { REQUEST_ID, UUID, useHarness } from "./helpers/harness";

const h = useHarness();

describe("GET /api/account", () => {
  it("returns the caller's account, profile, workspace and balance", async () => {
    const client = await h.seedWorkspace({ credits: 250, email: `Ada.${crypto.randomUUID()}@example.test` });
    const res = await client.get("/api/account");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      account: { id: client.account.accountId, email: expect.stringMatching(/^Ada\./), fullName: expect.stringMatching(/^Test User\d+$/) },
      profile: { firstName: "Test", lastName: expect.stringMatching(/^User\d+$/) },
      workspace: { id: client.workspaceId, name: expect.any(String), plan: "free" },
      credits: { balance: 250 },
    });
  });
});

describe("auth", () => {
  it.each([
    ["no header", {}],
    ["not bearer", { authorization: "Basic abc" }],
    ["malformed key", { authorization: "Bearer not-a-key" }],
    ["unknown key", { authorization: `Bearer pk_live_${"x".repeat(43)}` }],
  ])("answers 401 UNAUTHORIZED for %s", async (_name, headers) => {
    const res = await h.app.request("/api/account", { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(await res.json()).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID });
  });

  it("stores only the SHA-256 of a key", async () => {
    const client = await h.seedWorkspace();
    const rows = await h.db.select().from(apiKeys).where(eq(apiKeys.accountId, client.account.accountId));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.keyHash).toBe(await hashApiKey(client.apiKey));
    expect(JSON.stringify(rows)).not.toContain(client.apiKey);
    expect(client.apiKey).toMatch(/^pk_live_[A-Za-z0-9_-]{43}$/);
  });

  it("rejects a revoked key on the very next request", async () => {
    const client = await h.seedWorkspace();
    expect((await client.get("/api/account")).status).toBe(200);
    expect(await revokeApiKey(h.db, { accountId: client.account.accountId })).toEqual({ accountId: client.account.accountId, revoked: 1 });
    const res = await client.get("/api/account");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("UNAUTHORIZED");
  });

  it("rotating leaves exactly one active key and the old one dead", async () => {
    const client = await h.seedWorkspace();
    const rotated = await rotateApiKey(h.db, { accountId: client.account.accountId });
    expect(rotated.apiKey).not.toBe(client.apiKey);
    expect((await client.get("/api/account")).status).toBe(401);
    const res = await h.app.request("/api/account", { headers: { authorization: `Bearer ${rotated.apiKey}` } });
    expect(res.status).toBe(200);
    const keys = await h.db.select().from(apiKeys).where(eq(apiKeys.accountId, client.account.accountId));
    expect(keys.filter((k) => k.revokedAt === null)).toHaveLength(1);
  });
});

describe("request ids and the error envelope", () => {
  it("echoes a sane X-Request-Id and replaces an unsafe one", async () => {
    const client = await h.seedWorkspace();
    const echoed = await client.get("/api/account", { "x-request-id": "trace-123" });
    expect(echoed.headers.get("x-request-id")).toBe("trace-123");
    const replaced = await client.get("/api/account", { "x-request-id": "bad id with spaces" });
    expect(replaced.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it("answers unknown routes with a 404 envelope carrying the request id", async () => {
    const client = await h.seedWorkspace();
    const res = await client.get("/api/does-not-exist", { "x-request-id": "abc" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "Route not found", code: "NOT_FOUND", requestId: "abc" });
  });

  it("answers malformed JSON with VALIDATION_ERROR", async () => {
    const client = await h.seedWorkspace();
    const res = await client.request("POST", "/api/credits/preview", "{not json");
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: "Malformed JSON in request body",
      code: "VALIDATION_ERROR",
      requestId: REQUEST_ID,
      issues: [{ path: "", message: "Malformed JSON in request body" }],
    });
  });

  it("has a UUIDv7 account id", async () => {
    const client = await h.seedWorkspace();
    expect(client.account.accountId).toEqual(UUID);
  });
});

describe("creating accounts of one email at once", () => {
  it("makes one account, one workspace and one grant; the others answer CONFLICT (any case of the email)", async () => {
    const email = `race.${crypto.randomUUID()}@example.test`;
    const spellings = [email, email.toUpperCase(), ` ${email} `, email, email.toUpperCase(), email, email, email];
    const settled = await Promise.allSettled(spellings.map((spelling) => createAccount(h.db, { email: spelling, credits: 40 })));
    const made = settled.filter((result) => result.status === "fulfilled");
    const refused = settled.filter((result) => result.status === "rejected").map((result) => (result as PromiseRejectedResult).reason);
    expect(made).toHaveLength(1);
    expect(refused).toHaveLength(spellings.length - 1);
    for (const error of refused) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("CONFLICT");
    }
    const rows = await h.db.execute(sql`
      select a.workspace_id::text as "workspaceId",
             (select count(*)::int from accounts x where lower(x.email) = lower(${email})) as accounts,
             (select count(*)::int from credit_ledger l where l.workspace_id = a.workspace_id) as grants,
             (select credit_balance::int from workspaces w where w.id = a.workspace_id) as balance
      from accounts a where lower(a.email) = lower(${email})`);
    expect(rowsOf(rows)).toEqual([{ workspaceId: (made[0] as PromiseFulfilledResult<{ workspaceId: string }>).value.workspaceId, accounts: 1, grants: 1, balance: 40 }]);
  });
});
