// The add-people dialog: one person a line, as "name, company, domain", which is how people are pasted
// from elsewhere. The grid reloads afterwards, since merges and new companies change rows the page
// could not work out by itself.

import { ApiError } from "./api.js";
import { showMessage } from "./session.js";
import { reload } from "./sync.js";
import { $, state } from "./state.js";

const el = {
  rowsDialog: $("rows-dialog"),
  rowsForm: $("rows-form"),
  rowsInput: $("rows-input"),
  rowsError: $("rows-error"),
};

export function initRowsForm() {
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
}
