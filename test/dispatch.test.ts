import { TriggerClient } from "@trigger.dev/sdk";
import { afterEach, describe, expect, it } from "vitest";
import { createInProcessDispatcher } from "../src/dispatch/in-process";
import { startRunnerServer, type ListeningServer } from "../src/dispatch/runner-server";
import { CANCEL_CHUNK_SIZE, createTriggerSdkDispatcher, type TriggerSdkDispatcherOptions } from "../src/dispatch/trigger-sdk";
import { DispatchError, TASK_IDS, type TaskContext, type TaskId, type TaskPayloads, type TaskRegistry } from "../src/dispatch/types";
import { startFakeTrigger, type FakeTrigger, type RecordedRequest } from "./helpers/fake-trigger";

const RUN_ID = expect.stringMatching(/^run_[0-9a-z]+$/);
const BATCH_ID = expect.stringMatching(/^batch_[0-9a-z]+$/);

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function fake(options: Parameters<typeof startFakeTrigger>[0] = {}): Promise<FakeTrigger> {
  const server = await startFakeTrigger(options);
  closers.push(() => server.close());
  return server;
}

function sdkDispatcher(server: { url: string; secretKey: string }, options: Partial<TriggerSdkDispatcherOptions> = {}) {
  return createTriggerSdkDispatcher({
    apiUrl: server.url,
    secretKey: server.secretKey,
    retry: { maxAttempts: 2, minDelayMs: 20, maxDelayMs: 50 },
    timeoutMs: 2_000,
    ...options,
  });
}

function columnPayload(rows: number) {
  return { columnId: crypto.randomUUID(), rowIds: Array.from({ length: rows }, () => crypto.randomUUID()) };
}

/** A registry whose every handler is `handler`, for tests that do not care which task runs. */
function registryOf(handler: (payload: unknown, ctx: TaskContext) => Promise<void>): TaskRegistry {
  return Object.fromEntries(TASK_IDS.map((taskId) => [taskId, handler])) as unknown as TaskRegistry;
}

/** A promise with its resolver, to hold handlers at a point the test chooses. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

async function elapsedMs(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const paths = (requests: RecordedRequest[]) => requests.map((request) => `${request.method} ${request.path}`);

describe("SDK dispatcher against a fake Trigger.dev", () => {
  it("triggers one run and returns its id; the fake saw the task id, the key and the payload", async () => {
    const server = await fake();
    const payload = columnPayload(3);

    const result = await sdkDispatcher(server).trigger("sheet-ai-enrich", payload);

    expect(result).toEqual({ runId: RUN_ID });
    expect(paths(server.requests)).toEqual(["POST /api/v1/tasks/sheet-ai-enrich/trigger"]);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${server.secretKey}`);
    // The SDK sends the payload as a superjson string.
    expect(server.requests[0]!.body).toMatchObject({
      payload: JSON.stringify({ json: payload }),
      options: { payloadType: "application/super+json" },
    });
    expect(server.runs).toEqual([{ runId: result.runId, taskId: "sheet-ai-enrich", payload, batchId: undefined }]);
  });

  it("batch-triggers 250 payloads with three HTTP calls and returns every run id in order", async () => {
    const server = await fake();
    const payloads = Array.from({ length: 250 }, () => columnPayload(2));

    const result = await sdkDispatcher(server).batchTrigger("list-generic-enrich", payloads);

    expect(result).toEqual({ batchId: BATCH_ID, runIds: expect.any(Array) });
    expect(paths(server.requests)).toEqual([
      "POST /api/v3/batches",
      `POST /api/v3/batches/${result.batchId}/items`,
      `GET /api/v2/batches/${result.batchId}`,
    ]);
    expect(server.requests[0]!.body).toMatchObject({ runCount: 250, taskIdentifiers: ["list-generic-enrich"] });
    expect(server.requests[1]!.body).toHaveLength(250);
    expect(server.runs).toEqual(
      payloads.map((payload, index) => ({
        runId: result.runIds[index],
        taskId: "list-generic-enrich",
        payload,
        batchId: result.batchId,
      })),
    );
    expect(new Set(result.runIds).size).toBe(250);
  });

  it("cancels 120 ids in chunks of 50, concurrently within a chunk, and reports the ones that failed", async () => {
    const server = await fake();
    const { runIds } = await sdkDispatcher(server).batchTrigger("sheet-ai-enrich", Array.from({ length: 115 }, () => columnPayload(1)));
    const unknown = Array.from({ length: 5 }, (_, index) => `run_unknown${index}`);
    server.clearRecords();
    // Slow answers make the requests of one chunk overlap, so the chunking is observable.
    server.failAlways({ delayMs: 40 }, { path: /\/cancel$/ });

    const result = await sdkDispatcher(server).cancel([...runIds.slice(0, 60), ...unknown, ...runIds.slice(60)]);

    expect(result).toEqual({ cancelled: runIds, failed: unknown });
    const cancels = server.requests.filter((request) => request.path.endsWith("/cancel"));
    expect(cancels).toHaveLength(120);
    expect(cancels.every((request) => request.method === "POST")).toBe(true);
    const chunks = [cancels.slice(0, 50), cancels.slice(50, 100), cancels.slice(100)];
    expect(chunks.map((chunk) => chunk.length)).toEqual([CANCEL_CHUNK_SIZE, CANCEL_CHUNK_SIZE, 20]);
    expect(Math.max(...cancels.map((request) => request.inFlight))).toBe(CANCEL_CHUNK_SIZE);
    for (let index = 1; index < chunks.length; index++) {
      const previousDone = Math.max(...chunks[index - 1]!.map((request) => request.endedAt!));
      const nextStarted = Math.min(...chunks[index]!.map((request) => request.startedAt));
      expect(nextStarted).toBeGreaterThanOrEqual(previousDone);
    }
    expect(cancels.filter((request) => request.status === 404).map((request) => request.path)).toEqual(
      unknown.map((runId) => `/api/v2/runs/${runId}/cancel`),
    );
  });

  it("cancels a batch id through the runs the batch holds", async () => {
    const hold = gate();
    const server = await fake({ registry: registryOf(() => hold.opened), executor: { concurrency: 1 } });
    const dispatcher = sdkDispatcher(server);
    const { batchId, runIds } = await dispatcher.batchTrigger("list-contact-enrich", [columnPayload(1), columnPayload(1), columnPayload(1)]);
    server.clearRecords();

    const result = await dispatcher.cancel([batchId, "batch_unknown"]);
    hold.open();

    expect(result).toEqual({ cancelled: [batchId], failed: ["batch_unknown"] });
    expect(paths(server.requests).sort()).toEqual(
      [`GET /api/v2/batches/${batchId}`, "GET /api/v2/batches/batch_unknown", ...runIds.map((runId) => `POST /api/v2/runs/${runId}/cancel`)].sort(),
    );
    expect(runIds.map((runId) => server.executor.run(runId)?.status)).toEqual(["CANCELED", "CANCELED", "CANCELED"]);
  });

  it("turns a 500 into a DispatchError after its bounded retries, far sooner than the SDK's default stall", async () => {
    const server = await fake();
    server.failAlways({ status: 500 });

    let error: unknown;
    const ms = await elapsedMs(() => sdkDispatcher(server).trigger("enrichment-run", { enrichmentRunId: crypto.randomUUID() }).catch((e: unknown) => (error = e)));

    expect(error).toBeInstanceOf(DispatchError);
    expect((error as DispatchError).message).toMatch(/^triggering enrichment-run failed: /);
    expect((error as DispatchError).cause).toBeInstanceOf(Error);
    expect(ms).toBeLessThan(5_000);
    expect(paths(server.requests)).toEqual(["POST /api/v1/tasks/enrichment-run/trigger", "POST /api/v1/tasks/enrichment-run/trigger"]);
    expect(server.runs).toEqual([]);
  });

  it("bounds the retries of the batch item stream too (the SDK reads them from the call, not the client)", async () => {
    const server = await fake();
    server.failAlways({ status: 500 }, { path: /\/items$/ });

    let error: unknown;
    const ms = await elapsedMs(() => sdkDispatcher(server).batchTrigger("sheet-ai-enrich", [columnPayload(1)]).catch((e: unknown) => (error = e)));

    expect(error).toBeInstanceOf(DispatchError);
    expect(ms).toBeLessThan(5_000);
    expect(server.requests.filter((request) => request.path.endsWith("/items"))).toHaveLength(2);
  });

  it("answers a retry that succeeds as a success", async () => {
    const server = await fake();
    server.failNext(1, { status: 503 });

    const result = await sdkDispatcher(server).trigger("list-hiring-enrich", columnPayload(1));

    expect(result).toEqual({ runId: RUN_ID });
    expect(server.requests.map((request) => request.status)).toEqual([503, 200]);
    expect(server.runs.map((run) => run.runId)).toEqual([result.runId]);
  });

  it("gives up on a Trigger.dev that never answers within the configured timeout", async () => {
    const server = await fake();
    server.failAlways({ hang: true });

    let error: unknown;
    const ms = await elapsedMs(() => sdkDispatcher(server, { timeoutMs: 300 }).trigger("sheet-ai-enrich", columnPayload(1)).catch((e: unknown) => (error = e)));

    expect(error).toBeInstanceOf(DispatchError);
    expect((error as DispatchError).message).toBe("triggering sheet-ai-enrich failed: no answer within 300 ms");
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(2_000);
  });

  it("reports a hanging cancellation as failed instead of throwing", async () => {
    const server = await fake();
    const { runId } = await sdkDispatcher(server).trigger("sheet-ai-enrich", columnPayload(1));
    server.failAlways({ hang: true });

    const result = await sdkDispatcher(server, { timeoutMs: 200 }).cancel([runId]);

    expect(result).toEqual({ cancelled: [], failed: [runId] });
  });

  it("keeps each dispatcher's key and URL to itself, even when they dispatch at the same time", async () => {
    const first = await fake({ secretKey: "tr_dev_first" });
    const second = await fake({ secretKey: "tr_dev_second" });

    const [a, b] = await Promise.all([
      sdkDispatcher(first).batchTrigger("sheet-ai-enrich", [columnPayload(1), columnPayload(1)]),
      sdkDispatcher(second).batchTrigger("sheet-ai-enrich", [columnPayload(1)]),
    ]);

    expect(a.runIds).toHaveLength(2);
    expect(b.runIds).toHaveLength(1);
    expect(first.requests.map((request) => request.headers.authorization)).toEqual(Array(3).fill("Bearer tr_dev_first"));
    expect(second.requests.map((request) => request.headers.authorization)).toEqual(Array(3).fill("Bearer tr_dev_second"));
  });

  it("rejects an unknown key with 401 and does not retry it", async () => {
    const server = await fake();

    const attempt = sdkDispatcher({ url: server.url, secretKey: "tr_dev_wrong" }).trigger("sheet-ai-enrich", columnPayload(1));

    await expect(attempt).rejects.toBeInstanceOf(DispatchError);
    expect(server.requests.map((request) => request.status)).toEqual([401]);
    expect(server.runs).toEqual([]);
  });
});

describe("in-process dispatcher", () => {
  function recordingRegistry(calls: Array<{ taskId: TaskId; payload: unknown; ctx: Omit<TaskContext, "signal"> }>): TaskRegistry {
    return Object.fromEntries(
      TASK_IDS.map((taskId) => [
        taskId,
        async (payload: unknown, ctx: TaskContext) => {
          calls.push({ taskId, payload, ctx: { runId: ctx.runId, attempt: ctx.attempt, lastAttempt: ctx.lastAttempt } });
        },
      ]),
    ) as unknown as TaskRegistry;
  }

  it("returns run ids at once and runs each handler in the background", async () => {
    const calls: Array<{ taskId: TaskId; payload: unknown; ctx: Omit<TaskContext, "signal"> }> = [];
    const dispatcher = createInProcessDispatcher({ registry: recordingRegistry(calls) });
    const single: TaskPayloads["enrichment-run"] = { enrichmentRunId: crypto.randomUUID() };
    const batch = [columnPayload(2), columnPayload(3)];

    const triggered = await dispatcher.trigger("enrichment-run", single);
    const batched = await dispatcher.batchTrigger("sheet-ai-enrich", batch);
    expect(calls).toEqual([]);
    await dispatcher.idle();

    expect(triggered).toEqual({ runId: RUN_ID });
    expect(batched).toEqual({ batchId: BATCH_ID, runIds: [RUN_ID, RUN_ID] });
    expect(calls).toEqual([
      { taskId: "enrichment-run", payload: single, ctx: { runId: triggered.runId, attempt: 1, lastAttempt: false } },
      { taskId: "sheet-ai-enrich", payload: batch[0], ctx: { runId: batched.runIds[0], attempt: 1, lastAttempt: false } },
      { taskId: "sheet-ai-enrich", payload: batch[1], ctx: { runId: batched.runIds[1], attempt: 1, lastAttempt: false } },
    ]);
    expect([triggered.runId, ...batched.runIds].map((runId) => dispatcher.executor.run(runId)?.status)).toEqual(["COMPLETED", "COMPLETED", "COMPLETED"]);
  });

  it("never runs more handlers at once than its concurrency", async () => {
    let running = 0;
    let maxRunning = 0;
    const dispatcher = createInProcessDispatcher({
      concurrency: 3,
      registry: registryOf(async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
      }),
    });

    const { runIds } = await dispatcher.batchTrigger("list-generic-enrich", Array.from({ length: 12 }, () => columnPayload(1)));
    await dispatcher.idle();

    expect(maxRunning).toBe(3);
    expect(runIds.map((runId) => dispatcher.executor.run(runId)?.status)).toEqual(Array(12).fill("COMPLETED"));
  });

  it("retries a failing handler with backoff, then gives up and marks the run failed, telling the handler its last attempt", async () => {
    const attempts: Array<[number, boolean]> = [];
    const dispatcher = createInProcessDispatcher({
      maxAttempts: 3,
      retryDelay: { minMs: 5, maxMs: 20 },
      registry: registryOf(async (_payload, ctx) => {
        attempts.push([ctx.attempt, ctx.lastAttempt]);
        throw new Error(`provider down (attempt ${ctx.attempt})`);
      }),
    });

    const { runId } = await dispatcher.trigger("list-contact-enrich", columnPayload(1));
    await dispatcher.idle();

    expect(attempts).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "FAILED", attempts: 3, error: "provider down (attempt 3)" });
  });

  it("tells the handler of a single-attempt executor that its first attempt is its last", async () => {
    const seen: Array<[number, boolean]> = [];
    const dispatcher = createInProcessDispatcher({
      maxAttempts: 1,
      registry: registryOf(async (_payload, ctx) => {
        seen.push([ctx.attempt, ctx.lastAttempt]);
        throw new Error("worker lost");
      }),
    });

    const { runId } = await dispatcher.trigger("sheet-ai-enrich", columnPayload(1));
    await dispatcher.idle();

    expect(seen).toEqual([[1, true]]);
    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "FAILED", attempts: 1, error: "worker lost" });
  });

  it("completes a run whose retry succeeds", async () => {
    const dispatcher = createInProcessDispatcher({
      retryDelay: { minMs: 1 },
      registry: registryOf(async (_payload, ctx) => {
        if (ctx.attempt < 2) throw new Error("transient");
      }),
    });

    const { runId } = await dispatcher.trigger("list-hiring-enrich", columnPayload(1));
    await dispatcher.idle();

    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "COMPLETED", attempts: 2, error: undefined });
  });

  it("never starts a run cancelled while it waits", async () => {
    const hold = gate();
    const started: string[] = [];
    const dispatcher = createInProcessDispatcher({
      concurrency: 1,
      registry: registryOf(async (_payload, ctx) => {
        started.push(ctx.runId);
        await hold.opened;
      }),
    });
    const first = await dispatcher.trigger("sheet-ai-enrich", columnPayload(1));
    const second = await dispatcher.trigger("sheet-ai-enrich", columnPayload(1));

    const result = await dispatcher.cancel([second.runId, "run_unknown"]);
    hold.open();
    await dispatcher.idle();

    expect(result).toEqual({ cancelled: [second.runId], failed: ["run_unknown"] });
    expect(started).toEqual([first.runId]);
    expect(dispatcher.executor.run(second.runId)).toMatchObject({ status: "CANCELED", attempts: 0 });
    expect(dispatcher.executor.run(first.runId)?.status).toBe("COMPLETED");
  });

  it("drops the pending retry of a run cancelled between attempts", async () => {
    const failed = gate();
    const dispatcher = createInProcessDispatcher({
      retryDelay: { minMs: 60_000 },
      registry: registryOf(async () => {
        failed.open();
        throw new Error("transient");
      }),
    });
    const { runId } = await dispatcher.trigger("sheet-ai-enrich", columnPayload(1));
    await failed.opened;
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "QUEUED", attempts: 1 });

    const result = await dispatcher.cancel([runId]);
    await dispatcher.idle();

    expect(result).toEqual({ cancelled: [runId], failed: [] });
    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "CANCELED", attempts: 1 });
  });

  it("aborts the signal of a running run on cancel and does not retry it", async () => {
    const running = gate();
    let attempts = 0;
    const dispatcher = createInProcessDispatcher({
      retryDelay: { minMs: 1 },
      registry: registryOf(async (_payload, ctx) => {
        attempts += 1;
        running.open();
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      }),
    });
    const { runId } = await dispatcher.trigger("list-generic-enrich", columnPayload(1));
    await running.opened;

    const result = await dispatcher.cancel([runId]);
    await dispatcher.idle();

    expect(result).toEqual({ cancelled: [runId], failed: [] });
    expect(attempts).toBe(1);
    expect(dispatcher.executor.run(runId)).toMatchObject({ status: "CANCELED", attempts: 1 });
  });

  it("cancels every waiting run of a batch by its batch id", async () => {
    const hold = gate();
    const dispatcher = createInProcessDispatcher({ concurrency: 1, registry: registryOf(() => hold.opened) });
    const { batchId, runIds } = await dispatcher.batchTrigger("sheet-ai-enrich", [columnPayload(1), columnPayload(1), columnPayload(1)]);
    await new Promise((resolve) => setTimeout(resolve, 0));

    const result = await dispatcher.cancel([batchId]);
    hold.open();
    await dispatcher.idle();

    expect(result).toEqual({ cancelled: [batchId], failed: [] });
    expect(runIds.map((runId) => dispatcher.executor.run(runId)).map((run) => [run?.status, run?.attempts])).toEqual([
      ["CANCELED", 1],
      ["CANCELED", 0],
      ["CANCELED", 0],
    ]);
  });

  it("idle() resolves at once when there is no work, and waits for work queued later", async () => {
    const hold = gate();
    const dispatcher = createInProcessDispatcher({ registry: registryOf(() => hold.opened) });
    await dispatcher.idle();

    const { runId } = await dispatcher.trigger("enrichment-run", { enrichmentRunId: crypto.randomUUID() });
    let idle = false;
    const waiting = dispatcher.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(idle).toBe(false);

    hold.open();
    await waiting;
    expect(dispatcher.executor.run(runId)?.status).toBe("COMPLETED");
  });
});

describe("local Trigger.dev-compatible runner", () => {
  const RUNNER_KEY = "tr_dev_local_runner_key";

  async function runner(registry: TaskRegistry) {
    const dispatcher = createInProcessDispatcher({ registry });
    const server: ListeningServer = await startRunnerServer({ secretKeys: [RUNNER_KEY], executor: dispatcher.executor });
    closers.push(async () => {
      await server.close();
      await dispatcher.idle();
    });
    return { server, executor: dispatcher.executor, idle: () => dispatcher.idle() };
  }

  it("runs the registered handler of a run triggered through the real SDK, and reports it as the SDK expects", async () => {
    const calls: Array<{ taskId: TaskId; payload: unknown; attempt: number }> = [];
    const registry = Object.fromEntries(
      TASK_IDS.map((taskId) => [taskId, async (payload: unknown, ctx: TaskContext) => void calls.push({ taskId, payload, attempt: ctx.attempt })]),
    ) as unknown as TaskRegistry;
    const local = await runner(registry);
    const dispatcher = sdkDispatcher({ url: local.server.url, secretKey: RUNNER_KEY });
    const single = { enrichmentRunId: crypto.randomUUID() };
    const batch = [columnPayload(2), columnPayload(1)];

    const { runId } = await dispatcher.trigger("enrichment-run", single);
    const batched = await dispatcher.batchTrigger("sheet-ai-enrich", batch);
    await local.idle();

    expect(calls).toEqual([
      { taskId: "enrichment-run", payload: single, attempt: 1 },
      { taskId: "sheet-ai-enrich", payload: batch[0], attempt: 1 },
      { taskId: "sheet-ai-enrich", payload: batch[1], attempt: 1 },
    ]);
    const sdk = new TriggerClient({ baseURL: local.server.url, accessToken: RUNNER_KEY });
    const run = await sdk.runs.retrieve(runId);
    expect(run).toMatchObject({
      id: runId,
      status: "COMPLETED",
      taskIdentifier: "enrichment-run",
      isCompleted: true,
      isSuccess: true,
      payload: single,
      attemptCount: 1,
    });
    const retrievedBatch = await sdk.batch.retrieve(batched.batchId);
    expect(retrievedBatch).toMatchObject({ id: batched.batchId, status: "COMPLETED", runCount: 2, runs: batched.runIds });
  });

  it("cancels a waiting run through the SDK so that its handler never runs", async () => {
    const hold = gate();
    const started: string[] = [];
    const local = await runner(
      registryOf(async (_payload, ctx) => {
        started.push(ctx.runId);
        await hold.opened;
      }),
    );
    const dispatcher = sdkDispatcher({ url: local.server.url, secretKey: RUNNER_KEY });
    const { batchId, runIds } = await dispatcher.batchTrigger("list-contact-enrich", Array.from({ length: 6 }, () => columnPayload(1)));

    const result = await dispatcher.cancel([batchId]);
    hold.open();
    await local.idle();

    expect(result).toEqual({ cancelled: [batchId], failed: [] });
    expect(runIds.map((runId) => local.executor.run(runId)?.status)).toEqual(Array(6).fill("CANCELED"));
    // The default concurrency let some runs start before the cancel arrived; none started after it.
    expect(started.every((runId) => runIds.includes(runId))).toBe(true);
    expect(runIds.filter((runId) => local.executor.run(runId)!.attempts > 0)).toEqual(started);
  });

  it("answers 401 to any key it was not given, and runs nothing", async () => {
    const calls: string[] = [];
    const local = await runner(registryOf(async (_payload, ctx) => void calls.push(ctx.runId)));

    const response = await fetch(`${local.server.url}/api/v1/tasks/sheet-ai-enrich/trigger`, {
      method: "POST",
      headers: { authorization: "Bearer tr_dev_someone_else", "content-type": "application/json" },
      body: JSON.stringify({ payload: "{}", options: { payloadType: "application/super+json" } }),
    });
    const viaSdk = sdkDispatcher({ url: local.server.url, secretKey: "tr_dev_someone_else" }).trigger("sheet-ai-enrich", columnPayload(1));
    await expect(viaSdk).rejects.toBeInstanceOf(DispatchError);
    await local.idle();

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: "Invalid or Missing API Key" });
    expect(calls).toEqual([]);
  });

  it("deduplicates batch items by index, so a resent stream creates no second run", async () => {
    const local = await runner(registryOf(async () => {}));
    const post = (path: string, body: string, contentType = "application/json") =>
      fetch(`${local.server.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${RUNNER_KEY}`, "content-type": contentType }, body });
    const batch = (await (await post("/api/v3/batches", JSON.stringify({ runCount: 2 }))).json()) as { id: string };
    const line = (index: number) =>
      JSON.stringify({ index, task: "sheet-ai-enrich", payload: JSON.stringify({ json: { columnId: "c", rowIds: [`r${index}`] } }), options: { payloadType: "application/super+json" } });

    const partial = await post(`/api/v3/batches/${batch.id}/items`, `${line(0)}\n`, "application/x-ndjson");
    const resent = await post(`/api/v3/batches/${batch.id}/items`, `${line(0)}\n${line(1)}\n`, "application/x-ndjson");
    await local.idle();

    expect(partial.status).toBe(200);
    expect(await partial.json()).toEqual({ id: batch.id, itemsAccepted: 1, itemsDeduplicated: 0, sealed: false, enqueuedCount: 1, expectedCount: 2 });
    expect(await resent.json()).toEqual({ id: batch.id, itemsAccepted: 1, itemsDeduplicated: 1, sealed: true });
    const runs = local.executor.batchRuns(batch.id);
    expect(runs.map((run) => run.payload)).toEqual([
      { columnId: "c", rowIds: ["r0"] },
      { columnId: "c", rowIds: ["r1"] },
    ]);
  });

  it("answers 404 to a task it does not know", async () => {
    const local = await runner(registryOf(async () => {}));

    const response = await fetch(`${local.server.url}/api/v1/tasks/no-such-task/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${RUNNER_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: JSON.stringify({ json: {} }), options: { payloadType: "application/super+json" } }),
    });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "Task not found: no-such-task" });
  });
});
