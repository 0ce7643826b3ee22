import { eq, sql } from "drizzle-orm";
import { afterAll, expect, inject } from "vitest";
import { createApp } from "../../src/app";
import { createPostgresDb, rowsOf, type Db } from "../../src/db/client";
import { creditLedger, workspaces } from "../../src/db/schema";
import { createInProcessDispatcher } from "../../src/dispatch/in-process";
import type { Dispatcher } from "../../src/dispatch/types";
import { createAccount } from "../../src/domain/accounts";
import type { Providers } from "../../src/providers/types";
import { createLogger, createServiceKit, type Services } from "../../src/services";
import { createTaskRegistry } from "../../src/tasks/registry";
import { assertDocumentedResponse } from "./contract";

/**
 * One real Postgres pool per test file, the real app over it, and a fresh workspace per test.
 * Nothing of the project is faked here.
 */
export function useHarness(
  options: {
    max?: number;
    dispatcher?: (services: () => Services) => Dispatcher;
    requestsPerMinute?: number;
    providerEnv?: Record<string, unknown>;
    /** Providers put over the configured ones, for the routes and the in-process tasks alike. */
    providers?: Partial<Providers>;
    /** The delay between a task's attempts in the in-process executor (its registry's default otherwise). */
    taskRetryDelayMs?: number;
  } = {},
) {
  const { db, client, close } = createPostgresDb(inject("databaseUrl"), { max: options.max ?? 8 });
  const logger = createLogger("silent");
  // By default tasks run in-process with the real handlers, as under `npm start`.
  const inProcess = options.dispatcher
    ? null
    : createInProcessDispatcher({
        registry: createTaskRegistry(() => services, options.taskRetryDelayMs === undefined ? undefined : { retryDelayMs: options.taskRetryDelayMs }),
        logger,
        retryDelay: { minMs: 10, maxMs: 50 },
      });
  const dispatcher = options.dispatcher ? options.dispatcher(() => services) : inProcess!;
  // The documented prices and the sandbox providers (or those `providerEnv` configures): the
  // environment of the test process is not read.
  const kit = createServiceKit(options.providerEnv ?? {}, { logger, requestsPerMinute: options.requestsPerMinute ?? null });
  const configured = kit.services({ db, dispatcher });
  const services: Services = options.providers ? { ...configured, providers: { ...configured.providers, ...options.providers } } : configured;
  const app = createApp(() => ({ services }));
  afterAll(async () => {
    await inProcess?.idle();
    await close();
  });

  /** Waits until every in-process task has finished (only for the default dispatcher). */
  async function settle() {
    await inProcess?.idle();
  }

  let seq = 0;
  async function seedWorkspace(input: { credits?: number; email?: string } = {}) {
    seq += 1;
    const email = input.email ?? `user-${crypto.randomUUID()}@example.test`;
    const account = await createAccount(db, { email, fullName: `Test User${seq}`, credits: input.credits ?? 1000 });
    return new Client(app, db, account);
  }

  return { db, client, app, services, dispatcher, seedWorkspace, settle };
}

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export type ApiResponse = { status: number; body: Json; headers: Headers };

/** What a Client drives: the in-process app, or the Worker in workerd. */
export type RequestTarget = { request(path: string, init?: RequestInit): Response | Promise<Response> };

export class Client {
  constructor(
    readonly app: RequestTarget,
    readonly db: Db,
    readonly account: { accountId: string; workspaceId: string; apiKey: string },
  ) {}

  get workspaceId() {
    return this.account.workspaceId;
  }
  get apiKey() {
    return this.account.apiKey;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${this.account.apiKey}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const res = await this.app.request(path, init);
    const text = await res.text();
    let parsed: Json = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep the raw text: the test will show it */
    }
    assertDocumentedResponse(method, path, res.status, res.headers.get("content-type"), parsed);
    return { status: res.status, body: parsed, headers: res.headers };
  }

  get = (path: string, headers?: Record<string, string>) => this.request("GET", path, undefined, headers);
  post = (path: string, body?: unknown, headers?: Record<string, string>) => this.request("POST", path, body ?? {}, headers);
  put = (path: string, body?: unknown) => this.request("PUT", path, body ?? {});
  patch = (path: string, body?: unknown) => this.request("PATCH", path, body ?? {});
  delete = (path: string, body?: unknown) => this.request("DELETE", path, body);

  async balance(): Promise<number> {
    const [row] = await this.db.select({ balance: workspaces.creditBalance }).from(workspaces).where(eq(workspaces.id, this.workspaceId));
    return row!.balance;
  }

  /** The ledger sum and the balance, read in one statement. */
  async ledgerConsistency(): Promise<{ balance: number; ledgerSum: number; entries: number }> {
    const [row] = rowsOf<{ balance: string; ledger_sum: string; entries: string }>(
      await this.db.execute(sql`
        select (select credit_balance from workspaces where id = ${this.workspaceId}) as balance,
               (select coalesce(sum(delta), 0) from credit_ledger where workspace_id = ${this.workspaceId}) as ledger_sum,
               (select count(*) from credit_ledger where workspace_id = ${this.workspaceId}) as entries`),
    );
    return { balance: Number(row!.balance), ledgerSum: Number(row!.ledger_sum), entries: Number(row!.entries) };
  }

  async ledger() {
    return this.db.select().from(creditLedger).where(eq(creditLedger.workspaceId, this.workspaceId)).orderBy(creditLedger.id);
  }
}

/** A request with no Authorization header at all, as an unauthenticated caller sends it. */
export async function requestWithoutKey(target: RequestTarget, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await target.request(path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = await res.json();
  assertDocumentedResponse(method, path, res.status, res.headers.get("content-type"), parsed);
  return { status: res.status, body: parsed };
}

/** Shape matchers for server-made values. */
export const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
export const ISO_DATE = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
export const REQUEST_ID = expect.stringMatching(/^req_[0-9a-f]{32}$/);
