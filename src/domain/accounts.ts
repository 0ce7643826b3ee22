import { and, eq, isNull, sql } from "drizzle-orm";
import type { Db, Queryable } from "../db/client";
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
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export type Principal = { accountId: string; workspaceId: string; keyId: string };

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
