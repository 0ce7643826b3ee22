import { sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { uuidSet } from "../../db/sql";
import type { RowData } from "../../providers/types";
import type { Subject } from "../column-kinds";
import { lockWorkspace } from "../credits";
import { committedCredits } from "./readiness";
import { leaseFromNow, OPEN_CELL, SUBJECT_TABLES } from "./tables";

// An attempt's hold on cells: claiming them under a lease, renewing it, and charging a claimed
// cell of a column charged in the task.

/**
 * A claimed cell: the token it was queued with, and the row it belongs to, with the cells of the
 * columns it reads (in `row.referenced`, by column id) and the row as stored (for its run condition).
 */
export type ClaimedCell = { cellId: string; runToken: string; paid: number; row: RowData; stored: Record<string, unknown> };

type ClaimInputs = { referenced: Record<string, unknown> | null; stored: Record<string, unknown> };

type PersonClaimRow = ClaimInputs & {
  cell_id: string;
  run_token: string;
  paid: number;
  row_id: string;
  full_name: string | null;
  first_name: string | null;
  last_name: string | null;
  role: string | null;
  company: string | null;
  domain: string | null;
  linkedin_url: string | null;
  location: string | null;
  email: string | null;
};

type CompanyClaimRow = ClaimInputs & {
  cell_id: string;
  run_token: string;
  paid: number;
  row_id: string;
  name: string;
  domain: string | null;
  website: string | null;
  industry: string | null;
  location: string | null;
  description: string | null;
};

/**
 * Marks the run's cells `processing` under a lease owned by the run, and returns them with their
 * rows, in one statement. A cell is claimable while `pending`, while `processing` under this same
 * run (an earlier attempt of it that failed part-way), or while `processing` under a lease that ran
 * out (its attempt died); cells another live attempt holds and terminal cells are left alone, which
 * makes a retried, late or duplicate run idempotent.
 */
export async function claimCells(
  db: Queryable,
  column: { id: string; subject: Subject; workspaceId: string; refs?: ReadonlyArray<{ columnId: string }> },
  rowIds: readonly string[],
  run: { runId: string; attempt: number; leaseMs: number },
): Promise<ClaimedCell[]> {
  if (rowIds.length === 0) return [];
  // A claim locks many cells: under the workspace lock, like every other writer of many cells, so
  // claims never deadlock with queueing, results or other claims.
  return db.transaction(async (tx) => {
    await lockWorkspace(tx, column.workspaceId);
    return claimLocked(tx, column, rowIds, run);
  });
}

async function claimLocked(
  db: Queryable,
  column: { id: string; subject: Subject; refs?: ReadonlyArray<{ columnId: string }> },
  rowIds: readonly string[],
  run: { runId: string; attempt: number; leaseMs: number },
): Promise<ClaimedCell[]> {
  const { cells, rowKey } = SUBJECT_TABLES[column.subject];
  const refIds = [...new Set((column.refs ?? []).map((ref) => ref.columnId))];
  // What the cell reads of its row besides the row itself: the referenced columns' values.
  const inputs =
    refIds.length > 0
      ? sql`, (select jsonb_object_agg(u.column_id, u.value) from ${cells} u where u.${rowKey} = r.id and u.column_id in ${uuidSet(refIds)}) as referenced, to_jsonb(r) as stored`
      : sql`, null::jsonb as referenced, to_jsonb(r) as stored`;
  const claim = sql`
    set status = 'processing',
        run_token = coalesce(c.run_token, uuid_generate_v7()),
        metadata = jsonb_build_object('runId', ${run.runId}::text, 'attempt', ${run.attempt}::int),
        lease_owner = ${run.runId}, lease_expires_at = ${leaseFromNow(run.leaseMs)},
        updated_at = now()`;
  const claimable = sql`
    c.column_id = ${column.id} and c.${rowKey} in ${uuidSet(rowIds)}
    and ((c.status = 'pending' and c.lease_expires_at is not null)
         or (c.status = 'processing' and (c.lease_owner = ${run.runId} or c.lease_expires_at is null or c.lease_expires_at < now())))`;

  let claimed: ClaimedCell[];
  if (column.subject === "person") {
    const rows = rowsOf<PersonClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_rows r left join list_company_rows cr on cr.id = r.company_row_id
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, c.paid, r.id as row_id, r.full_name, r.first_name, r.last_name, r.role,
                  coalesce(r.company, cr.name) as company, coalesce(r.domain, cr.domain) as domain,
                  r.linkedin_url, r.location, r.email ${inputs}`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
      paid: Number(r.paid),
      row: {
        subject: "person",
        rowId: r.row_id,
        fullName: r.full_name,
        firstName: r.first_name,
        lastName: r.last_name,
        role: r.role,
        company: r.company,
        domain: r.domain,
        linkedinUrl: r.linkedin_url,
        location: r.location,
        email: r.email,
        ...(r.referenced ? { referenced: r.referenced } : {}),
      },
      stored: r.stored,
    }));
  } else {
    const rows = rowsOf<CompanyClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_company_rows r
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, c.paid, r.id as row_id, r.name, r.domain, r.website, r.industry, r.location, r.description ${inputs}`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
      paid: Number(r.paid),
      row: {
        subject: "company",
        rowId: r.row_id,
        name: r.name,
        domain: r.domain,
        website: r.website,
        industry: r.industry,
        location: r.location,
        description: r.description,
        ...(r.referenced ? { referenced: r.referenced } : {}),
      },
      stored: r.stored,
    }));
  }
  // In payload order, so runs process rows in the order they were queued.
  const order = new Map(rowIds.map((id, index) => [id, index]));
  return claimed.sort((a, b) => order.get(a.row.rowId)! - order.get(b.row.rowId)!);
}

/**
 * Renews the lease of every cell the run holds in the column; returns how many it renewed. Cells
 * another transaction has locked are skipped (`skip locked`), so a renewal never waits and never
 * deadlocks: such a cell is being written right now, and the next renewal catches it if need be.
 */
export async function renewCellLeases(db: Queryable, column: { id: string; subject: Subject }, runId: string, leaseMs: number): Promise<number> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const [row] = rowsOf<{ renewed: string | number }>(
    await db.execute(sql`
      with renewed as (
        update ${cells} set lease_expires_at = ${leaseFromNow(leaseMs)}
        where id in (select id from ${cells}
                     where column_id = ${column.id} and status = 'processing' and lease_owner = ${runId}
                     for update skip locked)
        returning 1
      )
      select count(*) as renewed from renewed`),
  );
  return Number(row?.renewed ?? 0);
}

/**
 * Charges one claimed cell of a column charged in the task (a contact lookup), once: nothing
 * happens when the cell already carries a payment or is no longer open under this token. Takes the
 * workspace lock. `insufficient` when the workspace cannot spend `price`.
 */
export async function chargeCell(
  db: Queryable,
  column: { id: string; workspaceId: string; subject: Subject; maxCredits?: number | null },
  cell: { cellId: string; runToken: string },
  charge: { action: string; price: number },
): Promise<"charged" | "already_paid" | "insufficient" | "over_budget" | "gone"> {
  const { cells } = SUBJECT_TABLES[column.subject];
  const run = async (tx: Queryable) => {
    const { available } = await lockWorkspace(tx, column.workspaceId);
    const [row] = rowsOf<{ paid: number; open: boolean; committed: string | number }>(
      await tx.execute(sql`
        select paid, status in ${OPEN_CELL} as open, ${column.maxCredits == null ? sql`0` : committedCredits(sql`${column.id}::uuid`)} as committed
        from ${cells} where id = ${cell.cellId} and run_token = ${cell.runToken} for update`),
    );
    if (!row || !row.open) return "gone" as const;
    if (Number(row.paid) > 0) return "already_paid" as const;
    if (column.maxCredits != null && Number(row.committed) + charge.price > column.maxCredits) return "over_budget" as const;
    if (available < charge.price) return "insufficient" as const;
    await tx.execute(sql`
      with paid as (
        update ${cells} set paid = ${charge.price}, updated_at = now() where id = ${cell.cellId} returning id
      ), moved as (
        update workspaces set credit_balance = credit_balance - ${charge.price}, updated_at = now()
        where id = ${column.workspaceId} and exists (select 1 from paid)
        returning credit_balance
      )
      insert into credit_ledger (workspace_id, kind, action, units, delta, balance_after, reference_type, reference_id, dedupe_key, note)
      select ${column.workspaceId}, 'charge', ${charge.action}, 1, ${-charge.price}, moved.credit_balance, 'column', ${column.id},
             ${`cell-charge:${cell.runToken}`}, 'Contact lookup'
      from moved`);
    return "charged" as const;
  };
  return db.transaction(run);
}
