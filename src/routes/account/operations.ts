import { accountSummary } from "../../domain/accounts";
import { defineOperation } from "../operation";
import { accountResponse } from "./schemas";

export const getAccount = defineOperation(
  {
    method: "get",
    path: "/api/account",
    operationId: "getAccount",
    tag: "account",
    command: "get",
    summary: "The caller's account, profile, workspace and credit balance",
    responses: { 200: { description: "The account", schema: accountResponse } },
  },
  async (c) => c.json(await accountSummary(c.var.services.db, c.var.principal.accountId)),
);

export const accountOperations = [getAccount];
