import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createPostgresDb } from "../src/db/client";
import { redactDatabaseUrl } from "../src/db/errors";
import { migrateDatabase } from "../src/db/migrate";
import { openDatabase } from "../src/db/open";
import { createAccount } from "../src/domain/accounts";

// `npm start` and `npm run admin` as an operator runs them: real child processes, real signals,
// the embedded database in a data folder of each test's own.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEMO_EMAIL = "demo@localhost";

type Exit = { code: number | null; signal: NodeJS.Signals | null };
type Proc = { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<Exit> };

/** The environment of a child: this one's, without anything that would point it elsewhere. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", PORT: "0", ...extra };
  for (const name of ["DATABASE_URL", "TRIGGER_SECRET_KEY", "TRIGGER_API_URL", "SANDBOX_DELAY_MS", "SHUTDOWN_GRACE_MS"]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function run(entry: "src/node.ts" | "src/admin.ts", args: string[], extra: Record<string, string>): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], { cwd: ROOT, env: childEnv(extra), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  // "close", not "exit": it comes after the pipes are drained, so stdout and stderr are complete.
  const exited = new Promise<Exit>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | Promise<T | undefined | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type Started = Proc & { url: string };

async function startServer(dataDir: string, extra: Record<string, string> = {}): Promise<Started> {
  const proc = run("src/node.ts", [], { DATA_DIR: dataDir, ...extra });
  let exit: Exit | null = null;
  void proc.exited.then((e) => (exit = e));
  // The whole banner: its lines may reach the pipe in separate chunks; the last one names the
  // reference, after the lines saying whether a key was printed (a new database) or not.
  const url = await waitFor("the server to listen and print its banner", () => {
    if (exit) throw new Error(`server exited (${exit.code}) before it listened:\n${proc.stdout()}${proc.stderr()}`);
    const out = proc.stdout();
    if (!/^Reference: /m.test(out)) return undefined;
    return /listening on (http:\/\/\S+)/.exec(out)?.[1];
  });
  return { ...proc, url };
}

async function admin(dataDir: string, ...args: string[]) {
  const proc = run("src/admin.ts", args, { DATA_DIR: dataDir });
  const exit = await proc.exited;
  return { code: exit.code, stdout: proc.stdout(), stderr: proc.stderr() };
}

async function api(url: string, key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function elapsed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

const temps: string[] = [];
function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "lifecycle-")));
  temps.push(dir);
  return dir;
}

// A fresh embedded database takes seconds to initialise: it is made once (migrated, with the demo
// account) and each test starts from a copy of it.
let template = "";
let demoKey = "";
beforeAll(async () => {
  template = tempDir();
  const database = await openDatabase({ DATABASE_URL: undefined, DATA_DIR: template, DATABASE_POOL_MAX: 1 });
  demoKey = (await createAccount(database.db, { email: DEMO_EMAIL, fullName: "Demo User", credits: 1000 })).apiKey;
  await database.close();
});

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function dataDirFromTemplate(): string {
  const dir = tempDir();
  cpSync(template, dir, { recursive: true });
  return dir;
}

describe("the embedded database has one owner", () => {
  it("refuses a second server, serves admin commands while running, and restarts after a kill", { timeout: 90_000 }, async () => {
    const dataDir = dataDirFromTemplate();
    const first = await startServer(dataDir);
    expect(first.stdout()).toContain(`database: pglite, ${join(dataDir, "pglite")}`);
    expect(first.stdout()).toContain(`Existing database. For a fresh key: npm run admin -- rotate-key --email ${DEMO_EMAIL}`);
    expect(first.stdout()).toContain(`Page: ${first.url}/ (the live grid: paste the key there)\nReference: ${first.url}/docs (OpenAPI: ${first.url}/openapi.json; MCP: ${first.url}/mcp)`);
    const page = await fetch(`${first.url}/`);
    expect({ status: page.status, type: page.headers.get("content-type") }).toEqual({ status: 200, type: expect.stringMatching(/^text\/html/) });
    // The reference loads only what this server serves: its page, the document and the script.
    const docs = await fetch(`${first.url}/docs`);
    expect(docs.status).toBe(200);
    const script = /<script src="(\/assets\/[^"]+)"><\/script>/.exec(await docs.text())?.[1];
    expect(script).toBe("/assets/vendor/scalar-api-reference.js");
    const served = await fetch(`${first.url}${script}`);
    expect({ status: served.status, type: served.headers.get("content-type") }).toEqual({ status: 200, type: expect.stringMatching(/javascript/) });
    expect((await served.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
    expect((await fetch(`${first.url}/openapi.json`)).status).toBe(200);

    // A second server on the same folder: one line, at once, non-zero; the first keeps serving.
    const second = run("src/node.ts", [], { DATA_DIR: dataDir });
    const { value: secondExit, ms } = await elapsed(second.exited);
    expect(secondExit).toEqual({ code: 1, signal: null });
    expect(second.stderr()).toBe(`Another server (pid ${first.child.pid}) is using the embedded database in ${dataDir}; stop it first or set DATA_DIR.\n`);
    expect(second.stdout()).toBe("");
    expect(ms).toBeLessThan(10_000);
    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, database: "up" });

    // admin while the server runs: the server carries the command out on its own database.
    const before = await api(first.url, demoKey, "GET", "/api/account");
    expect(before.status).toBe(200);
    const rotated = await admin(dataDir, "rotate-key", "--email", DEMO_EMAIL);
    expect(rotated.stderr).toBe("");
    expect(rotated.code).toBe(0);
    const output = JSON.parse(rotated.stdout);
    expect(output).toEqual({ accountId: before.body.account.id, workspaceId: before.body.workspace.id, apiKey: expect.stringMatching(/^pk_live_/) });
    expect(rotated.stdout).toBe(`${JSON.stringify(output, null, 2)}\n`);
    const withNewKey = await api(first.url, output.apiKey, "GET", "/api/account");
    expect(withNewKey).toEqual({ status: 200, body: before.body });
    const withOldKey = await api(first.url, demoKey, "GET", "/api/account");
    expect(withOldKey.status).toBe(401);
    expect(withOldKey.body).toEqual({ error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: expect.any(String) });

    const [granted, unknown] = await Promise.all([
      admin(dataDir, "grant-credits", "--email", DEMO_EMAIL, "--credits", "25"),
      admin(dataDir, "rotate-key", "--email", "nobody@example.test"),
    ]);
    expect(unknown).toEqual({ code: 1, stdout: "", stderr: "NOT_FOUND: Account not found\n" });
    expect(granted.code).toBe(0);
    expect(JSON.parse(granted.stdout)).toEqual({ workspaceId: before.body.workspace.id, balance: 1025, entryId: expect.any(String) });
    const account = await api(first.url, output.apiKey, "GET", "/api/account");
    expect(account.body.credits).toEqual({ balance: 1025 });

    // Killed outright: the lock it leaves behind does not block the next start.
    first.child.kill("SIGKILL");
    await first.exited;
    const { value: restarted, ms: restartMs } = await elapsed(startServer(dataDir));
    expect(restartMs).toBeLessThan(15_000);
    expect((await api(restarted.url, output.apiKey, "GET", "/api/account")).body.credits).toEqual({ balance: 1025 });

    // Stopped while idle: exits 0 at once and leaves neither its lock nor its control socket.
    restarted.child.kill("SIGTERM");
    const { value: stopped, ms: stopMs } = await elapsed(restarted.exited);
    expect(stopped).toEqual({ code: 0, signal: null });
    expect(stopMs).toBeLessThan(5_000);
    expect(restarted.stdout()).toMatch(/Stopping: nothing is running\.\n$/);
    expect(restarted.stderr()).toBe("");
    expect(readdirSync(dataDir).sort()).toEqual(["pglite"]);

    // Nothing runs now: admin opens the database itself.
    const offline = await admin(dataDir, "grant-credits", "--email", DEMO_EMAIL, "--credits", "5");
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ balance: 1030 });
    expect(readdirSync(dataDir).sort()).toEqual(["pglite"]);
  });
});

describe("stopping with work in flight", () => {
  it("waits the grace period for a running task, aborts it without failing its cells, and a second signal stops at once", { timeout: 90_000 }, async () => {
    const dataDir = dataDirFromTemplate();
    const slow = { SANDBOX_DELAY_MS: "60000" };
    const server = await startServer(dataDir, { ...slow, SHUTDOWN_GRACE_MS: "1500" });
    const { listId, columnId } = await aiColumnStillProcessing(server.url);

    server.child.kill("SIGTERM");
    const { value: exit, ms } = await elapsed(server.exited);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(1500 + 3500);
    const lines = server.stdout().trimEnd().split("\n");
    expect(lines.slice(-2)).toEqual([
      "Stopping: waiting up to 1.5 s for 1 running task; press Ctrl-C again to stop now",
      "Stopped 1 task after 1.5 s; recovery resumes their work on the next start.",
    ]);

    // The aborted task neither failed nor refunded its cells: they wait for recovery.
    const again = await startServer(dataDir, slow);
    const cells = await api(again.url, demoKey, "GET", `/api/lists/${listId}/columns/${columnId}/preview-cells`);
    expect(cells.status).toBe(200);
    expect(cells.body.cells).toHaveLength(2);
    for (const cell of cells.body.cells) expect(["pending", "processing"]).toContain(cell.status);
    expect((await api(again.url, demoKey, "GET", "/api/account")).body.credits).toEqual({ balance: 998 });

    // With a task running and the default grace of 10 s, a second Ctrl-C does not wait.
    await aiColumnStillProcessing(again.url, listId);
    again.child.kill("SIGINT");
    await waitFor("the waiting line", () => again.stdout().includes("Stopping: waiting up to 10 s for"));
    expect(again.stdout()).toMatch(/Stopping: waiting up to 10 s for \d+ running tasks?; press Ctrl-C again to stop now\n$/);
    again.child.kill("SIGINT");
    const { value: forced, ms: forcedMs } = await elapsed(again.exited);
    expect(forced).toEqual({ code: 130, signal: null });
    expect(forcedMs).toBeLessThan(2_000);
    expect(again.stdout()).toMatch(/Stopping now, without waiting\.\n$/);
    expect(readdirSync(dataDir).sort()).toEqual(["pglite"]);
  });
});

/** An AI column over two rows whose cells the slow sandbox keeps `processing`. */
async function aiColumnStillProcessing(url: string, existingList?: string): Promise<{ listId: string; columnId: string }> {
  let listId = existingList;
  if (!listId) {
    const list = await api(url, demoKey, "POST", "/api/lists", { name: "Slow list" });
    expect(list.status).toBe(201);
    listId = list.body.list.id as string;
    const rows = await api(url, demoKey, "POST", `/api/lists/${listId}/rows/bulk`, {
      rows: [
        { firstName: "Ada", lastName: "Lovelace", company: "Analytical Engines", domain: "analytical.example" },
        { firstName: "Alan", lastName: "Turing", company: "Bletchley Labs", domain: "bletchley.example" },
      ],
    });
    expect(rows.status).toBe(200);
  }
  const column = await api(url, demoKey, "POST", `/api/lists/${listId}/columns`, {
    name: `Sells to businesses? ${crypto.randomUUID().slice(0, 8)}`,
    isDynamic: true,
    prompt: "Does {{company}} sell to businesses?",
  });
  expect(column.status).toBe(201);
  const columnId = column.body.column.id as string;
  await waitFor("a processing cell", async () => {
    const cells = await api(url, demoKey, "GET", `/api/lists/${listId}/columns/${columnId}/preview-cells`);
    return (cells.body.cells as Array<{ status: string }>).some((cell) => cell.status === "processing");
  });
  return { listId, columnId };
}

// Light processes (no embedded database): these run side by side.
describe.concurrent("a start that cannot succeed says why in one line", () => {
  let scratch: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    scratch = await scratchDatabase(`lifecycle_${process.pid}`);
  });
  afterAll(() => scratch.drop());

  it("names an unreachable database, password redacted", { timeout: 30_000 }, async () => {
    const port = await closedPort();
    const url = `postgres://postgres:s3cret@127.0.0.1:${port}/x`;
    const server = run("src/node.ts", [], { DATABASE_URL: url });
    const adminRun = run("src/admin.ts", ["rotate-key", "--email", DEMO_EMAIL], { DATABASE_URL: url });
    const line = `Cannot reach the database at postgres://postgres:***@127.0.0.1:${port}/x: connection refused\n`;
    expect(await server.exited).toEqual({ code: 1, signal: null });
    expect(server.stderr()).toBe(line);
    expect(server.stdout()).toBe("");
    expect(await adminRun.exited).toEqual({ code: 1, signal: null });
    expect(adminRun.stderr()).toBe(line);
  });

  it("names a port in use", { timeout: 30_000 }, async () => {
    const busy = await listening();
    try {
      const port = (busy.address() as AddressInfo).port;
      const server = run("src/node.ts", [], { DATABASE_URL: scratch.url, PORT: String(port) });
      expect(await server.exited).toEqual({ code: 1, signal: null });
      expect(server.stderr()).toBe(`Port ${port} on 127.0.0.1 is already in use; set PORT to another port\n`);
    } finally {
      busy.close();
    }
  });

  it("names every invalid setting on one line", { timeout: 30_000 }, async () => {
    const one = run("src/node.ts", [], { DATABASE_URL: scratch.url, PORT: "eighty" });
    const two = run("src/node.ts", [], { DATABASE_URL: scratch.url, PORT: "99999", SHUTDOWN_GRACE_MS: "-1" });
    const adminRun = run("src/admin.ts", ["rotate-key", "--email", DEMO_EMAIL], { DATABASE_URL: scratch.url, LOG_LEVEL: "loud" });
    expect(await one.exited).toEqual({ code: 1, signal: null });
    expect(one.stderr()).toMatch(/^Invalid setting PORT: [^\n;]+\n$/);
    expect(await two.exited).toEqual({ code: 1, signal: null });
    expect(two.stderr()).toMatch(/^Invalid settings PORT: [^\n;]+; SHUTDOWN_GRACE_MS: [^\n;]+\n$/);
    expect(await adminRun.exited).toEqual({ code: 1, signal: null });
    expect(adminRun.stderr()).toMatch(/^Invalid setting LOG_LEVEL: [^\n;]+\n$/);
  });

  it("logs one line per request, and stops at once on SIGTERM when idle, over Postgres", { timeout: 30_000 }, async () => {
    const server = await startServer(tempDir(), { DATABASE_URL: scratch.url, LOG_LEVEL: "info" });
    expect(server.stdout()).toContain(`database: postgres, ${redactDatabaseUrl(scratch.url)}`);
    expect((await fetch(`${server.url}/healthz?probe=1`, { headers: { "x-request-id": "lifecycle-1" } })).status).toBe(200);
    const refused = await fetch(`${server.url}/api/lists`, { method: "POST", body: "{}" });
    expect(refused.status).toBe(401);
    const requestLines = await waitFor("two request lines", () => {
      const lines = server
        .stdout()
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.message === "request");
      return lines.length === 2 ? lines : null;
    });
    expect(requestLines).toEqual([
      { level: "info", message: "request", method: "GET", path: "/healthz", status: 200, ms: expect.any(Number), requestId: "lifecycle-1" },
      { level: "info", message: "request", method: "POST", path: "/api/lists", status: 401, ms: expect.any(Number), requestId: refused.headers.get("x-request-id") },
    ]);
    server.child.kill("SIGTERM");
    const { value: exit, ms } = await elapsed(server.exited);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(ms).toBeLessThan(3_000);
    expect(server.stderr()).toBe("");
  });
});

describe("two servers started at once on one empty database", () => {
  it("make one demo account: one banner prints its key, the other says the database exists", { timeout: 40_000 }, async () => {
    const scratch = await scratchDatabase(`lifecycle_pair_${process.pid}`);
    const servers: Started[] = [];
    try {
      servers.push(...(await Promise.all([startServer(tempDir(), { DATABASE_URL: scratch.url }), startServer(tempDir(), { DATABASE_URL: scratch.url })])));
      const printed = servers.map((server) => /^ {2}(\S+)$/m.exec(server.stdout())?.[1] ?? null);
      expect(printed.filter((key) => key !== null)).toHaveLength(1);
      expect(servers.filter((server) => server.stdout().includes("Existing database. For a fresh key"))).toHaveLength(1);
      const key = printed.find((key) => key !== null)!;
      const account = await api(servers[0]!.url, key, "GET", "/api/account");
      expect(account.status).toBe(200);
      expect(account.body.account.email).toBe(DEMO_EMAIL);
      const check = postgres(scratch.url, { max: 1, onnotice: () => {} });
      try {
        expect(await check`select (select count(*)::int from accounts) as accounts, (select count(*)::int from workspaces) as workspaces`).toEqual([{ accounts: 1, workspaces: 1 }]);
      } finally {
        await check.end();
      }
    } finally {
      for (const server of servers) server.child.kill("SIGTERM");
      await Promise.all(servers.map((server) => server.exited));
      await scratch.drop();
    }
  });
});

async function scratchDatabase(name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const maintenance = postgres(inject("databaseUrl"), { max: 1, onnotice: () => {} });
  await maintenance.unsafe(`drop database if exists "${name}" with (force)`);
  await maintenance.unsafe(`create database "${name}"`);
  const url = new URL(inject("databaseUrl"));
  url.pathname = `/${name}`;
  // Migrated here, so the servers these tests start side by side find nothing left to migrate.
  const { db, close } = createPostgresDb(url.toString(), { max: 1 });
  await migrateDatabase(db, "postgres");
  await close();
  return {
    url: url.toString(),
    drop: async () => {
      await maintenance.unsafe(`drop database if exists "${name}" with (force)`);
      await maintenance.end();
    },
  };
}

function listening(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function closedPort(): Promise<number> {
  const server = await listening();
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
