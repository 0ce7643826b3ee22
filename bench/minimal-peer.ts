import { createHash } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import postgres from "postgres";

// The minimal peer of the cell write, for bench/cell-path.ts: the same stack (@hono/node-server,
// Hono, postgres.js) doing only what the route must, with none of the project's layers: read the
// bearer key, hash it, and in one statement check the key, the list, the row and the column and
// upsert the cell, answering the cell. What the route reaches beside it says what the project's own
// request path costs. Run as its own process: DATABASE_URL=… npx tsx bench/minimal-peer.ts

const sql = postgres(process.env.DATABASE_URL!, { max: Number(process.env.PEER_POOL_MAX ?? 20), fetch_types: false, onnotice: () => {} });
const app = new Hono();

app.put("/api/lists/:id/cells", async (c) => {
  const key = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (!key) return c.json({ error: "Missing or invalid API key", code: "UNAUTHORIZED" }, 401);
  const body = (await c.req.json()) as { rowId: string; columnId: string; value: unknown };
  const hash = createHash("sha256").update(key).digest("hex");
  const [row] = await sql`
    with caller as (
      select workspace_id from api_keys where key_hash = ${hash} and revoked_at is null limit 1
    ), list as (
      select l.id from lists l join caller on caller.workspace_id = l.workspace_id where l.id = ${c.req.param("id")}
    ), target_row as (
      select r.id from list_rows r join list on list.id = r.list_id where r.id = ${body.rowId}
    ), target_column as (
      select col.id from list_columns col join list on list.id = col.list_id
      where col.id = ${body.columnId} and col.subject = 'person' and cell_value_fits(col.schema, ${JSON.stringify(body.value)}::jsonb)
    ), written as (
      insert into list_cells (list_id, column_id, row_id, value, status)
      select ${c.req.param("id")}, target_column.id, target_row.id, ${JSON.stringify(body.value)}::jsonb, 'completed'
      from target_row, target_column
      on conflict (column_id, row_id) do update set value = excluded.value, status = 'completed', updated_at = now()
      returning id, list_id, column_id, row_id, value, status, created_at, updated_at
    )
    select exists (select 1 from caller) as authenticated, (select row_to_json(w) from written w) as cell`;
  if (!row?.authenticated) return c.json({ error: "Missing or invalid API key", code: "UNAUTHORIZED" }, 401);
  if (!row.cell) return c.json({ error: "Not found", code: "NOT_FOUND" }, 404);
  return c.json({ cell: row.cell });
});

const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => console.log(`peer listening on http://127.0.0.1:${info.port}`));
const stop = () => server.close(() => void sql.end({ timeout: 1 }).then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
