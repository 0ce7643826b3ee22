import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, httpClient, runLoad, scratchDatabase, startNodeServer, summary, type NodeServer } from "./support";

// What a new user gets from `npm start` (the embedded database in a data folder) beside the same
// server on Postgres: time from start to the first answer (a fresh data folder, then an existing
// one), resident memory once idle, and cell writes at 16 connections. The ratios are embedded /
// Postgres, measured in the same run.

const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

type Started = NodeServer & { apiKey: string | null; firstAnswerMs: number };

/** The server with `env`, and how long it took from its start to its first answer (/healthz 200). */
async function start(env: Record<string, string>): Promise<Started> {
  const began = performance.now();
  const server = await startNodeServer(env);
  for (;;) {
    const res = await fetch(`${server.url}/healthz`).catch(() => null);
    if (res?.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { ...server, firstAnswerMs: performance.now() - began };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;

/** Cell writes through the API: a list, a row per connection and a text column, made over HTTP first. */
async function cellWrites(server: Started, apiKey: string) {
  const client = httpClient(server.url, CONCURRENCY, { authorization: `Bearer ${apiKey}` });
  const parse = (text: string) => JSON.parse(text) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const list = parse((await client.request("POST", "/api/lists", { name: "bench" })).text).list.id as string;
  const rows = parse((await client.request("POST", `/api/lists/${list}/rows/bulk`, { rows: Array.from({ length: CONCURRENCY }, (_, i) => ({ firstName: "Person", lastName: `No ${i}` })) })).text).rowIds as string[];
  const column = parse((await client.request("POST", `/api/lists/${list}/columns`, { name: "Notes", isDynamic: false })).text).column.id as string;
  let next = 0;
  const result = await runLoad(CONCURRENCY, SECONDS, async () => {
    const res = await client.request("PUT", `/api/lists/${list}/cells`, { rowId: rows[next++ % rows.length], columnId: column, value: `v${next}` });
    return res.status === 200;
  });
  client.close();
  return result;
}

const dataDir = mkdtempSync(join(tmpdir(), "lead-bench-embedded-"));
const scratch = await scratchDatabase(`lead_bench_embedded_${process.pid}`);
try {
  const fresh = await start({ DATA_DIR: dataDir });
  const apiKey = fresh.apiKey!;
  await fresh.stop();
  const embedded = await start({ DATA_DIR: dataDir });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const embeddedIdleMb = rssMb(embedded.pid);
  const embeddedWrites = await cellWrites(embedded, apiKey);
  await embedded.stop();

  const postgresServer = await start({ DATABASE_URL: scratch.url });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const postgresIdleMb = rssMb(postgresServer.pid);
  const postgresWrites = await cellWrites(postgresServer, postgresServer.apiKey!);
  await postgresServer.stop();

  console.log(`embedded database (npm start's default) beside Postgres, ${CONCURRENCY} connections, ${SECONDS}s of cell writes each`);
  console.log(`  first answer: embedded ${fmt(fresh.firstAnswerMs, 0)} ms on a fresh data folder, ${fmt(embedded.firstAnswerMs, 0)} ms on an existing one; Postgres ${fmt(postgresServer.firstAnswerMs, 0)} ms`);
  console.log(`  idle resident memory: embedded ${fmt(embeddedIdleMb, 0)} MB, Postgres mode ${fmt(postgresIdleMb, 0)} MB`);
  console.log(`  cell writes: embedded ${fmt(embeddedWrites.perSecond)} req/s (p50 ${fmt(embeddedWrites.p50, 2)} ms, p99 ${fmt(embeddedWrites.p99, 2)} ms), Postgres ${fmt(postgresWrites.perSecond)} req/s (p50 ${fmt(postgresWrites.p50, 2)} ms, p99 ${fmt(postgresWrites.p99, 2)} ms)`);
  console.log(`  ratio embedded/Postgres cell writes: ${fmt(embeddedWrites.perSecond / postgresWrites.perSecond, 3)}`);
  summary("embedded vs Postgres", "first answer ms (fresh / existing)", `${fmt(fresh.firstAnswerMs, 0)} / ${fmt(embedded.firstAnswerMs, 0)}`);
  summary("embedded vs Postgres", "idle MB (embedded / Postgres)", `${fmt(embeddedIdleMb, 0)} / ${fmt(postgresIdleMb, 0)}`);
  summary("embedded vs Postgres", "ratio cell writes embedded/Postgres", fmt(embeddedWrites.perSecond / postgresWrites.perSecond, 3));
  if (embeddedWrites.errors + postgresWrites.errors > 0) process.exitCode = 1;
} finally {
  await scratch.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
