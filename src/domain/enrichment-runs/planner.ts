import { sql } from "drizzle-orm";
import type { z } from "zod";
import { rowsOf, type Queryable } from "../../db/client";
import { jsonParam } from "../../db/sql";
import { AppError } from "../../errors";
import type { createEnrichmentRunBody } from "../../routes/enrichment-runs/schemas";
import type { Prices } from "../prices";
import type { CatalogEntry, OutputTarget } from "../catalog";
import { parseFilter, type Filter } from "../filters/language";
import { compileFilter } from "../filters/sql";
import { leadFieldTable } from "../filters/targets";
import { requireList } from "../lists";
import type { WaterfallStep } from "../waterfall/steps";

type RunBody = z.output<typeof createEnrichmentRunBody>;
export type RunScope = RunBody["scope"];
export type WritePolicy = RunBody["writePolicy"];

/** A request after validation, with the entry's defaults applied. */
export type RunRequest = {
  entry: CatalogEntry;
  input: Record<string, unknown>;
  scope: RunScope;
  target: OutputTarget;
  attributeKey: string;
  writePolicy: WritePolicy;
  /** A contact run's waterfall, its providers configured; null: the entry's one provider. */
  waterfall: WaterfallStep[] | null;
};

/** One lead to enrich, and its membership in the scope's list when there is a list. */
export type PlannedLead = { leadId: string; membershipId: string | null };

export type Plan = RunRequest & {
  listId: string | null;
  requested: number;
  leads: PlannedLead[];
  creditAction: string;
  unitPrice: number;
  required: number;
};

type ResolvedLead = { lead_id: string; type: "person" | "company"; membership_id: string | null };

// A lead's membership in a list is its person row (the first by position when it has several) or
// its company row, by the lead's type.
const membershipOf = (listId: string | null) => sql`
  left join lateral (
    (select r.id, r.position from list_rows r where r.list_id = ${listId}::uuid and r.lead_id = l.id and l.type = 'person')
    union all
    (select c.id, c.position from list_company_rows c where c.list_id = ${listId}::uuid and c.lead_id = l.id and l.type = 'company')
    order by position limit 1
  ) m on true`;

/** The caller's leads among `leadIds` (in request order) with their membership in `listId`. */
async function explicitLeads(db: Queryable, workspaceId: string, leadIds: string[], listId: string | null): Promise<ResolvedLead[]> {
  return rowsOf<ResolvedLead>(
    await db.execute(sql`
      select l.id as lead_id, l.type, m.id as membership_id
      from jsonb_array_elements_text(${jsonParam(leadIds)}) with ordinality as requested(id, n)
      join leads l on l.id = requested.id::uuid and l.workspace_id = ${workspaceId}
      ${membershipOf(listId)}
      order by requested.n`),
  );
}

/**
 * Every lead the list holds now (people through person rows, companies through company rows), in
 * list order; only those whose lead fields match `filter` when one is given. One statement.
 */
async function listLeads(db: Queryable, listId: string, filter: Filter | null): Promise<ResolvedLead[]> {
  return rowsOf<ResolvedLead>(
    await db.execute(sql`
      select lead_id, type, membership_id from (
        select distinct on (member.lead_id) member.lead_id, l.type, member.membership_id, member.kind, member.position
        from (
          select r.lead_id, r.id as membership_id, 'person' as kind, r.position from list_rows r where r.list_id = ${listId}
          union all
          select c.lead_id, c.id, 'company', c.position from list_company_rows c where c.list_id = ${listId}
        ) member
        join leads l on l.id = member.lead_id and l.type = member.kind
        where ${filter ? compileFilter(filter, leadFieldTable("l")) : sql`true`}
        order by member.lead_id, member.position
      ) resolved
      order by kind desc, position`),
  );
}

/**
 * Resolves the scope and applies the planner's rules, in the documented order: a bad filter is
 * INVALID_FILTER, unknown lists and leads are 404s, then EMPTY_LEAD_SCOPE, SUBJECT_MISMATCH,
 * OUTPUT_TARGET_UNSUPPORTED. A filtered_list scope is the list scope narrowed by its filter (none:
 * the whole list). Reads only; the same plan serves preview and persisted runs.
 */
export async function planRun(db: Queryable, prices: Prices, workspaceId: string, request: RunRequest): Promise<Plan> {
  const { entry, scope } = request;
  const filter = scope.type === "filtered_list" && scope.filter !== undefined ? parseFilter(scope.filter, "scope.filter") : null;
  const listId = scope.listId ?? null;
  if (listId) await requireList(db, workspaceId, listId);

  let requested: number;
  let matching: ResolvedLead[];
  if (scope.type === "explicit_leads") {
    const leadIds = [...new Set(scope.leadIds)];
    const found = await explicitLeads(db, workspaceId, leadIds, listId);
    if (found.length < leadIds.length) throw AppError.notFound("Lead");
    requested = leadIds.length;
    const mismatched = found.find((lead) => lead.type !== entry.subject);
    if (mismatched) throw subjectMismatch(entry, mismatched);
    matching = found;
  } else {
    // A person row's company becomes a company row of the same list, so a list usually holds both
    // kinds of lead: the scope is the list's leads of the enrichment's subject, and only a list whose
    // every lead is of the other kind is a mismatch.
    const members = await listLeads(db, scope.listId, filter);
    requested = members.length;
    matching = members.filter((lead) => lead.type === entry.subject);
    const other = members.find((lead) => lead.type !== entry.subject);
    if (members.length === 0) throw emptyScope();
    if (matching.length === 0 && other) throw subjectMismatch(entry, other);
  }
  if (matching.length === 0) throw emptyScope();

  if (request.target === "membership") {
    if (!listId) {
      throw new AppError("OUTPUT_TARGET_UNSUPPORTED", "Membership output needs a list: pass scope.listId or use output.target lead");
    }
    const outside = matching.find((lead) => lead.membership_id === null);
    if (outside) {
      throw new AppError("OUTPUT_TARGET_UNSUPPORTED", `Lead ${outside.lead_id} is not in list ${listId}, so it has no membership to write to`);
    }
  }

  // A waterfall run is charged per lead at its dearest provider's price, under that provider's
  // action; each item gives back what its match cost less.
  const dearest = request.waterfall ? request.waterfall.reduce((a, b) => (b.price > a.price ? b : a)) : null;
  const creditAction = dearest?.creditAction ?? entry.costModel.creditAction;
  const unitPrice = dearest ? dearest.price : prices.costOf(creditAction);
  if (unitPrice === undefined) throw new Error(`No price configured for ${creditAction} (enrichment ${entry.slug})`);
  return {
    ...request,
    listId,
    requested,
    leads: matching.map((lead) => ({ leadId: lead.lead_id, membershipId: lead.membership_id })),
    creditAction,
    unitPrice,
    required: unitPrice * matching.length,
  };
}

const emptyScope = () => new AppError("EMPTY_LEAD_SCOPE", "The scope resolved to no leads");

function subjectMismatch(entry: CatalogEntry, lead: ResolvedLead): AppError {
  return new AppError(
    "SUBJECT_MISMATCH",
    `Enrichment ${entry.slug} enriches ${entry.subject} leads; lead ${lead.lead_id} is a ${lead.type}`,
  );
}
