// Which list and segment are open: the list picker, the new-list form, the People/Companies tabs and
// the address hash that remembers them. Opening and closing a list go through here so that the grid,
// the selection and the stream always belong to the same list.

import { h } from "./cells.js";
import { renderGrid } from "./grid.js";
import { clearSelection } from "./selection.js";
import { handleApiError, showMessage } from "./session.js";
import { followList, reload, stopFollowing } from "./sync.js";
import { $, state } from "./state.js";

const el = {
  listsPanel: $("lists-panel"),
  listSelect: $("list-select"),
  newListForm: $("new-list-form"),
  newListName: $("new-list-name"),
  tabs: [...document.querySelectorAll("[role=tab][data-segment]")],
};

export function initListPicker() {
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
}

export function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { listId: params.get("list"), segment: params.get("segment") === "companies" ? "companies" : "people" };
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.listId) params.set("list", state.listId);
  if (state.segment !== "people") params.set("segment", state.segment);
  history.replaceState(null, "", `#${params}`);
}

export async function loadLists(preferredId) {
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

export function renderListOptions() {
  el.listSelect.replaceChildren(
    ...state.lists.map((list) => h("option", { value: list.id, selected: list.id === state.listId }, `${list.name} (${list.rowCount} people, ${list.companyCount} companies)`)),
  );
}

export function renderTabs() {
  for (const tab of el.tabs) {
    const selected = tab.dataset.segment === state.segment;
    tab.setAttribute("aria-selected", String(selected));
    const count = state.list ? (tab.dataset.segment === "people" ? state.list.rowCount : state.list.companyCount) : null;
    tab.textContent = `${tab.dataset.segment === "people" ? "People" : "Companies"}${count === null ? "" : ` (${count})`}`;
  }
  el.listsPanel.dataset.segment = state.segment;
}

export function closeList() {
  stopFollowing();
  Object.assign(state, { listId: null, list: null, rows: [], columns: [], truncated: false, loaded: false, buffered: [] });
  state.rowIds = new Set();
  state.knownColumns = new Map();
  state.unknownColumns = new Map();
  state.cells = new Map();
  clearSelection();
  renderGrid();
}

function openList(listId, segment) {
  closeList();
  state.listId = listId;
  state.segment = segment;
  renderListOptions();
  renderTabs();
  writeHash();
  showMessage("");
  followList(listId);
}
