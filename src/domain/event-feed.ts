import { eq } from "drizzle-orm";
import type { Queryable } from "../db/client";
import { workspaces } from "../db/schema";
import { columnStats, type ColumnStats } from "./cell-store/progress";
import { currentPosition, cursorExpired, eventsAfter, isAfter, type CellEvent, type EventPosition } from "./events";

/**
 * What a list's event stream carries, in order. `position` is the stream's `id:` for each item: a
 * client resuming from it gets everything after. Progress and balance items are derived (read when
 * cells changed) and carry the position of the last cell event they follow.
 */
export type StreamItem =
  | { kind: "cell"; position: EventPosition; event: CellEvent }
  | { kind: "progress"; position: EventPosition; columnId: string; stats: ColumnStats }
  | { kind: "balance"; position: EventPosition; balance: number }
  | { kind: "heartbeat" };

export type EventStreamSettings = {
  /** How often a list's record is read for new events. */
  pollMs: number;
  /** A comment line at least this often, so proxies keep an idle stream open. */
  heartbeatMs: number;
  /** Progress of one column at most this often per stream. */
  progressEveryMs: number;
};

export type Subscription = AsyncIterable<StreamItem> & { close(): void; readonly closed: Promise<void> };

/** The streams of one process (or one Worker request), sharing one reading loop per list. */
export type EventFeeds = {
  /** Starts a stream of the list after `after` (null: from now). 410 CURSOR_EXPIRED when `after` is too old. */
  subscribe(input: { listId: string; workspaceId: string; after: EventPosition | null }): Promise<Subscription>;
  /** Ends every open stream (the server is stopping). */
  closeAll(): void;
  /** Streams open now, for tests and logs. */
  open(): number;
};

// A page of a replay or a tick's read. A buffer of this many recent events serves streams that join
// or resume near the live end from memory; one further behind replays from the database first.
const PAGE = 500;
const BUFFER_LIMIT = 5_000;
// A client this far behind is dropped: it resumes with Last-Event-ID and replays from the database.
const QUEUE_LIMIT = 20_000;

class Subscriber implements Subscription {
  private queue: StreamItem[] = [];
  private wake: (() => void) | null = null;
  private isDone = false;
  private lastSent = Date.now();
  private readonly heartbeat: ReturnType<typeof setInterval>;
  private ended!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.ended = resolve));
  /** Replaying from the database until it reaches the feed's buffer. */
  catchingUp: boolean;

  constructor(
    public cursor: EventPosition,
    catchingUp: boolean,
    settings: EventStreamSettings,
    /** Resolves once nothing the feed does for this stream is still reading the database. */
    private readonly onClose: (subscriber: Subscriber) => Promise<void>,
  ) {
    this.catchingUp = catchingUp;
    const every = Math.max(50, Math.min(settings.heartbeatMs, 1_000));
    this.heartbeat = setInterval(() => {
      // At the last check before the silence would exceed heartbeatMs: waiting for the check after
      // it would leave a gap of up to heartbeatMs + every.
      if (Date.now() - this.lastSent + every >= settings.heartbeatMs) this.push({ kind: "heartbeat" });
    }, every);
  }

  get isClosed() {
    return this.isDone;
  }

  push(item: StreamItem): void {
    if (this.isDone) return;
    if (this.queue.length >= QUEUE_LIMIT) return this.close();
    if (item.kind === "cell") this.cursor = item.position;
    this.queue.push(item);
    this.lastSent = Date.now();
    this.wake?.();
  }

  /** Cell events after the cursor; answers the columns they touched. */
  deliver(events: readonly CellEvent[]): Set<string> {
    const touched = new Set<string>();
    for (const event of events) {
      if (!isAfter(event.position, this.cursor)) continue;
      this.push({ kind: "cell", position: event.position, event });
      touched.add(event.columnId);
    }
    return touched;
  }

  /**
   * The id of a derived item (progress, balance): the feed's position, or this stream's cursor when
   * that is ahead (it resumed from another process's ids), so ids never go back.
   */
  derivedPosition(feedPosition: EventPosition): EventPosition {
    return isAfter(this.cursor, feedPosition) ? this.cursor : feedPosition;
  }

  /** The progress of the given columns, after the cell events that changed them. */
  deliverProgress(stats: Map<string, ColumnStats>, position: EventPosition): void {
    for (const [columnId, columnStats] of stats) this.push({ kind: "progress", position, columnId, stats: columnStats });
  }

  close(): void {
    if (this.isDone) return;
    this.isDone = true;
    clearInterval(this.heartbeat);
    this.wake?.();
    // `closed` resolves only once no read made for this stream is in flight: a Worker ends the
    // request's database client after it, and must not cut a query off.
    void this.onClose(this).finally(() => this.ended());
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    try {
      while (true) {
        while (this.queue.length > 0) yield this.queue.shift()!;
        if (this.isDone) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * One list's reading loop: every pollMs one indexed read of the events after the newest one seen,
 * shared by all of the list's streams in this process, however many. The newest BUFFER_LIMIT events
 * stay in memory; a stream whose cursor is older replays from the database page by page (its own
 * reads) until it reaches the buffer, then is fed with the rest.
 */
class ListFeed {
  readonly subscribers = new Set<Subscriber>();
  private buffer: CellEvent[] = [];
  /** The buffer holds every event after this position, up to `position`. */
  private floor: EventPosition;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The tick reading now, if any: a stream joining meanwhile is fed by it or by the next one, never by a second read alongside. */
  private reading: Promise<void> | null = null;
  private readonly replays = new Map<Subscriber, Promise<void>>();
  private balance: number | null = null;
  /** When each column's progress was last read, and the columns changed since then that are not due yet. */
  private readonly progressReadAt = new Map<string, number>();
  private owed = new Set<string>();

  constructor(
    private readonly db: Queryable,
    readonly listId: string,
    private readonly workspaceId: string,
    private readonly settings: EventStreamSettings,
    public position: EventPosition,
    private readonly onIdle: (feed: ListFeed) => void,
  ) {
    this.floor = position;
  }

  /** No stream left: the feed stopped reading and is out of the registry (a new stream gets a new feed). */
  retired = false;

  /** Null when the feed retired while the cursor was checked: the caller joins the list's current feed instead. */
  async join(after: EventPosition | null): Promise<Subscriber | null> {
    if (this.retired) return null;
    const cursor = after ?? this.position;
    const behind = !!after && isAfter(this.floor, after);
    if (behind) {
      // Older than the buffer: is it still in the record at all?
      const probe = await eventsAfter(this.db, this.listId, after, 1);
      if (probe.expired) throw cursorExpired();
      if (this.retired) return null;
    }
    const subscriber = new Subscriber(cursor, behind, this.settings, (s) => this.leave(s));
    this.subscribers.add(subscriber);
    if (behind) {
      const replaying = this.replay(subscriber);
      this.replays.set(subscriber, replaying);
      void replaying.finally(() => this.replays.delete(subscriber));
    }
    else subscriber.deliver(this.buffer);
    this.schedule(0);
    return subscriber;
  }

  private async leave(subscriber: Subscriber): Promise<void> {
    this.subscribers.delete(subscriber);
    const reads: Promise<unknown>[] = [this.replays.get(subscriber) ?? Promise.resolve()];
    if (this.subscribers.size === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.retired = true;
      this.onIdle(this);
      if (this.reading) reads.push(this.reading);
    }
    await Promise.allSettled(reads);
  }

  /** A stream behind the buffer reads its own pages until it reaches the buffer's floor. */
  private async replay(subscriber: Subscriber): Promise<void> {
    try {
      let at = subscriber.cursor;
      const touched = new Set<string>();
      // The floor moves while pages are read (the buffer drops its oldest events): compared anew each
      // time, with no await between the last comparison and feeding the buffer.
      while (!subscriber.isClosed && isAfter(this.floor, at)) {
        const floorAtRead = this.floor;
        const page = await eventsAfter(this.db, this.listId, at, PAGE);
        if (page.expired) return subscriber.close();
        const upToFloor = page.events.filter((event) => !isAfter(event.position, this.floor));
        for (const columnId of subscriber.deliver(upToFloor)) touched.add(columnId);
        // A shorter page had every event up to the floor as it was when the page was read (their
        // transactions had all ended before the floor got there). The floor may have moved on during
        // the read, past events committed after it that the page could not see: read on from the
        // old floor (what comes twice is skipped by the cursor), never from the new one.
        const last = page.events.at(-1)?.position;
        at = page.events.length === PAGE && last && !isAfter(last, this.floor) ? last : floorAtRead;
      }
      if (subscriber.isClosed) return;
      for (const columnId of subscriber.deliver(this.buffer)) touched.add(columnId);
      subscriber.catchingUp = false;
      if (touched.size > 0) subscriber.deliverProgress(await columnStats(this.db, [...touched]), subscriber.cursor);
    } catch {
      subscriber.close();
    }
  }

  private schedule(delay: number): void {
    if (this.timer || this.reading || this.subscribers.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reading = this.tick().finally(() => {
        this.reading = null;
        this.schedule(this.settings.pollMs);
      });
    }, delay);
  }

  private async tick(): Promise<void> {
    let events: CellEvent[] = [];
    let due: string[] = [];
    try {
      // Read until caught up, so a burst (a 100,000-row column) does not trail behind by a page a
      // tick. The feed's position moves only once every page was read: a read failing halfway
      // leaves it where it was, and the next tick reads those events again.
      let at = this.position;
      for (let page = 0; page < 20; page++) {
        const read = await eventsAfter(this.db, this.listId, at, PAGE);
        if (read.expired) {
          for (const subscriber of this.subscribers) subscriber.close();
          return;
        }
        events = events.concat(read.events);
        if (read.events.length > 0) at = read.events.at(-1)!.position;
        if (read.events.length < PAGE) break;
      }
      this.position = at;
      const touched = new Set([...events.map((event) => event.columnId), ...this.owed]);
      this.remember(events);
      for (const subscriber of this.subscribers) if (!subscriber.catchingUp) subscriber.deliver(events);
      if (touched.size === 0) return;
      // A column's progress is an aggregate over its cells: read at most once per progressEveryMs
      // for all of this list's streams; a column changed meanwhile gets it on a later tick.
      const now = Date.now();
      due = [...touched].filter((columnId) => now - (this.progressReadAt.get(columnId) ?? 0) >= this.settings.progressEveryMs);
      this.owed = new Set([...touched].filter((columnId) => !due.includes(columnId)));
      if (due.length === 0) return;
      for (const columnId of due) this.progressReadAt.set(columnId, now);
      const [stats, balance] = await Promise.all([columnStats(this.db, due), this.readBalance()]);
      for (const subscriber of this.subscribers) if (!subscriber.catchingUp) subscriber.deliverProgress(stats, subscriber.derivedPosition(this.position));
      if (balance !== null && balance !== this.balance) {
        this.balance = balance;
        for (const subscriber of this.subscribers) {
          if (!subscriber.catchingUp) subscriber.push({ kind: "balance", position: subscriber.derivedPosition(this.position), balance });
        }
      }
    } catch {
      // The database did not answer: the next tick reads again from the same position, and the
      // columns whose progress was due are still owed it.
      for (const columnId of due) {
        this.owed.add(columnId);
        this.progressReadAt.delete(columnId);
      }
    }
  }

  private remember(events: CellEvent[]): void {
    if (events.length === 0) return;
    this.buffer = this.buffer.concat(events);
    if (this.buffer.length > BUFFER_LIMIT) {
      const dropped = this.buffer.length - BUFFER_LIMIT;
      this.floor = this.buffer[dropped - 1]!.position;
      this.buffer = this.buffer.slice(dropped);
    }
  }

  private async readBalance(): Promise<number | null> {
    const [row] = await this.db.select({ balance: workspaces.creditBalance }).from(workspaces).where(eq(workspaces.id, this.workspaceId));
    return row ? Number(row.balance) : null;
  }

  closeAll(): void {
    for (const subscriber of [...this.subscribers]) subscriber.close();
  }
}

/** The feeds of one database handle: a process's pool (shared by every request) or one Worker request's client. */
export function createEventFeeds(db: Queryable, settings: EventStreamSettings): EventFeeds {
  const feeds = new Map<string, Promise<ListFeed>>();
  let open = 0;
  // A feed leaves the registry when its last stream leaves; only that feed, not one made after it.
  const retire = (listId: string, feed: Promise<ListFeed>) => {
    if (feeds.get(listId) === feed) feeds.delete(listId);
  };
  const feedOf = (listId: string, workspaceId: string) => {
    let feed = feeds.get(listId);
    if (!feed) {
      const created: Promise<ListFeed> = currentPosition(db).then((now) => new ListFeed(db, listId, workspaceId, settings, now, () => retire(listId, created)));
      feed = created;
      feeds.set(listId, created);
      created.catch(() => retire(listId, created));
    }
    return feed;
  };
  return {
    async subscribe({ listId, workspaceId, after }) {
      for (;;) {
        const pending = feedOf(listId, workspaceId);
        const feed = await pending;
        let subscription: Subscriber | null;
        try {
          subscription = await feed.join(after);
        } catch (error) {
          // A feed made for this stream alone (a 410, a failed read) must not stay behind, frozen.
          if (feed.subscribers.size === 0) {
            feed.retired = true;
            retire(listId, pending);
          }
          throw error;
        }
        if (!subscription) continue;
        open += 1;
        void subscription.closed.then(() => (open -= 1));
        return subscription;
      }
    },
    closeAll() {
      for (const feed of feeds.values()) void feed.then((f) => f.closeAll(), () => undefined);
    },
    open() {
      return open;
    },
  };
}
