import { accounts } from "../src/db/schema";
import { accountSummary } from "../src/domain/accounts";
import { writePersonCell } from "../src/domain/cell-store";
import { listColumns } from "../src/domain/columns";
import { personRowPage } from "../src/domain/row-page";
import { addColumn, addPeople } from "../test/helpers/fixtures";
import { fmt, httpClient, runLoad, serverWithList, summary } from "./support";

// A bounded soak of a mixed load through the Node server at 16 connections: per ten requests, six
// cell writes, two 50-row page reads, one account read, one column list. Beside it, the same mix of
// domain calls run directly on a pool (the statements without HTTP, auth and validation), so the
// ratio says what the server costs under a realistic mix; errors must stay at 0.

const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 30);
const ROWS = 200;

const { scratch, server, workspaceId, listId, stop } = await serverWithList("mixed_load");
try {
  const [account] = await scratch.db.select({ id: accounts.id }).from(accounts).limit(1);
  const rowIds = await addPeople(scratch.db, workspaceId, listId, Array.from({ length: ROWS }, (_, i) => `Person ${i}`));
  const columnIds = await Promise.all(Array.from({ length: 5 }, (_, i) => addColumn(scratch.db, workspaceId, listId, { name: `Notes ${i}`, schema: { type: "text" } })));

  let next = 0;
  const pick = <T>(values: readonly T[]) => values[next++ % values.length]!;
  const kindOf = (n: number) => ["write", "write", "page", "write", "account", "write", "page", "write", "columns", "write"][n % 10]!;

  const client = httpClient(server.url, CONCURRENCY, { authorization: `Bearer ${server.apiKey}` });
  const viaServer = await runLoad(CONCURRENCY, SECONDS, async () => {
    const kind = kindOf(next);
    const res =
      kind === "write"
        ? await client.request("PUT", `/api/lists/${listId}/cells`, { rowId: pick(rowIds), columnId: pick(columnIds), value: `v${next}` })
        : kind === "page"
          ? await client.request("GET", `/api/lists/${listId}/rows?limit=50&offset=${(next * 50) % ROWS}`)
          : kind === "account"
            ? await client.request("GET", "/api/account")
            : await client.request("GET", `/api/lists/${listId}/columns`);
    return res.status === 200;
  });
  client.close();

  const direct = await runLoad(CONCURRENCY, Math.min(SECONDS, 10), async () => {
    const kind = kindOf(next);
    if (kind === "write") await writePersonCell(scratch.db, { workspaceId, listId, rowId: pick(rowIds), columnId: pick(columnIds), value: `v${next}` });
    else if (kind === "page") await personRowPage(scratch.db, workspaceId, listId, { limit: 50, offset: (next * 50) % ROWS });
    else if (kind === "account") await accountSummary(scratch.db, account!.id);
    else await listColumns(scratch.db, workspaceId, listId, undefined);
    return true;
  });

  console.log(`mixed load, ${CONCURRENCY} connections, ${SECONDS}s (6 writes, 2 page reads, 1 account, 1 column list per 10)`);
  console.log(`  via Node server: ${fmt(viaServer.perSecond)} req/s  p50 ${fmt(viaServer.p50, 2)} ms  p99 ${fmt(viaServer.p99, 2)} ms  (${viaServer.requests} requests, ${viaServer.errors} errors)`);
  console.log(`  same calls, direct: ${fmt(direct.perSecond)} calls/s  p50 ${fmt(direct.p50, 2)} ms  p99 ${fmt(direct.p99, 2)} ms`);
  console.log(`  ratio server/direct throughput: ${fmt(viaServer.perSecond / direct.perSecond, 3)}`);
  summary("mixed load", "req/s (p99 ms)", `${fmt(viaServer.perSecond)} (${fmt(viaServer.p99)})`);
  summary("mixed load", "ratio server/direct", fmt(viaServer.perSecond / direct.perSecond, 3));
  if (viaServer.errors > 0) process.exitCode = 1;
} finally {
  await stop();
}
