// The live grid page at /: sets up its parts, then connects with a kept key. The parts call one
// another, so each attaches its listeners only when set up here, once every module has loaded.

import { isEmptyValue } from "./cells.js";
import { initColumnForm } from "./column-form.js";
import { initListPicker } from "./lists.js";
import { initRowsForm } from "./rows-form.js";
import { initSelection } from "./selection.js";
import { initSession, resumeSession } from "./session.js";
import { state } from "./state.js";
import { renderStreamState } from "./sync.js";

initSession();
initListPicker();
initSelection();
initColumnForm();
initRowsForm();

renderStreamState("closed");
resumeSession();

// Exposed for debugging in the console; holds no key.
window.leadGrid = { state: () => ({ listId: state.listId, segment: state.segment, rows: state.rows.length, columns: state.columns.length, loaded: state.loaded }), isEmptyValue };
