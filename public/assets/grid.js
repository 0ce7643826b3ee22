// The grid's table, and the cells in it kept live. The table is rebuilt whole only on a (re)load or a
// new column; an event then changes the one element of its cell, so a busy column costs one cell's
// redraw per event rather than the whole sheet's.

import { columnKindLabel, h, isAiColumn, isDynamicColumn, renderCell } from "./cells.js";
import { appendProgress, headerEls, refreshLocalProgress } from "./progress.js";
import { toggleColumnSelection } from "./selection.js";
import { scheduleReload, unknownColumn } from "./sync.js";
import { $, keyOf, state, subjectOf } from "./state.js";

const el = {
  grid: $("grid"),
  gridEmpty: $("grid-empty"),
};

/** DOM of the grid, by cell key, so an event touches one element. */
export const cellEls = new Map();

export function renderGrid() {
  cellEls.clear();
  headerEls.clear();
  const thead = el.grid.tHead;
  const tbody = el.grid.tBodies[0];
  if (!state.list) {
    thead.replaceChildren();
    tbody.replaceChildren();
    el.gridEmpty.hidden = true;
    return;
  }
  const companies = state.segment === "companies";
  // The row's name stays in sight while the grid scrolls sideways: the company, or the built-in Name.
  const stickyColumnId = !companies && state.columns[0]?.builtInKey === "name" ? state.columns[0].id : null;
  const headRow = h("tr", {}, h("th", { class: "row-number", scope: "col" }, "#"));
  if (companies) headRow.append(h("th", { class: "sticky-name", scope: "col" }, h("div", { class: "col-name" }, "Company")));
  for (const column of state.columns) {
    const th = headerCell(column);
    if (column.id === stickyColumnId) th.classList.add("sticky-name");
    headRow.append(th);
  }
  thead.replaceChildren(headRow);

  const fragment = document.createDocumentFragment();
  state.rows.forEach((row, index) => {
    const tr = h("tr", { "data-row-id": row.id }, h("td", { class: "row-number" }, String(index + 1)));
    if (companies) {
      tr.append(h("td", { class: "sticky-name" }, h("span", { class: "company-name" }, row.name), row.domain ? h("span", { class: "muted small" }, ` ${row.domain}`) : null));
    }
    for (const column of state.columns) {
      const key = keyOf(column.id, row.id);
      const selectable = isAiColumn(column);
      const td = h("td", {
        class: `cell${selectable ? " selectable" : ""}${column.id === stickyColumnId ? " sticky-name" : ""}`,
        "data-column-id": column.id,
        "data-row-id": row.id,
        tabindex: selectable ? "0" : null,
      });
      if (state.selection.has(key)) td.setAttribute("aria-selected", "true");
      renderCell(td, column, state.cells.get(key));
      cellEls.set(key, td);
      tr.append(td);
    }
    fragment.append(tr);
  });
  tbody.replaceChildren(fragment);
  el.gridEmpty.hidden = state.rows.length > 0;
  el.gridEmpty.textContent = companies
    ? "No companies yet: they are added with people who have a company or a domain."
    : "No people yet: add some with “Add people”.";
}

function headerCell(column) {
  const th = h("th", { scope: "col", "data-column-id": column.id, "data-kind": columnKindLabel(column) });
  const name = h("div", { class: "col-name", title: column.prompt ?? column.name }, column.name);
  const kind = h("div", { class: "col-kind" }, columnKindLabel(column));
  th.append(name, kind);
  if (isAiColumn(column)) {
    const select = h("button", { type: "button", class: "quiet tiny select-column", "aria-label": `Select every cell of ${column.name}` }, "select all");
    select.addEventListener("click", () => toggleColumnSelection(column));
    kind.append(" · ", select);
  }
  if (isDynamicColumn(column)) appendProgress(th, column);
  return th;
}

export function applyCell(data) {
  const column = state.knownColumns.get(data.columnId);
  if (!column) return unknownColumn(data.columnId);
  if (column.subject !== subjectOf(state.segment)) return;
  const rowId = data.subject === "company" ? data.companyRowId : data.rowId;
  if (!state.rowIds.has(rowId)) {
    // Past the sheet's first 1000 rows nothing is shown, so nothing needs a reload.
    if (!state.truncated) scheduleReload();
    return;
  }
  const key = keyOf(column.id, rowId);
  const before = state.cells.get(key);
  // The reasoning is not in events: it still holds only for the same answer.
  const sameAnswer = before && before.status === data.status && JSON.stringify(before.value) === JSON.stringify(data.value);
  const cell = {
    ...before,
    columnId: column.id,
    rowId,
    status: data.status,
    value: data.value,
    error: data.error ?? null,
    updatedAt: data.updatedAt,
    reasoning: sameAnswer ? before.reasoning : null,
  };
  state.cells.set(key, cell);
  const td = cellEls.get(key);
  if (td) renderCell(td, column, cell);
  refreshLocalProgress(column);
}

/** Shows a cell the server has just queued, ahead of the event that will say so. */
export function markQueued(column, rowId, render = true) {
  const key = keyOf(column.id, rowId);
  const cell = { ...state.cells.get(key), columnId: column.id, rowId, status: "pending", value: null, error: null, reasoning: null };
  state.cells.set(key, cell);
  const td = cellEls.get(key);
  if (render && td) renderCell(td, column, cell);
}
