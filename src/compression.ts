import type { MiddlewareHandler } from "hono";
import { COMPRESSIBLE_CONTENT_TYPE_REGEX } from "hono/utils/compress";

// gzip for the Node server's answers, where the client accepts it (Workers compress at the edge).
// Hono's own middleware compresses every body it cannot see the length of, and a JSON answer has
// none yet when the middleware runs: each small answer (a cell write's) would pay for a gzip
// stream. Here a body held in memory is measured first, and only one of THRESHOLD bytes or more is
// compressed. Event streams are never touched (their type is not compressible), so live updates
// are not buffered.

const THRESHOLD = 1024;

/** Whether `header` (Accept-Encoding) accepts gzip: named, or by `*`, with a q above 0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let wildcard = false;
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const accepted = q === undefined || Number(q.slice(2)) > 0;
    if (name === "gzip") return accepted;
    if (name === "*") wildcard = accepted;
  }
  return wildcard;
}

export const compressResponses: MiddlewareHandler = async (c, next) => {
  await next();
  const res = c.res;
  // Its status and headers only, until gzip is wanted: asking for the body makes the Node adapter
  // turn its light response into a full web Response, the slow way out.
  if (c.req.method === "HEAD" || res.status === 204 || res.status === 206 || res.status === 304) return;
  if (res.headers.has("content-encoding") || !COMPRESSIBLE_CONTENT_TYPE_REGEX.test(res.headers.get("content-type") ?? "")) return;
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(res.headers.get("cache-control") ?? "")) return;
  const vary = res.headers.get("vary");
  if (vary !== "*" && !/(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(vary ?? "")) res.headers.set("vary", vary ? `${vary}, Accept-Encoding` : "Accept-Encoding");
  if (!acceptsGzip(c.req.header("accept-encoding")) || !res.body) return;
  const length = res.headers.get("content-length");
  if (length !== null && Number(length) < THRESHOLD) return;
  let body: ReadableStream<Uint8Array> | ArrayBuffer = res.body;
  if (length === null) {
    // In memory already for every JSON answer: measuring it costs a copy, not a stream.
    body = await res.arrayBuffer();
    if (body.byteLength < THRESHOLD) {
      c.res = new Response(body, res);
      return;
    }
  }
  const source = body instanceof ArrayBuffer ? new Response(body).body! : body;
  c.res = new Response(source.pipeThrough(new CompressionStream("gzip")), res);
  c.res.headers.delete("content-length");
  c.res.headers.set("content-encoding", "gzip");
};
