import { sql, type SQL } from "drizzle-orm";
import { LIMITS } from "../../limits";
import type { CellResult } from "../cell-store/results";
import { SUBJECT_TABLES } from "../cell-store/tables";
import type { Subject } from "../column-kinds";
import { evaluateFilter, type FieldReader } from "../filters/evaluate";
import { ATTRIBUTE_PREFIX, parseFilter, STANDARD_FIELDS, type FieldVocabulary, type Filter } from "../filters/language";
import type { FieldTable } from "../filters/sql";
import { compileFilter } from "../filters/sql";
import { companyRowFieldTable, companyRowReader, rowFieldTable, rowReader } from "../filters/targets";
import { columnKey } from "./placeholders";

// Run conditions (`runIf`): the filter language of filtered scopes over a row's fields, plus
// `column:<name>` for another column's value in the same row. One parser, and two evaluations that
// agree: compiled to SQL where cells are released (src/domain/cell-store/readiness.ts), evaluated in
// memory by the task just before it asks the provider, on the values it claimed.

export const COLUMN_FIELD_PREFIX = "column:";

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export const RUN_IF_VOCABULARY: FieldVocabulary = {
  pattern: new RegExp(`^(?:${STANDARD_FIELDS.join("|")}|${escapeRegex(ATTRIBUTE_PREFIX)}.+|${COLUMN_FIELD_PREFIX}.*\\S.*)$`),
  maxLength: COLUMN_FIELD_PREFIX.length + LIMITS.text,
  describe: `one of ${STANDARD_FIELDS.join(", ")}, attributes.<key>, or column:<column name>`,
};

/** A run condition given at `path`: INVALID_FILTER naming each fault, or the parsed filter. */
export const parseRunIf = (input: unknown, path: string): Filter => parseFilter(input, path, RUN_IF_VOCABULARY);

/** The column a condition's field names, or null for a row field. */
export const columnOfField = (field: string): string | null => (field.startsWith(COLUMN_FIELD_PREFIX) ? field.slice(COLUMN_FIELD_PREFIX.length) : null);

/** The column names resolved when the column was written: name key → column id. */
export type ColumnRefs = ReadonlyArray<{ name: string; columnId: string }>;

const refIdOf = (refs: ColumnRefs, name: string) => refs.find((ref) => ref.name === columnKey(name))?.columnId ?? null;

/**
 * The condition as SQL over the row `r` of the column's subject table: row fields as the filter
 * language reads them, `column:<name>` as that column's cell value for the row (a row without that
 * cell reads empty).
 */
export function compileRunIf(filter: Filter, subject: Subject, refs: ColumnRefs): SQL {
  const { cells, rowKey } = SUBJECT_TABLES[subject];
  const rowFields = subject === "person" ? rowFieldTable("r") : companyRowFieldTable("r");
  const table: FieldTable = (field) => {
    const name = columnOfField(field);
    if (name === null) return rowFields(field);
    const columnId = refIdOf(refs, name);
    if (!columnId) return null;
    return { kind: "json", sql: sql`(select u.value from ${cells} u where u.column_id = ${columnId}::uuid and u.${rowKey} = r.id)` };
  };
  return compileFilter(filter, table);
}

/** A claimed row as the task evaluates a condition on it: the row's stored fields, and referenced cells by column id. */
export type ConditionInputs = { row: Record<string, unknown>; columns: Record<string, unknown> };

/** The same condition evaluated in memory, on the row (as stored, snake_case) and the cell values the task claimed. */
export function evaluateRunIf(filter: Filter, subject: Subject, refs: ColumnRefs, inputs: ConditionInputs): boolean {
  const r = inputs.row;
  const text = (key: string) => (typeof r[key] === "string" ? (r[key] as string) : null);
  const attributes = (r.attributes ?? {}) as Record<string, unknown>;
  const rowFields =
    subject === "person"
      ? rowReader({
          fullName: text("full_name"),
          firstName: text("first_name"),
          lastName: text("last_name"),
          role: text("role"),
          company: text("company"),
          domain: text("domain"),
          location: text("location"),
          email: text("email"),
          linkedinUrl: text("linkedin_url"),
          attributes,
        })
      : companyRowReader({
          name: text("name") ?? "",
          domain: text("domain"),
          location: text("location"),
          industry: text("industry"),
          employeeCount: typeof r.employee_count === "number" ? r.employee_count : null,
          linkedinUrl: text("linkedin_url"),
          attributes,
        });
  const read: FieldReader = (field) => {
    const name = columnOfField(field);
    if (name === null) return rowFields(field);
    const columnId = refIdOf(refs, name);
    return columnId ? inputs.columns[columnId] : undefined;
  };
  return evaluateFilter(filter, read);
}

export const RUN_CONDITION_NOT_MET = "Run condition not met";

/** Whether the claimed cell's column runs on its row: no condition, or the condition holds on what was claimed. */
export function conditionHolds(
  column: { subject: Subject; runIf: Filter | null; refs: ColumnRefs },
  cell: { stored: Record<string, unknown>; row: { referenced?: Record<string, unknown> } },
): boolean {
  return column.runIf === null || evaluateRunIf(column.runIf, column.subject, column.refs, { row: cell.stored, columns: cell.row.referenced ?? {} });
}

/** The result of a cell whose condition does not hold: completed with no value, its credits given back. */
export function conditionNotMetResult(cell: { cellId: string; runToken: string }, run: Record<string, unknown>): CellResult {
  return { cellId: cell.cellId, runToken: cell.runToken, status: "completed", value: null, reasoning: RUN_CONDITION_NOT_MET, error: null, metadata: run, refund: true };
}
