import { balanceOf, ledgerPage, priceOf } from "../../domain/credits";
import { defineOperation } from "../operation";
import { costsResponse, ledgerQuery, ledgerResponse, previewBody, previewResponse } from "./schemas";

export const getCreditCosts = defineOperation(
  {
    method: "get",
    path: "/api/credits/config",
    operationId: "getCreditCosts",
    tag: "credits",
    command: "config",
    summary: "What each action costs, in credits per unit",
    responses: { 200: { description: "The price list", schema: costsResponse } },
  },
  (c) => c.json({ costs: c.var.services.prices.costs }),
);

export const previewCredits = defineOperation(
  {
    method: "post",
    path: "/api/credits/preview",
    operationId: "previewCredits",
    tag: "credits",
    command: "preview",
    summary: "What `count` units of an action would cost, and whether the balance covers it",
    body: previewBody,
    responses: { 200: { description: "The cost and the balance", schema: previewResponse } },
  },
  async (c) => {
    const { action, count } = c.req.valid("json");
    const { costPerUnit, total } = priceOf(c.var.services.prices, action, count);
    const balance = await balanceOf(c.var.services.db, c.var.principal.workspaceId);
    return c.json({ action, count, costPerUnit, totalCredits: total, sufficient: balance >= total, balance });
  },
);

export const listLedgerEntries = defineOperation(
  {
    method: "get",
    path: "/api/credits/ledger",
    operationId: "listLedgerEntries",
    tag: "credits",
    command: "ledger",
    summary: "The credit ledger, newest first, one page at a time",
    description: "Every charge, refund and grant. The balance always equals the sum of the ledger's deltas.",
    query: ledgerQuery,
    responses: { 200: { description: "One page of entries", schema: ledgerResponse } },
  },
  async (c) => c.json(await ledgerPage(c.var.services.db, c.var.principal.workspaceId, c.req.valid("query"))),
);

export const creditOperations = [getCreditCosts, previewCredits, listLedgerEntries];
