import { foldCase, isEmptyValue, numberOf, textOf, type Condition, type Filter } from "./language";

/**
 * A row's fields as the evaluator reads them: the value of a field, a string or null for a text field
 * and any JSON value for a JSON one (undefined or null when the row holds nothing there). The
 * targets build one per row (targets.ts) to mirror their SQL field tables exactly.
 */
export type FieldReader = (field: string) => unknown;

/** Whether the row `read` describes matches the filter (the rules are in language.ts). */
export function evaluateFilter(filter: Filter, read: FieldReader): boolean {
  return filter.all.every((condition) => holds(condition, read)) && (filter.any.length === 0 || filter.any.some((condition) => holds(condition, read)));
}

function holds(condition: Condition, read: FieldReader): boolean {
  const value = read(condition.field);
  switch (condition.op) {
    case "is_empty":
      return isEmptyValue(value);
    case "is_not_empty":
      return !isEmptyValue(value);
    case "eq":
      return equals(value, condition.value);
    case "neq":
      return !equals(value, condition.value);
    case "contains":
      return contains(value, condition.value);
    case "not_contains":
      return !contains(value, condition.value);
    case "starts_with": {
      const text = textOf(value);
      return text !== null && foldCase(text).startsWith(foldCase(condition.value));
    }
    case "in": {
      const text = textOf(value);
      if (text === null) return false;
      const folded = foldCase(text);
      return condition.value.some((candidate) => foldCase(candidate) === folded);
    }
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = numberOf(textOf(value));
      if (n === null) return false;
      const bound = condition.value;
      return condition.op === "gt" ? n > bound : condition.op === "gte" ? n >= bound : condition.op === "lt" ? n < bound : n <= bound;
    }
  }
}

function equals(value: unknown, expected: string): boolean {
  const text = textOf(value);
  return text !== null && foldCase(text) === foldCase(expected);
}

function contains(value: unknown, part: string): boolean {
  const text = textOf(value);
  return text !== null && foldCase(text).includes(foldCase(part));
}
