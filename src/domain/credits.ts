import { and, desc, eq, lt, sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable } from "../db/client";
import { creditLedger, workspaces } from "../db/schema";
import { AppError } from "../errors";
import type { Prices } from "./prices";

export type LedgerKind = "charge" | "refund" | "grant";

export type LedgerEntry = {
  id: string;
  kind: LedgerKind;
  action: string;
  units: number;
  delta: number;
  balanceAfter: number;
  reference: { type: string; id: string } | null;
  note: string | null;
  createdAt: string;
};

export type Movement = {
  workspaceId: string;
  action: string;
  units: number;
  /** Credits moved; always positive here, the sign comes from the kind. */
  amount: number;
  reference?: { type: string; id: string };
  /** A movement with a dedupe key happens at most once per workspace. */
  dedupeKey?: string;
  note?: string;
};

export type MovementResult =
  | { status: "applied"; entry: LedgerEntry; balance: number }
  | { status: "duplicate"; balance: number }
  | { status: "insufficient"; balance: number; required: number };

type LedgerRow = {
  id: string;
  kind: LedgerKind;
  action: string;
  units: number;
  delta: string | number;
  balance_after: string | number;
  reference_type: string | null;
  reference_id: string | null;
  note: string | null;
  created_at: string | Date;
};

function toEntry(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    kind: row.kind,
    action: row.action,
    units: row.units,
    delta: Number(row.delta),
    balanceAfter: Number(row.balance_after),
    reference: row.reference_type && row.reference_id ? { type: row.reference_type, id: row.reference_id } : null,
    note: row.note,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * Moves credits and writes the ledger row in one statement, so the balance and the ledger can never
 * disagree. A charge only applies while the balance covers it (the row lock on the workspace
 * serialises concurrent charges, and the condition is re-checked on the locked row), so the balance
 * never goes below zero. The balance reported on failure is the one the statement saw.
 */
async function move(db: Queryable, kind: LedgerKind, m: Movement): Promise<MovementResult> {
  if (!Number.isInteger(m.amount) || m.amount < 0) throw new Error(`credit amount must be a non-negative integer, got ${m.amount}`);
  const delta = kind === "charge" ? -m.amount : m.amount;
  // A charge may spend only what is not held for work still being dispatched.
  const guard = kind === "charge" ? sql`and credit_balance - credit_held >= ${m.amount}` : sql``;
  const dedupeGuard = m.dedupeKey
    ? sql`and not exists (select 1 from credit_ledger where workspace_id = ${m.workspaceId} and dedupe_key = ${m.dedupeKey})`
    : sql``;
  try {
    const result = await db.execute(sql`
      with moved as (
        update workspaces set credit_balance = credit_balance + ${delta}, updated_at = now()
        where id = ${m.workspaceId} ${guard} ${dedupeGuard}
        returning credit_balance
      ), entry as (
        insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
        select ${m.workspaceId}, ${kind}, ${m.action}, ${m.units}, ${delta}, moved.credit_balance,
               ${m.reference?.type ?? null}, ${m.reference?.id ?? null}, ${m.dedupeKey ?? null}, ${m.note ?? null}
        from moved
        returning *
      )
      select (select row_to_json(entry) from entry) as entry,
             (select credit_balance from workspaces where id = ${m.workspaceId}) as balance,
             ${m.dedupeKey ? sql`exists (select 1 from credit_ledger where workspace_id = ${m.workspaceId} and dedupe_key = ${m.dedupeKey})` : sql`false`} as duplicate
    `);
    const [row] = rowsOf<{ entry: LedgerRow | null; balance: string | number | null; duplicate: boolean }>(result);
    if (!row || row.balance === null) throw AppError.notFound("Workspace");
    if (row.entry) {
      const entry = toEntry(row.entry);
      return { status: "applied", entry, balance: entry.balanceAfter };
    }
    if (row.duplicate) return { status: "duplicate", balance: Number(row.balance) };
    return { status: "insufficient", balance: Number(row.balance), required: m.amount };
  } catch (error) {
    // Two movements with the same dedupe key raced; the unique index let exactly one through.
    if (m.dedupeKey && isUniqueViolation(error)) {
      return { status: "duplicate", balance: await balanceOf(db, m.workspaceId) };
    }
    throw error;
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    if ((current as { code?: unknown }).code === "23505") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export const chargeCredits = (db: Queryable, m: Movement) => move(db, "charge", m);
export const refundCredits = (db: Queryable, m: Movement) => move(db, "refund", m);
export const grantCredits = (db: Queryable, m: Movement) => move(db, "grant", m);

/** Charges or throws 402 with `{ required, balance }`. */
export async function chargeOrThrow(db: Queryable, m: Movement): Promise<MovementResult> {
  const result = await chargeCredits(db, m);
  if (result.status === "insufficient") throw AppError.insufficientCredits(result.required, result.balance);
  return result;
}

/**
 * The first lock of every path that moves credits or changes which cells exist (queueing, capture,
 * results, refunds, deleting columns, rows or lists, recovery): the workspace row. Everything after
 * it (columns, then cells by id, then submissions) is taken in that order, so two such paths can
 * never deadlock; concurrent requests of one workspace queue here instead. Returns what the
 * workspace may still spend.
 */
export async function lockWorkspace(tx: Queryable, workspaceId: string): Promise<{ balance: number; held: number; available: number }> {
  const [row] = rowsOf<{ credit_balance: string | number; credit_held: string | number }>(
    // NO KEY UPDATE: lockers of one workspace queue behind each other, while the foreign-key checks
    // of rows that merely reference the workspace (leads, lists, ledger rows) are not blocked.
    await tx.execute(sql`select credit_balance, credit_held from workspaces where id = ${workspaceId} for no key update`),
  );
  if (!row) throw AppError.notFound("Workspace");
  const balance = Number(row.credit_balance);
  const held = Number(row.credit_held);
  return { balance, held, available: balance - held };
}

export async function balanceOf(db: Queryable, workspaceId: string): Promise<number> {
  const [row] = await db.select({ balance: workspaces.creditBalance }).from(workspaces).where(eq(workspaces.id, workspaceId));
  if (!row) throw AppError.notFound("Workspace");
  return row.balance;
}

/** What `count` units of `action` cost, or a 400 for an action with no price. */
export function priceOf(prices: Prices, action: string, count: number): { costPerUnit: number; total: number } {
  const costPerUnit = prices.costOf(action);
  if (costPerUnit === undefined) {
    throw AppError.validation([{ path: "action", message: `Unknown action: ${action}` }]);
  }
  return { costPerUnit, total: costPerUnit * count };
}

export async function ledgerPage(
  db: Queryable,
  workspaceId: string,
  options: { limit: number; cursor?: string },
): Promise<{ entries: LedgerEntry[]; nextCursor: string | null }> {
  const rows = await db
    .select()
    .from(creditLedger)
    .where(and(eq(creditLedger.workspaceId, workspaceId), options.cursor ? lt(creditLedger.id, options.cursor) : undefined))
    .orderBy(desc(creditLedger.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const entries = page.map((r) =>
    toEntry({
      id: r.id,
      kind: r.kind,
      action: r.action,
      units: r.units,
      delta: r.delta,
      balance_after: r.balanceAfter,
      reference_type: r.referenceType,
      reference_id: r.referenceId,
      note: r.note,
      created_at: r.createdAt,
    }),
  );
  return { entries, nextCursor: rows.length > options.limit ? page[page.length - 1]!.id : null };
}

/**
 * CTEs that settle the money of many cells in the statement they are part of: `source` is a query
 * yielding (dedupe_key text, action text, paid bigint, hold_id uuid, reference_type text,
 * reference_id uuid, note text), one row per cell giving back what it paid. While the cell's hold is
 * open its credits were only held: they are released from the hold (no ledger row: nothing was
 * charged). Otherwise they are refunded: a ledger row each, skipped when its key is already in the
 * ledger, so each refund happens at most once. The workspace row moves once for all of them and
 * every ledger row gets its running balance_after. Call it with the workspace locked. Defines
 * `settled_source`, `refunds`, `refunded` (the workspace update) and `refund_entries` (the ledger
 * rows written).
 */
export function settleManyCtes(workspaceId: string, source: SQL): SQL {
  return sql`
    settle_input as (
      select s.*, h.id as open_hold
      from (${source}) s left join credit_holds h on h.id = s.hold_id and h.settled_at is null
      where s.paid > 0
    ), settled_source as (
      select si.*,
             case when si.open_hold is null then si.paid else 0 end as amount,
             case when si.open_hold is null then 0 else si.paid end as released,
             si.open_hold is null
               and not exists (select 1 from credit_ledger l where l.workspace_id = ${workspaceId} and l.dedupe_key = si.dedupe_key) as refund_due
      from settle_input si
    ), holds_released as (
      update credit_holds h set amount = h.amount - r.released, units = h.units - r.cells
      from (select open_hold, sum(released) as released, count(*) as cells from settled_source where open_hold is not null group by open_hold) r
      where h.id = r.open_hold
      returning h.id
    ), refunds as (
      select s.*, sum(s.amount) over (order by s.dedupe_key) as running
      from settled_source s where s.refund_due
    ), refunded as (
      update workspaces
      set credit_balance = credit_balance + coalesce((select sum(amount) from refunds), 0),
          credit_held = credit_held - coalesce((select sum(released) from settled_source), 0),
          updated_at = now()
      where id = ${workspaceId} and (exists (select 1 from refunds) or coalesce((select sum(released) from settled_source), 0) > 0)
      returning credit_balance
    ), refund_entries as (
      insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
      select ${workspaceId}, 'refund', r.action, 1, r.amount,
             refunded.credit_balance - (select sum(amount) from refunds) + r.running,
             r.reference_type, r.reference_id, r.dedupe_key, r.note
      from refunds r cross join refunded
      returning id
    )`;
}
