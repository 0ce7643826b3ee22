// The add-column dialog: the fields each kind of column needs, and its cost, priced by the server
// before anything is created so that nobody pays for a column without having seen what it costs.
// The new column is then shown at once rather than after a reload, with its cells queued.

import { ApiError } from "./api.js";
import { COLUMN_KINDS, ENRICHMENT_LABELS, h, isDynamicColumn, progressFromCells } from "./cells.js";
import { markQueued, renderGrid } from "./grid.js";
import { headerEls, renderListStatus } from "./progress.js";
import { handleApiError, showMessage } from "./session.js";
import { $, cellsOfColumn, credits, keyOf, state, subjectOf } from "./state.js";

const el = {
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
};

export function initColumnForm() {
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
}

function kindsFor(subject) {
  return COLUMN_KINDS.filter((kind) => kind.subjects.includes(subject));
}

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
