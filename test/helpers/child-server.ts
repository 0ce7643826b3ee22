import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { expect, inject, type TestContext } from "vitest";
import { createPostgresDb, type Db } from "../../src/db/client";
import { migrateDatabase } from "../../src/db/migrate";

// The project's processes as real children of the test, for crash tests: the Node server
// (`npm start`'s entry) and the local Trigger.dev-compatible runner, started with the test's Node
// (the project's own), killed with real signals, their output kept for the failure report.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const READY_TIMEOUT_MS = 30_000;

// Only what Node itself needs from the test's environment: every project setting is given explicitly,
// so a variable set where the tests run (a provider key, DATABASE_URL) cannot change the mode.
const INHERITED = ["PATH", "HOME", "TMPDIR", "TMP", "TEMP", "LANG", "NODE_EXTRA_CA_CERTS", "SYSTEMROOT"];

export type ChildExit = { code: number | null; signal: NodeJS.Signals | null };

export type Child = {
  readonly name: string;
  readonly pid: number;
  /** The URL the process printed it listens on. */
  readonly url: string;
  /** The demo key a server prints on the first start of an empty database; null otherwise. */
  readonly apiKey: string | null;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  running(): boolean;
  /** Sends the signal and resolves once the process has exited (and was reaped). */
  kill(signal: NodeJS.Signals): Promise<ChildExit>;
};

const children = new Set<Child>();

/** What every child started by this file printed, for a failing test's report. */
export function childOutputs(): string {
  return [...children].map((child) => `----- ${child.name} (pid ${child.pid}) -----\n${child.output()}`).join("\n");
}

/** SIGKILLs every child still running (their output stays for the report); for afterEach. */
export async function stopChildren(): Promise<void> {
  await Promise.all([...children].filter((child) => child.running()).map((child) => child.kill("SIGKILL")));
}

/** Forgets the children of earlier tests, so a report shows only the current test's; for beforeEach. */
export function forgetChildren(): void {
  for (const child of children) if (!child.running()) children.delete(child);
}

function childEnv(settings: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED) if (process.env[key] !== undefined) env[key] = process.env[key]!;
  return { ...env, ...settings };
}

async function startChild(
  name: string,
  script: string,
  settings: Record<string, string>,
  ready: (output: string) => { url: string; apiKey: string | null } | null,
): Promise<Child> {
  // process.execPath is the project's Node; going through npm or npx would put a wrapper process
  // between the signal and the server.
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", script], {
    cwd: ROOT,
    env: childEnv(settings),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let exit: ChildExit | null = null;
  // "close", not "exit": it comes after the pipes are drained, so the output is complete.
  const exited = new Promise<ChildExit>((resolve) =>
    proc.once("close", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    }),
  );
  const started = await new Promise<{ url: string; apiKey: string | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`)), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = ready(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${how.code ?? how.signal}) before it was ready:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    if (!exit) {
      proc.kill("SIGKILL");
      await exited;
    }
    throw error;
  });
  const child: Child = {
    name,
    pid: proc.pid!,
    url: started.url,
    apiKey: started.apiKey,
    output: () => output,
    running: () => exit === null,
    async kill(signal) {
      if (exit) return exit;
      proc.kill(signal);
      return exited;
    },
  };
  children.add(child);
  return child;
}

/** `npm start`'s server (src/node.ts) with the given settings (PORT=0 and LOG_LEVEL=warn unless set). */
export function startServer(name: string, settings: Record<string, string>): Promise<Child> {
  return startChild(name, "src/node.ts", { PORT: "0", LOG_LEVEL: "warn", ...settings }, (output) => {
    const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
    // The banner's last line: the demo key on a first start, a hint on an existing database.
    const apiKey = /(pk_live_[A-Za-z0-9_-]+)/.exec(output)?.[1] ?? null;
    if (!url || (!apiKey && !output.includes("Existing database"))) return null;
    return { url, apiKey };
  });
}

/** The local Trigger.dev-compatible runner (scripts/trigger-runner.ts); TRIGGER_API_URL says where it listens. */
export function startRunner(name: string, settings: Record<string, string>): Promise<Child> {
  return startChild(name, "scripts/trigger-runner.ts", { LOG_LEVEL: "warn", ...settings }, (output) => {
    const url = /runner listening on (http:\/\/\S+)/.exec(output)?.[1];
    return url ? { url, apiKey: null } : null;
  });
}

/** A port nothing listens on right now, for a child that must come back on the same address. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A migrated database of its own on the test server, for children whose recovery sweeps every workspace. */
export async function scratchDatabase(label: string): Promise<{ url: string; db: Db; drop: () => Promise<void> }> {
  const url = new URL(inject("databaseUrl"));
  const name = `crash_${label}_${process.pid}`;
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.unsafe(`create database "${name}"`);
  url.pathname = `/${name}`;
  const { db, close } = createPostgresDb(url.toString(), { max: 4 });
  await migrateDatabase(db, "postgres");
  return {
    url: url.toString(),
    db,
    async drop() {
      await close();
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A JSON client for a child server's API. */
export function apiClient(baseUrl: string, apiKey: string) {
  async function request(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Json = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep the raw text: the assertion will show it */
    }
    return { status: res.status, body: parsed };
  }
  return {
    request,
    get: (path: string) => request("GET", path),
    post: (path: string, body: unknown = {}) => request("POST", path, body),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/** Polls `check` until it returns true; resolves with the milliseconds it took, throws with `describe()` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string> | string, everyMs = 100): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`not reached within ${timeoutMs} ms: ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Prints what every child printed when the test fails: the server's side of the story. */
export function reportChildrenOnFailure(context: TestContext) {
  context.onTestFailed(() => console.error(`children's output:\n${childOutputs()}`));
}

/** Kills the child with SIGKILL and checks that it died of it. */
export async function killAndConfirm(child: Child) {
  expect(await child.kill("SIGKILL")).toEqual({ code: null, signal: "SIGKILL" });
}
