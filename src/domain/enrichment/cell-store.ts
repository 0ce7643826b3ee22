import { eq, sql, type SQL } from "drizzle-orm";
import { rowsOf, type Queryable } from "../../db/client";
import { columns } from "../../db/schema";
import { jsonParam, uuidArray } from "../../db/sql";
import type { ProviderColumn, ProviderResult, RowData } from "../../providers/types";
import type { Subject } from "../column-kinds";
import { refundManyCtes } from "../credits";

// The SQL of the column tasks: load the column, claim its queued cells, write results back. Every
// statement here is set-based: one claim per run and one write per flush, whatever the row count.

export type TaskColumn = ProviderColumn & { listId: string; workspaceId: string; enrichmentType: string | null };

export async function loadColumn(db: Queryable, columnId: string): Promise<TaskColumn | null> {
  const [column] = await db
    .select({
      id: columns.id,
      listId: columns.listId,
      workspaceId: columns.workspaceId,
      name: columns.name,
      prompt: columns.prompt,
      source: columns.source,
      subject: columns.subject,
      schema: columns.schema,
      config: columns.config,
      enrichmentType: columns.enrichmentType,
    })
    .from(columns)
    .where(eq(columns.id, columnId));
  return column ?? null;
}

export async function columnExists(db: Queryable, columnId: string): Promise<boolean> {
  const [row] = await db.select({ id: columns.id }).from(columns).where(eq(columns.id, columnId));
  return row !== undefined;
}

/** A claimed cell: the token it was queued with, and the row it belongs to. */
export type ClaimedCell = { cellId: string; runToken: string; row: RowData };

// Person cells live in list_cells keyed by row_id, company cells in list_company_cells keyed by
// company_row_id; both tables have the same shape otherwise.
const CELL_TABLE: Record<Subject, { cells: SQL; rowKey: SQL }> = {
  person: { cells: sql.raw("list_cells"), rowKey: sql.raw("row_id") },
  company: { cells: sql.raw("list_company_cells"), rowKey: sql.raw("company_row_id") },
};

type PersonClaimRow = {
  cell_id: string;
  run_token: string;
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

type CompanyClaimRow = {
  cell_id: string;
  run_token: string;
  row_id: string;
  name: string;
  domain: string | null;
  website: string | null;
  industry: string | null;
  location: string | null;
  description: string | null;
};

/**
 * Marks the run's cells `processing` and returns them with their rows, in one statement. A cell is
 * claimable while `pending`, or while `processing` under this same run (an earlier attempt of it
 * that failed part-way); cells another run is working on and terminal cells are left alone, which
 * makes a retried or late run idempotent. The claim stamps the run id into the cell's metadata,
 * the marker of that ownership.
 */
export async function claimCells(
  db: Queryable,
  column: { id: string; subject: Subject },
  rowIds: readonly string[],
  run: { runId: string; attempt: number },
): Promise<ClaimedCell[]> {
  if (rowIds.length === 0) return [];
  const { cells, rowKey } = CELL_TABLE[column.subject];
  const claim = sql`
    set status = 'processing',
        run_token = coalesce(c.run_token, uuid_generate_v7()),
        metadata = jsonb_build_object('runId', ${run.runId}::text, 'attempt', ${run.attempt}::int),
        updated_at = now()`;
  const claimable = sql`
    c.column_id = ${column.id} and c.${rowKey} = any(${uuidArray(rowIds)})
    and (c.status = 'pending' or (c.status = 'processing' and c.metadata ->> 'runId' = ${run.runId}::text))`;

  let claimed: ClaimedCell[];
  if (column.subject === "person") {
    const rows = rowsOf<PersonClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_rows r left join list_company_rows cr on cr.id = r.company_row_id
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, r.id as row_id, r.full_name, r.first_name, r.last_name, r.role,
                  coalesce(r.company, cr.name) as company, coalesce(r.domain, cr.domain) as domain,
                  r.linkedin_url, r.location, r.email`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
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
      },
    }));
  } else {
    const rows = rowsOf<CompanyClaimRow>(
      await db.execute(sql`
        update ${cells} c ${claim}
        from list_company_rows r
        where r.id = c.${rowKey} and ${claimable}
        returning c.id as cell_id, c.run_token, r.id as row_id, r.name, r.domain, r.website, r.industry, r.location, r.description`),
    );
    claimed = rows.map((r) => ({
      cellId: r.cell_id,
      runToken: r.run_token,
      row: {
        subject: "company",
        rowId: r.row_id,
        name: r.name,
        domain: r.domain,
        website: r.website,
        industry: r.industry,
        location: r.location,
        description: r.description,
      },
    }));
  }
  // In payload order, so runs process rows in the order they were queued.
  const order = new Map(rowIds.map((id, index) => [id, index]));
  return claimed.sort((a, b) => order.get(a.row.rowId)! - order.get(b.row.rowId)!);
}

/** The final state of one cell, as the run decided it. */
export type CellResult = {
  cellId: string;
  runToken: string;
  status: "completed" | "failed";
  value: unknown;
  reasoning: string | null;
  error: string | null;
  metadata: Record<string, unknown>;
  /** The cell's credits go back to the workspace if this result lands. */
  refund: boolean;
};

export const INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS";

/**
 * The result a provider's answer leaves on its cell: a value completes it; no match completes it
 * empty, with the reason, and returns its credits; an error fails it and returns its credits. `run`
 * says which run (and submission) produced it, in the cell's metadata.
 */
export function cellResultOf(cell: { cellId: string; runToken: string }, answer: ProviderResult, run: Record<string, unknown>): CellResult {
  const base = { cellId: cell.cellId, runToken: cell.runToken };
  switch (answer.outcome) {
    case "value":
      return {
        ...base,
        status: "completed",
        value: answer.value ?? null,
        reasoning: answer.reasoning ?? null,
        error: null,
        metadata: { ...answer.metadata, ...(answer.sources ? { sources: answer.sources } : {}), ...run },
        refund: false,
      };
    case "no_match":
      return { ...base, status: "completed", value: null, reasoning: answer.reason, error: null, metadata: { ...answer.metadata, ...run }, refund: true };
    case "error":
      return { ...base, status: "failed", value: null, reasoning: null, error: answer.error, metadata: { ...answer.metadata, ...run }, refund: true };
  }
}

/** A contact cell the balance could not pay for: failed, and nothing to return since nothing was charged. */
export function insufficientCreditsResult(cell: { cellId: string; runToken: string }, run: Record<string, unknown>): CellResult {
  return { cellId: cell.cellId, runToken: cell.runToken, status: "failed", value: null, reasoning: null, error: INSUFFICIENT_CREDITS, metadata: run, refund: false };
}

export type Refunds = { workspaceId: string; action: string; price: number; columnId: string };

export type FlushOutcome = {
  /** Cells whose result landed. */
  written: number;
  /** Refund ledger rows written. */
  refunded: number;
  /** Cells of the column still pending or processing after this write. */
  open: number;
};

/**
 * Writes a batch of results and their refunds in one statement.
 *
 * A result lands only on a cell that still exists under the token this run claimed it with: a cell
 * deleted with its column or row is never re-inserted (this is an UPDATE, and the column itself is
 * joined, so the check is part of the write), and a cell re-queued since under a new token is not
 * overwritten by this stale run. A value that does not fit the column's schema lands as a failure
 * (VALUE_TYPE_MISMATCH), so a stored enrichment value always fits.
 *
 * Refunds follow landed results only (the cell's current token decides its credits), each at most
 * once per token through the ledger's dedupe key, and move the balance in the same statement as
 * their ledger rows. Should two writers ever race on the same key, the unique index fails the whole
 * statement, cells included, and the run's retry writes it again.
 */
export async function writeResults(db: Queryable, subject: Subject, columnId: string, results: readonly CellResult[], refunds: Refunds): Promise<FlushOutcome> {
  const { cells } = CELL_TABLE[subject];
  const records = results.map((r) => ({
    cell_id: r.cellId,
    run_token: r.runToken,
    status: r.status,
    value: r.value ?? null,
    reasoning: r.reasoning,
    error: r.error,
    metadata: r.metadata,
    refund: r.refund,
  }));
  const price = sql`${refunds.price}::bigint`;
  const [outcome] = rowsOf<{ written: string | number; refunded: string | number; open: string | number }>(
    await db.execute(sql`
      with input as (
        select i.*, i.status = 'completed' and not cell_value_fits(col.schema, i.value) as misfit
        from list_columns col,
             jsonb_to_recordset(${jsonParam(records)}) as i(cell_id uuid, run_token uuid, status text, value jsonb,
                                                          reasoning text, error text, metadata jsonb, refund boolean)
        where col.id = ${columnId}
      ), written as (
        update ${cells} c
        set value = case when i.misfit then null else i.value end,
            status = case when i.misfit then 'failed' else i.status end,
            reasoning = case when i.misfit then null else i.reasoning end,
            error = case when i.misfit then 'VALUE_TYPE_MISMATCH' else i.error end,
            metadata = i.metadata,
            updated_at = now()
        from input i
        where c.id = i.cell_id and c.run_token = i.run_token
        returning c.id, c.run_token, c.error, i.refund or i.misfit as refund
      ), ${refundManyCtes(
        refunds.workspaceId,
        sql`select 'cell-refund:' || w.run_token as dedupe_key, ${refunds.action}::text as action, ${price} as amount,
                   'column'::text as reference_type, ${refunds.columnId}::uuid as reference_id,
                   'Refund: ' || coalesce(w.error, 'no match') as note
            from written w where w.refund`,
      )}
      select (select count(*) from written) as written,
             (select count(*) from refund_entries) as refunded,
             (select count(*) from ${cells} o
              where o.column_id = ${columnId} and o.status in ('pending', 'processing')
                and not exists (select 1 from written w where w.id = o.id)) as open
    `),
  );
  return { written: Number(outcome?.written ?? 0), refunded: Number(outcome?.refunded ?? 0), open: Number(outcome?.open ?? 0) };
}

/** A cell a run still holds: claimed by it (`processing` under its run id) and given no result. */
export type HeldCell = { cellId: string; runToken: string; charged: boolean };

/**
 * The cells the run still holds in the column, under their current tokens, each with whether the task
 * charged it (`cell-charge:<run_token>`, the per-row charge of contact columns). They stay locked until
 * the caller's transaction ends, taken in id order as settling a contact submission takes them.
 */
export async function lockHeldCells(tx: Queryable, column: { id: string; subject: Subject; workspaceId: string }, runId: string): Promise<HeldCell[]> {
  const { cells } = CELL_TABLE[column.subject];
  const held = rowsOf<{ cell_id: string; run_token: string; charged: boolean }>(
    await tx.execute(sql`
      select c.id as cell_id, c.run_token,
             exists (select 1 from credit_ledger l
                     where l.workspace_id = ${column.workspaceId} and l.dedupe_key = 'cell-charge:' || c.run_token) as charged
      from ${cells} c
      where c.column_id = ${column.id} and c.status = 'processing' and c.metadata ->> 'runId' = ${runId}::text
      order by c.id
      for update of c`),
  );
  return held.map((cell) => ({ cellId: cell.cell_id, runToken: cell.run_token, charged: cell.charged }));
}
