// The API key, the account it opens, and the message line. The key is the page's only credential, so
// one place decides when it is kept and when it is dropped: any part that meets a 401 comes here,
// since a refused key means nothing else on the page can work.

import { ApiError, createApi } from "./api.js";
import { closeList, fromHash, loadLists } from "./lists.js";
import { $, credits, state } from "./state.js";

const KEY_STORAGE = "lead-enrichment.apiKey";

const el = {
  keyPanel: $("key-panel"),
  keyForm: $("key-form"),
  keyInput: $("api-key"),
  keyError: $("key-error"),
  accountBar: $("account-bar"),
  workspaceName: $("workspace-name"),
  balance: $("balance"),
  forgetKey: $("forget-key"),
  listsPanel: $("lists-panel"),
  message: $("message"),
};

export function initSession() {
  el.keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = el.keyInput.value.trim();
    if (!key) return;
    el.keyError.textContent = "";
    await connect(key, { remember: true });
  });

  el.forgetKey.addEventListener("click", () => forgetKey());
}

/** Connects with the key kept from an earlier visit, if any. */
export function resumeSession() {
  const saved = storedKey();
  if (saved) connect(saved, { remember: false });
  else el.keyInput.focus();
}

function storedKey() {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function forgetKey(reason = "") {
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

export function setBalance(balance) {
  state.balance = balance;
  el.balance.dataset.balance = balance === null ? "" : String(balance);
  el.balance.textContent = balance === null ? "…" : credits(balance);
}

/** 401 anywhere: the key was revoked meanwhile. */
export function handleApiError(error, where) {
  if (error instanceof ApiError && error.status === 401) {
    forgetKey("This key was refused: it is unknown or was revoked.");
    return;
  }
  showMessage(`${where}: ${error.message}`, "error");
}

export function showMessage(text, kind = "info") {
  el.message.textContent = text;
  el.message.dataset.kind = kind;
}
