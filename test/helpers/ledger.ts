import type { Client } from "./harness";

/** The workspace's credit movements apart from the account's opening grant, by dedupe key. */
export async function movements(client: Client) {
  const ledger = await client.ledger();
  return ledger
    .filter((entry) => entry.kind !== "grant")
    .map(({ kind, action, units, delta, referenceType, referenceId, dedupeKey, note }) => ({ kind, action, units, delta, referenceType, referenceId, dedupeKey, note }))
    .sort((a, b) => (a.dedupeKey ?? "").localeCompare(b.dedupeKey ?? ""));
}
