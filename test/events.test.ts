import type { Server as HttpServer } from "node:http";
import { serve } from "@hono/node-server";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { rowsOf } from "../src/db/client";
import { createEventFeeds } from "../src/domain/event-feed";
import { pruneEvents } from "../src/domain/events";
import { DEFAULT_CREDIT_COSTS } from "../src/domain/prices";
import { creditsFromLedger, progressFromCells } from "./helpers/column-stats";
import { countingDatabase } from "./helpers/counting";
import { addColumn, addCompanies, addPeople } from "./helpers/fixtures";
import { REQUEST_ID, useHarness, type Client, type Json } from "./helpers/harness";
import { serveOverHttp, type Served } from "./helpers/serve";

// GET /api/lists/{id}/events over a real HTTP server, read with fetch as any client reads it, and
// checked against the durable record (list_events) and the cells in the database.

const POLL_MS = 50;
const HEARTBEAT_MS = 300;
const POOL_MAX = 8;
const h = useHarness({ max: POOL_MAX, providerEnv: { EVENT_POLL_MS: String(POLL_MS), EVENT_HEARTBEAT_MS: String(HEARTBEAT_MS) } });

let base = "";
let server: HttpServer;

beforeAll(async () => {
  await new Promise<void>((resolve) => {
    server = serve({ fetch: h.app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    }) as HttpServer;
  });
});

afterAll(async () => {
  await closeStreams();
  await h.settle();
  h.services.events.closeAll();
  await new Promise<void>((done) => {
    server.closeAllConnections();
    server.close(() => done());
  });
});

afterEach(closeStreams);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds; the last failure is thrown after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

// ---- the stream as a client reads it ----

type Message = { event: string; id: string | null; data: Json; at: number };
type Item = { kind: "message"; message: Message } | { kind: "comment"; text: string; at: number };

/** An open `text/event-stream` response, parsed as the EventSource algorithm reads it. */
class EventStream {
  readonly items: Item[] = [];
  retry: number | null = null;
  ended = false;
  readonly finished: Promise<void>;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
    /** For a stream opened without a cursor: the list's newest event id just before it opened. */
    readonly start: string | null = null,
  ) {
    this.finished = this.read();
  }

  get messages(): Message[] {
    return this.items.flatMap((item) => (item.kind === "message" ? [item.message] : []));
  }

  /**
   * The `cell` events written after the stream opened, as { id, data } for comparing with the
   * record. A stream opened without a cursor starts at the oldest transaction still running in the
   * cluster (any database's), so it may first send a few events that committed just before it
   * opened: `allCells()` has those too.
   */
  cells(): Array<{ id: string; data: Json }> {
    return after(this.allCells(), this.start);
  }

  allCells(): Array<{ id: string; data: Json }> {
    return this.messages.filter((m) => m.event === "cell").map((m) => ({ id: m.id!, data: m.data }));
  }

  ofKind(event: string): Message[] {
    return this.messages.filter((m) => m.event === event);
  }

  comments(): Array<{ text: string; at: number }> {
    return this.items.flatMap((item) => (item.kind === "comment" ? [{ text: item.text, at: item.at }] : []));
  }

  close(): Promise<void> {
    this.controller.abort();
    return this.finished;
  }

  /** Resolves once `check()` holds for what has arrived; rejects when the stream ends first or after `timeoutMs`. */
  until(check: (stream: this) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; ${this.cells().length} cell events and ${this.messages.length} events in all arrived`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(test);
      };
      const test = () => {
        if (check(this)) {
          done();
          resolve();
        } else if (this.ended) {
          done();
          reject(new Error(`the stream ended before ${what}`));
        }
      };
      this.listeners.add(test);
      test();
    });
  }

  private notify() {
    for (const listener of [...this.listeners]) listener();
  }

  private async read(): Promise<void> {
    const reader = this.response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    let event = "";
    let id: string | null = null;
    let data: string[] = [];
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        let end: number;
        while ((end = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, end).replace(/\r$/, "");
          pending = pending.slice(end + 1);
          const at = Date.now();
          if (line === "") {
            if (data.length > 0) this.items.push({ kind: "message", message: { event: event || "message", id, data: JSON.parse(data.join("\n")), at } });
            event = "";
            id = null;
            data = [];
            continue;
          }
          if (line.startsWith(":")) {
            this.items.push({ kind: "comment", text: line.slice(1).trim(), at });
            continue;
          }
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = fieldValue;
          else if (field === "data") data.push(fieldValue);
          else if (field === "id") id = fieldValue;
          else if (field === "retry") this.retry = Number(fieldValue);
        }
        this.notify();
      }
    } catch (error) {
      if (!this.controller.signal.aborted) throw error;
    } finally {
      this.ended = true;
      this.notify();
    }
  }
}

const opened = new Set<EventStream>();

async function closeStreams(): Promise<void> {
  await Promise.all([...opened].map((stream) => stream.close()));
  opened.clear();
  // Every subscription ends with its connection: none is left behind in the feeds.
  await eventually(() => expect(h.services.events.open()).toBe(0));
}

type StreamOptions = { lastEventId?: string; since?: string; key?: string | null; /** Another server of the app than the file's. */ base?: string };
/** `start`: the list's newest event id, when the caller knows it (read from the record otherwise). */
type OpenOptions = Omit<StreamOptions, "key"> & { start?: string | null };

/** The raw answer to GET /events (the stream left unread). */
async function requestEvents(listId: string, options: StreamOptions = {}): Promise<{ response: Response; controller: AbortController }> {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (options.key !== null) headers.authorization = `Bearer ${options.key}`;
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
  const query = options.since !== undefined ? `?since=${encodeURIComponent(options.since)}` : "";
  const controller = new AbortController();
  const response = await fetch(`${options.base ?? base}/api/lists/${listId}/events${query}`, { headers, signal: controller.signal });
  return { response, controller };
}

/** Opens the list's stream as `client`; the subscription exists once this returns. */
async function openStream(client: Client, listId: string, options: OpenOptions = {}): Promise<EventStream> {
  const fromNow = options.lastEventId === undefined && options.since === undefined;
  const start = !fromNow ? null : options.start !== undefined ? options.start : await newestId(listId);
  const { response, controller } = await requestEvents(listId, { ...options, key: client.apiKey });
  if (response.status !== 200) throw new Error(`events answered ${response.status}: ${await response.text()}`);
  const stream = new EventStream(response, controller, start);
  opened.add(stream);
  await stream.until((s) => s.retry !== null, "the opening lines");
  return stream;
}

async function closeStream(stream: EventStream): Promise<void> {
  opened.delete(stream);
  await stream.close();
}

async function errorAnswer(listId: string, options: StreamOptions): Promise<{ status: number; contentType: string | null; body: Json }> {
  const { response } = await requestEvents(listId, options);
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.json() };
}

// ---- the durable record ----

type Position = { tx: number; id: number };

function positionOf(id: string): Position {
  const match = /^(\d+)-(\d+)$/.exec(id);
  if (!match) throw new Error(`not an event id: ${id}`);
  return { tx: Number(match[1]), id: Number(match[2]) };
}

const before = (a: Position, b: Position) => a.tx < b.tx || (a.tx === b.tx && a.id < b.id);

type RecordRow = { tx: string; id: string; subject: "person" | "company"; column_id: string; row_id: string; status: string; value: unknown; error: string | null; updated_at: string | Date };

/** The list's events in list_events after `after` (all of them for null), as the stream must send them. */
async function recordAfter(listId: string, after: string | null = null): Promise<Array<{ id: string; data: Json }>> {
  const from = after ? positionOf(after) : { tx: 0, id: 0 };
  const rows = rowsOf<RecordRow>(
    await h.db.execute(sql`
      select e.tx::text as tx, e.id::text as id, e.subject, e.column_id, e.row_id, e.status, e.value, e.error, e.updated_at from list_events e
      where e.list_id = ${listId} and (e.tx, e.id) > (${from.tx}::bigint, ${from.id}::bigint)
      order by e.tx, e.id`),
  );
  return rows.map((row) => ({
    id: `${row.tx}-${row.id}`,
    data: {
      subject: row.subject,
      columnId: row.column_id,
      ...(row.subject === "person" ? { rowId: row.row_id } : { companyRowId: row.row_id }),
      status: row.status,
      value: row.value ?? null,
      error: row.error,
      updatedAt: new Date(row.updated_at).toISOString(),
    },
  }));
}

/** The newest event id of the list in the record, or null. */
async function newestId(listId: string): Promise<string | null> {
  const [row] = rowsOf<{ id: string }>(
    await h.db.execute(sql`select e.tx || '-' || e.id as id from list_events e where e.list_id = ${listId} order by e.tx desc, e.id desc limit 1`),
  );
  return row?.id ?? null;
}

/** The events after the id `start`. */
const after = <T extends { id: string }>(events: T[], start: string | null) =>
  start ? events.filter((event) => before(positionOf(start), positionOf(event.id))) : events;

/** Cell events strictly increasing in (tx, id); every other event carries the id of the cell event it follows (so resuming from it loses nothing). */
function expectWellOrdered(stream: EventStream, resumedFrom: string | null = null): void {
  let last: string | null = resumedFrom;
  for (const message of stream.messages) {
    expect(message.id).toMatch(/^\d+-\d+$/);
    if (message.event === "cell") {
      if (last) expect(before(positionOf(last), positionOf(message.id!)), `${message.id} after ${last}`).toBe(true);
      last = message.id;
    } else if (last) {
      expect(message.id, `${message.event} event's id`).toBe(last);
    }
  }
}

type CellState = { status: string; value: unknown; error: string | null; updatedAt: string };
const cellKey = (data: Json) => `${data.subject}:${data.columnId}:${data.rowId ?? data.companyRowId}`;

/** The cells' last states, applying the cell events in the order they came. */
function fold(events: Array<{ data: Json }>): Map<string, CellState> {
  const state = new Map<string, CellState>();
  for (const { data } of events) state.set(cellKey(data), { status: data.status, value: data.value, error: data.error, updatedAt: data.updatedAt });
  return state;
}

/** The cells of these columns as they are in the database, keyed as `fold` keys them. */
async function cellsInDatabase(columnIds: string[]): Promise<Map<string, CellState>> {
  const ids = sql.join(
    columnIds.map((id) => sql`${id}::uuid`),
    sql`, `,
  );
  const rows = rowsOf<{ key: string; status: string; value: unknown; error: string | null; updated_at: string | Date }>(
    await h.db.execute(sql`
      select 'person:' || column_id || ':' || row_id as key, status, value, error, updated_at from list_cells where column_id in (${ids})
      union all
      select 'company:' || column_id || ':' || company_row_id, status, value, error, updated_at from list_company_cells where column_id in (${ids})`),
  );
  return new Map(rows.map((row) => [row.key, { status: row.status, value: row.value ?? null, error: row.error, updatedAt: new Date(row.updated_at).toISOString() }]));
}

// ---- lists ----

async function newList(client: Client, name = "Prospects"): Promise<string> {
  const res = await client.post("/api/lists", { name });
  expect(res.status).toBe(201);
  return res.body.list.id;
}

async function putCell(client: Client, listId: string, rowId: string, columnId: string, value: unknown): Promise<Json> {
  const res = await client.put(`/api/lists/${listId}/cells`, { rowId, columnId, value });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.cell;
}

async function patchCompanyCell(client: Client, listId: string, companyRowId: string, columnId: string, value: unknown): Promise<void> {
  const res = await client.patch(`/api/lists/${listId}/companies/${companyRowId}/cells`, { columnId, value });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

async function getColumn(client: Client, listId: string, columnId: string): Promise<Json> {
  const res = await client.get(`/api/lists/${listId}/columns/${columnId}`);
  expect(res.status).toBe(200);
  return res.body.column;
}

/** A list with people and a static text column. */
async function staticList(client: Client, people: number) {
  const listId = await newList(client);
  const rowIds = await addPeople(
    h.db,
    client.workspaceId,
    listId,
    Array.from({ length: people }, (_, i) => `Person${i} Tester`),
  );
  const columnId = await addColumn(h.db, client.workspaceId, listId, { name: "Notes" });
  return { listId, rowIds, columnId };
}

// ---- the tests ----

describe("answers before the stream", () => {
  it("401 without a key, 404 for another workspace's or an unknown list, 400 for a malformed cursor", async () => {
    const owner = await h.seedWorkspace();
    const stranger = await h.seedWorkspace();
    const listId = await newList(owner);

    const noKey = await errorAnswer(listId, { key: null });
    expect(noKey).toEqual({ status: 401, contentType: expect.stringMatching(/^application\/json/), body: { error: "Missing or invalid API key", code: "UNAUTHORIZED", requestId: REQUEST_ID } });
    const badKey = await errorAnswer(listId, { key: `pk_live_${"x".repeat(43)}` });
    expect(badKey.status).toBe(401);
    expect(badKey.body.code).toBe("UNAUTHORIZED");

    const notFound = { status: 404, contentType: expect.stringMatching(/^application\/json/), body: { error: "List not found", code: "NOT_FOUND", requestId: REQUEST_ID } };
    expect(await errorAnswer(listId, { key: stranger.apiKey })).toEqual(notFound);
    expect(await errorAnswer(crypto.randomUUID(), { key: owner.apiKey })).toEqual(notFound);
    // Not even a cursor of the list lets another workspace in.
    expect(await errorAnswer(listId, { key: stranger.apiKey, lastEventId: "1-1" })).toEqual(notFound);

    const malformedId = await errorAnswer("not-a-uuid", { key: owner.apiKey });
    expect(malformedId.status).toBe(400);
    expect(malformedId.body).toMatchObject({ code: "VALIDATION_ERROR", requestId: REQUEST_ID });

    for (const cursor of ["abc", "12", "1-2-3", "-1-2", "1_2", "1-", "99999999999999999999-1"]) {
      const header = await errorAnswer(listId, { key: owner.apiKey, lastEventId: cursor });
      expect(header, `Last-Event-ID ${cursor}`).toEqual({
        status: 400,
        contentType: expect.stringMatching(/^application\/json/),
        body: {
          error: "Last-Event-ID: must be an event id this stream sent (`<digits>-<digits>`)",
          code: "VALIDATION_ERROR",
          requestId: REQUEST_ID,
          issues: [{ path: "Last-Event-ID", message: "must be an event id this stream sent (`<digits>-<digits>`)" }],
        },
      });
      const query = await errorAnswer(listId, { key: owner.apiKey, since: cursor });
      expect(query.status, `since ${cursor}`).toBe(400);
      expect(query.body).toMatchObject({ code: "VALIDATION_ERROR", issues: [{ path: "since", message: expect.any(String) }] });
    }
    expect(h.services.events.open()).toBe(0);
  });

  it("200 is an event stream that is not cached, and opens with a retry hint", async () => {
    const owner = await h.seedWorkspace();
    const listId = await newList(owner);
    const stream = await openStream(owner, listId);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream");
    expect(stream.response.headers.get("cache-control")).toBe("no-cache");
    expect(stream.retry).toBe(2000);
    expect(h.services.events.open()).toBe(1);
    // A valid cursor of the list's future is a valid cursor too.
    const resumed = await openStream(owner, listId, { since: "1-0" });
    expect(resumed.response.status).toBe(200);
    expect(h.services.events.open()).toBe(2);
  });
});

describe("cell events", () => {
  it("one event per manual write, person and company, with the exact data", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 2);
    const [companyRowId] = await addCompanies(h.db, owner.workspaceId, listId, ["Acme"]);
    const companyColumnId = await addColumn(h.db, owner.workspaceId, listId, { name: "Segment", subject: "company" });
    const stream = await openStream(owner, listId);

    const written = await putCell(owner, listId, rowIds[0]!, columnId, "met at the fair");
    await stream.until((s) => s.cells().length === 1, "the person cell event");
    expect(stream.cells()).toEqual([
      {
        id: expect.stringMatching(/^\d+-\d+$/),
        data: { subject: "person", columnId, rowId: rowIds[0], status: "completed", value: "met at the fair", error: null, updatedAt: written.updated_at },
      },
    ]);

    await patchCompanyCell(owner, listId, companyRowId!, companyColumnId, "Enterprise");
    await stream.until((s) => s.cells().length === 2, "the company cell event");
    const [companyCell] = (await cellsInDatabase([companyColumnId])).values();
    expect(stream.cells()[1]).toEqual({
      id: expect.stringMatching(/^\d+-\d+$/),
      data: { subject: "company", columnId: companyColumnId, companyRowId, status: "complete", value: "Enterprise", error: null, updatedAt: companyCell!.updatedAt },
    });

    // An empty value is stored as NULL, and sent so.
    await patchCompanyCell(owner, listId, companyRowId!, companyColumnId, "");
    await stream.until((s) => s.cells().length === 3, "the cleared company cell");
    expect(stream.cells()[2]!.data).toMatchObject({ companyRowId, status: "complete", value: null, error: null });

    // Each column's last progress is the column's as GET answers it.
    for (const id of [columnId, companyColumnId]) {
      const column = await getColumn(owner, listId, id);
      expect(column.progress).toEqual(await progressFromCells(h.db, id));
      await eventually(() => expect(stream.ofKind("progress").filter((m) => m.data.columnId === id).at(-1)?.data).toEqual({ columnId: id, progress: column.progress, credits: column.credits }), 3_000);
    }
    await sleep(3 * POLL_MS);
    await expectComplete(stream, listId);
    expectWellOrdered(stream);
  });

  it("a column's life through the tasks: pending, processing, completed for every row, progress and balance", async () => {
    const owner = await h.seedWorkspace({ credits: 100 });
    const listId = await newList(owner);
    const rowIds = await addPeople(h.db, owner.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth", "Frances Allen", "Ken Thompson"]);
    const stream = await openStream(owner, listId);

    const created = await owner.post(`/api/lists/${listId}/columns`, { name: "Summary", isDynamic: true, prompt: "Summarise {{name}} in one line", dataSource: "profile" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const columnId: string = created.body.column.id;
    const price = DEFAULT_CREDIT_COSTS.CUSTOM_ENRICHMENT_AI!;
    const completedRows = (s: EventStream) => new Set(s.cells().filter((c) => c.data.columnId === columnId && c.data.status === "completed").map((c) => c.data.rowId));
    await stream.until((s) => completedRows(s).size === rowIds.length, "every row completed");
    await h.settle();

    const statusesOf = (rowId: string) => stream.cells().filter((c) => c.data.rowId === rowId && c.data.columnId === columnId).map((c) => c.data.status);
    for (const rowId of rowIds) expect(statusesOf(rowId), `row ${rowId}`).toEqual(["pending", "processing", "completed"]);
    // Every event of the column in the record, each once, and nothing else in the stream.
    await sleep(3 * POLL_MS);
    const record = await recordAfter(listId);
    expect(stream.cells()).toEqual(record.filter((event) => event.data.columnId === columnId));
    expect(fold(stream.cells())).toEqual(await cellsInDatabase([columnId]));
    for (const event of stream.cells().filter((c) => c.data.status !== "completed")) expect(event.data).toMatchObject({ value: null, error: null });

    // The last progress is the column's, and it is the cells' count.
    const column = await getColumn(owner, listId, columnId);
    expect(column.progress).toEqual(await progressFromCells(h.db, columnId));
    expect(column.credits).toEqual(await creditsFromLedger(h.db, columnId));
    const lastProgress = () => stream.ofKind("progress").filter((m) => m.data.columnId === columnId).at(-1)?.data;
    await stream.until(() => lastProgress()?.progress.completed + lastProgress()?.progress.empty === rowIds.length, "the final progress", 3_000);
    expect(lastProgress()).toEqual({ columnId, progress: column.progress, credits: column.credits });
    // Progress is derived at most about once a second per column.
    const progressTimes = stream.ofKind("progress").filter((m) => m.data.columnId === columnId).map((m) => m.at);
    for (let i = 1; i < progressTimes.length; i++) expect(progressTimes[i]! - progressTimes[i - 1]!).toBeGreaterThan(800);

    // The balance after the charge.
    const balance = await owner.balance();
    expect(balance).toBe(100 - rowIds.length * price);
    await stream.until((s) => s.ofKind("balance").at(-1)?.data.balance === balance, "the balance after the charge", 3_000);
    expect(stream.ofKind("balance").at(-1)!.data).toEqual({ balance });

    // Re-running two cells queues them again: the same life, for those rows only.
    const chosen = rowIds.slice(0, 2);
    const rerun = await owner.post(`/api/lists/${listId}/columns/${columnId}/generate`, { rowIds: chosen });
    expect(rerun.status, JSON.stringify(rerun.body)).toBe(200);
    await stream.until(() => chosen.every((rowId) => statusesOf(rowId).length === 6), "the re-run cells completed");
    await h.settle();
    for (const rowId of chosen) expect(statusesOf(rowId)).toEqual(["pending", "processing", "completed", "pending", "processing", "completed"]);
    for (const rowId of rowIds.slice(2)) expect(statusesOf(rowId)).toHaveLength(3);
    await stream.until((s) => s.ofKind("balance").at(-1)?.data.balance === balance - 2 * price, "the balance after the re-run", 3_000);
    await sleep(3 * POLL_MS);
    expect(stream.cells()).toEqual((await recordAfter(listId)).filter((event) => event.data.columnId === columnId));
    expect(fold(stream.cells())).toEqual(await cellsInDatabase([columnId]));
    expectWellOrdered(stream);
  });
});

/**
 * A stream opened without a cursor has every event written after it opened, each once, in order;
 * whatever it sent before those is a contiguous run of the record too.
 */
async function expectComplete(stream: EventStream, listId: string): Promise<void> {
  expect(stream.cells()).toEqual(await recordAfter(listId, stream.start));
  const all = stream.allCells();
  if (all.length > 0) expect(all).toEqual(await recordAfter(listId, await firstBefore(listId, all[0]!.id)));
}

/** The id just before `id` in the list's record (null when it is the first): resuming from it gives `id` first. */
async function firstBefore(listId: string, id: string): Promise<string | null> {
  const all = await recordAfter(listId);
  const index = all.findIndex((event) => event.id === id);
  expect(index).toBeGreaterThanOrEqual(0);
  return index === 0 ? null : all[index - 1]!.id;
}

describe("order", () => {
  it("concurrent writers: every event once, in (tx, id) order, and a transaction that commits late is not skipped", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 20);
    await putCell(owner, listId, rowIds[0]!, columnId, "written early");
    const start = (await newestId(listId))!;
    const stream = await openStream(owner, listId);

    // A transaction writes a cell and stays open while later ones commit: its event, older in
    // (tx, id), must not be skipped, so nothing after it may be sent before it commits.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let wrote!: (xid: number) => void;
    const written = new Promise<number>((resolve) => (wrote = resolve));
    const slow = h.client.begin(async (tx) => {
      await tx`update list_cells set value = '"written late"'::jsonb, updated_at = now() where row_id = ${rowIds[0]!} and column_id = ${columnId}`;
      const [me] = await tx`select pg_current_xact_id_if_assigned()::text as xid`;
      wrote(Number(me!.xid));
      await gate;
    });
    let slowXid: number;
    try {
      slowXid = await written;
      await Promise.all(rowIds.slice(1).map((rowId, i) => putCell(owner, listId, rowId, columnId, `value ${i}`)));
      await sleep(6 * POLL_MS);
      expect(stream.cells()).toEqual([]);
    } finally {
      release();
      await slow;
    }
    const record = await recordAfter(listId, start);
    expect(record).toHaveLength(rowIds.length);
    expect(positionOf(record[0]!.id).tx).toBe(slowXid);
    await stream.until((s) => s.cells().length === rowIds.length, "every event");
    await sleep(3 * POLL_MS);
    expect(stream.cells()).toEqual(record);
    expect(record[0]!.data).toMatchObject({ rowId: rowIds[0], value: "written late" });
    await expectComplete(stream, listId);
    expectWellOrdered(stream);
  });

  // Positions are ordered by the writing transaction's id, which is not the order in which two
  // transactions' writes to the same cell took effect: a transaction that got its id first (the
  // import locks the list first) writes the cell after another one committed its own write to it.
  // The reader leaves the superseded event out (the record's serial id follows the row lock), so
  // the stream's last word on the cell is the cell's value.
  it("the stream's last event of a cell is the cell's state, when an import and a manual write race on it", async () => {
    const owner = await h.seedWorkspace();
    const listId = await newList(owner);
    const columnId = await addColumn(h.db, owner.workspaceId, listId, { name: "Notes" });
    const added = await owner.post(`/api/lists/${listId}/rows`, { firstName: "Ada", lastName: "Lovelace", linkedinUrl: "https://www.linkedin.com/in/ada-lovelace" });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const rowId: string = added.body.row.id;
    await putCell(owner, listId, rowId, columnId, "first note");
    const stream = await openStream(owner, listId);

    // Hold the row, so the import (merging into it) waits after its first statement: it has its
    // transaction id by then (it locked the list first).
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let locked!: (pid: number) => void;
    const holderPid = new Promise<number>((resolve) => (locked = resolve));
    const holder = h.client.begin(async (tx) => {
      const [me] = await tx`select pg_backend_pid() as pid from list_rows where id = ${rowId} for update`;
      locked(Number(me!.pid));
      await gate;
    });
    const importing = owner.post(`/api/lists/${listId}/rows/bulk`, {
      rows: [{ firstName: "Ada", lastName: "Lovelace", linkedinUrl: "https://www.linkedin.com/in/ada-lovelace", location: "London", customColumns: { [columnId]: "from the import" } }],
    });
    let importXid: number;
    let typed: Json;
    try {
      const pid = await holderPid;
      importXid = await eventually(async () => {
        const [waiting] = rowsOf<{ xid: string | null }>(
          await h.db.execute(sql`select backend_xid::text as xid from pg_stat_activity where ${pid}::int = any(pg_blocking_pids(pid))`),
        );
        expect(waiting?.xid).toMatch(/^\d+$/);
        return Number(waiting!.xid);
      }, 5_000);
      // Meanwhile a manual write to the same cell commits.
      typed = await putCell(owner, listId, rowId, columnId, "typed by hand");
    } finally {
      // Released whatever happened: an open transaction holds back every stream on the whole Postgres cluster.
      release();
      await holder;
    }
    const imported = await importing;
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    expect(imported.body).toMatchObject({ inserted: 0, merged: 1 });

    // The import wrote the cell last: the cell holds its value. In the record, the manual write
    // has the larger transaction id, so it comes after the import's write.
    const cells = await cellsInDatabase([columnId]);
    expect([...cells.values()].map((cell) => cell.value)).toEqual(["from the import"]);
    const record = await recordAfter(listId);
    const recorded = record.filter((event) => event.data.columnId === columnId);
    expect(recorded.map((event) => event.data.value)).toEqual(["first note", "from the import", "typed by hand"]);
    expect(positionOf(recorded[1]!.id).tx).toBe(importXid);
    expect(recorded[2]!.data.updatedAt).toBe(typed.updated_at);

    // The superseded event is never sent: the import's value arrives, and after several more ticks
    // (EVENT_POLL_MS is 50) nothing else has about this cell.
    await stream.until((s) => s.cells().some((event) => event.data.columnId === columnId && event.data.value === "from the import"), "the import's event");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const ofCell = stream.cells().filter((event) => event.data.columnId === columnId);
    expect(ofCell.map((event) => event.data.value)).toEqual(["from the import"]);
    expect(fold(ofCell)).toEqual(cells);
  });
});

describe.each([
  ["no stream of the list is open meanwhile", false],
  ["another stream keeps the list's feed open", true],
])("resume after a disconnect (%s)", (_name, keepFeed) => {
  it("Last-Event-ID and ?since= replay exactly the events after the id, then continue", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 6);
    const anchor = keepFeed ? await openStream(owner, listId) : null;
    const first = await openStream(owner, listId);
    for (let i = 0; i < 5; i++) await putCell(owner, listId, rowIds[i]!, columnId, `first ${i}`);
    await first.until((s) => s.cells().length === 5, "the first five");
    const resumeAt = first.cells()[2]!.id;
    await closeStream(first);
    if (!keepFeed) await eventually(() => expect(h.services.events.open()).toBe(0));

    // Changes while nobody listens: new cells, overwritten cells, a company cell.
    await putCell(owner, listId, rowIds[5]!, columnId, "while away");
    await putCell(owner, listId, rowIds[0]!, columnId, "overwritten while away");
    await Promise.all([putCell(owner, listId, rowIds[1]!, columnId, "concurrent a"), putCell(owner, listId, rowIds[2]!, columnId, "concurrent b")]);
    const expected = await recordAfter(listId, resumeAt);
    expect(expected).toHaveLength(6);

    const byHeader = await openStream(owner, listId, { lastEventId: resumeAt });
    const bySince = await openStream(owner, listId, { since: resumeAt });
    // The header wins over the query when both are given.
    const both = await openStream(owner, listId, { lastEventId: resumeAt, since: first.cells()[0]!.id });
    for (const stream of [byHeader, bySince, both]) await stream.until((s) => s.cells().length >= expected.length, "the replay");
    await sleep(4 * POLL_MS);
    for (const stream of [byHeader, bySince, both]) {
      expect(stream.cells()).toEqual(expected);
      expectWellOrdered(stream, resumeAt);
    }

    // Then live.
    await putCell(owner, listId, rowIds[3]!, columnId, "live again");
    const live = await recordAfter(listId, expected.at(-1)!.id);
    expect(live).toHaveLength(1);
    for (const stream of [byHeader, bySince, both]) {
      await stream.until((s) => s.cells().length === expected.length + 1, "the live event");
      expect(stream.cells()).toEqual([...expected, ...live]);
    }
    if (anchor) await expectComplete(anchor, listId);

    // Resuming from the last event sent, or from a progress event, misses nothing and repeats nothing.
    const lastProgress = byHeader.ofKind("progress").at(-1);
    const fromProgress = lastProgress ? await openStream(owner, listId, { lastEventId: lastProgress.id! }) : null;
    const fromEnd = await openStream(owner, listId, { lastEventId: live[0]!.id });
    await putCell(owner, listId, rowIds[4]!, columnId, "after the end");
    const tail = await recordAfter(listId, live[0]!.id);
    await fromEnd.until((s) => s.cells().length === 1, "the event after the end");
    expect(fromEnd.cells()).toEqual(tail);
    if (fromProgress) {
      await fromProgress.until((s) => s.cells().length >= 1, "the events after the progress");
      await sleep(2 * POLL_MS);
      expect(fromProgress.cells()).toEqual(await recordAfter(listId, lastProgress!.id));
    }
  });
});

describe("heartbeats", () => {
  it("an idle stream gets a comment line at least every EVENT_HEARTBEAT_MS, also after an event", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 1);
    const stream = await openStream(owner, listId);
    const openedAt = Date.now();
    const slack = 150;
    await stream.until((s) => s.comments().filter((c) => c.text === "keep-alive").length >= 3, "three heartbeats", 3_000);
    const beats = stream.comments().filter((c) => c.text === "keep-alive");
    expect(beats[0]!.at - openedAt).toBeLessThanOrEqual(HEARTBEAT_MS + slack);
    for (let i = 1; i < beats.length; i++) expect(beats[i]!.at - beats[i - 1]!.at).toBeLessThanOrEqual(HEARTBEAT_MS + slack);

    // Events at different moments between two heartbeats: the silence after each is still bounded.
    for (const delay of [20, 90, 160, 230]) {
      const seen = stream.comments().length;
      await stream.until((s) => s.comments().length > seen, "a heartbeat", 3_000);
      await sleep(delay);
      const cells = stream.cells().length;
      await putCell(owner, listId, rowIds[0]!, columnId, `note after ${delay} ms`);
      await stream.until((s) => s.cells().length > cells, "the event");
    }
    await sleep(HEARTBEAT_MS + slack);
    const times = stream.items.map((item) => (item.kind === "message" ? item.message.at : item.at));
    const gaps = times.slice(1).map((at, i) => at - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_MS + slack);
    expect(Date.now() - times.at(-1)!).toBeLessThanOrEqual(HEARTBEAT_MS + slack);
  });
});

/** Reads of list_events by every backend so far. */
describe("many clients", () => {
  // The app once more, over a database handle that counts the statements reading list events.
  const feedReads = countingDatabase({ counts: (query) => /from list_events e\b/.test(query) });
  const feedServices = { ...h.services, db: feedReads.db, events: createEventFeeds(feedReads.db, h.services.eventSettings) };
  let feedBase = "";
  let feedServer: Served;
  beforeAll(async () => {
    feedServer = await serveOverHttp(createApp(() => ({ services: feedServices })).fetch);
    feedBase = feedServer.url;
  });
  afterAll(async () => {
    await feedServices.events.closeAll();
    await feedServer.close();
  });

  it("50 streams on one list get the same complete sequence, from one read per tick", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 30);
    const window = 1_000;

    // Counted on the streams' own database handle: reads of the list's events by its feed alone,
    // whatever other test files do to the shared database meanwhile.
    // Each over the same window of steady state: once the streams are open, until they close.
    const quiet = await newestId(listId);
    const one = await openStream(owner, listId, { start: quiet, base: feedBase });
    const readsOne = await feedReads.count(() => sleep(window));
    await closeStream(one);
    const fifty = await Promise.all(Array.from({ length: 50 }, () => openStream(owner, listId, { start: quiet, base: feedBase })));
    expect(feedServices.events.open()).toBe(50);
    const readsFifty = await feedReads.count(() => sleep(window));
    await Promise.all(fifty.map((stream) => closeStream(stream)));
    // One read per tick per list, however many clients: 50 polling clients would read 50 times as often.
    const ticks = window / POLL_MS;
    expect(readsOne).toBeGreaterThan(ticks / 4);
    expect(readsOne).toBeLessThan(ticks * 2);
    expect(readsFifty).toBeLessThanOrEqual(readsOne + 5);

    // A burst of concurrent writes, and one statement writing many cells.
    const start = await newestId(listId);
    const streams = await Promise.all(Array.from({ length: 50 }, () => openStream(owner, listId)));
    await Promise.all(rowIds.map((rowId, i) => putCell(owner, listId, rowId, columnId, `burst ${i}`)));
    await h.db.execute(sql`update list_cells set value = to_jsonb('rewritten ' || row_id::text), updated_at = now() where column_id = ${columnId}`);
    await Promise.all(rowIds.slice(0, 10).map((rowId, i) => putCell(owner, listId, rowId, columnId, `again ${i}`)));
    const expected = await recordAfter(listId, start);
    expect(expected).toHaveLength(2 * rowIds.length + 10);
    await Promise.all(streams.map((stream) => stream.until((s) => s.cells().length >= expected.length, "the burst")));
    await sleep(3 * POLL_MS);
    for (const stream of streams) expect(stream.cells()).toEqual(expected);
    expectWellOrdered(streams[0]!);
    expect(fold(streams[0]!.cells())).toEqual(await cellsInDatabase([columnId]));
  });
});

describe("a reader further behind than the feed's memory", () => {
  it("replays more than 5,000 events from the database in order, then continues live", { timeout: 60_000 }, async () => {
    const owner = await h.seedWorkspace();
    const listId = await newList(owner);
    const columnId = await addColumn(h.db, owner.workspaceId, listId, { name: "Notes" });
    const count = 6_000;
    await h.db.execute(sql`
      with made as (
        insert into leads (workspace_id, type, full_name)
        select ${owner.workspaceId}, 'person', 'Person ' || g from generate_series(1, ${count}) g
        returning id, full_name
      )
      insert into list_rows (list_id, workspace_id, lead_id, full_name) select ${listId}, ${owner.workspaceId}, id, full_name from made`);
    const [firstRow] = rowsOf<{ id: string }>(await h.db.execute(sql`select id from list_rows where list_id = ${listId} order by position limit 1`));

    // The anchor keeps the feed open, so its buffer rolls over while the reader is away.
    const anchor = await openStream(owner, listId);
    const reader = await openStream(owner, listId);
    await putCell(owner, listId, firstRow!.id, columnId, "before the burst");
    await reader.until((s) => s.cells().length === 1, "the first event");
    const resumeAt = reader.cells()[0]!.id;
    await closeStream(reader);

    await h.db.execute(sql`
      insert into list_cells (list_id, column_id, row_id, value, status)
      select ${listId}, ${columnId}, r.id, to_jsonb('burst ' || r.position), 'completed' from list_rows r where r.list_id = ${listId}
      on conflict (column_id, row_id) do update set value = excluded.value, status = 'completed', updated_at = now()`);
    await anchor.until((s) => s.cells().length === count + 1, "the burst at the anchor", 20_000);
    // A few more after the burst, so the feed's memory holds events after the reader's replay.
    await h.db.execute(sql`update list_cells set value = '"tail"'::jsonb, updated_at = now() where column_id = ${columnId} and row_id in (select id from list_rows where list_id = ${listId} order by position limit 50)`);
    const expected = await recordAfter(listId, resumeAt);
    expect(expected).toHaveLength(count + 50);
    await anchor.until((s) => s.cells().length === count + 51, "the tail at the anchor");

    const resumed = await openStream(owner, listId, { lastEventId: resumeAt });
    await resumed.until((s) => s.cells().length >= expected.length, "the replay", 20_000);
    await putCell(owner, listId, firstRow!.id, columnId, "live after the replay");
    const live = await recordAfter(listId, expected.at(-1)!.id);
    expect(live).toHaveLength(1);
    await resumed.until((s) => s.cells().length === expected.length + 1, "the live event");
    expect(resumed.cells()).toEqual([...expected, ...live]);
    expectWellOrdered(resumed, resumeAt);
    await expectComplete(anchor, listId);

    // With no feed open at all, a resume replays everything from the database too.
    await closeStreams();
    const fresh = await openStream(owner, listId, { since: resumeAt });
    await fresh.until((s) => s.cells().length >= expected.length + 1, "the replay into a new feed", 20_000);
    await sleep(3 * POLL_MS);
    expect(fresh.cells()).toEqual([...expected, ...live]);
    expect(fold(fresh.cells())).toEqual(await cellsInDatabase([columnId]));
  });
});

describe("property: concurrent manual writes", () => {
  it("the stream's events applied in order give the cells' final states", { timeout: 60_000 }, async () => {
    const owner = await h.seedWorkspace();
    const listId = await newList(owner);
    const rowIds = await addPeople(h.db, owner.workspaceId, listId, ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]);
    const companyRowIds = await addCompanies(h.db, owner.workspaceId, listId, ["Acme", "Globex", "Initech"]);
    const personColumns = [await addColumn(h.db, owner.workspaceId, listId, { name: "Notes" }), await addColumn(h.db, owner.workspaceId, listId, { name: "Tags", position: 101 })];
    const companyColumn = await addColumn(h.db, owner.workspaceId, listId, { name: "Segment", subject: "company" });
    const start = await newestId(listId);
    const stream = await openStream(owner, listId);

    const value = fc.oneof(fc.constantFrom("", "a", "b"), fc.string({ maxLength: 6 }));
    const write = fc.oneof(
      fc.record({ kind: fc.constant("person" as const), row: fc.nat(rowIds.length - 1), column: fc.nat(personColumns.length - 1), value, group: fc.nat(3) }),
      fc.record({ kind: fc.constant("company" as const), row: fc.nat(companyRowIds.length - 1), column: fc.constant(0), value, group: fc.nat(3) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 24 }), async (writes) => {
        for (let group = 0; group <= 3; group++) {
          await Promise.all(
            writes
              .filter((w) => w.group === group)
              .map((w) =>
                w.kind === "person"
                  ? putCell(owner, listId, rowIds[w.row]!, personColumns[w.column]!, w.value)
                  : patchCompanyCell(owner, listId, companyRowIds[w.row]!, companyColumn, w.value),
              ),
          );
        }
        const record = await recordAfter(listId, start);
        await stream.until((s) => s.cells().length >= record.length, "the writes' events", 5_000);
        expect(stream.cells()).toEqual(record);
        // Status, value and error: writing a cell's value again changes only its updatedAt, which
        // the record leaves out (an update is an event only when status, value or error changed).
        const withoutTimes = (cells: Map<string, CellState>) => new Map([...cells].map(([key, { updatedAt: _, ...cell }]) => [key, cell]));
        expect(withoutTimes(fold(stream.cells()))).toEqual(withoutTimes(await cellsInDatabase([...personColumns, companyColumn])));
      }),
      { numRuns: 20 },
    );
    expectWellOrdered(stream);
  });
});

describe("an id older than the record", () => {
  it("410 CURSOR_EXPIRED once its events were pruned; a new stream and later ids still work", async () => {
    const owner = await h.seedWorkspace();
    const { listId, rowIds, columnId } = await staticList(owner, 3);
    const stream = await openStream(owner, listId);
    for (let i = 0; i < 3; i++) await putCell(owner, listId, rowIds[i]!, columnId, `old ${i}`);
    await stream.until((s) => s.cells().length === 3, "three events");
    const ids = stream.cells().map((event) => event.id);
    await closeStreams();

    // Everything of this list (only: other test files' lists share the database).
    const kept = (await recordAfter(listId)).length;
    expect(await pruneEvents(h.db, new Date(Date.now() + 1000), { listId })).toBe(kept);
    expect(await recordAfter(listId)).toEqual([]);

    const expired = { status: 410, contentType: expect.stringMatching(/^application\/json/), body: { error: "This event id is too old to replay from; reload the list and reconnect without Last-Event-ID", code: "CURSOR_EXPIRED", requestId: REQUEST_ID } };
    for (const id of ids) {
      expect(await errorAnswer(listId, { key: owner.apiKey, lastEventId: id }), `Last-Event-ID ${id}`).toEqual(expired);
      expect(await errorAnswer(listId, { key: owner.apiKey, since: id }), `since ${id}`).toEqual(expired);
    }
    expect(await errorAnswer(listId, { key: owner.apiKey, lastEventId: "1-1" })).toEqual(expired);
    // Ownership is still checked first.
    const stranger = await h.seedWorkspace();
    expect((await errorAnswer(listId, { key: stranger.apiKey, lastEventId: ids[0] })).status).toBe(404);

    const again = await openStream(owner, listId);
    await putCell(owner, listId, rowIds[0]!, columnId, "after the prune");
    await again.until((s) => s.cells().length === 1, "a new event");
    expect(again.cells()).toEqual(await recordAfter(listId));
    await closeStream(again);
    const resumed = await openStream(owner, listId, { lastEventId: again.cells()[0]!.id });
    await putCell(owner, listId, rowIds[1]!, columnId, "resumed after the prune");
    await resumed.until((s) => s.cells().length === 1, "the event after the new id");
    expect(resumed.cells()).toEqual(await recordAfter(listId, again.cells()[0]!.id));
  });
});
