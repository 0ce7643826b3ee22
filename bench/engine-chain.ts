import { eq, sql } from "drizzle-orm";
import { createApp } from "../src/app";
import { rowsOf } from "../src/db/client";
import { leads, lists } from "../src/db/schema";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import type { Dispatcher } from "../src/dispatch/types";
import { createAccount } from "../src/domain/accounts";
import { createList } from "../src/domain/lists";
import { createSandboxProviders } from "../src/providers";
import { createLogger, createServiceKit, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { Client } from "../test/helpers/harness";
import { fmt, median, scratchDatabase, seedPeople, summary } from "./support";

// The spreadsheet engine on a big list: three AI columns (dataSource "profile") created through the
// route, their cells filled by sheet-ai-enrich through the real registry, runner and in-process
// dispatcher, with the offline providers (they answer at once, so the pipeline is all that is timed).
//
//   independent: A reads {{name}}, B {{company}}, C {{domain}}, created back to back: nothing waits,
//                their runs share the executor (A's runs first, as they were queued first).
//   chain:       A reads {{name}}, B {{A}}, C {{B}}, created back to back while A is still running:
//                a row's B cell waits for its A cell, C for B, and is dispatched once that is done.
//
// The wall time runs from the first POST until every cell of the three columns is terminal. The
// dispatcher is wrapped to count batchTrigger calls and the rows each carried: the waiting cells that
// tasks release must go out in batches (one call per task id for many cells), never one per cell.

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// The in-process executor's and the column runner's defaults (what `npm start` runs with).
const RUNS_AT_ONCE = 4;
const CALLS_PER_RUN = 8;
const FLUSH_EVERY = 25;
// How long to keep looking once the executor is idle, should cells still be open (a bug).
const SETTLE_GRACE_MS = 10_000;
// 3 columns × 1 credit a row, for every run of both variants, with room to spare.
const CREDITS = 3 * ROWS * RUNS * 2 * 2;

type Variant = "independent" | "chain";
const PROMPTS: Record<Variant, [string, string, string]> = {
  independent: ["A {{name}}", "B {{company}}", "C {{domain}}"],
  chain: ["A {{name}}", "B {{A}}", "C {{B}}"],
};
const NAMES = ["A", "B", "C"] as const;


/** The in-process dispatcher, counting batchTrigger calls and what each carried, by column. */
function countingDispatcher(inner: Dispatcher) {
  let calls: Array<{ taskId: string; payloads: number; rows: number; byColumn: Map<string, number> }> = [];
  let singles = 0;
  const dispatcher: Dispatcher = {
    trigger(taskId, payload) {
      singles += 1;
      return inner.trigger(taskId, payload);
    },
    async batchTrigger(taskId, payloads) {
      const byColumn = new Map<string, number>();
      let rows = 0;
      for (const payload of payloads) {
        const p = payload as { columnId?: string; rowIds?: string[] };
        const n = p.rowIds?.length ?? 0;
        rows += n;
        if (p.columnId) byColumn.set(p.columnId, (byColumn.get(p.columnId) ?? 0) + n);
      }
      calls.push({ taskId, payloads: payloads.length, rows, byColumn });
      return inner.batchTrigger(taskId, payloads);
    },
    cancel: (ids) => inner.cancel(ids),
  };
  return {
    dispatcher,
    reset: () => {
      calls = [];
      singles = 0;
    },
    take: () => ({ calls, singles }),
  };
}

type ColumnOutcome = {
  name: string;
  prompt: string;
  dependsOn: number;
  byStatus: Record<string, number>;
  withValue: number;
  calls: number;
  rowsDispatched: number;
  lastEndedS: number;
};
type RunOutcome = {
  variant: Variant;
  seconds: number;
  postMs: number[];
  aDoneAtLastPost: number;
  calls: number;
  rowsDispatched: number;
  columns: ColumnOutcome[];
  problems: string[];
};

const scratch = await scratchDatabase(`lead_bench_engine_chain_${process.pid}`);
let failed = false;
try {
  const logger = createLogger("warn");
  const inProcess = createInProcessDispatcher({
    registry: createTaskRegistry(() => services, { concurrency: CALLS_PER_RUN, flushEvery: FLUSH_EVERY }),
    concurrency: RUNS_AT_ONCE,
    logger,
  });
  const counting = countingDispatcher(inProcess);
  const services: Services = createServiceKit({}, { logger, providers: createSandboxProviders() }).services({ db: scratch.db, dispatcher: counting.dispatcher });
  const account = await createAccount(scratch.db, { email: "bench@example.test", credits: CREDITS });
  const client = new Client(createApp(() => ({ services })), scratch.db, account);

  const cellStatuses = async (columnIds: string[]) =>
    rowsOf<{ column_id: string; status: string; cells: number; with_value: number; last_ended: string | null }>(
      await scratch.db.execute(sql`
        select column_id, status, count(*)::int as cells, count(value)::int as with_value,
               (extract(epoch from max(updated_at)) * 1000)::text as last_ended
        from list_cells where column_id = any(${`{${columnIds.join(",")}}`}::uuid[])
        group by column_id, status`),
    );

  const openCells = async (columnIds: string[]) => {
    const [row] = rowsOf<{ open: number }>(
      await scratch.db.execute(sql`
        select count(*)::int as open from list_cells
        where column_id = any(${`{${columnIds.join(",")}}`}::uuid[]) and status not in ('completed', 'failed')`),
    );
    return row!.open;
  };

  const runOnce = async (variant: Variant): Promise<RunOutcome> => {
    const list = await createList(scratch.db, account.workspaceId, { name: `bench ${variant}` });
    await seedPeople(scratch.db, account.workspaceId, list.id, ROWS);
    counting.reset();
    const problems: string[] = [];

    const startedWall = Date.now();
    const started = performance.now();
    const columnIds: string[] = [];
    const postMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = performance.now();
      const res = await client.post(`/api/lists/${list.id}/columns`, { name: NAMES[i], isDynamic: true, dataSource: "profile", prompt: PROMPTS[variant][i] });
      postMs.push(performance.now() - before);
      if (res.status !== 201) throw new Error(`${variant}: creating column ${NAMES[i]} answered ${res.status}: ${JSON.stringify(res.body)}`);
      columnIds.push(res.body.column.id);
    }
    // How far A had got when the last column was created (the chain's B and C are meant to join a running A).
    const [aDone] = rowsOf<{ done: number }>(
      await scratch.db.execute(sql`select count(*)::int as done from list_cells where column_id = ${columnIds[0]!}::uuid and status in ('completed', 'failed')`),
    );

    await inProcess.idle();
    let open = await openCells(columnIds);
    if (open > 0) {
      problems.push(`${open} cells still open when the executor went idle`);
      const until = performance.now() + SETTLE_GRACE_MS;
      while (open > 0 && performance.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await inProcess.idle();
        open = await openCells(columnIds);
      }
      if (open > 0) problems.push(`${open} cells still open ${SETTLE_GRACE_MS / 1000} s later`);
    }
    const seconds = (performance.now() - started) / 1000;

    const { calls, singles } = counting.take();
    if (singles > 0) problems.push(`${singles} single trigger calls (cells dispatched one by one)`);
    const statuses = await cellStatuses(columnIds);
    const stored = rowsOf<{ id: string; depends_on: string[] }>(
      await scratch.db.execute(sql`select id, to_json(depends_on) as depends_on from list_columns where id = any(${`{${columnIds.join(",")}}`}::uuid[])`),
    );
    const columns: ColumnOutcome[] = columnIds.map((id, i) => {
      const mine = statuses.filter((s) => s.column_id === id);
      const byStatus = Object.fromEntries(mine.map((s) => [s.status, s.cells]));
      const last = Math.max(...mine.map((s) => Number(s.last_ended ?? 0)));
      return {
        name: NAMES[i]!,
        prompt: PROMPTS[variant][i]!,
        dependsOn: stored.find((c) => c.id === id)?.depends_on.length ?? -1,
        byStatus,
        withValue: mine.filter((s) => s.status === "completed").reduce((n, s) => n + s.with_value, 0),
        calls: calls.filter((c) => c.byColumn.has(id)).length,
        rowsDispatched: calls.reduce((n, c) => n + (c.byColumn.get(id) ?? 0), 0),
        lastEndedS: (last - startedWall) / 1000,
      };
    });

    for (const column of columns) {
      const completed = column.byStatus.completed ?? 0;
      if (completed !== ROWS) problems.push(`column ${column.name}: ${completed} of ${ROWS} cells completed (${JSON.stringify(column.byStatus)})`);
      if (column.rowsDispatched !== ROWS) problems.push(`column ${column.name}: ${column.rowsDispatched} rows dispatched for ${ROWS} cells`);
    }
    const expectedDeps = variant === "chain" ? [0, 1, 1] : [0, 0, 0];
    columns.forEach((column, i) => {
      if (column.dependsOn !== expectedDeps[i]) problems.push(`column ${column.name}: dependsOn has ${column.dependsOn} columns, expected ${expectedDeps[i]}`);
    });
    const c = columns[2]!;
    if (c.withValue !== ROWS) problems.push(`column C: ${c.withValue} of ${ROWS} cells have a value`);
    if (problems.length > 0) {
      // What the open cells wait on, to tell a lost release from a cell nobody claimed.
      const open = rowsOf<{ column: string; status: string; leased: boolean; waiting_on: number; cells: number }>(
        await scratch.db.execute(sql`
          select col.name as column, c.status, c.lease_expires_at is not null as leased, cardinality(c.waiting_on) as waiting_on, count(*)::int as cells
          from list_cells c join list_columns col on col.id = c.column_id
          where c.column_id = any(${`{${columnIds.join(",")}}`}::uuid[]) and c.status not in ('completed', 'failed')
          group by 1, 2, 3, 4 order by 1, 2, 3, 4`),
      );
      for (const o of open) problems.push(`  open: column ${o.column} ${o.status}, leased ${o.leased}, waiting on ${o.waiting_on} columns: ${o.cells} cells`);
    }

    // The next run starts from tables of the same size.
    await scratch.db.delete(lists).where(eq(lists.id, list.id));
    await scratch.db.delete(leads).where(eq(leads.workspaceId, account.workspaceId));
    await scratch.db.execute(sql`vacuum analyze leads, list_rows, list_cells, list_columns`);

    return {
      variant,
      seconds,
      postMs,
      aDoneAtLastPost: aDone!.done,
      calls: calls.length,
      rowsDispatched: calls.reduce((n, call) => n + call.rows, 0),
      columns,
      problems,
    };
  };

  const outcomes: Record<Variant, RunOutcome[]> = { independent: [], chain: [] };
  const total = performance.now();
  for (let run = 0; run < RUNS; run++) {
    for (const variant of ["independent", "chain"] as const) {
      const outcome = await runOnce(variant);
      outcomes[variant].push(outcome);
      console.error(`  (run ${run + 1} ${variant}: ${fmt(outcome.seconds, 2)} s, ${outcome.calls} dispatch calls${outcome.problems.length ? `, ${outcome.problems.length} problems` : ""})`);
    }
  }

  const per1000 = (n: number) => (n / ROWS) * 1000;
  const summarise = (variant: Variant) => {
    const runs = outcomes[variant];
    const seconds = runs.map((r) => r.seconds);
    console.log(`  ${variant}: ${PROMPTS[variant].map((p, i) => `${NAMES[i]} = "${p}"`).join(", ")}`);
    console.log(
      `    wall, first POST to every cell terminal: ${fmt(median(seconds), 2)} s median  (range ${fmt(Math.min(...seconds), 2)}–${fmt(Math.max(...seconds), 2)} s; runs: ${seconds.map((s) => fmt(s, 2)).join(", ")} s)`,
    );
    console.log(`    cells/s (3 × ${ROWS} cells): ${fmt((3 * ROWS) / median(seconds))} median`);
    const calls = runs.map((r) => r.calls);
    console.log(
      `    batchTrigger calls: ${median(calls)} median (runs: ${calls.join(", ")}) = ${fmt(per1000(median(calls)), 2)} per 1,000 rows; ` +
        `rows per call: ${fmt(median(runs.map((r) => r.rowsDispatched / r.calls)))} average`,
    );
    const last = runs[runs.length - 1]!;
    console.log(`    POST answered in: ${runs.map((r) => r.postMs.map((ms) => fmt(ms, 0)).join("/")).join(", ")} ms (A/B/C per run); A's cells done when C's POST answered: ${runs.map((r) => r.aDoneAtLastPost).join(", ")} of ${ROWS}`);
    for (const column of last.columns) {
      console.log(
        `    last run, column ${column.name}: ${column.calls} calls carrying ${column.rowsDispatched} rows (${fmt(column.rowsDispatched / Math.max(1, column.calls))} a call), ` +
          `cells ${Object.entries(column.byStatus).map(([s, n]) => `${s} ${n}`).join(", ")}, with a value ${column.withValue}, last cell ended ${fmt(column.lastEndedS, 2)} s after the first POST`,
      );
    }
  };

  console.log(`spreadsheet engine: 3 AI columns (profile), ${ROWS} person rows, in-process tasks, offline providers answering at once, ${RUNS} runs of each variant interleaved`);
  console.log(`  runs executing at once: ${RUNS_AT_ONCE}, provider calls in flight per run: ${CALLS_PER_RUN}, results per flush: ${FLUSH_EVERY}`);
  summarise("independent");
  summarise("chain");
  const ratio = median(outcomes.chain.map((r) => r.seconds)) / median(outcomes.independent.map((r) => r.seconds));
  const pairs = outcomes.chain.map((r, i) => r.seconds / outcomes.independent[i]!.seconds);
  console.log(`  ratio chain/independent wall: ${fmt(ratio, 2)}  (per interleaved pair: ${pairs.map((p) => fmt(p, 2)).join(", ")})`);
  summary("engine chain", "ratio chain/independent", fmt(ratio, 2));
  console.log(`  total: ${fmt((performance.now() - total) / 1000, 1)} s`);

  for (const variant of ["independent", "chain"] as const) {
    outcomes[variant].forEach((r, i) => {
      if (r.problems.length === 0) return;
      failed = true;
      console.log(`  FAILED ${variant} run ${i + 1}:`);
      for (const problem of r.problems) console.log(`    ${problem}`);
    });
  }
  if (!failed) console.log(`  correctness: every run left all ${3 * ROWS} cells completed with a value; each cell dispatched once`);
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await scratch.drop();
}
if (failed) process.exitCode = 1;
