import { eq, sql } from "drizzle-orm";
import { createApp } from "../src/app";
import { createPostgresDb } from "../src/db/client";
import { columns } from "../src/db/schema";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import { createTriggerSdkDispatcher } from "../src/dispatch/trigger-sdk";
import { TASK_IDS, type Dispatcher, type TaskRegistry } from "../src/dispatch/types";
import { createAccount } from "../src/domain/accounts";
import { AI_BATCH_SIZE } from "../src/domain/column-kinds";
import { defineColumn, type NewColumn } from "../src/domain/columns";
import { createList } from "../src/domain/lists";
import { createSandboxProviders } from "../src/providers";
import { createLogger, createServiceKit, type Services } from "../src/services";
import { startFakeTrigger } from "../test/helpers/fake-trigger";
import { Client } from "../test/helpers/harness";
import { fmt, median, scratchDatabase, seedPeople, summary } from "./support";

// Creating an AI column on a big list: POST /api/lists/{id}/columns through the in-process app with
// real services, beside the one INSERT ... SELECT that writes the same pending cells. The request is
// measured with two dispatchers whose tasks do nothing, so only the request's own work is timed:
// the in-process one (the dispatch is a function call) and the Trigger.dev SDK against the local fake
// of Trigger.dev's API (the real dispatch path: the batch of payloads goes over HTTP). The ratio says
// what the route costs beyond writing the cells.

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const RUNS = 3;
const CREDITS = 100 * ROWS;

const AI_COLUMN = { name: "Focus", isDynamic: true, prompt: "What does this person work on?" } as const;


/**
 * Counts what a postgres.js client sends, from its `debug` hook, which fires once per statement as it
 * is written to a connection (BEGIN, COMMIT and ROLLBACK included). A parameterised statement that is
 * new to its connection costs one more round trip (Parse/Describe, answered before Bind/Execute); the
 * counter keeps each connection's prepared set the way postgres.js keys it to count those too.
 */
function countStatements(db: ReturnType<typeof createPostgresDb>) {
  const prepared = new Map<number, Set<string>>();
  let log: Array<{ at: number; text: string; describe: boolean }> = [];
  db.client.options.debug = (connection, text, parameters, types) => {
    const known = prepared.get(connection) ?? new Set<string>();
    prepared.set(connection, known);
    const signature = `${types}${text}`;
    const describe = parameters.length > 0 && !known.has(signature);
    known.add(signature);
    log.push({ at: performance.now(), text, describe });
  };
  return {
    start: () => (log = []),
    take: () => log,
  };
}

type RequestRun = { ms: number; statements: number; describes: number; dispatchCalls: number; timeline: Array<{ at: number; text: string }> };

const scratch = await scratchDatabase(`lead_bench_column_create_${process.pid}`);
const fake = await startFakeTrigger();
// The app's own pool, so that only the request's statements are counted; no idle timeout, so that a
// connection (and the statements prepared on it) lives through the whole run.
const appDb = createPostgresDb(scratch.url, { max: 8, idleTimeoutSeconds: 0 });
const counter = countStatements(appDb);
let failed = false;
try {
  const account = await createAccount(scratch.db, { email: "bench@example.test", credits: CREDITS });
  const list = await createList(scratch.db, account.workspaceId, { name: "bench" });
  const seedStarted = performance.now();
  await seedPeople(scratch.db, account.workspaceId, list.id, ROWS);
  const seedMs = performance.now() - seedStarted;

  const doNothing = Object.fromEntries(TASK_IDS.map((taskId) => [taskId, async () => {}])) as unknown as TaskRegistry;
  const logger = createLogger("warn");
  const clientFor = (dispatcher: Dispatcher) => {
    const services: Services = createServiceKit({}, { logger, providers: createSandboxProviders() }).services({ db: appDb.db, dispatcher });
    return new Client(createApp(() => ({ services })), scratch.db, account);
  };
  const inProcess = createInProcessDispatcher({ registry: doNothing, logger });
  const viaInProcess = clientFor(inProcess);
  const viaTrigger = clientFor(createTriggerSdkDispatcher({ apiUrl: fake.url, secretKey: fake.secretKey, logger }));

  // Each measurement starts from the same table: the previous column's cells deleted and vacuumed away.
  const dropColumn = async (columnId: string) => {
    await scratch.db.delete(columns).where(eq(columns.id, columnId));
    await scratch.db.execute(sql`vacuum analyze list_cells`);
  };

  const createThroughRoute = async (client: Client): Promise<RequestRun> => {
    fake.clearRecords();
    counter.start();
    const started = performance.now();
    const res = await client.post(`/api/lists/${list.id}/columns`, AI_COLUMN);
    const ms = performance.now() - started;
    const log = counter.take();
    if (res.status !== 201) throw new Error(`column creation answered ${res.status}: ${JSON.stringify(res.body)}`);
    await inProcess.idle();
    await dropColumn(res.body.column.id);
    return {
      ms,
      statements: log.length,
      describes: log.filter((entry) => entry.describe).length,
      dispatchCalls: client === viaTrigger ? fake.requests.length : 0,
      timeline: log.map((entry) => ({ at: entry.at - started, text: entry.text })),
    };
  };

  const bareInsert = async (): Promise<number> => {
    const input: NewColumn = { ...AI_COLUMN, subject: "person", isPreview: false };
    const [column] = await scratch.db
      .insert(columns)
      .values({ ...defineColumn(input), listId: list.id, workspaceId: account.workspaceId, position: 1000 })
      .returning({ id: columns.id });
    const started = performance.now();
    await scratch.db.execute(sql`
      insert into list_cells (list_id, column_id, row_id, status, run_token)
      select r.list_id, ${column!.id}::uuid, r.id, 'pending', uuid_generate_v7()
      from list_rows r where r.list_id = ${list.id}::uuid`);
    const ms = performance.now() - started;
    await dropColumn(column!.id);
    return ms;
  };

  const inProcessRuns: RequestRun[] = [];
  const triggerRuns: RequestRun[] = [];
  const bareRuns: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    inProcessRuns.push(await createThroughRoute(viaInProcess));
    triggerRuns.push(await createThroughRoute(viaTrigger));
    bareRuns.push(await bareInsert());
  }

  const bareMs = median(bareRuns);
  const each = (values: number[], digits = 0) => values.map((v) => fmt(v, digits)).join(", ");
  const report = (label: string, runs: RequestRun[]) => {
    const ms = median(runs.map((r) => r.ms));
    console.log(`  ${label}`);
    console.log(`    request wall: ${fmt(ms)} ms median  (runs: ${each(runs.map((r) => r.ms))} ms)`);
    console.log(
      `    database round trips: ${median(runs.map((r) => r.statements))} statements, BEGIN/COMMIT included` +
        `  + first-use prepares per run: ${each(runs.map((r) => r.describes))}`,
    );
    if (runs.some((r) => r.dispatchCalls > 0)) console.log(`    HTTP calls to Trigger.dev: ${each(runs.map((r) => r.dispatchCalls))}`);
    console.log(`    ratio request/bare insert: ${fmt(ms / bareMs, 2)}`);
    summary(`column creation, ${ROWS} rows`, `ratio ${label.split(" ")[0]} request/bare`, fmt(ms / bareMs, 2));
  };

  console.log(`column creation: POST /api/lists/{id}/columns, dynamic AI column, ${ROWS} person rows, median of ${RUNS} runs`);
  console.log(`  seeding ${ROWS} leads + list rows: ${fmt(seedMs)} ms`);
  console.log(`  bare INSERT ... SELECT of ${ROWS} pending cells: ${fmt(bareMs)} ms median  (runs: ${each(bareRuns)} ms)`);
  report("in-process dispatcher (handlers do nothing; the dispatch is a function call)", inProcessRuns);
  report(`Trigger.dev SDK dispatcher -> local fake Trigger.dev API (${Math.ceil(ROWS / AI_BATCH_SIZE)} payloads over HTTP; runs do nothing)`, triggerRuns);

  const last = inProcessRuns[inProcessRuns.length - 1]!;
  console.log(`  statements of the last in-process request (ms since the request started, then the SQL):`);
  for (const entry of last.timeline) console.log(`    ${fmt(entry.at).padStart(8)}  ${entry.text.replace(/\s+/g, " ").trim().slice(0, 110)}`);
  console.log(`    ${fmt(last.ms).padStart(8)}  (response)`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await appDb.close();
  await fake.close();
  await scratch.drop();
}
if (failed) process.exitCode = 1;
