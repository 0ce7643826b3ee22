import { columns, type CellAttempt, type CellAttempts, type companyCells, type companyRows, type lists, type personCells, type personRows } from "../db/schema";
import type { ColumnStats } from "./cell-store/progress";

// The API's JSON shapes of stored records, in one place so every route answers alike.

const iso = (d: Date | string) => new Date(d).toISOString();

export type ListView = ReturnType<typeof listView>;

export function listView(list: typeof lists.$inferSelect, counts: { rowCount: number; companyCount: number; leadCount: number; running: boolean }) {
  return {
    id: list.id,
    name: list.name,
    description: list.description,
    leadType: list.leadType,
    enrichmentStatus: counts.running ? ("running" as const) : ("idle" as const),
    rowCount: counts.rowCount,
    companyCount: counts.companyCount,
    leadCount: counts.leadCount,
    createdAt: iso(list.createdAt),
    updatedAt: iso(list.updatedAt),
  };
}

export function columnView(column: typeof columns.$inferSelect, stats: ColumnStats) {
  return {
    id: column.id,
    listId: column.listId,
    name: column.name,
    prompt: column.prompt,
    responseType: column.responseType,
    source: column.source,
    subject: column.subject,
    isFilter: column.isFilter,
    position: column.position,
    schema: column.schema,
    enrichmentType: column.enrichmentType,
    config: column.config,
    createdAt: iso(column.createdAt),
    isPreview: column.isPreview,
    category: column.category,
    builtInKey: column.builtInKey,
    autoRun: column.autoRun,
    runIf: column.runIf ?? null,
    maxCredits: column.maxCredits,
    budgetLeft: column.maxCredits === null ? null : Math.max(0, column.maxCredits - (stats.credits.charged - stats.credits.refunded + stats.credits.held)),
    dependsOn: column.dependsOn,
    progress: stats.progress,
    credits: stats.credits,
  };
}

/** What a cell view needs of its column: whether its cells are answered from the web. */
export type CellColumn = Pick<typeof columns.$inferSelect, "source" | "enrichmentType">;

/** Those fields, to select with the cells (joined with their column). */
export const cellColumnFields = { source: columns.source, enrichmentType: columns.enrichmentType };

/**
 * AI columns with source `web` answer from a live web search. Enrichment columns keep the pages
 * they read too (crawled pages, article links), but those are their evidence, not a web answer's.
 */
const answersFromWeb = (column: CellColumn) => column.enrichmentType === null && column.source === "web";

export type CellSource = { url: string; title?: string };

/**
 * An http(s) link with a host: what a cited page must be to be shown as a source. A pattern rather
 * than a URL parser, so that Postgres applies the same rule where it assembles cell views itself
 * (src/domain/row-page.ts).
 */
export const WEB_LINK_PATTERN = "^https?://[^ \\t\\n\\r\\f\\v/?#]+";
// The same string read by JavaScript's engine (Postgres reads it case-insensitively with ~*).
const WEB_LINK = new RegExp(WEB_LINK_PATTERN, "i");
const isWebLink = (url: string) => WEB_LINK.test(url);

/**
 * The pages a web answer cites, as its cell keeps them (`metadata.sources`, titles in
 * `metadata.sourceTitles` by URL): only http(s) links, as clients render them as links. Null when
 * the cell holds no web answer: not answered yet, failed, nothing found, or a manual value. A web
 * answer that cited nothing has an empty list, which still tells it from the cells of other columns.
 */
export function webSourcesOf(column: CellColumn, cell: { status: string; metadata: Record<string, unknown> }): CellSource[] | null {
  const { sources, sourceTitles } = cell.metadata;
  if (!answersFromWeb(column) || cell.status !== "completed" || !Array.isArray(sources)) return null;
  const titles = typeof sourceTitles === "object" && sourceTitles !== null ? (sourceTitles as Record<string, unknown>) : {};
  return sources.flatMap((url): CellSource[] => {
    if (typeof url !== "string" || !isWebLink(url)) return [];
    const title = Object.hasOwn(titles, url) ? titles[url] : undefined;
    return [typeof title === "string" && title ? { url, title } : { url }];
  });
}

function cellBase(cell: typeof personCells.$inferSelect | typeof companyCells.$inferSelect, column: CellColumn) {
  const sources = webSourcesOf(column, cell);
  return {
    value: cell.value ?? null,
    status: cell.status,
    reasoning: cell.reasoning,
    error: cell.error,
    ...(sources ? { sources } : {}),
    ...attemptsOf(cell),
    ...waitingOf(cell),
    createdAt: iso(cell.createdAt),
    updatedAt: iso(cell.updatedAt),
  };
}

/** A waterfall cell's provider tries of its current enrichment (so far, while it runs). */
export function attemptsOf(cell: { runToken: string | null; attempts: CellAttempts | null }): { attempts?: CellAttempt[] } {
  return cell.attempts && cell.runToken && cell.attempts.runToken === cell.runToken && Array.isArray(cell.attempts.attempts) ? { attempts: cell.attempts.attempts } : {};
}

/** A queued cell that waits for its row's inputs names the columns it waits on. */
export function waitingOf(cell: { status: string; waitingOn: string[] | null }): { waitingOn?: string[] } {
  return cell.status === "pending" && cell.waitingOn && cell.waitingOn.length > 0 ? { waitingOn: cell.waitingOn } : {};
}

export function personCellView(cell: typeof personCells.$inferSelect, column: CellColumn) {
  return { id: cell.id, listId: cell.listId, columnId: cell.columnId, rowId: cell.rowId, ...cellBase(cell, column) };
}

export function companyCellView(cell: typeof companyCells.$inferSelect, column: CellColumn) {
  return { id: cell.id, listId: cell.listId, columnId: cell.columnId, companyRowId: cell.companyRowId, ...cellBase(cell, column) };
}

export function rowView(row: typeof personRows.$inferSelect) {
  return {
    id: row.id,
    listId: row.listId,
    leadId: row.leadId,
    companyRowId: row.companyRowId,
    position: row.position,
    firstName: row.firstName,
    lastName: row.lastName,
    fullName: row.fullName,
    company: row.company,
    role: row.role,
    headline: row.headline,
    linkedinUrl: row.linkedinUrl,
    location: row.location,
    domain: row.domain,
    email: row.email,
    phone: row.phone,
    seniority: row.seniority,
    departments: row.departments,
    functions: row.functions,
    experience: row.experience,
    attributes: row.attributes,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

export function companyRowView(row: typeof companyRows.$inferSelect) {
  return {
    id: row.id,
    listId: row.listId,
    leadId: row.leadId,
    position: row.position,
    name: row.name,
    domain: row.domain,
    linkedinUrl: row.linkedinUrl,
    industry: row.industry,
    employeeCount: row.employeeCount,
    location: row.location,
    website: row.website,
    description: row.description,
    attributes: row.attributes,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}
