import { sql } from "drizzle-orm";
import { rowsOf } from "../src/db/client";
import { personRowPage } from "../src/domain/row-page";
import { fmt, httpClient, median, seedPeople, serverWithList, summary } from "./support";

// Reading a 500-row page of a list with 31 columns (15,500 cells): GET /api/lists/{id}/rows through
// the Node server, plain and gzipped, beside the one SQL statement that assembles the same JSON run
// directly. Rounds interleave route and statement, so both see the same machine; the figures are
// medians over the rounds, the ratio is route/statement time.

const ROWS = 500;
const COLUMNS = 31;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

const { scratch, server, workspaceId, listId, stop } = await serverWithList("row_page");
const list = { id: listId };
try {
  await seedPeople(scratch.db, workspaceId, list.id, ROWS);
  // Static text columns, one completed cell per row each: values of the size a sheet holds.
  await scratch.db.execute(sql`
    with col as (
      insert into list_columns (list_id, workspace_id, name, subject, source, is_dynamic, schema, category, position)
      select ${list.id}::uuid, ${workspaceId}::uuid, 'Column ' || g, 'person', 'profile', false, '{"type":"text"}'::jsonb, 'custom', 100 + g
      from generate_series(1, ${COLUMNS}::int) g
      returning id
    )
    insert into list_cells (list_id, column_id, row_id, value, status)
    select ${list.id}::uuid, col.id, r.id, to_jsonb('A value of about forty characters, row ' || r.position), 'completed'
    from col cross join list_rows r where r.list_id = ${list.id}`);
  await scratch.db.execute(sql`vacuum analyze list_cells, list_columns`);
  const [{ cells } = { cells: 0 }] = rowsOf<{ cells: number }>(await scratch.db.execute(sql`select count(*)::int as cells from list_cells where list_id = ${list.id}`));

  const path = `/api/lists/${list.id}/rows?limit=${ROWS}`;
  const plain = httpClient(server.url, 1, { authorization: `Bearer ${server.apiKey}` });
  const zipped = httpClient(server.url, 1, { authorization: `Bearer ${server.apiKey}`, "accept-encoding": "gzip" });
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  let bytes = 0;
  let zippedBytes = 0;
  const route: number[] = [];
  const routeGzip: number[] = [];
  const statement: number[] = [];
  // One round of each first, as warm-up.
  for (let round = -1; round < ROUNDS; round++) {
    const r = await timed(async () => {
      const res = await plain.request("GET", path);
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
      bytes = Buffer.byteLength(res.text);
    });
    const z = await timed(async () => {
      const res = await zipped.request("GET", path);
      zippedBytes = Buffer.byteLength(res.text, "latin1");
    });
    const s = await timed(() => personRowPage(scratch.db, workspaceId, list.id, { limit: ROWS, offset: 0 }));
    if (round >= 0) {
      route.push(r);
      routeGzip.push(z);
      statement.push(s);
    }
  }
  plain.close();
  zipped.close();

  console.log(`row page: ${ROWS} rows × ${COLUMNS} columns (${cells} cells), median of ${ROUNDS} interleaved rounds`);
  console.log(`  GET ${"/api/lists/{id}/rows"} via Node server:   ${fmt(median(route))} ms  (${fmt(bytes / 1e6, 2)} MB)`);
  console.log(`  the same, Accept-Encoding: gzip:           ${fmt(median(routeGzip))} ms  (~${fmt(zippedBytes / 1e6, 2)} MB on the wire)`);
  console.log(`  the page's one statement, direct:          ${fmt(median(statement))} ms`);
  console.log(`  ratio route/statement: ${fmt(median(route) / median(statement), 2)}  (range ${fmt(Math.min(...route) / median(statement), 2)}–${fmt(Math.max(...route) / median(statement), 2)})`);
  summary("500-row page", "GET /rows ms", fmt(median(route)));
  summary("500-row page", "ratio route/statement", fmt(median(route) / median(statement), 2));
} finally {
  await stop();
}
