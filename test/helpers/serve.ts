import type { Server } from "node:http";
import { serve } from "@hono/node-server";

export type Served = { url: string; close(): Promise<void> };

/** An app (or any fetch handler) served over real HTTP on 127.0.0.1, on a free port. */
export function serveOverHttp(fetch: (request: Request) => Response | Promise<Response>): Promise<Served> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            // Open streams and keep-alive connections would hold close() until they end.
            (server as Server).closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}
