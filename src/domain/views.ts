import type { columns, companyCells, companyRows, lists, personCells, personRows } from "../db/schema";
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
    progress: stats.progress,
    credits: stats.credits,
  };
}

function cellBase(cell: typeof personCells.$inferSelect | typeof companyCells.$inferSelect) {
  return { value: cell.value ?? null, status: cell.status, reasoning: cell.reasoning, error: cell.error, createdAt: iso(cell.createdAt), updatedAt: iso(cell.updatedAt) };
}

export function personCellView(cell: typeof personCells.$inferSelect) {
  return { id: cell.id, listId: cell.listId, columnId: cell.columnId, rowId: cell.rowId, ...cellBase(cell) };
}

export function companyCellView(cell: typeof companyCells.$inferSelect) {
  return { id: cell.id, listId: cell.listId, columnId: cell.columnId, companyRowId: cell.companyRowId, ...cellBase(cell) };
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
