import { createAdaptorServer, type HttpBindings } from "@hono/node-server";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { count } from "drizzle-orm";
import { runAdminCommand } from "./admin-commands";
import { serveStatic } from "@hono/node-server/serve-static";
import { createApp } from "./app";
import type { EventFeeds } from "./domain/event-feed";
import { copyVendorAssets, PUBLIC_DIR } from "./vendor-assets";
import { failAndExit, oneLine } from "./cli";
import { controlChannelPath, openControlChannel, type ControlChannel } from "./control-channel";
import type { Db } from "./db/client";
import { claimDataDir, lockHeldMessage, type DataLock } from "./db/data-lock";
import { openDatabase, type OpenDatabase } from "./db/open";
import { accounts } from "./db/schema";
import { createInProcessDispatcher, type InProcessDispatcher } from "./dispatch/in-process";
import { createTriggerSdkDispatcher } from "./dispatch/trigger-sdk";
import type { Dispatcher } from "./dispatch/types";
import { createAccount } from "./domain/accounts";
import { AppError } from "./errors";
import { expireAllLeases, startRecoveryLoop } from "./domain/recovery";
import type { Env } from "./env";
import { backgroundIdle } from "./after-response";
import { createServiceKit, type Logger, type Services } from "./services";
import { createTaskRegistry } from "./tasks/registry";

// `npm start`: the API on Node, over DATABASE_URL or the embedded database it owns alone.

const DEMO_EMAIL = "demo@localhost";
const DEMO_CREDITS = 1000;
/** After the grace period, how long aborted work gets to return before the database is closed anyway. */
const ABORT_WAIT_MS = 2_000;
/** How long closing the database may take before the process exits anyway. */
const CLOSE_WAIT_MS = 5_000;
/** How long a start waits for an admin command that holds the embedded database. */
const LOCK_PATIENCE_MS = 15_000;

// Once the server is up, `onStop` drains and exits. A stop signal during the start waits for the
// start to finish (so an embedded database is never cut off while it initialises or migrates); a
// second one ends the process at once (exit handlers still give the data folder's lock back).
let onStop: ((signal: NodeJS.Signals, exitCode?: number) => void) | null = null;
let stopRequested: NodeJS.Signals | null = null;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (onStop) return onStop(signal);
    if (stopRequested) process.exit(exitCodeOf(signal));
    stopRequested = signal;
    console.log("Stopping once the start completes; press Ctrl-C again to stop now");
  });
}

await start().catch((error: unknown) => failAndExit(oneLine(error)));

async function start(): Promise<void> {
  const kit = createServiceKit(process.env);
  const { env, logger } = kit;
  const lock = env.DATABASE_URL ? null : await lockEmbeddedDatabase(env.DATA_DIR, logger);
  const database = await openDatabase(env, { lock: lock ?? undefined });
  try {
    const demoKey = await ensureDemoAccount(database.db);
    const tasks = startBackgroundTasks(env, logger, () => services());
    const services = (): Services => kit.services({ db: database.db, dispatcher: tasks.dispatcher });
    await copyVendorAssets();
    const app = createApp(() => ({ services: services() }), { requestLog: logger, staticFiles: serveStatic({ root: PUBLIC_DIR }), compress: true });
    // This process alone owns the embedded database, so every lease in it belonged to a process that
    // is gone: recovery may take its work at once instead of waiting for the leases to run out.
    // Before listening, so no lease of this process's own requests is cut short.
    if (lock && tasks.inProcess) await expireAllLeases(database.db);
    const requests = trackRequests(app.fetch);
    const server = await listen(requests.fetch, env);
    const control = lock ? await openAdminControl(lock, env.DATA_DIR, database.db, logger) : null;
    const inProcess = tasks.inProcess;
    const recovery = startRecoveryLoop(services, logger, inProcess ? { waiting: () => inProcess.executor.waitingPayloads() } : {});
    printBanner(server, database, tasks.inProcess !== null, env, demoKey);
    const events = services().events;
    onStop = stopOnSignal({ server, requests, inProcess: tasks.inProcess, control, database, recovery, events, graceMs: env.SHUTDOWN_GRACE_MS });
    if (stopRequested) onStop(stopRequested);
  } catch (error) {
    await within(CLOSE_WAIT_MS, database.close().catch(() => {}));
    throw error;
  }
}

/** The embedded database has one owner: this process, or it does not start. */
async function lockEmbeddedDatabase(dataDir: string, logger: Logger): Promise<DataLock> {
  const attempt = await claimDataDir(dataDir, "server", {
    patienceMs: LOCK_PATIENCE_MS,
    onLost: () => {
      // Only when this process stopped heartbeating long enough for another to judge it gone.
      logger.error("another process took over the embedded database; stopping", { dataDir });
      if (onStop) onStop("SIGTERM", 1);
      else process.exit(1);
    },
  });
  if (!("acquired" in attempt)) failAndExit(lockHeldMessage(attempt.heldBy, dataDir));
  return attempt.acquired;
}

/** First start on an empty database: a demo account whose key is printed once, never stored in clear. */
async function ensureDemoAccount(db: Db): Promise<string | null> {
  const [{ accounts: existing } = { accounts: 0 }] = await db.select({ accounts: count() }).from(accounts);
  if (existing > 0) return null;
  try {
    const demo = await createAccount(db, { email: DEMO_EMAIL, fullName: "Demo User", credits: DEMO_CREDITS });
    return demo.apiKey;
  } catch (error) {
    // Another process starting on the same empty database made it first: its banner has the key.
    if (error instanceof AppError && error.code === "CONFLICT") return null;
    throw error;
  }
}

/**
 * With a Trigger.dev key, tasks go to Trigger.dev (or the local runner at TRIGGER_API_URL); without
 * one they run in this process. The in-process queue is one per process, never per request.
 */
function startBackgroundTasks(env: Env, logger: Logger, services: () => Services): { dispatcher: Dispatcher; inProcess: InProcessDispatcher | null } {
  if (!env.TRIGGER_SECRET_KEY) {
    const inProcess = createInProcessDispatcher({ registry: createTaskRegistry(services), logger });
    return { dispatcher: inProcess, inProcess };
  }
  const dispatcher = createTriggerSdkDispatcher({
    secretKey: env.TRIGGER_SECRET_KEY,
    apiUrl: env.TRIGGER_API_URL,
    timeoutMs: env.TRIGGER_DISPATCH_TIMEOUT_MS,
    logger,
  });
  return { dispatcher, inProcess: null };
}

/** `npm run admin` while this server owns the embedded database: the commands run here. */
async function openAdminControl(lock: DataLock, dataDir: string, db: Db, logger: Logger): Promise<ControlChannel | null> {
  const path = controlChannelPath(dataDir);
  try {
    const channel = await openControlChannel(path, (command) => runAdminCommand(db, command), logger);
    lock.announceControl(path);
    return channel;
  } catch (error) {
    // The API still serves; admin then says it cannot reach this server.
    logger.warn("admin commands cannot reach this server", { path, error: oneLine(error) });
    return null;
  }
}

type RequestTracker = {
  fetch: (request: Request, bindings: HttpBindings) => Response | Promise<Response>;
  inFlight(): number;
  /** Resolves when no response is being produced or written. */
  idle(): Promise<void>;
  /** Called after each response has gone out (or its connection dropped). */
  afterEach: (() => void) | null;
};

/** Counts requests until their response is fully written, for the drain on stop. */
function trackRequests(fetch: (request: Request, bindings: HttpBindings) => Response | Promise<Response>): RequestTracker {
  let inFlight = 0;
  let waiters: Array<() => void> = [];
  const tracker: RequestTracker = {
    fetch(request, bindings) {
      inFlight += 1;
      bindings.outgoing.once("close", () => {
        inFlight -= 1;
        tracker.afterEach?.();
        if (inFlight === 0) {
          for (const wake of waiters) wake();
          waiters = [];
        }
      });
      return fetch(request, bindings);
    },
    inFlight: () => inFlight,
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((wake) => waiters.push(wake))),
    afterEach: null,
  };
  return tracker;
}

/** Resolves once listening; a port in use (or not allowed) is one line for the operator. */
function listen(fetch: RequestTracker["fetch"], env: Pick<Env, "PORT" | "HOST">): Promise<Server> {
  const server = createAdaptorServer({ fetch: fetch as (request: Request, bindings: unknown) => Response | Promise<Response> }) as Server;
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const where = `Port ${env.PORT} on ${env.HOST}`;
      if (error.code === "EADDRINUSE") reject(new Error(`${where} is already in use; set PORT to another port`));
      else if (error.code === "EACCES") reject(new Error(`${where} is not open to this user; set PORT to a port above 1023`));
      else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") reject(new Error(`HOST ${env.HOST} is not an address of this machine; set HOST`));
      else reject(error);
    });
    server.listen(env.PORT, env.HOST, () => resolve(server));
  });
}

function printBanner(server: Server, database: OpenDatabase, inProcess: boolean, env: Env, demoKey: string | null): void {
  const info = server.address() as AddressInfo;
  const url = `http://${info.address.includes(":") ? `[${info.address}]` : info.address}:${info.port}`;
  console.log(`API listening on ${url}  (database: ${database.driver}, ${database.where}; background tasks: ${inProcess ? "in-process" : `Trigger.dev at ${env.TRIGGER_API_URL ?? "cloud"}`})`);
  if (demoKey) {
    console.log(`Demo account ${DEMO_EMAIL} with ${DEMO_CREDITS} credits. Its API key (shown only now):`);
    console.log(`  ${demoKey}`);
    console.log(`Try: curl -H "Authorization: Bearer ${demoKey}" ${url}/api/account`);
  } else {
    console.log(`Existing database. For a fresh key: npm run admin -- rotate-key --email ${DEMO_EMAIL}`);
  }
  console.log(`Page: ${url}/ (the live grid: paste the key there)`);
  console.log(`Reference: ${url}/docs (OpenAPI: ${url}/openapi.json; MCP: ${url}/mcp)`);
}

type Running = {
  server: Server;
  requests: RequestTracker;
  inProcess: InProcessDispatcher | null;
  control: ControlChannel | null;
  database: OpenDatabase;
  recovery: { stop(): Promise<void> };
  events: EventFeeds;
  graceMs: number;
};

/** The first signal drains and exits (0 unless told otherwise); a second one exits at once. */
function stopOnSignal(running: Running): (signal: NodeJS.Signals, exitCode?: number) => void {
  let stopping = false;
  return (signal, exitCode = 0) => {
    if (stopping) {
      console.log("Stopping now, without waiting.");
      process.exit(exitCodeOf(signal));
    }
    stopping = true;
    stop(running).then(
      () => process.exit(exitCode),
      (error: unknown) => failAndExit(`Stopping failed: ${oneLine(error)}`),
    );
  };
}

/**
 * Stops taking connections at once, waits up to the grace period for requests and tasks, then
 * aborts what still runs: an aborted task leaves its cells `processing`, and lease-based recovery
 * picks them up on the next start. The database closes last.
 */
async function stop({ server, requests, inProcess, control, database, recovery, events, graceMs }: Running): Promise<void> {
  server.close();
  // Event streams never end by themselves: ended now, their clients reconnect (to the next server)
  // with Last-Event-ID and miss nothing.
  events.closeAll();
  const stoppingRecovery = recovery.stop();
  server.closeIdleConnections();
  // A keep-alive connection whose response just went out is closed rather than reused.
  requests.afterEach = () => setImmediate(() => server.closeIdleConnections());
  const closingControl = control?.close();
  console.log(stopLine(requests.inFlight(), inProcess?.executor.activity(), graceMs));
  const drained = await within(graceMs, Promise.all([requests.idle(), inProcess?.idle(), backgroundIdle()]));
  if (!drained) {
    const activity = inProcess?.executor.activity();
    inProcess?.executor.stop("server stopping");
    server.closeAllConnections();
    const aborted = (activity?.executing ?? 0) + (activity?.waiting ?? 0);
    if (aborted > 0) console.log(`Stopped ${plural(aborted, "task")} after ${seconds(graceMs)}; recovery resumes their work on the next start.`);
    await within(ABORT_WAIT_MS, Promise.all([inProcess?.idle(), requests.idle()]));
  }
  await closingControl;
  await within(ABORT_WAIT_MS, stoppingRecovery);
  await within(CLOSE_WAIT_MS, database.close());
}

function stopLine(requests: number, tasks: { executing: number; waiting: number } | undefined, graceMs: number): string {
  const waitingFor = [
    tasks?.executing ? plural(tasks.executing, "running task") : null,
    tasks?.waiting ? plural(tasks.waiting, "queued task") : null,
    requests ? plural(requests, "request") : null,
  ].filter((part): part is string => part !== null);
  if (waitingFor.length === 0) return "Stopping: nothing is running.";
  const list = waitingFor.length === 1 ? waitingFor[0] : `${waitingFor.slice(0, -1).join(", ")} and ${waitingFor[waitingFor.length - 1]}`;
  return `Stopping: waiting up to ${seconds(graceMs)} for ${list}; press Ctrl-C again to stop now`;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** True when `work` settled within `ms`. */
async function within(ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    new Promise<false>((done) => (timer = setTimeout(done, ms, false))),
  ]);
  clearTimeout(timer);
  return settled;
}

function exitCodeOf(signal: NodeJS.Signals): number {
  return signal === "SIGINT" ? 130 : 143;
}
