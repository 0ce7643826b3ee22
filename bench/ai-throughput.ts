import { sql } from "drizzle-orm";
import { createApp } from "../src/app";
import { rowsOf } from "../src/db/client";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import { createAccount } from "../src/domain/accounts";
import { createSandboxProviders, PROVIDER_KINDS, type CellProvider, type ProviderKind, type Providers } from "../src/providers";
import { createLogger, createServiceKit, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { Client } from "../test/helpers/harness";
import { fmt, scratchDatabase, summary } from "./support";

// AI column throughput: an AI column created through the route on a list of people (added through
// the bulk row route), its cells filled by sheet-ai-enrich through the real registry, runner and
// in-process dispatcher, with sandbox providers that take PROVIDER_DELAY_MS per call. The ideal is
// every provider slot busy all the time: runs executing at once × provider calls in flight per run,
// each call PROVIDER_DELAY_MS long. The ratio says how much of that the pipeline keeps busy.

const ROWS = Number(process.env.BENCH_ROWS ?? 2_000);
const PROVIDER_DELAY_MS = 200;
// The in-process executor's and the column runner's defaults (what `npm start` runs with), set
// explicitly so that the ideal below is computed from the settings actually measured.
const RUNS_AT_ONCE = 4;
const CALLS_PER_RUN = 8;
const BULK_ROWS_PER_REQUEST = 1_000;

/** The sandbox providers, counting the calls in flight and keeping the peak. */
function countingProviders(providers: Providers) {
  const gauge = { inFlight: 0, peak: 0, calls: 0 };
  const counted = (provider: CellProvider): CellProvider => ({
    name: provider.name,
    async enrich(request) {
      gauge.calls += 1;
      gauge.inFlight += 1;
      gauge.peak = Math.max(gauge.peak, gauge.inFlight);
      try {
        return await provider.enrich(request);
      } finally {
        gauge.inFlight -= 1;
      }
    },
  });
  const wrapped = Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, counted(providers[kind])])) as Record<ProviderKind, CellProvider>;
  return { providers: wrapped, gauge };
}

const scratch = await scratchDatabase(`lead_bench_ai_throughput_${process.pid}`);
let failed = false;
try {
  const logger = createLogger("warn");
  const { providers, gauge } = countingProviders(createSandboxProviders({ delayMs: PROVIDER_DELAY_MS }));
  const dispatcher = createInProcessDispatcher({
    registry: createTaskRegistry(() => services, { concurrency: CALLS_PER_RUN }),
    concurrency: RUNS_AT_ONCE,
    logger,
  });
  const services: Services = createServiceKit({}, { logger, providers }).services({ db: scratch.db, dispatcher });
  const account = await createAccount(scratch.db, { email: "bench@example.test", credits: 10 * ROWS });
  const client = new Client(createApp(() => ({ services })), scratch.db, account);

  const expectStatus = (res: { status: number; body: unknown }, status: number, what: string) => {
    if (res.status !== status) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  };
  const listRes = await client.post("/api/lists", { name: "bench" });
  expectStatus(listRes, 201, "list creation");
  const listId: string = listRes.body.list.id;
  for (let start = 0; start < ROWS; start += BULK_ROWS_PER_REQUEST) {
    const rows = Array.from({ length: Math.min(BULK_ROWS_PER_REQUEST, ROWS - start) }, (_, i) => ({
      firstName: "Person",
      lastName: `No ${start + i}`,
      company: `Company ${(start + i) % 200}`,
      domain: `company${(start + i) % 200}.example`,
      role: "Engineer",
    }));
    expectStatus(await client.post(`/api/lists/${listId}/rows/bulk`, { rows }), 200, "bulk row insert");
  }

  const requested = performance.now();
  const columnRes = await client.post(`/api/lists/${listId}/columns`, { name: "Focus", isDynamic: true, prompt: "What does this person work on?" });
  const answered = performance.now();
  expectStatus(columnRes, 201, "column creation");
  await dispatcher.idle();
  const seconds = (performance.now() - answered) / 1000;

  const statuses = rowsOf<{ status: string; cells: number }>(
    await scratch.db.execute(sql`select status, count(*)::int as cells from list_cells where column_id = ${columnRes.body.column.id}::uuid group by status order by status`),
  );
  const completed = statuses.find((s) => s.status === "completed")?.cells ?? 0;
  const perSecond = completed / seconds;
  const ideal = (RUNS_AT_ONCE * CALLS_PER_RUN) / (PROVIDER_DELAY_MS / 1000);

  console.log(`AI column throughput: sheet-ai-enrich, in-process dispatcher, sandbox provider ${PROVIDER_DELAY_MS} ms per call`);
  console.log(`  runs executing at once: ${RUNS_AT_ONCE}, provider calls in flight per run: ${CALLS_PER_RUN}`);
  console.log(`  column creation request (${ROWS} rows): ${fmt(answered - requested)} ms`);
  console.log(`  cells: ${completed} completed of ${ROWS}  (by status: ${statuses.map((s) => `${s.status} ${s.cells}`).join(", ")})`);
  console.log(`  seconds from the 201 to idle: ${fmt(seconds, 2)}`);
  console.log(`  cells/s: ${fmt(perSecond)}`);
  console.log(`  ideal cells/s: ${fmt(ideal)}  (${RUNS_AT_ONCE} × ${CALLS_PER_RUN} / ${PROVIDER_DELAY_MS / 1000} s)`);
  console.log(`  ratio cells/s / ideal: ${fmt(perSecond / ideal, 3)}`);
  summary("AI column throughput", "ratio cells/s / ideal", fmt(perSecond / ideal, 3));
  console.log(`  provider calls: ${gauge.calls}, peak in flight: ${gauge.peak}`);
  if (completed !== ROWS) failed = true;
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await scratch.drop();
}
if (failed) process.exitCode = 1;
