import { AppError, type ValidationIssue } from "../../errors";
import { planColumn, type ColumnSource, type Subject } from "../column-kinds";
import type { Filter } from "../filters/language";
import { columnOfField } from "./conditions";
import { BUILT_IN_FIELDS, columnKey, fieldKey, PLACEHOLDER_FIELDS, placeholdersOf } from "./placeholders";

// Resolving what a column reads when it is written (created, or its condition changed): each
// `{{name}}` of its prompt and each `column:<name>` of its condition becomes another column of the
// list (by id, so renaming it later changes nothing) or a row field; the AI and enrichment columns
// among them are its dependencies, which must not lead back to it.

/** A column of the list as resolution sees it. */
export type ListColumn = {
  id: string;
  name: string;
  subject: Subject;
  isPreview: boolean;
  builtInKey: string | null;
  enrichmentType: string | null;
  source: ColumnSource;
  dependsOn: readonly string[];
};

export type ColumnInputs = {
  /** Other columns named by the prompt or the condition: name key → id. */
  refs: Array<{ name: string; columnId: string }>;
  /** The AI and enrichment columns among them: a row's cell waits for theirs. */
  dependsOn: string[];
  /** The row fields read (filter-language names), for re-running an auto-run cell when one changes. */
  reads: string[];
};

const runsByItself = (column: Pick<ListColumn, "enrichmentType" | "source" | "subject">) => planColumn(column).kind !== "static";

/**
 * What a column with this prompt and condition reads, against the list's other columns. A name that
 * is no column of the list and the column's subject and no row field → 400 UNKNOWN_REFERENCE naming
 * each; a dependency that leads back to the column → 400 DEPENDENCY_CYCLE naming the loop.
 * Columns win over fields of the same name, except built-in columns, which are their row's field.
 */
export function resolveInputs(input: {
  self: { id: string | null; name: string; subject: Subject };
  prompt: string | null;
  runIf: Filter | null;
  listColumns: readonly ListColumn[];
  /** What the column resolved its names to before (a change of a column keeps them, even after a rename). */
  known?: ReadonlyArray<{ name: string; columnId: string }>;
}): ColumnInputs {
  const { self, listColumns } = input;
  const byIdAll = new Map(listColumns.map((c) => [c.id, c]));
  const refs = new Map<string, string>();
  const reads = new Set<string>();
  const unknown: ValidationIssue[] = [];
  const byName = new Map<string, ListColumn[]>();
  for (const column of listColumns) {
    if (column.id === self.id) continue;
    const key = columnKey(column.name);
    byName.set(key, [...(byName.get(key) ?? []), column]);
  }

  const resolve = (name: string, path: string, asField: boolean) => {
    const key = columnKey(name);
    const field = asField ? PLACEHOLDER_FIELDS[self.subject][fieldKey(name)] : undefined;
    if (key === columnKey(self.name) && !field) {
      throw new AppError("DEPENDENCY_CYCLE", `${path} names the column itself ("${name}"): a column cannot read its own value`, {
        extra: { cycle: [self.name, self.name] },
      });
    }
    const candidates = byName.get(key) ?? [];
    const knownId = input.known?.find((ref) => ref.name === key)?.columnId;
    const known = knownId && knownId !== self.id ? byIdAll.get(knownId) : undefined;
    const column = known ?? (key === columnKey(self.name) ? undefined : candidates.find((c) => c.subject === self.subject && !c.isPreview));
    if (column?.builtInKey) {
      const mirrored = BUILT_IN_FIELDS[column.builtInKey] ?? null;
      if (mirrored) reads.add(mirrored);
      // A built-in column is its row's field; only those with no placeholder of their own read their cell.
      if (field) {
        reads.add(field);
        return;
      }
    }
    if (column) {
      refs.set(key, column.id);
      return;
    }
    if (field) {
      reads.add(field);
      return;
    }
    const other = candidates.find((c) => c.subject !== self.subject);
    const preview = candidates.find((c) => c.isPreview);
    unknown.push({
      path,
      message: other
        ? `"${name}" is a ${other.subject} column; a ${self.subject} column can read ${self.subject} columns and fields only`
        : preview
          ? `"${name}" is a preview column; promote it before other columns read it`
          : `"${name}" is no column of this list and no ${self.subject} field`,
    });
  };

  for (const name of placeholdersOf(input.prompt)) resolve(name, `prompt {{${name}}}`, true);
  const conditions = input.runIf ? [...input.runIf.all.map((c, i) => ({ c, path: `runIf.all.${i}.field` })), ...input.runIf.any.map((c, i) => ({ c, path: `runIf.any.${i}.field` }))] : [];
  for (const { c, path } of conditions) {
    const name = columnOfField(c.field);
    if (name === null) reads.add(c.field);
    else resolve(name, path, false);
  }
  if (unknown.length > 0) {
    throw new AppError("UNKNOWN_REFERENCE", `Unknown reference: ${unknown[0]!.path}: ${unknown[0]!.message}`, { extra: { issues: unknown } });
  }

  const byId = new Map(listColumns.map((c) => [c.id, c]));
  const dependsOn = [...new Set(refs.values())].filter((id) => runsByItself(byId.get(id)!)).sort();
  if (self.id) requireNoCycle(self as { id: string; name: string }, dependsOn, byId);
  return { refs: [...refs].map(([name, columnId]) => ({ name, columnId })), dependsOn, reads: [...reads].sort() };
}

/** A new column cannot be in a cycle (nothing reads it yet); a changed one can, through the columns that read it. */
function requireNoCycle(self: { id: string; name: string }, dependsOn: readonly string[], byId: ReadonlyMap<string, ListColumn>): void {
  const edges = (id: string) => (id === self.id ? dependsOn : (byId.get(id)?.dependsOn ?? []));
  const path: string[] = [];
  const done = new Set<string>();
  const visit = (id: string): string[] | null => {
    if (id === self.id && path.length > 0) return [...path, id];
    // A loop among other columns (none can be stored, but a check must end whatever it meets).
    if (done.has(id) || path.includes(id)) return null;
    path.push(id);
    for (const next of edges(id)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    done.add(id);
    return null;
  };
  const cycle = visit(self.id);
  if (!cycle) return;
  const names = cycle.map((id) => (id === self.id ? self.name : (byId.get(id)?.name ?? id)));
  throw new AppError("DEPENDENCY_CYCLE", `The column's references lead back to it: ${names.map((n) => `"${n}"`).join(" → ")}`, { extra: { cycle: names } });
}

/** Every column that reads `columnIds`, directly or through others, in an order where each comes after what it reads. */
export function dependentsOf(columnIds: readonly string[], listColumns: ReadonlyArray<Pick<ListColumn, "id" | "dependsOn">>): string[] {
  const found = new Set<string>();
  let frontier = new Set(columnIds);
  while (frontier.size > 0) {
    const next = new Set<string>();
    for (const column of listColumns) {
      if (found.has(column.id) || columnIds.includes(column.id)) continue;
      if (column.dependsOn.some((dep) => frontier.has(dep))) {
        found.add(column.id);
        next.add(column.id);
      }
    }
    frontier = next;
  }
  return [...found];
}
