import type { Queryable } from "../../db/client";
import { AppError } from "../../errors";
import type { Subject } from "../column-kinds";
import type { Filter } from "../filters/language";
import { parseRunIf } from "./conditions";
import { placeholdersOf } from "./placeholders";
import { resolveInputs, type ColumnInputs } from "./references";
import { loadEngineColumns, type EngineColumn } from "./work";

/** The engine's settings of a column as stored (list_columns): how it runs, and what it reads. */
export type EngineFields = ColumnInputs & { autoRun: boolean; runIf: Filter | null; maxCredits: number | null };

/**
 * The engine fields of a column being created (no `current`) or changed: `autoRun`, `runIf` and
 * `maxCredits` as given (undefined keeps the current value, null clears it), and the references of
 * its prompt and condition resolved against the list's columns (a changed column keeps what its
 * names meant before, so a rename of a column it reads changes nothing). A column nothing fills (a
 * manual column) takes none of them: 400. Call it under the workspace lock when the column is written
 * in the same transaction, so that two changes cannot each pass the loop check against the other.
 */
export async function engineFieldsOf(
  db: Queryable,
  input: {
    listId: string;
    self: { id: string | null; name: string; subject: Subject };
    prompt: string | null;
    /** Whether a task fills the column (AI or enrichment). */
    fills: boolean;
    given: { autoRun?: boolean; runIf?: unknown; maxCredits?: number | null };
    current?: Pick<EngineFields, "autoRun" | "runIf" | "maxCredits" | "refs">;
  },
): Promise<EngineFields> {
  const { given, current } = input;
  if (!input.fills) {
    const set = (["autoRun", "runIf", "maxCredits"] as const).filter((key) => given[key] !== undefined && given[key] !== null && given[key] !== false);
    if (set.length > 0) {
      throw AppError.validation(set.map((key) => ({ path: key, message: "applies only to AI and enrichment columns; nothing runs a manual column" })));
    }
  }
  const runIf = given.runIf === undefined ? (current?.runIf ?? null) : given.runIf === null ? null : parseRunIf(given.runIf, "runIf");
  const reading = placeholdersOf(input.prompt).length > 0 || runIf !== null;
  const listColumns: EngineColumn[] = reading ? await loadEngineColumns(db, input.listId) : [];
  const inputs = resolveInputs({ self: input.self, prompt: input.prompt, runIf, listColumns, known: current?.refs });
  return {
    ...inputs,
    autoRun: given.autoRun ?? current?.autoRun ?? false,
    runIf,
    maxCredits: given.maxCredits === undefined ? (current?.maxCredits ?? null) : given.maxCredits,
  };
}
