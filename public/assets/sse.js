// Server-sent events over fetch. EventSource cannot send an Authorization header, and the API key
// must never travel in a URL, so the page reads the stream's body itself.

/**
 * A text/event-stream parser as the HTML standard describes it: lines end in CRLF, LF or CR; a blank
 * line dispatches the event; `:` starts a comment; the last event id is committed only when an event
 * is dispatched, so an event cut off by a dropped connection is never counted as received.
 */
export function createSseParser({ onEvent, onComment = () => {}, onRetry = () => {}, lastEventId = null }) {
  let buffer = "";
  let type = "";
  let data = [];
  let idField = lastEventId;
  let committedId = lastEventId;

  function line(text) {
    if (text === "") return dispatch();
    if (text[0] === ":") return onComment(text.slice(1));
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) idField = value;
    else if (field === "retry" && /^\d+$/.test(value)) onRetry(Number(value));
  }

  function dispatch() {
    committedId = idField;
    const event = { type: type || "message", data: data.join("\n"), id: committedId };
    const hadData = data.length > 0;
    type = "";
    data = [];
    if (hadData) onEvent(event);
  }

  return {
    feed(chunk) {
      buffer += chunk;
      let start = 0;
      for (;;) {
        const cr = buffer.indexOf("\r", start);
        const lf = buffer.indexOf("\n", start);
        const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
        if (end === -1) break;
        // A CR at the very end may be the first half of a CRLF still in flight.
        if (buffer[end] === "\r" && end === buffer.length - 1) break;
        const text = buffer.slice(start, end);
        start = end + (buffer[end] === "\r" && buffer[end + 1] === "\n" ? 2 : 1);
        line(text);
      }
      buffer = buffer.slice(start);
    },
    get lastEventId() {
      return committedId;
    },
  };
}

const SILENCE_MS = 45_000;
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15_000;

/**
 * Follows `url` for as long as it is not stopped: reconnects after a drop with `Last-Event-ID`, starts
 * over without it on 410, and gives up only on 401 (the key) or when stopped.
 *
 * - `onOpen({ resumed })` once the response headers arrived: `resumed` is false when the stream starts
 *   at "now" (first connection, or after a 410), and the caller must then (re)load what it shows;
 * - `onEvent({ type, data, id })` for each event, in order;
 * - `onState(state, detail)`: `connecting`, `live`, `retrying` (with the error), `closed`;
 * - `onFailure(status, body)` for an answer that is not a stream (before retrying, or giving up on 401).
 */
export function followEventStream(url, { headers, onOpen, onEvent, onState = () => {}, onFailure = () => {} }) {
  let stopped = false;
  let controller = null;
  let cursor = null;
  let backoff = MIN_BACKOFF_MS;
  let serverRetry = null;
  let timer = null;

  async function connect() {
    if (stopped) return;
    controller = new AbortController();
    const signal = controller.signal;
    let silence = null;
    const quiet = () => {
      clearTimeout(silence);
      // The server sends a comment at least every 15 s: longer silence is a dead connection.
      silence = setTimeout(() => controller.abort(new Error("stream went silent")), SILENCE_MS);
    };
    onState("connecting");
    try {
      const requestHeaders = { ...headers, Accept: "text/event-stream" };
      if (cursor !== null) requestHeaders["Last-Event-ID"] = cursor;
      quiet();
      const res = await fetch(url, { headers: requestHeaders, cache: "no-store", signal });
      const type = res.headers.get("content-type") ?? "";
      if (res.status === 410) {
        await res.body?.cancel();
        cursor = null;
        onFailure(410, null);
        return schedule(0);
      }
      if (!res.ok || !type.startsWith("text/event-stream") || !res.body) {
        const body = await res.json().catch(() => null);
        onFailure(res.status, body);
        if (res.status === 401) {
          stopped = true;
          onState("closed");
          return;
        }
        const retryAfter = Number(res.headers.get("retry-after"));
        return schedule(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null, new Error(`HTTP ${res.status}`));
      }
      const resumed = cursor !== null;
      onState("live");
      await onOpen({ resumed });
      quiet();
      const parser = createSseParser({
        lastEventId: cursor,
        onEvent: (event) => {
          cursor = event.id;
          backoff = MIN_BACKOFF_MS;
          onEvent(event);
        },
        onComment: () => {
          backoff = MIN_BACKOFF_MS;
        },
        onRetry: (ms) => (serverRetry = ms),
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        quiet();
        parser.feed(value);
      }
      schedule(null, new Error("stream ended"));
    } catch (error) {
      if (!stopped) schedule(null, error);
    } finally {
      clearTimeout(silence);
    }
  }

  function schedule(delayMs, error) {
    if (stopped) return;
    const wait = delayMs ?? Math.max(serverRetry ?? 0, backoff);
    if (delayMs === null) backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    onState("retrying", error);
    clearTimeout(timer);
    timer = setTimeout(connect, wait);
  }

  connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller?.abort();
      onState("closed");
    },
    get cursor() {
      return cursor;
    },
  };
}
