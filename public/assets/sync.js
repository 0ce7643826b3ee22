// Keeps the state in step with the server: the REST snapshot, the event stream applied on top of it,
// and the stream's connection shown in the account bar. Loading and streaming live together because
// each decides for the other: the stream's opening asks for a load, a load holds the events back, an
// event the snapshot cannot place asks for another load.

import { ApiError } from "./api.js";
import { progressFromCells } from "./cells.js";
import { applyCell, renderGrid } from "./grid.js";
import { loadLists, renderListOptions, renderTabs } from "./lists.js";
import { applyProgress, renderListStatus } from "./progress.js";
import { renderSelection } from "./selection.js";
import { forgetKey, handleApiError, setBalance, showMessage } from "./session.js";
import { followEventStream } from "./sse.js";
import { $, cellsOfColumn, keyOf, state } from "./state.js";

const RELOAD_DEBOUNCE_MS = 250;
// A column still unknown after a reload (a preview column, hidden from the sheet) asks for no other
// reload for this long.
const UNKNOWN_COLUMN_QUIET_MS = 10_000;

const streamState = $("stream-state");

// ---------------------------------------------------------------- the stream

/**
 * Opens the list's event stream first; once its headers arrived the grid is loaded over REST, and
 * events (which carry a cell's whole state) are applied on top. After a drop the stream resumes
 * from the last event id, so nothing needs reloading; after a 410 it starts over from a reload.
 */
export function followList(listId) {
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

/** Stops the stream and any reload it asked for, before another list (or none) is shown. */
export function stopFollowing() {
  state.stream?.stop();
  state.stream = null;
  clearTimeout(reloadTimer);
}

export function renderStreamState(stream, error) {
  const labels = { connecting: "connecting…", live: "live", retrying: "reconnecting…", closed: "offline" };
  streamState.dataset.state = stream;
  streamState.textContent = labels[stream] ?? stream;
  streamState.title = error ? String(error.message ?? error) : "";
}

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
export function unknownColumn(columnId) {
  const quietUntil = state.unknownColumns.get(columnId);
  if (quietUntil && Date.now() < quietUntil) return;
  state.unknownColumns.set(columnId, 0);
  scheduleReload();
}

// ---------------------------------------------------------------- loading the grid

let reloadTimer = null;

/** A reload for an event about a column or row the page does not know yet; bursts make one. */
export function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reload(), RELOAD_DEBOUNCE_MS);
}

/** Loads the sheet; events arriving meanwhile wait, and are applied on the fresh state in order. */
export function reload({ rethrow = false } = {}) {
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
