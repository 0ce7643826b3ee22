// The one model every part of the page reads and moves on. It is shared rather than split per part
// because a single event touches several of them at once (a cell, its column's bar, the selection).

/** Everything the page shows. Rebuilt from REST on (re)load, then moved on by the event stream. */
export const state = {
  api: null,
  balance: null,
  lists: [],
  listId: null,
  segment: "people",
  list: null,
  rows: [],
  rowIds: new Set(),
  /** The columns of the segment shown, by position. */
  columns: [],
  /** Every non-preview column of the list, of both subjects, by id: an event for another is news. */
  knownColumns: new Map(),
  /** Column ids events named that the last reload did not know either, with when to ask again. */
  unknownColumns: new Map(),
  cells: new Map(),
  truncated: false,
  loaded: false,
  loading: null,
  reloadAgain: false,
  buffered: [],
  stream: null,
  selection: new Set(),
  anchor: null,
};

export const $ = (id) => document.getElementById(id);

export const keyOf = (columnId, rowId) => `${columnId}:${rowId}`;
export const subjectOf = (segment) => (segment === "companies" ? "company" : "person");
export const credits = (n) => `${Number(n).toLocaleString()} ${Number(n) === 1 ? "credit" : "credits"}`;

export function cellsOfColumn(columnId) {
  return state.rows.map((row) => state.cells.get(keyOf(columnId, row.id))).filter(Boolean);
}
