// Selecting AI cells and re-running them from the selection bar. The re-run's price is asked of the
// server each time the selection changes, so the button is never offered for more than the balance
// pays, and only the newest answer is shown when several are on their way.

import { ApiError } from "./api.js";
import { creditActionOf } from "./cells.js";
import { cellEls, markQueued } from "./grid.js";
import { refreshLocalProgress } from "./progress.js";
import { handleApiError, showMessage } from "./session.js";
import { $, credits, keyOf, state } from "./state.js";

const el = {
  grid: $("grid"),
  selectionBar: $("selection-bar"),
  selectionCount: $("selection-count"),
  rerunCost: $("rerun-cost"),
  rerun: $("rerun"),
  clearSelection: $("clear-selection"),
};

export function initSelection() {
  el.grid.tBodies[0].addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target.matches("td.selectable")) {
      event.preventDefault();
      event.target.click();
    }
  });

  el.grid.tBodies[0].addEventListener("click", (event) => {
    const td = event.target.closest("td.selectable");
    if (!td || event.target.closest("a")) return;
    const column = state.knownColumns.get(td.dataset.columnId);
    if (!column) return;
    const key = keyOf(column.id, td.dataset.rowId);
    if (event.shiftKey && state.anchor && state.anchor.columnId === column.id) {
      const ids = state.rows.map((row) => row.id);
      const [from, to] = [ids.indexOf(state.anchor.rowId), ids.indexOf(td.dataset.rowId)].sort((a, b) => a - b);
      for (const rowId of ids.slice(from, to + 1)) setSelected(keyOf(column.id, rowId), true);
    } else {
      setSelected(key, !state.selection.has(key));
      state.anchor = { columnId: column.id, rowId: td.dataset.rowId };
    }
    renderSelection();
  });

  el.clearSelection.addEventListener("click", clearSelection);

  el.rerun.addEventListener("click", async () => {
    const groups = selectedByColumn();
    el.rerun.disabled = true;
    try {
      for (const { column, rowIds } of groups) {
        const before = new Map(rowIds.map((rowId) => [rowId, state.cells.get(keyOf(column.id, rowId))]));
        await state.api.generate(state.listId, column.id, rowIds);
        // The server queued the cells before it answered; shown so at once, unless an event about a cell
        // came meanwhile (it is newer than this answer).
        for (const [rowId, cell] of before) if (state.cells.get(keyOf(column.id, rowId)) === cell) markQueued(column, rowId);
        refreshLocalProgress(column);
      }
      showMessage(`Re-running ${state.selection.size} ${state.selection.size === 1 ? "cell" : "cells"}.`);
      clearSelection();
    } catch (error) {
      if (error instanceof ApiError && error.code === "INSUFFICIENT_CREDITS") showMessage(`Not enough credits: ${credits(error.body.required)} needed, ${credits(error.body.balance)} available.`, "error");
      else handleApiError(error, "Re-running failed");
      el.rerun.disabled = false;
    }
  });
}

function setSelected(key, selected) {
  if (selected) state.selection.add(key);
  else state.selection.delete(key);
  const td = cellEls.get(key);
  if (!td) return;
  if (selected) td.setAttribute("aria-selected", "true");
  else td.removeAttribute("aria-selected");
}

export function toggleColumnSelection(column) {
  const keys = state.rows.map((row) => keyOf(column.id, row.id));
  const all = keys.every((key) => state.selection.has(key));
  for (const key of keys) setSelected(key, !all);
  renderSelection();
}

export function clearSelection() {
  for (const key of [...state.selection]) setSelected(key, false);
  state.anchor = null;
  renderSelection();
}

/** The selected cells as { column, rowIds } per column. */
function selectedByColumn() {
  const groups = new Map();
  for (const key of state.selection) {
    const [columnId, rowId] = key.split(":");
    const column = state.knownColumns.get(columnId);
    if (!column) continue;
    if (!groups.has(columnId)) groups.set(columnId, { column, rowIds: [] });
    groups.get(columnId).rowIds.push(rowId);
  }
  return [...groups.values()];
}

let selectionQuote = 0;

export async function renderSelection() {
  const count = state.selection.size;
  el.selectionBar.hidden = count === 0;
  if (count === 0) return;
  const groups = selectedByColumn();
  el.selectionCount.textContent = `${count} ${count === 1 ? "cell" : "cells"} selected in ${groups.length} ${groups.length === 1 ? "column" : "columns"}`;
  el.rerun.textContent = `Re-run ${count} ${count === 1 ? "cell" : "cells"}`;
  el.rerun.disabled = true;
  el.rerunCost.textContent = "pricing…";
  el.rerunCost.dataset.credits = "";
  const quote = ++selectionQuote;
  try {
    const prices = await Promise.all(groups.map(({ column, rowIds }) => state.api.preview(creditActionOf(column), rowIds.length)));
    if (quote !== selectionQuote) return;
    const total = prices.reduce((sum, price) => sum + price.totalCredits, 0);
    const balance = prices[0]?.balance ?? state.balance;
    el.rerunCost.dataset.credits = String(total);
    el.rerunCost.textContent = `costs ${credits(total)} (balance ${credits(balance)})`;
    el.rerun.disabled = total > balance;
    if (total > balance) el.rerunCost.textContent += ": not enough credits";
  } catch (error) {
    if (quote !== selectionQuote) return;
    el.rerunCost.textContent = "";
    handleApiError(error, "Pricing the re-run failed");
  }
}
