// The API as the page uses it: same origin, the key only ever in the Authorization header.

export class ApiError extends Error {
  constructor(status, body) {
    super(typeof body?.error === "string" ? body.error : `Request failed with status ${status}`);
    this.status = status;
    this.code = body?.code ?? null;
    this.body = body;
  }
}

export function createApi(key) {
  const auth = { Authorization: `Bearer ${key}` };

  async function call(method, path, body) {
    const headers = { ...auth, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  const list = (id) => `/api/lists/${encodeURIComponent(id)}`;
  return {
    headers: auth,
    account: () => call("GET", "/api/account"),
    lists: () => call("GET", "/api/lists"),
    createList: (name) => call("POST", "/api/lists", { name }),
    sheet: (id, segment) => call("GET", `${list(id)}?segment=${segment}`),
    columns: (id) => call("GET", `${list(id)}/columns`),
    createColumn: (id, body) => call("POST", `${list(id)}/columns`, body),
    generate: (id, columnId, rowIds) => call("POST", `${list(id)}/columns/${encodeURIComponent(columnId)}/generate`, { rowIds }),
    addRows: (id, rows) => call("POST", `${list(id)}/rows/bulk`, { rows }),
    preview: (action, count) => call("POST", "/api/credits/preview", { action, count }),
    eventsUrl: (id) => `${list(id)}/events`,
  };
}
