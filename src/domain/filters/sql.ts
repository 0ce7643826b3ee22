import { sql, type SQL } from "drizzle-orm";
import { jsonParam } from "../../db/sql";
import { BLANK_PATTERN, NUMBER_PATTERN, WHITESPACE, type Condition, type Filter } from "./language";

/**
 * Where a field lives in a statement: a text expression, or a jsonb expression (attributes, and
 * later cell values) whose text is that of its string, number or boolean.
 */
export type FieldRef = { kind: "text"; sql: SQL } | { kind: "json"; sql: SQL };

/**
 * A target's fields: the expression of each field a filter names, or null for a field the target
 * does not have (it reads as empty). The compiler takes it as a parameter so that one compiler
 * serves leads, list rows, and whatever else a filter is run over.
 */
export type FieldTable = (field: string) => FieldRef | null;

/**
 * The filter as one SQL condition over the target's fields, with every value a parameter. Each
 * condition is a two-valued boolean (never NULL: coalesce decides the NULL cases explicitly), so
 * negations and groups mean what the evaluator (evaluate.ts) computes.
 */
export function compileFilter(filter: Filter, table: FieldTable): SQL {
  const all = filter.all.map((condition) => compileCondition(condition, table));
  const any = filter.any.map((condition) => compileCondition(condition, table));
  const parts: SQL[] = [];
  if (all.length > 0) parts.push(sql`(${sql.join(all, sql` and `)})`);
  if (any.length > 0) parts.push(sql`(${sql.join(any, sql` or `)})`);
  return parts.length > 0 ? sql`(${sql.join(parts, sql` and `)})` : sql`true`;
}

type Operand = { text: SQL; empty: SQL };

function operandOf(ref: FieldRef | null): Operand {
  if (ref === null) return { text: sql`null::text`, empty: sql`true` };
  if (ref.kind === "text") {
    const t = ref.sql;
    return { text: t, empty: sql`(${t} is null or ${t} ~ ${BLANK_PATTERN}::text)` };
  }
  const j = ref.sql;
  return {
    text: sql`(case when jsonb_typeof(${j}) in ('string', 'number', 'boolean') then ${j} #>> '{}'::text[] end)`,
    empty: sql`(${j} is null or ${j} in ('null'::jsonb, '[]'::jsonb, '{}'::jsonb) or (jsonb_typeof(${j}) = 'string' and (${j} #>> '{}'::text[]) ~ ${BLANK_PATTERN}::text))`,
  };
}

const lowered = (value: string) => sql`lower(${value}::text)`;

function compileCondition(condition: Condition, table: FieldTable): SQL {
  const { text, empty } = operandOf(table(condition.field));
  const known = (test: SQL) => sql`coalesce(${test}, false)`;
  switch (condition.op) {
    case "is_empty":
      return empty;
    case "is_not_empty":
      return sql`(not ${empty})`;
    case "eq":
      return known(sql`lower(${text}) = ${lowered(condition.value)}`);
    case "neq":
      return sql`(not ${known(sql`lower(${text}) = ${lowered(condition.value)}`)})`;
    // strpos, not LIKE: the value's % and _ are plain characters.
    case "contains":
      return known(sql`strpos(lower(${text}), ${lowered(condition.value)}) > 0`);
    case "not_contains":
      return sql`(not ${known(sql`strpos(lower(${text}), ${lowered(condition.value)}) > 0`)})`;
    case "starts_with":
      return known(sql`strpos(lower(${text}), ${lowered(condition.value)}) = 1`);
    case "in":
      return known(sql`lower(${text}) in (select lower(v) from jsonb_array_elements_text(${jsonParam(condition.value)}) as candidates(v))`);
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const operator = { gt: sql`>`, gte: sql`>=`, lt: sql`<`, lte: sql`<=` }[condition.op];
      // The case keeps text that is not a plain decimal from ever reaching the cast; the bound travels
      // as its shortest round-trip text, which float8 reads back as the same double.
      const number = sql`(case when ${text} ~ ${NUMBER_PATTERN}::text then btrim(${text}, ${WHITESPACE}::text)::float8 end)`;
      return known(sql`${number} ${operator} ${String(condition.value)}::float8`);
    }
  }
}
