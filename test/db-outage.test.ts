import { sql } from "drizzle-orm";
import fc from "fast-check";
import { Hono } from "hono";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createApp } from "../src/app";
import { createPostgresDb, rowsOf } from "../src/db/client";
import { classifyDatabaseError } from "../src/db/errors";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import { createAccount } from "../src/domain/accounts";
import { AppError, handleError } from "../src/errors";
import { createLogger, createServiceKit, type Services } from "../src/services";
import { createTaskRegistry } from "../src/tasks/registry";
import { REQUEST_ID, useHarness } from "./helpers/harness";

// The database going away under a running app: requests answer 503 UNAVAILABLE with Retry-After
// while it is gone, and 200 again once it is back. The outage is real: the app's pool goes through
// a TCP proxy in front of the real Postgres, and the proxy is cut.

const { db: directDb, seedWorkspace } = useHarness();

/** A TCP proxy on 127.0.0.1 to `target`; `cut` refuses connections and drops the open ones. */
async function tcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        track(client);
        track(upstream);
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await open();
  return {
    get port() {
      return port;
    },
    async cut() {
      const closing = new Promise<void>((resolve) => server!.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closing;
    },
    restore: open,
  };
}

describe("a database outage", () => {
  const target = new URL(inject("databaseUrl"));
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;
  let pool: ReturnType<typeof createPostgresDb>;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(target);
    viaProxy.port = String(proxy.port);
    pool = createPostgresDb(viaProxy.toString(), { max: 4 });
    const logger = createLogger("silent");
    const kit = createServiceKit({}, { logger, requestsPerMinute: null });
    const dispatcher = createInProcessDispatcher({ registry: createTaskRegistry(() => services), logger });
    const services: Services = kit.services({ db: pool.db, dispatcher });
    app = createApp(() => ({ services }));
  });
  afterAll(async () => {
    // Without waiting: a connection the cut dropped mid-statement never ends gracefully.
    await pool.client.end({ timeout: 0 });
    await proxy.cut();
  });

  it("answers 503 UNAVAILABLE with Retry-After while the database is unreachable, and 200 once it is back", async () => {
    const account = await createAccount(directDb, { email: `outage-${crypto.randomUUID()}@example.test`, fullName: "Out Age", credits: 7 });
    const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${account.apiKey}` } });

    const before = await get("/api/account");
    expect(before.status).toBe(200);
    const accountBody = (await before.json()) as { credits: unknown };
    expect(accountBody.credits).toEqual({ balance: 7 });
    const healthy = await app.request("/healthz");
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toEqual({ ok: true, database: "up" });

    // The cut drops a statement in flight, then refuses new connections.
    const inFlight = raised(pool.db.execute(sql`select pg_sleep(5)`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await proxy.cut();
    expect(classifyDatabaseError(await inFlight)).toMatchObject({ kind: "unavailable", retryAfterSeconds: 5 });
    for (const path of ["/api/account", "/api/lists"]) {
      const res = await get(path);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(res.headers.get("x-request-id")).toMatch(/^req_/);
      expect(await res.json()).toEqual({
        error: "The database is temporarily unavailable; retry shortly",
        code: "UNAVAILABLE",
        requestId: res.headers.get("x-request-id"),
        retryAfter: 5,
      });
    }
    const created = await app.request("/api/lists", {
      method: "POST",
      headers: { authorization: `Bearer ${account.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "During the outage" }),
    });
    expect(created.status).toBe(503);
    expect(((await created.json()) as { code: string }).code).toBe("UNAVAILABLE");
    const down = await app.request("/healthz");
    expect(down.status).toBe(503);
    expect(down.headers.get("retry-after")).toBe("5");
    expect(await down.json()).toEqual({ error: "The database is unreachable", code: "UNAVAILABLE", requestId: REQUEST_ID, ok: false, database: "down" });

    await proxy.restore();
    const after = await get("/api/account");
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual(accountBody);
    expect((await app.request("/healthz")).status).toBe(200);
    // Nothing was written while the database was away.
    const lists = await directDb.execute(sql`select count(*)::int as n from lists where workspace_id = ${account.workspaceId}`);
    expect(rowsOf(lists)).toEqual([{ n: 0 }]);
  });
});

/** The error a statement raised, as the app sees it (drizzle's wrapper over the driver's error). */
async function raised(statement: Promise<unknown>): Promise<unknown> {
  try {
    await statement;
  } catch (error) {
    return error;
  }
  throw new Error("the statement did not fail");
}

/** handleError's answer to `error`, through a real Hono app. */
async function answerTo(error: unknown) {
  const app = new Hono();
  app.use("*", async (c, next) => {
    c.set("requestId" as never, "req_test" as never);
    c.set("services" as never, { logger: createLogger("silent") } as never);
    await next();
  });
  app.get("/", () => {
    throw error;
  });
  app.onError((err, c) => handleError(err, c));
  const res = await app.request("/");
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
}

describe("database errors in the one error handler", () => {
  it("answers a foreign-key violation (a referenced row deleted meanwhile) 404", async () => {
    const client = await seedWorkspace();
    const list = await client.post("/api/lists", { name: "FK" });
    const rows = await client.post(`/api/lists/${list.body.list.id}/rows/bulk`, { rows: [{ firstName: "Ada", lastName: "Lovelace" }] });
    const error = await raised(
      directDb.execute(
        sql`insert into list_cells (list_id, row_id, column_id) values (${list.body.list.id}, ${rows.body.rowIds[0]}, ${crypto.randomUUID()})`,
      ),
    );
    expect(classifyDatabaseError(error)).toEqual({ kind: "gone" });
    expect(await answerTo(error)).toEqual({
      status: 404,
      retryAfter: null,
      body: { error: "A resource this request refers to no longer exists", code: "NOT_FOUND", requestId: "req_test" },
    });
  });

  it("answers a real deadlock 503 with Retry-After: 1", async () => {
    const a = await seedWorkspace();
    const b = await seedWorkspace();
    let release!: () => void;
    const bothLocked = new Promise<void>((resolve) => (release = resolve));
    let locked = 0;
    const lockInOrder = (first: string, second: string) =>
      directDb.transaction(async (tx) => {
        await tx.execute(sql`select 1 from workspaces where id = ${first} for update`);
        if (++locked === 2) release();
        await bothLocked;
        await tx.execute(sql`select 1 from workspaces where id = ${second} for update`);
      });
    const outcomes = await Promise.allSettled([lockInOrder(a.workspaceId, b.workspaceId), lockInOrder(b.workspaceId, a.workspaceId)]);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(failures).toHaveLength(1);
    const error = failures[0]!.reason;
    expect(classifyDatabaseError(error)).toEqual({ kind: "unavailable", retryAfterSeconds: 1, reason: "deadlock detected" });
    expect(await answerTo(error)).toEqual({
      status: 503,
      retryAfter: "1",
      body: { error: "The database is temporarily unavailable; retry shortly", code: "UNAVAILABLE", requestId: "req_test", retryAfter: 1 },
    });
  });

  it("maps every SQLSTATE the server raises by its class", async () => {
    const cases: Array<[string, ReturnType<typeof classifyDatabaseError>]> = [
      ["40001", { kind: "unavailable", retryAfterSeconds: 1, reason: "raised 40001" }],
      ["57P01", { kind: "unavailable", retryAfterSeconds: 5, reason: "raised 57P01" }],
      ["57P02", { kind: "unavailable", retryAfterSeconds: 5, reason: "raised 57P02" }],
      ["57P03", { kind: "unavailable", retryAfterSeconds: 5, reason: "raised 57P03" }],
      ["53300", { kind: "unavailable", retryAfterSeconds: 5, reason: "raised 53300" }],
      ["08006", { kind: "unavailable", retryAfterSeconds: 5, reason: "raised 08006" }],
      ["23505", null],
      ["22P02", null],
      ["P0001", null],
    ];
    for (const [code, expected] of cases) {
      const error = await raised(directDb.execute(sql.raw(`do $$ begin raise exception 'raised ${code}' using errcode = '${code}'; end $$`)));
      expect(classifyDatabaseError(error), code).toEqual(expected);
    }
    // Anything unclassified stays a bare INTERNAL.
    const unique = await raised(directDb.execute(sql.raw(`do $$ begin raise exception 'x' using errcode = '23505'; end $$`)));
    expect(await answerTo(unique)).toEqual({ status: 500, retryAfter: null, body: { error: "Internal server error", code: "INTERNAL", requestId: "req_test" } });
  });

  it("classifies by the cause chain however deep, and never an outside HTTP call's socket error", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await raised(fetch(`http://127.0.0.1:${port}/`));
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe("ECONNREFUSED");
    expect(classifyDatabaseError(refused)).toBeNull();
    const wrapped = (error: object, depth: number): object => (depth === 0 ? error : { message: "wrapper", cause: wrapped(error, depth - 1) });
    fc.assert(
      fc.property(
        fc.constantFrom("CONNECTION_CLOSED", "CONNECT_TIMEOUT", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "08001", "08006", "57P01", "53300", "40P01", "40001", "23503"),
        fc.integer({ min: 0, max: 5 }),
        (code, depth) => {
          const leaf = { code, message: "driver" };
          expect(classifyDatabaseError(wrapped(leaf, depth))).toEqual(classifyDatabaseError(leaf));
          expect(classifyDatabaseError(leaf)).not.toBeNull();
        },
      ),
    );
    // A socket code counts at the top (a driver's own error) or under a drizzle query error.
    const socket = { code: "ECONNRESET", message: "read ECONNRESET" };
    expect(classifyDatabaseError(socket)).toEqual({ kind: "unavailable", retryAfterSeconds: 5, reason: "connection reset" });
    expect(classifyDatabaseError({ message: "Failed query", query: "select 1", params: [], cause: socket })).toEqual({
      kind: "unavailable",
      retryAfterSeconds: 5,
      reason: "connection reset",
    });
    expect(classifyDatabaseError({ message: "fetch failed", cause: socket })).toBeNull();
    expect(classifyDatabaseError(new AppError("CONFLICT", "x"))).toBeNull();
  });
});
