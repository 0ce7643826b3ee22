import { spawn } from "node:child_process";
import { once } from "node:events";
import { writePersonCell } from "../src/domain/cell-store";
import { addColumn, addPeople } from "../test/helpers/fixtures";
import { fmt, httpClient, median, runLoad, serverWithList, summary, type LoadResult } from "./support";

// The cell path: PUT /api/lists/{id}/cells (the key checked in the write's own statement, validation,
// one statement for checks + upsert) through the Node server at 16 concurrent connections, beside
// the minimal peer (bench/minimal-peer.ts: the same stack doing only the key check and the upsert,
// in its own process) and the bare statement run directly on a pool of 16 connections. Each round
// runs the three one after another; the figures are medians over the rounds.

const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_CELL_ROUNDS ?? 3);

const { scratch, server, workspaceId, listId, stop } = await serverWithList("cell_path");
const peer = spawn(process.execPath, ["--import", "tsx", "bench/minimal-peer.ts"], { env: { ...process.env, DATABASE_URL: scratch.url }, stdio: ["ignore", "pipe", "inherit"] });
try {
  const peerUrl = await new Promise<string>((resolve, reject) => {
    let out = "";
    peer.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const url = /peer listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    peer.once("exit", (code) => reject(new Error(`the peer exited (${code})`)));
  });
  const rowIds = await addPeople(scratch.db, workspaceId, listId, Array.from({ length: CONCURRENCY }, (_, i) => `Person ${i}`));
  const columnId = await addColumn(scratch.db, workspaceId, listId, { schema: { type: "text" } });

  // Each loop writes its own row's cell, so the comparison is not about lock contention.
  let next = 0;
  const rowFor = () => rowIds[next++ % rowIds.length]!;
  const over = (url: string) => {
    const client = httpClient(url, CONCURRENCY, { authorization: `Bearer ${server.apiKey}` });
    return {
      load: () =>
        runLoad(CONCURRENCY, SECONDS, async () => {
          const res = await client.request("PUT", `/api/lists/${listId}/cells`, { rowId: rowFor(), columnId, value: `v${next}` });
          return res.status === 200;
        }),
      close: () => client.close(),
    };
  };
  const route = over(server.url);
  const minimal = over(peerUrl);
  const runs: Record<"route" | "peer" | "bare", LoadResult[]> = { route: [], peer: [], bare: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.route.push(await route.load());
    runs.peer.push(await minimal.load());
    runs.bare.push(
      await runLoad(CONCURRENCY, SECONDS, async () => {
        await writePersonCell(scratch.db, { workspaceId, listId, rowId: rowFor(), columnId, value: `v${next}` });
        return true;
      }),
    );
  }
  route.close();
  minimal.close();

  const rate = (results: LoadResult[]) => median(results.map((r) => r.perSecond));
  const show = (label: string, results: LoadResult[]) =>
    console.log(
      `  ${label.padEnd(44)} ${fmt(rate(results)).padStart(7)}/s  p50 ${fmt(median(results.map((r) => r.p50)), 2)} ms  p99 ${fmt(median(results.map((r) => r.p99)), 2)} ms  (runs: ${results.map((r) => fmt(r.perSecond, 0)).join(", ")}; ${results.reduce((n, r) => n + r.errors, 0)} errors)`,
    );
  console.log(`cell path, ${CONCURRENCY} connections, ${SECONDS}s each, median of ${ROUNDS} rounds`);
  show("PUT /api/lists/{id}/cells via Node server:", runs.route);
  show("the same on the minimal peer:", runs.peer);
  show("the write's statement, direct (key known):", runs.bare);
  const ratio = (a: LoadResult[], b: LoadResult[]) => {
    const pairs = a.map((r, i) => r.perSecond / b[i]!.perSecond);
    return `${fmt(median(pairs), 3)} (range ${fmt(Math.min(...pairs), 3)}–${fmt(Math.max(...pairs), 3)})`;
  };
  console.log(`  ratio route/peer throughput: ${ratio(runs.route, runs.peer)}`);
  console.log(`  ratio route/bare statement throughput: ${ratio(runs.route, runs.bare)}`);
  summary("cell write", "PUT /cells req/s", fmt(rate(runs.route)));
  summary("cell write", "ratio route/minimal peer", ratio(runs.route, runs.peer));
  summary("cell write", "ratio route/bare statement", ratio(runs.route, runs.bare));
  if ([...runs.route, ...runs.peer].some((r) => r.errors > 0)) process.exitCode = 1;
} finally {
  peer.kill("SIGTERM");
  if (peer.exitCode === null) await once(peer, "exit");
  await stop();
}
