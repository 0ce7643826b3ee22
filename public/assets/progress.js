// The progress of columns filled by background work: the bar in each such column's header, and the
// list's "Enriching…" status. The server's counts win when it sends them; until then (or for a server
// that does not) they are counted from the cells the page holds, and kept so as cells change.

import { h, progressFromCells } from "./cells.js";
import { unknownColumn } from "./sync.js";
import { $, cellsOfColumn, state } from "./state.js";

const listStatus = $("list-status");

/** DOM of the grid's progress bars, by column id, so an event touches one element. */
export const headerEls = new Map();

export function appendProgress(th, column) {
  const bar = h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": `Progress of ${column.name}` });
  const filled = h("span", { class: "bar bar-done" });
  const empty = h("span", { class: "bar bar-empty" });
  const failed = h("span", { class: "bar bar-failed" });
  bar.append(filled, empty, failed);
  const text = h("div", { class: "progress-text" });
  th.append(bar, text);
  headerEls.set(column.id, { th, bar, filled, empty, failed, text });
  renderHeader(column);
}

function renderHeader(column) {
  const parts = headerEls.get(column.id);
  if (!parts) return;
  const p = column.progress ?? { total: 0, pending: 0, processing: 0, completed: 0, empty: 0, failed: 0 };
  const done = p.completed + p.empty + p.failed;
  const percent = p.total > 0 ? Math.floor((done / p.total) * 100) : 100;
  const share = (n) => (p.total > 0 ? `${(n / p.total) * 100}%` : "0%");
  parts.filled.style.width = share(p.completed);
  parts.empty.style.width = share(p.empty);
  parts.failed.style.width = share(p.failed);
  parts.bar.setAttribute("aria-valuenow", String(percent));
  parts.bar.dataset.done = String(done);
  parts.bar.dataset.total = String(p.total);
  parts.bar.setAttribute("aria-valuetext", `${done} of ${p.total} done`);
  const details = [];
  if (p.processing) details.push(`${p.processing} working`);
  if (p.pending) details.push(`${p.pending} queued`);
  if (p.empty) details.push(`${p.empty} empty`);
  if (p.failed) details.push(`${p.failed} failed`);
  parts.text.textContent = `${done}/${p.total}${details.length ? ` · ${details.join(" · ")}` : ""}`;
  parts.text.dataset.failed = String(p.failed);
  const c = column.credits;
  parts.th.title = c ? `${column.prompt ?? column.name}\nCredits charged ${c.charged}, refunded ${c.refunded}` : (column.prompt ?? column.name);
}

export function refreshLocalProgress(column) {
  if (!column.localProgress) return;
  column.progress = progressFromCells(cellsOfColumn(column.id));
  renderHeader(column);
}

export function applyProgress(data) {
  const column = state.knownColumns.get(data.columnId);
  if (!column) return unknownColumn(data.columnId);
  column.localProgress = false;
  column.progress = data.progress;
  if (data.credits) column.credits = data.credits;
  renderHeader(column);
  renderListStatus();
}

export function renderListStatus() {
  if (!state.list) {
    listStatus.textContent = "";
    return;
  }
  const running = state.columns.some((column) => column.progress && column.progress.pending + column.progress.processing > 0);
  listStatus.dataset.status = running ? "running" : "idle";
  listStatus.textContent = running ? "Enriching…" : state.truncated ? "Showing the first 1,000 rows" : "";
}
