import { createHash } from "node:crypto";
import { chmodSync, unlinkSync } from "node:fs";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { adminCommandSchema, type AdminCommand } from "./admin-commands";
import { AppError, databaseAppError } from "./errors";
import type { Logger } from "./services";

// How `npm run admin` reaches a running `npm start` that owns the embedded database: HTTP on a Unix
// domain socket in the data folder, mode 0600, so only the local user who runs the server can use it.
// The server runs the command against its own database and answers what admin would have printed.

const MAX_BODY_BYTES = 64 * 1024;
// Socket paths are limited to about 104 bytes; a deep data folder gets a socket in the temp folder.
const MAX_SOCKET_PATH_BYTES = 100;

export function controlChannelPath(dataDir: string): string {
  const folder = resolve(dataDir);
  if (process.platform === "win32") return `\\\\.\\pipe\\lead-enrichment-${digest(folder)}`;
  const inFolder = join(folder, "control.sock");
  return Buffer.byteLength(inFolder) <= MAX_SOCKET_PATH_BYTES ? inFolder : join(tmpdir(), `lead-enrichment-${digest(folder)}.sock`);
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

export type ControlChannel = { close(): Promise<void> };

/** Listens on `path` (a stale socket file there is replaced: the caller holds the data folder's lock). */
export async function openControlChannel(path: string, run: (command: AdminCommand) => Promise<unknown>, logger: Logger): Promise<ControlChannel> {
  const server = createServer((req, res) => {
    void answer(req, res, run, logger);
  });
  removeSocket(path);
  // The socket is created with the umask's mode: none for group and others, from the first instant.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((done, fail) => {
      server.once("error", fail);
      server.listen(path, () => {
        server.off("error", fail);
        done();
      });
    });
  } finally {
    process.umask(umask);
  }
  server.on("error", (error) => logger.warn("control channel error", { path, error: error.message }));
  if (process.platform !== "win32") chmodSync(path, 0o600);
  const onExit = () => removeSocket(path);
  process.on("exit", onExit);
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
      }).finally(() => {
        removeSocket(path);
        process.removeListener("exit", onExit);
      });
      return closing;
    },
  };
}

function removeSocket(path: string): void {
  if (process.platform === "win32") return;
  try {
    unlinkSync(path);
  } catch {
    // Not there.
  }
}

async function answer(req: IncomingMessage, res: ServerResponse, run: (command: AdminCommand) => Promise<unknown>, logger: Logger): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.method !== "POST" || req.url !== "/admin") return reply(404, { error: "Unknown control request", code: "NOT_FOUND" });
  let text = "";
  try {
    for await (const chunk of req) {
      text += chunk;
      if (text.length > MAX_BODY_BYTES) return reply(413, { error: "Control request too large", code: "PAYLOAD_TOO_LARGE" });
    }
  } catch {
    return; // the admin process went away
  }
  let parsed: ReturnType<typeof adminCommandSchema.safeParse>;
  try {
    parsed = adminCommandSchema.safeParse(JSON.parse(text));
  } catch {
    return reply(400, { error: "Control request is not JSON", code: "VALIDATION_ERROR" });
  }
  if (!parsed.success) return reply(400, { error: `Invalid admin command: ${parsed.error.issues[0]?.message ?? "invalid"}`, code: "VALIDATION_ERROR" });
  try {
    const output = await run(parsed.data);
    logger.info("admin command", { command: parsed.data.command });
    reply(200, output);
  } catch (error) {
    const known = error instanceof AppError ? error : databaseAppError(error);
    if (known) return reply(known.status, { error: known.message, code: known.code });
    logger.error("admin command failed", { command: parsed.data.command, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    reply(500, { error: "The server could not run the command (see its log)", code: "INTERNAL" });
  }
}

export type ControlReply = { status: number; body: unknown };

/** Sends one command to a server's control channel; rejects when nothing answers there (ENOENT, ECONNREFUSED). */
export function sendControlCommand(path: string, command: AdminCommand, timeoutMs = 60_000): Promise<ControlReply> {
  const payload = JSON.stringify(command);
  return new Promise((done, fail) => {
    const req = request(
      { socketPath: path, method: "POST", path: "/admin", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }, timeout: timeoutMs },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          try {
            done({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
          } catch {
            fail(new Error(`the server answered ${res.statusCode} with a body that is not JSON`));
          }
        });
        res.on("error", fail);
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`), { code: "ETIMEDOUT" })));
    req.on("error", fail);
    req.end(payload);
  });
}
