import { eq } from "drizzle-orm";
import { router } from "../context";
import { accounts, workspaces } from "../db/schema";
import { AppError } from "../errors";

export const accountRoutes = router();

accountRoutes.get("/account", async (c) => {
  const { db } = c.var.services;
  const [row] = await db
    .select({ account: accounts, workspace: workspaces })
    .from(accounts)
    .innerJoin(workspaces, eq(workspaces.id, accounts.workspaceId))
    .where(eq(accounts.id, c.var.principal.accountId));
  if (!row) throw AppError.notFound("Account");
  const { account, workspace } = row;
  return c.json({
    account: { id: account.id, email: account.email, fullName: account.fullName },
    profile: { firstName: account.firstName, lastName: account.lastName },
    workspace: { id: workspace.id, name: workspace.name, plan: workspace.plan },
    credits: { balance: workspace.creditBalance },
  });
});
