import { createHash } from "node:crypto";
import { and, eq, isNull, sql } from "drizzle-orm";
import { rowsOf, type Db, type Queryable } from "../db/client";
import { accounts, apiKeys, workspaces } from "../db/schema";
import { AppError } from "../errors";
import { grantCredits } from "./credits";

export const API_KEY_PATTERN = /^pk_live_[A-Za-z0-9_-]{32,128}$/;

export function generateApiKey(): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  const urlSafe = btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `pk_live_${urlSafe}`;
}

export async function hashApiKey(key: string): Promise<string> {
  // node:crypto (Node, and Workers under nodejs_compat): synchronous and several times cheaper per
  // request than WebCrypto's digest, which every authenticated request pays.
  return createHash("sha256").update(key).digest("hex");
}

export type Principal = { accountId: string; workspaceId: string; keyId: string };

/** The one answer to a missing, malformed, unknown or revoked key. */
export const unauthorized = () => new AppError("UNAUTHORIZED", "Missing or invalid API key", { headers: { "WWW-Authenticate": "Bearer" } });

/**
 * Whose workspace a write is for: known already (the key was checked by the middleware), or the
 * caller's API key by its hash, checked inside the write's own statement so that an authenticated
 * write is one round trip (and a revoked key is refused at once: nothing is cached).
 */
export type Caller = { workspaceId: string } | { apiKeyHash: string };

/** The caller's workspace id as an SQL expression: null when the key is unknown or revoked. */
export function callerWorkspace(caller: Caller) {
  return "workspaceId" in caller
    ? sql`${caller.workspaceId}::uuid`
    : sql`(select workspace_id from api_keys where key_hash = ${caller.apiKeyHash} and revoked_at is null limit 1)`;
}

export type Authentication = { principal: Principal; retryAfterSeconds: number | null } | null;

/**
 * The principal behind a bearer key (null for a malformed, unknown or revoked key) and, when a
 * per-workspace limit is set, whether this request is over it. The key lookup and the request count
 * are one statement, so rate limiting adds no round trip. Windows are fixed minutes per workspace;
 * an over-limit request is still counted, so a client hammering through a 429 stays limited.
 */
export async function authenticateRequest(db: Queryable, key: string, requestsPerMinute: number | null): Promise<Authentication> {
  if (requestsPerMinute === null) {
    const principal = await authenticate(db, key);
    return principal ? { principal, retryAfterSeconds: null } : null;
  }
  if (!API_KEY_PATTERN.test(key)) return null;
  const keyHash = await hashApiKey(key);
  const [row] = rowsOf<{ key_id: string; account_id: string; workspace_id: string; request_count: number; retry_after: number }>(
    await db.execute(sql`
      with found as (
        select id as key_id, account_id, workspace_id from api_keys where key_hash = ${keyHash} and revoked_at is null limit 1
      ), counted as (
        insert into rate_limit_windows (workspace_id, window_start, request_count)
        select workspace_id, date_trunc('minute', now()), 1 from found
        on conflict (workspace_id) do update
          set request_count = case when rate_limit_windows.window_start = excluded.window_start
                                   then rate_limit_windows.request_count + 1 else 1 end,
              window_start = excluded.window_start
        returning request_count, window_start
      )
      select found.*, counted.request_count,
             ceil(extract(epoch from (counted.window_start + interval '1 minute' - now())))::int as retry_after
      from found, counted`),
  );
  if (!row) return null;
  const principal = { keyId: row.key_id, accountId: row.account_id, workspaceId: row.workspace_id };
  return { principal, retryAfterSeconds: row.request_count > requestsPerMinute ? Math.max(1, row.retry_after) : null };
}

/** The principal behind a bearer key, or null for a malformed, unknown or revoked key. One query. */
export async function authenticate(db: Queryable, key: string): Promise<Principal | null> {
  if (!API_KEY_PATTERN.test(key)) return null;
  const keyHash = await hashApiKey(key);
  const [row] = await db
    .select({ keyId: apiKeys.id, accountId: apiKeys.accountId, workspaceId: apiKeys.workspaceId })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
    .limit(1);
  return row ?? null;
}

export type CreatedAccount = { accountId: string; workspaceId: string; apiKey: string };

export async function createAccount(
  db: Db,
  input: { email: string; fullName?: string | null; workspaceName?: string; credits?: number },
): Promise<CreatedAccount> {
  const email = input.email.trim();
  const fullName = input.fullName?.trim() || null;
  const [firstName, ...rest] = (fullName ?? "").split(/\s+/).filter(Boolean);
  const apiKey = generateApiKey();
  const keyHash = await hashApiKey(apiKey);
  return db.transaction(async (tx) => {
    // Two creations of one email at once (two processes starting on an empty database, two admin
    // commands) would both pass the check below and one would hit the unique index as a raw
    // database error; the lock makes the second wait and answer CONFLICT.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(lower(${email}), 0))`);
    const existing = await tx.select({ id: accounts.id }).from(accounts).where(sql`lower(${accounts.email}) = lower(${email})`);
    if (existing.length > 0) throw new AppError("CONFLICT", `An account with email ${email} already exists`);
    const [workspace] = await tx
      .insert(workspaces)
      .values({ name: input.workspaceName ?? `${fullName ?? email}'s workspace` })
      .returning({ id: workspaces.id });
    const [account] = await tx
      .insert(accounts)
      .values({
        workspaceId: workspace!.id,
        email,
        fullName,
        firstName: firstName ?? null,
        lastName: rest.length ? rest.join(" ") : null,
      })
      .returning({ id: accounts.id });
    await tx.insert(apiKeys).values({ accountId: account!.id, workspaceId: workspace!.id, keyHash, keyPrefix: apiKey.slice(0, 12) });
    if (input.credits && input.credits > 0) {
      await grantCredits(tx, {
        workspaceId: workspace!.id,
        action: "GRANT",
        units: input.credits,
        amount: input.credits,
        note: "initial grant",
      });
    }
    return { accountId: account!.id, workspaceId: workspace!.id, apiKey };
  });
}

async function findAccount(db: Queryable, by: { email?: string; accountId?: string }) {
  const condition = by.accountId ? eq(accounts.id, by.accountId) : sql`lower(${accounts.email}) = lower(${by.email ?? ""})`;
  const [account] = await db.select().from(accounts).where(condition);
  if (!account) throw AppError.notFound("Account");
  return account;
}

/** Revokes the account's active key (if any) and issues a new one, atomically. */
export async function rotateApiKey(db: Db, by: { email?: string; accountId?: string }): Promise<CreatedAccount> {
  const apiKey = generateApiKey();
  const keyHash = await hashApiKey(apiKey);
  return db.transaction(async (tx) => {
    const account = await findAccount(tx, by);
    await tx.update(apiKeys).set({ revokedAt: new Date() }).where(and(eq(apiKeys.accountId, account.id), isNull(apiKeys.revokedAt)));
    await tx.insert(apiKeys).values({ accountId: account.id, workspaceId: account.workspaceId, keyHash, keyPrefix: apiKey.slice(0, 12) });
    return { accountId: account.id, workspaceId: account.workspaceId, apiKey };
  });
}

export async function revokeApiKey(db: Db, by: { email?: string; accountId?: string }): Promise<{ accountId: string; revoked: number }> {
  const account = await findAccount(db, by);
  const revoked = await db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.accountId, account.id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return { accountId: account.id, revoked: revoked.length };
}

/** What GET /api/account answers: the caller's account, profile, workspace and balance. */
export async function accountSummary(db: Queryable, accountId: string) {
  const [row] = await db
    .select({ account: accounts, workspace: workspaces })
    .from(accounts)
    .innerJoin(workspaces, eq(workspaces.id, accounts.workspaceId))
    .where(eq(accounts.id, accountId));
  if (!row) throw AppError.notFound("Account");
  const { account, workspace } = row;
  return {
    account: { id: account.id, email: account.email, fullName: account.fullName },
    profile: { firstName: account.firstName, lastName: account.lastName },
    workspace: { id: workspace.id, name: workspace.name, plan: workspace.plan },
    credits: { balance: workspace.creditBalance },
  };
}
