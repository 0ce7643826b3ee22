import { ApiError, createApi } from "./api.js";
import { COLUMN_KINDS, columnKindLabel, ENRICHMENT_LABELS, creditActionOf, h, isAiColumn, isDynamicColumn, isEmptyValue, progressFromCells, renderCell } from "./cells.js";
import { followEventStream } from "./sse.js";

const KEY_STORAGE = "lead-enrichment.apiKey";
const RELOAD_DEBOUNCE_MS = 250;
// A column still unknown after a reload (a preview column, hidden from the sheet) asks for no other
// reload for this long.
const UNKNOWN_COLUMN_QUIET_MS = 10_000;
const $ = (id) => document.getElementById(id);

const el = {
  keyPanel: $("key-panel"),
  keyForm: $("key-form"),
  keyInput: $("api-key"),
  keyError: $("key-error"),
  accountBar: $("account-bar"),
  workspaceName: $("workspace-name"),
  balance: $("balance"),
  streamState: $("stream-state"),
  forgetKey: $("forget-key"),
  listsPanel: $("lists-panel"),
  listSelect: $("list-select"),
  newListForm: $("new-list-form"),
  newListName: $("new-list-name"),
  listStatus: $("list-status"),
  tabs: [...document.querySelectorAll("[role=tab][data-segment]")],
  message: $("message"),
  grid: $("grid"),
  gridEmpty: $("grid-empty"),
  selectionBar: $("selection-bar"),
  selectionCount: $("selection-count"),
  rerunCost: $("rerun-cost"),
  rerun: $("rerun"),
  clearSelection: $("clear-selection"),
  columnDialog: $("column-dialog"),
  columnForm: $("column-form"),
  columnName: $("column-name"),
  columnKind: $("column-kind"),
  columnPrompt: $("column-prompt"),
  promptFields: $("prompt-fields"),
  typeFields: $("type-fields"),
  columnType: $("column-type"),
  optionsField: $("options-field"),
  columnOptions: $("column-options"),
  columnCost: $("column-cost"),
  columnError: $("column-error"),
  createColumn: $("create-column"),
  rowsDialog: $("rows-dialog"),
  rowsForm: $("rows-form"),
  rowsInput: $("rows-input"),
  rowsError: $("rows-error"),
};

/** Everything the page shows. Rebuilt from REST on (re)load, then moved on by the event stream. */
const state = {
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

/** DOM of the grid, by cell key and column id, so an event touches one element. */
const cellEls = new Map();
const headerEls = new Map();

const keyOf = (columnId, rowId) => `${columnId}:${rowId}`;
const subjectOf = (segment) => (segment === "companies" ? "company" : "person");
const credits = (n) => `${Number(n).toLocaleString()} ${Number(n) === 1 ? "credit" : "credits"}`;

// ---------------------------------------------------------------- key and account

function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

el.keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = el.keyInput.value.trim();
  if (!key) return;
  el.keyError.textContent = "";
  await connect(key, { remember: true });
});

el.forgetKey.addEventListener("click", () => forgetKey());

function forgetKey(reason = "") {
  try {
    localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage unavailable: nothing was kept */
  }
  closeList();
  state.api = null;
  state.lists = [];
  state.balance = null;
  el.keyInput.value = "";
  el.keyError.textContent = reason;
  el.accountBar.hidden = true;
  el.listsPanel.hidden = true;
  el.keyPanel.hidden = false;
  el.keyInput.focus();
}

async function connect(key, { remember }) {
  const api = createApi(key);
  let account;
  try {
    account = await api.account();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return forgetKey("This key was refused: it is unknown or was revoked.");
    el.keyError.textContent = `Could not reach the server: ${error.message}`;
    return;
  }
  if (remember) {
    try {
      localStorage.setItem(KEY_STORAGE, key);
    } catch {
      /* private mode: the key lives until the page closes */
    }
  }
  state.api = api;
  el.keyInput.value = "";
  el.keyPanel.hidden = true;
  el.accountBar.hidden = false;
  el.listsPanel.hidden = false;
  el.workspaceName.textContent = account.workspace?.name ?? account.account?.email ?? "";
  setBalance(account.credits?.balance ?? null);
  await loadLists(fromHash().listId);
}

function setBalance(balance) {
  state.balance = balance;
  el.balance.dataset.balance = balance === null ? "" : String(balance);
  el.balance.textContent = balance === null ? "…" : credits(balance);
}

/** 401 anywhere: the key was revoked meanwhile. */
function handleApiError(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    forgetKey("This key was refused: it is unknown or was revoked.");
    return;
  }
  showMessage(`${where}: ${error.message}`, "error");
}

function showMessage(text, kind = "info") {
  el.message.textContent = text;
  el.message.dataset.kind = kind;
}

// ---------------------------------------------------------------- lists

function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { listId: params.get("list"), segment: params.get("segment") === "companies" ? "companies" : "people" };
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.listId) params.set("list", state.listId);
  if (state.segment !== "people") params.set("segment", state.segment);
  history.replaceState(null, "", `#${params}`);
}

async function loadLists(preferredId) {
  let answer;
  try {
    answer = await state.api.lists();
  } catch (error) {
    return handleApiError(error, "Loading the lists failed");
  }
  state.lists = answer.lists;
  renderListOptions();
  const chosen = state.lists.find((list) => list.id === preferredId) ?? state.lists[0];
  if (chosen) openList(chosen.id, fromHash().listId === chosen.id ? fromHash().segment : "people");
  else {
    closeList();
    showMessage("No lists yet: create one above.");
  }
}

function renderListOptions() {
  el.listSelect.replaceChildren(
    ...state.lists.map((list) => h("option", { value: list.id, selected: list.id === state.listId }, `${list.name} (${list.rowCount} people, ${list.companyCount} companies)`)),
  );
}

el.listSelect.addEventListener("change", () => openList(el.listSelect.value, "people"));

el.newListForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const { list } = await state.api.createList(el.newListName.value.trim() || null);
    el.newListName.value = "";
    await loadLists(list.id);
  } catch (error) {
    handleApiError(error, "Creating the list failed");
  }
});

for (const tab of el.tabs) {
  tab.addEventListener("click", () => {
    if (tab.dataset.segment === state.segment) return;
    state.segment = tab.dataset.segment;
    clearSelection();
    renderTabs();
    writeHash();
    reload();
  });
}

function renderTabs() {
  for (const tab of el.tabs) {
    const selected = tab.dataset.segment === state.segment;
    tab.setAttribute("aria-selected", String(selected));
    const count = state.list ? (tab.dataset.segment === "people" ? state.list.rowCount : state.list.companyCount) : null;
    tab.textContent = `${tab.dataset.segment === "people" ? "People" : "Companies"}${count === null ? "" : ` (${count})`}`;
  }
  el.listsPanel.dataset.segment = state.segment;
}

function closeList() {
  state.stream?.stop();
  state.stream = null;
  clearTimeout(reloadTimer);
  Object.assign(state, { listId: null, list: null, rows: [], columns: [], truncated: false, loaded: false, buffered: [] });
  state.rowIds = new Set();
  state.knownColumns = new Map();
  state.unknownColumns = new Map();
  state.cells = new Map();
  clearSelection();
  renderGrid();
}

/**
 * Opens the list's event stream first; once its headers arrived the grid is loaded over REST, and
 * events (which carry a cell's whole state) are applied on top. After a drop the stream resumes
 * from the last event id, so nothing needs reloading; after a 410 it starts over from a reload.
 */
function openList(listId, segment) {
  closeList();
  state.listId = listId;
  state.segment = segment;
  renderListOptions();
  renderTabs();
  writeHash();
  showMessage("");
  state.stream = followEventStream(state.api.eventsUrl(listId), {
    headers: state.api.headers,
    onOpen: async ({ resumed }) => {
      if (!resumed || !state.loaded) await reload({ rethrow: true });
    },
    onEvent: (event) => {
      // Before the first load nothing is shown yet, and that load's snapshot covers the event.
      if (state.loading) state.buffered.push(event);
      else if (state.loaded) applyEvent(event);
    },
    onState: renderStreamState,
    onFailure: (status, body) => {
      if (status === 401) return forgetKey("This key was refused: it is unknown or was revoked.");
      if (status === 404 && body?.error === "List not found") {
        showMessage("This list no longer exists.", "error");
        state.stream?.stop();
        return loadLists(null);
      }
      // Without a stream the grid is still worth showing; it reloads once the stream is back.
      if (status !== 410 && !state.loaded && !state.loading) reload();
    },
  });
}

function renderStreamState(stream, error) {
  const labels = { connecting: "connecting…", live: "live", retrying: "reconnecting…", closed: "offline" };
  el.streamState.dataset.state = stream;
  el.streamState.textContent = labels[stream] ?? stream;
  el.streamState.title = error ? String(error.message ?? error) : "";
}

// ---------------------------------------------------------------- loading the grid

let reloadTimer = null;

/** A reload for an event about a column or row the page does not know yet; bursts make one. */
function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reload(), RELOAD_DEBOUNCE_MS);
}

/** Loads the sheet; events arriving meanwhile wait, and are applied on the fresh state in order. */
function reload({ rethrow = false } = {}) {
  if (state.loading) {
    state.reloadAgain = true;
    return state.loading;
  }
  const run = (async () => {
    do {
      state.reloadAgain = false;
      const { listId, segment } = state;
      if (!state.api || !listId) break;
      const [sheet, all, account] = await Promise.all([state.api.sheet(listId, segment), state.api.columns(listId), state.api.account()]);
      if (listId !== state.listId || segment !== state.segment) continue;
      applySnapshot(sheet, all.columns);
      setBalance(account.credits?.balance ?? state.balance);
      state.loaded = true;
      const waiting = state.buffered;
      state.buffered = [];
      for (const event of waiting) applyEvent(event);
    } while (state.reloadAgain);
  })();
  state.loading = run.finally(() => {
    state.loading = null;
    // After a failed load the events wait for the next one: applied to no grid they would only ask
    // for reloads.
    if (!state.loaded) return;
    const waiting = state.buffered;
    state.buffered = [];
    for (const event of waiting) applyEvent(event);
  });
  return state.loading.catch((error) => {
    if (error instanceof ApiError && error.status === 404) {
      showMessage("This list no longer exists.", "error");
      loadLists(null);
    } else handleApiError(error, "Loading the list failed");
    if (rethrow) throw error;
  });
}

function applySnapshot(sheet, allColumns) {
  state.list = sheet.sheet;
  state.rows = sheet.rows;
  state.rowIds = new Set(sheet.rows.map((row) => row.id));
  state.truncated = Boolean(sheet.truncated);
  state.knownColumns = new Map(allColumns.map((column) => [column.id, column]));
  state.columns = sheet.columns;
  for (const column of sheet.columns) state.knownColumns.set(column.id, column);
  for (const [columnId, quietUntil] of state.unknownColumns) {
    if (state.knownColumns.has(columnId)) state.unknownColumns.delete(columnId);
    else if (quietUntil === 0) state.unknownColumns.set(columnId, Date.now() + UNKNOWN_COLUMN_QUIET_MS);
  }
  state.cells = new Map(
    sheet.cells.map((cell) => {
      const rowId = cell.rowId ?? cell.companyRowId;
      return [keyOf(cell.columnId, rowId), { ...cell, rowId }];
    }),
  );
  for (const column of state.columns) {
    if (!column.progress) {
      column.localProgress = true;
      column.progress = progressFromCells(cellsOfColumn(column.id));
    }
  }
  for (const key of [...state.selection]) if (!state.cells.has(key)) state.selection.delete(key);
  const entry = state.lists.find((list) => list.id === state.list.id);
  if (entry) Object.assign(entry, state.list);
  renderListOptions();
  renderTabs();
  renderGrid();
  renderListStatus();
  renderSelection();
}

function cellsOfColumn(columnId) {
  return state.rows.map((row) => state.cells.get(keyOf(columnId, row.id))).filter(Boolean);
}

// ---------------------------------------------------------------- events

function applyEvent(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  if (event.type === "cell") applyCell(data);
  else if (event.type === "progress") applyProgress(data);
  else if (event.type === "balance" && typeof data.balance === "number") setBalance(data.balance);
}

/** An event about a column the page does not know: a reload, unless the last one did not know it either. */
function unknownColumn(columnId) {
  const quietUntil = state.unknownColumns.get(columnId);
  if (quietUntil && Date.now() < quietUntil) return;
  state.unknownColumns.set(columnId, 0);
  scheduleReload();
}

function applyCell(data) {
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

function markQueued(column, rowId, render = true) {
  const key = keyOf(column.id, rowId);
  const cell = { ...state.cells.get(key), columnId: column.id, rowId, status: "pending", value: null, error: null, reasoning: null };
  state.cells.set(key, cell);
  const td = cellEls.get(key);
  if (render && td) renderCell(td, column, cell);
}

function refreshLocalProgress(column) {
  if (!column.localProgress) return;
  column.progress = progressFromCells(cellsOfColumn(column.id));
  renderHeader(column);
}

function applyProgress(data) {
  const column = state.knownColumns.get(data.columnId);
  if (!column) return unknownColumn(data.columnId);
  column.localProgress = false;
  column.progress = data.progress;
  if (data.credits) column.credits = data.credits;
  renderHeader(column);
  renderListStatus();
}

function renderListStatus() {
  if (!state.list) {
    el.listStatus.textContent = "";
    return;
  }
  const running = state.columns.some((column) => column.progress && column.progress.pending + column.progress.processing > 0);
  el.listStatus.dataset.status = running ? "running" : "idle";
  el.listStatus.textContent = running ? "Enriching…" : state.truncated ? "Showing the first 1,000 rows" : "";
}

// ---------------------------------------------------------------- the grid

function renderGrid() {
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
  if (isDynamicColumn(column)) {
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
  return th;
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

// ---------------------------------------------------------------- selecting and re-running cells

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

function setSelected(key, selected) {
  if (selected) state.selection.add(key);
  else state.selection.delete(key);
  const td = cellEls.get(key);
  if (!td) return;
  if (selected) td.setAttribute("aria-selected", "true");
  else td.removeAttribute("aria-selected");
}

function toggleColumnSelection(column) {
  const keys = state.rows.map((row) => keyOf(column.id, row.id));
  const all = keys.every((key) => state.selection.has(key));
  for (const key of keys) setSelected(key, !all);
  renderSelection();
}

function clearSelection() {
  for (const key of [...state.selection]) setSelected(key, false);
  state.anchor = null;
  renderSelection();
}

el.clearSelection.addEventListener("click", clearSelection);

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

async function renderSelection() {
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

// ---------------------------------------------------------------- adding a column

function kindsFor(subject) {
  return COLUMN_KINDS.filter((kind) => kind.subjects.includes(subject));
}

$("open-add-column").addEventListener("click", () => {
  if (!state.list) return showMessage("Open a list first.");
  const subject = subjectOf(state.segment);
  el.columnKind.replaceChildren(...kindsFor(subject).map((kind) => h("option", { value: kind.id }, kind.label)));
  el.columnForm.reset();
  autoName = "";
  el.columnError.textContent = "";
  $("column-dialog-title").textContent = subject === "company" ? "Add a company column" : "Add a people column";
  updateColumnForm();
  el.columnDialog.showModal();
  el.columnName.focus();
});

$("cancel-column").addEventListener("click", () => el.columnDialog.close());
el.columnKind.addEventListener("change", updateColumnForm);
el.columnType.addEventListener("change", updateColumnForm);

function selectedKind() {
  return COLUMN_KINDS.find((kind) => kind.id === el.columnKind.value) ?? COLUMN_KINDS[0];
}

let columnQuote = 0;
/** The name the form filled in for an enrichment kind, replaced when the kind changes unless edited. */
let autoName = "";

/** Shows the fields the kind needs and its cost, from the server's preview, before anything is created. */
async function updateColumnForm() {
  const kind = selectedKind();
  const subject = subjectOf(state.segment);
  if (el.columnName.value.trim() === "" || el.columnName.value === autoName) {
    autoName = kind.enrichmentType ? ENRICHMENT_LABELS[kind.enrichmentType] : "";
    el.columnName.value = autoName;
  }
  el.promptFields.hidden = !kind.ai;
  el.columnPrompt.required = Boolean(kind.ai);
  el.typeFields.hidden = Boolean(kind.enrichmentType);
  el.columnType.options[0].hidden = !kind.ai;
  if (!kind.ai && el.columnType.value === "") el.columnType.value = "text";
  el.optionsField.hidden = !["enum", "multiselect"].includes(el.columnType.value);

  const action = kind.action(subject);
  const rows = subject === "company" ? state.list.companyCount : state.list.rowCount;
  const quote = ++columnQuote;
  const show = (text, creditsNeeded, ok) => {
    el.columnCost.textContent = text;
    el.columnCost.dataset.credits = creditsNeeded === null ? "" : String(creditsNeeded);
    el.columnCost.dataset.sufficient = String(ok);
    el.createColumn.disabled = !ok;
    el.createColumn.textContent = creditsNeeded ? `Create column · ${credits(creditsNeeded)}` : "Create column";
  };
  if (!action) return show("Free: a manual column is filled by writing its cells.", 0, true);
  if (rows === 0) return show(`No ${subject === "company" ? "companies" : "people"} yet: nothing to pay now.`, 0, true);
  el.createColumn.disabled = true;
  el.columnCost.textContent = "Pricing…";
  el.columnCost.dataset.credits = "";
  delete el.columnCost.dataset.sufficient;
  try {
    const price = await state.api.preview(action, rows);
    if (quote !== columnQuote) return;
    const what = `${rows} ${subject === "company" ? (rows === 1 ? "company" : "companies") : rows === 1 ? "person" : "people"} × ${credits(price.costPerUnit)} = ${credits(price.totalCredits)}`;
    const upTo = kind.chargedInTask ? " at most (charged per row actually looked up)" : "";
    if (!price.sufficient) return show(`${what}${upTo}. Not enough credits: the balance is ${credits(price.balance)}.`, price.totalCredits, false);
    show(`${what}${upTo}. Balance ${credits(price.balance)} → ${credits(price.balance - price.totalCredits)}.`, price.totalCredits, true);
  } catch (error) {
    if (quote !== columnQuote) return;
    show("", null, false);
    el.columnError.textContent = `Pricing failed: ${error.message}`;
  }
}

el.columnForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const kind = selectedKind();
  const subject = subjectOf(state.segment);
  const body = { name: el.columnName.value.trim(), isDynamic: kind.id !== "static", subject };
  if (kind.ai) {
    body.prompt = el.columnPrompt.value.trim();
    body.dataSource = kind.dataSource;
  }
  if (kind.enrichmentType) body.enrichmentType = kind.enrichmentType;
  if (!kind.enrichmentType && el.columnType.value) {
    body.schema = { type: el.columnType.value };
    if (["enum", "multiselect"].includes(el.columnType.value)) {
      body.schema.options = el.columnOptions.value.split(",").map((option) => option.trim()).filter(Boolean);
    }
  }
  el.createColumn.disabled = true;
  el.columnError.textContent = "";
  try {
    const { column } = await state.api.createColumn(state.listId, body);
    el.columnDialog.close();
    addColumn(column);
    showMessage(`Column “${column.name}” created.`);
  } catch (error) {
    el.createColumn.disabled = false;
    if (error instanceof ApiError && error.status === 401) {
      el.columnDialog.close();
      return handleApiError(error, "");
    }
    if (error instanceof ApiError && error.code === "INSUFFICIENT_CREDITS") {
      el.columnError.textContent = `Not enough credits: ${credits(error.body.required)} needed, ${credits(error.body.balance)} available.`;
    } else if (error instanceof ApiError && Array.isArray(error.body?.issues)) {
      el.columnError.textContent = error.body.issues.map((issue) => `${issue.path ? `${issue.path}: ` : ""}${issue.message}`).join("; ");
    } else el.columnError.textContent = error.message;
  }
});

/** A column the page created: shown at once; its cells arrive as events (or with a reload). */
function addColumn(column) {
  const known = state.knownColumns.get(column.id);
  const merged = known ? Object.assign(known, { ...column, progress: known.localProgress ? column.progress : (known.progress ?? column.progress) }) : column;
  state.knownColumns.set(column.id, merged);
  if (column.subject !== subjectOf(state.segment) || column.isPreview) return;
  if (!state.columns.some((c) => c.id === column.id)) {
    state.columns = [...state.columns, merged].sort((a, b) => a.position - b.position || (a.id < b.id ? -1 : 1));
  }
  // A new filled column has a pending cell for every row of its subject from the moment it was
  // created: shown so until the events (or a reload) tell more.
  const p = merged.progress;
  if (isDynamicColumn(merged) && !state.truncated && (!p || (p.pending === p.total && p.total === state.rows.length))) {
    for (const row of state.rows) if (!state.cells.has(keyOf(merged.id, row.id))) markQueued(merged, row.id, false);
  }
  if (!merged.progress) merged.localProgress = true;
  if (merged.localProgress) merged.progress = progressFromCells(cellsOfColumn(merged.id));
  renderGrid();
  renderListStatus();
  headerEls.get(merged.id)?.th.scrollIntoView({ block: "nearest", inline: "nearest" });
}

// ---------------------------------------------------------------- adding people

$("open-add-rows").addEventListener("click", () => {
  if (!state.list) return showMessage("Open a list first.");
  el.rowsForm.reset();
  el.rowsError.textContent = "";
  el.rowsDialog.showModal();
  el.rowsInput.focus();
});

$("cancel-rows").addEventListener("click", () => el.rowsDialog.close());

el.rowsForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const rows = el.rowsInput.value
    .split(/\r?\n/)
    .map((line) => line.split(",").map((part) => part.trim()))
    .filter(([name]) => name)
    .map(([name, company, domain]) => {
      const [firstName, ...rest] = name.split(/\s+/);
      const row = { firstName };
      if (rest.length) row.lastName = rest.join(" ");
      if (company) row.company = company;
      if (domain) row.domain = domain;
      return row;
    });
  if (rows.length === 0) {
    el.rowsError.textContent = "Write at least one name.";
    return;
  }
  try {
    const answer = await state.api.addRows(state.listId, rows);
    el.rowsDialog.close();
    showMessage(`${answer.inserted} added, ${answer.merged} merged with people already in the list.`);
    reload();
  } catch (error) {
    if (error instanceof ApiError && Array.isArray(error.body?.issues)) {
      el.rowsError.textContent = error.body.issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
    } else el.rowsError.textContent = error.message;
  }
});

// ---------------------------------------------------------------- start

renderStreamState("closed");
const saved = storedKey();
if (saved) connect(saved, { remember: false });
else el.keyInput.focus();

// Exposed for debugging in the console; holds no key.
window.leadGrid = { state: () => ({ listId: state.listId, segment: state.segment, rows: state.rows.length, columns: state.columns.length, loaded: state.loaded }), isEmptyValue };
