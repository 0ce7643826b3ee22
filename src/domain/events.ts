import { sql } from "drizzle-orm";
import { rowsOf, type Queryable } from "../db/client";
import { AppError } from "../errors";

// Reading the list_events record (written by triggers on the cell tables, drizzle/0008; see
// listEvents in src/db/schema.ts for why a position is (tx, id) and why only events of transactions
// older than the snapshot's xmin are read).

/** Where a reader stands in the record: after every event at or below this position. */
export type EventPosition = { tx: number; id: number };

export type CellEvent = {
  position: EventPosition;
  subject: "person" | "company";
  columnId: string;
  rowId: string;
  status: string;
  value: unknown;
  error: string | null;
  updatedAt: string;
};

const POSITION = /^(\d{1,18})-(\d{1,18})$/;

/** The `id:` of an event as the stream sends it, and the cursor a caller sends back. */
export const formatPosition = (position: EventPosition) => `${position.tx}-${position.id}`;

/** A cursor from `Last-Event-ID` or `?since=`; a 400 naming `where` when it is not one of ours. */
export function parsePosition(text: string, where: string): EventPosition {
  const match = POSITION.exec(text.trim());
  if (!match) throw AppError.validation([{ path: where, message: "must be an event id this stream sent (`<digits>-<digits>`)" }]);
  return { tx: Number(match[1]), id: Number(match[2]) };
}

export const isAfter = (a: EventPosition, b: EventPosition) => a.tx > b.tx || (a.tx === b.tx && a.id > b.id);

/**
 * "Now": a position after every event a reader can see at this moment, and before any event a
 * transaction still running (or not yet begun) will write: every such transaction's id is at least
 * the snapshot's xmin.
 */
export async function currentPosition(db: Queryable): Promise<EventPosition> {
  const [row] = rowsOf<{ xmin: string }>(await db.execute(sql`select pg_snapshot_xmin(pg_current_snapshot())::text as xmin`));
  return { tx: Number(row!.xmin), id: 0 };
}

/** 410 CURSOR_EXPIRED: events after this cursor may have been pruned, so a replay could have gaps. */
export const cursorExpired = () =>
  new AppError("CURSOR_EXPIRED", "This event id is too old to replay from; reload the list and reconnect without Last-Event-ID");

type EventRow = {
  horizon_tx: string;
  horizon_id: string;
  tx: string | null;
  id: string | null;
  subject: "person" | "company";
  column_id: string;
  row_id: string;
  status: string;
  value: unknown;
  error: string | null;
  updated_at: string | Date;
};

/**
 * Up to `limit` events of the list after `after`, in order, in one indexed statement
 * (list_events_position_idx); with the prune horizon, so a cursor that fell behind it is told.
 *
 * Superseded events: positions follow the writing transactions' ids, which is not always the order
 * in which two transactions wrote the same cell (a transaction that took its id early can write the
 * cell after a later one committed). The record's own serial id does follow that order for one
 * cell: the second writer waits on the cell's row lock, so its event row is inserted after the
 * first one committed. So an event of a cell that has a newer write (higher serial id) at an
 * earlier position is never sent (list_events_cell_idx): whichever side of that newer write a
 * reader's cursor is on, applying the events in order ends on each cell's value.
 */
export async function eventsAfter(
  db: Queryable,
  listId: string,
  after: EventPosition,
  limit: number,
): Promise<{ expired: boolean; events: CellEvent[] }> {
  const rows = rowsOf<EventRow>(
    await db.execute(sql`
      select coalesce(h.tx, 0) as horizon_tx, coalesce(h.event_id, 0) as horizon_id, e.*
      from (select ${listId}::uuid as list_id) l
      left join list_event_horizons h on h.list_id = l.list_id
      left join lateral (
        select e.tx, e.id, e.subject, e.column_id, e.row_id, e.status, e.value, e.error, e.updated_at
        from list_events e
        where e.list_id = ${listId}
          and (e.tx, e.id) > (${after.tx}::bigint, ${after.id}::bigint)
          and e.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
          and not exists (
            select 1 from list_events n
            where n.column_id = e.column_id and n.row_id = e.row_id and n.id > e.id and n.tx < e.tx
          )
        order by e.tx, e.id
        limit ${limit}
      ) e on true`),
  );
  const horizon = { tx: Number(rows[0]!.horizon_tx), id: Number(rows[0]!.horizon_id) };
  if (!isAfter(after, horizon) && (horizon.tx > 0 || horizon.id > 0)) return { expired: true, events: [] };
  const events = rows.flatMap((row): CellEvent[] => {
    if (row.tx === null) return [];
    return [
      {
        position: { tx: Number(row.tx), id: Number(row.id) },
        subject: row.subject,
        columnId: row.column_id,
        rowId: row.row_id,
        status: row.status,
        value: row.value ?? null,
        error: row.error,
        updatedAt: new Date(row.updated_at).toISOString(),
      },
    ];
  });
  return { expired: false, events };
}

/**
 * Deletes the events written before `before` (of one list, or of all), and moves each list's horizon
 * to the newest position deleted from it, in one statement. A cursor above its list's horizon still
 * has every later event; one at or below it is answered 410. Returns how many events were deleted.
 */
export async function pruneEvents(db: Queryable, before: Date, options: { listId?: string } = {}): Promise<number> {
  const [row] = rowsOf<{ deleted: string }>(
    await db.execute(sql`
      with gone as (
        delete from list_events
        where created_at < ${before.toISOString()}::timestamptz ${options.listId ? sql`and list_id = ${options.listId}` : sql``}
        returning list_id, tx, id
      ), newest as (
        select distinct on (list_id) list_id, tx, id from gone order by list_id, tx desc, id desc
      ), moved as (
        insert into list_event_horizons as h (list_id, tx, event_id)
        select list_id, tx, id from newest
        on conflict (list_id) do update set tx = excluded.tx, event_id = excluded.event_id
          where (excluded.tx, excluded.event_id) > (h.tx, h.event_id)
        returning h.list_id
      )
      select count(*) as deleted from gone`),
  );
  return Number(row?.deleted ?? 0);
}
