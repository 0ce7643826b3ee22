import type { Queryable } from "../../db/client";
import { columnExists } from "../cell-store";

/**
 * Whether a run may go on: its signal is not aborted and its column still exists. Asked before every
 * provider call; the column is looked up at most once per `recheckMs` (concurrent askers share one
 * lookup), so the check costs no query per cell while a deletion is still noticed within `recheckMs`.
 * `fresh` forces a lookup, for steps that spend the caller's money (contact charges). Writes need no
 * check from here: the write statement itself only touches cells of a column that still exists.
 */
export type ColumnWatch = { alive(options?: { fresh?: boolean }): Promise<boolean> };

export function watchColumn(db: Queryable, columnId: string, signal: AbortSignal, recheckMs: number): ColumnWatch {
  let exists = true;
  let checkedAt = performance.now();
  let pending: Promise<boolean> | null = null;

  const lookup = () =>
    (pending ??= columnExists(db, columnId).then(
      (found) => {
        exists = found;
        checkedAt = performance.now();
        pending = null;
        return found;
      },
      (error: unknown) => {
        pending = null;
        throw error;
      },
    ));

  return {
    async alive(options = {}) {
      if (signal.aborted || !exists) return false;
      if (!options.fresh && performance.now() - checkedAt < recheckMs) return true;
      return (await lookup()) && !signal.aborted;
    },
  };
}
