import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// A programmable HTTP server on 127.0.0.1 for provider fakes: each request is recorded and answered
// by the handler, which may be async (to hang or delay) and sees the parsed JSON body.

export type FakeRequest = { method: string; path: string; query: URLSearchParams; headers: IncomingMessage["headers"]; body: unknown; rawBody: string };
export type FakeHandler = (request: FakeRequest, response: ServerResponse) => void | Promise<void>;

export type HttpFake = {
  url: string;
  requests: FakeRequest[];
  /** Replaces the handler. */
  handle(handler: FakeHandler): void;
  close(): Promise<void>;
};

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(typeof body === "string" ? body : JSON.stringify(body));
}

export async function startHttpFake(handler: FakeHandler = (_req, res) => sendJson(res, 404, { error: "no handler" })): Promise<HttpFake> {
  let current = handler;
  const requests: FakeRequest[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      let body: unknown = undefined;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const recorded: FakeRequest = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, body, rawBody: raw };
      requests.push(recorded);
      open.add(res);
      res.on("close", () => open.delete(res));
      try {
        await current(recorded, res);
      } catch (error) {
        if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        // Keep-alive sockets of clients that gave up would otherwise hold close() for seconds.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
