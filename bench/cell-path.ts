import { writePersonCell } from "../src/domain/cell-store";
import { addColumn, addPeople } from "../test/helpers/fixtures";
import { fmt, httpClient, runLoad, serverWithList, summary } from "./support";

// The cell path: PUT /api/lists/{id}/cells (auth, validation, one statement for checks + upsert)
// through the Node server at 16 concurrent connections, beside the bare statement run directly on
// a pool of 16 connections. The ratio says what the HTTP stack, auth and validation cost.

const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

const { scratch, server, workspaceId, listId, stop } = await serverWithList("cell_path");
const list = { id: listId };
try {
  const rowIds = await addPeople(scratch.db, workspaceId, list.id, Array.from({ length: CONCURRENCY }, (_, i) => `Person ${i}`));
  const columnId = await addColumn(scratch.db, workspaceId, list.id, { schema: { type: "text" } });

  // Each loop writes its own row's cell, so the comparison is not about lock contention.
  let next = 0;
  const rowFor = () => rowIds[next++ % rowIds.length]!;

  const client = httpClient(server.url, CONCURRENCY, { authorization: `Bearer ${server.apiKey}` });
  const viaRoute = await runLoad(CONCURRENCY, SECONDS, async () => {
    const res = await client.request("PUT", `/api/lists/${list.id}/cells`, { rowId: rowFor(), columnId, value: `v${next}` });
    return res.status === 200;
  });
  client.close();

  const direct = await runLoad(CONCURRENCY, SECONDS, async () => {
    await writePersonCell(scratch.db, { workspaceId, listId: list.id, rowId: rowFor(), columnId, value: `v${next}` });
    return true;
  });

  console.log(`cell path, ${CONCURRENCY} connections, ${SECONDS}s each`);
  console.log(
    `  PUT /api/lists/{id}/cells via Node server: ${fmt(viaRoute.perSecond)} req/s  p50 ${fmt(viaRoute.p50, 2)} ms  p99 ${fmt(viaRoute.p99, 2)} ms  (${viaRoute.requests} requests, ${viaRoute.errors} errors)`,
  );
  console.log(
    `  same SQL statement, direct:               ${fmt(direct.perSecond)} stmt/s p50 ${fmt(direct.p50, 2)} ms  p99 ${fmt(direct.p99, 2)} ms  (${direct.requests} statements)`,
  );
  console.log(`  ratio route/direct throughput: ${fmt(viaRoute.perSecond / direct.perSecond, 3)}`);
  summary("cell write", "PUT /cells req/s", fmt(viaRoute.perSecond));
  summary("cell write", "ratio route/bare statement", fmt(viaRoute.perSecond / direct.perSecond, 3));
  if (viaRoute.errors > 0) process.exitCode = 1;
} finally {
  await stop();
}
