import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { parsePacket } from "@trigger.dev/core/v3";
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import type { Logger } from "../services";
import { friendlyId, type RunRecord, type TaskExecutor } from "./in-process";
import { isTaskId } from "./types";

// A local stand-in for the part of Trigger.dev's HTTP API that @trigger.dev/sdk uses to start, inspect
// and cancel runs, answering in the shapes the SDK parses. The runs execute in this process through a
// TaskExecutor, so `wrangler dev` plus this server behave like the Worker plus Trigger.dev.

export type RunnerOptions = {
  /** Bearer keys accepted; any other is a 401, as on Trigger.dev. */
  secretKeys: readonly string[];
  executor: TaskExecutor;
  /** Told about each run as it is created, with its decoded payload. */
  onRunCreated?: (run: RunRecord) => void;
  logger?: Logger;
};

type BatchState = {
  id: string;
  runCount: number;
  createdAt: Date;
  updatedAt: Date;
  sealedAt: Date | undefined;
  runIdsByIndex: Map<number, string>;
};

const triggerBody = z.object({
  payload: z.unknown().optional(),
  options: z.object({ payloadType: z.string().optional() }).passthrough().optional(),
});

const createBatchBody = z.object({ runCount: z.number().int().positive() }).passthrough();

const batchItem = z.object({
  index: z.number().int().nonnegative(),
  task: z.string(),
  payload: z.unknown().optional(),
  options: z.object({ payloadType: z.string().optional() }).passthrough().optional(),
});

/** Errors answered the way Trigger.dev answers them: `{ error }` with a status the SDK maps to its error classes. */
class RunnerError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
  ) {
    super(message);
  }
}

export function createRunnerApp(options: RunnerOptions): Hono {
  const { executor } = options;
  const batches = new Map<string, BatchState>();
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof RunnerError) return c.json({ error: error.message }, error.status);
    options.logger?.error("runner request failed", { path: c.req.path, error: error.stack ?? String(error) });
    return c.json({ error: "Internal Server Error" }, 500);
  });
  app.notFound((c) => c.json({ error: "Not found" }, 404));

  app.use("/api/*", async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const key = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    if (!options.secretKeys.includes(key)) return c.json({ error: "Invalid or Missing API Key" }, 401);
    await next();
  });

  async function decodePayload(payload: unknown, payloadType: string | undefined): Promise<unknown> {
    if (payloadType === "application/store") {
      throw new RunnerError(422, "Offloaded payloads (application/store) are not supported by the local runner");
    }
    if (payload === undefined) return undefined;
    if (typeof payload !== "string") return payload;
    try {
      return await parsePacket({ data: payload, dataType: payloadType ?? "application/json" });
    } catch {
      throw new RunnerError(400, "Payload could not be decoded");
    }
  }

  function createRun(taskId: string, payload: unknown, batchId?: string): RunRecord {
    if (!isTaskId(taskId)) throw new RunnerError(404, `Task not found: ${taskId}`);
    const run = executor.enqueue(taskId, payload as never, { batchId });
    options.onRunCreated?.(run);
    return run;
  }

  app.post("/api/v1/tasks/:taskId/trigger", async (c) => {
    const body = await jsonBody(c, triggerBody);
    const payload = await decodePayload(body.payload, body.options?.payloadType);
    const run = createRun(c.req.param("taskId"), payload);
    c.header("x-trigger-jwt", publicAccessToken(run.id));
    return c.json({ id: run.id });
  });

  app.post("/api/v3/batches", async (c) => {
    const body = await jsonBody(c, createBatchBody);
    const now = new Date();
    const batch: BatchState = {
      id: friendlyId("batch"),
      runCount: body.runCount,
      createdAt: now,
      updatedAt: now,
      sealedAt: undefined,
      runIdsByIndex: new Map(),
    };
    batches.set(batch.id, batch);
    c.header("x-trigger-jwt", publicAccessToken(batch.id));
    return c.json({ id: batch.id, runCount: batch.runCount, isCached: false });
  });

  app.post("/api/v3/batches/:batchId/items", async (c) => {
    const contentType = c.req.header("content-type") ?? "";
    if (!contentType.includes("ndjson")) {
      throw new RunnerError(415, "Content-Type must be application/x-ndjson or application/ndjson");
    }
    const batch = batches.get(c.req.param("batchId"));
    if (!batch) throw new RunnerError(404, "Batch not found");
    // Every item is checked before any run is created, so a bad stream leaves the batch as it was.
    const items = await Promise.all(
      parseNdjson(await c.req.text()).map(async (line) => {
        const item = batchItem.safeParse(line);
        if (!item.success) throw new RunnerError(422, "Invalid batch item");
        if (item.data.index >= batch.runCount) throw new RunnerError(422, `Item index ${item.data.index} is beyond the batch's ${batch.runCount} runs`);
        if (!isTaskId(item.data.task)) throw new RunnerError(422, `Task not found: ${item.data.task}`);
        return { index: item.data.index, task: item.data.task, payload: await decodePayload(item.data.payload, item.data.options?.payloadType) };
      }),
    );
    // Items are deduplicated by index, so the SDK may resend a whole stream after a failed attempt.
    let itemsAccepted = 0;
    let itemsDeduplicated = 0;
    for (const item of items) {
      if (batch.runIdsByIndex.has(item.index)) {
        itemsDeduplicated += 1;
        continue;
      }
      batch.runIdsByIndex.set(item.index, createRun(item.task, item.payload, batch.id).id);
      itemsAccepted += 1;
    }
    batch.updatedAt = new Date();
    const sealed = batch.runIdsByIndex.size === batch.runCount;
    if (sealed) batch.sealedAt ??= batch.updatedAt;
    return c.json({
      id: batch.id,
      itemsAccepted,
      itemsDeduplicated,
      sealed,
      ...(sealed ? {} : { enqueuedCount: batch.runIdsByIndex.size, expectedCount: batch.runCount }),
    });
  });

  app.get("/api/v2/batches/:batchId", (c) => {
    const batch = batches.get(c.req.param("batchId"));
    if (!batch) throw new RunnerError(404, "Batch not found");
    const runs = [...batch.runIdsByIndex.entries()].sort(([a], [b]) => a - b).map(([, runId]) => runId);
    return c.json({
      id: batch.id,
      // Runs are created as their items arrive, so a sealed batch has finished creating its runs.
      status: batch.sealedAt ? "COMPLETED" : "PENDING",
      createdAt: batch.createdAt,
      updatedAt: batch.updatedAt,
      runCount: batch.runCount,
      runs,
      processing: { completedAt: batch.sealedAt, errors: [] },
    });
  });

  app.get("/api/v3/runs/:runId", (c) => {
    const run = executor.run(c.req.param("runId"));
    if (!run) throw new RunnerError(404, "Run not found");
    return c.json(runBody(run));
  });

  app.post("/api/v2/runs/:runId/cancel", (c) => {
    const runId = c.req.param("runId");
    if (!executor.cancel(runId)) throw new RunnerError(404, "Run not found");
    return c.json({ id: runId });
  });

  return app;
}

async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new RunnerError(400, "Invalid JSON body");
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new RunnerError(400, "Invalid request body");
  return parsed.data;
}

function parseNdjson(text: string): unknown[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new RunnerError(400, "Invalid JSON in NDJSON stream");
      }
    });
}

// Trigger.dev hands back a public access token for its realtime API, which the local runner does not
// have; answering with a placeholder keeps the SDK from signing one itself, which it refuses to do
// with some key formats.
function publicAccessToken(id: string): string {
  return `local_${id}`;
}

function runBody(run: RunRecord) {
  const finished = run.status === "COMPLETED" || run.status === "FAILED" || run.status === "CANCELED";
  return {
    id: run.id,
    status: run.status,
    taskIdentifier: run.taskId,
    isQueued: run.status === "QUEUED",
    isExecuting: run.status === "EXECUTING",
    isWaiting: false,
    isCompleted: finished,
    isSuccess: run.status === "COMPLETED",
    isFailed: run.status === "FAILED",
    isCancelled: run.status === "CANCELED",
    isTest: false,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    tags: [],
    costInCents: 0,
    baseCostInCents: 0,
    durationMs: run.startedAt && run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : 0,
    depth: 0,
    triggerFunction: run.batchId ? "batchTrigger" : "trigger",
    batchId: run.batchId,
    payload: run.payload,
    error: run.error === undefined ? undefined : { message: run.error },
    relatedRuns: {},
    attemptCount: run.attempts,
  };
}

export type ListeningServer = { url: string; close(): Promise<void> };

/** Serves a fetch handler on a local port (0 picks a free one). */
export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  options: { port?: number; host?: string } = {},
): Promise<ListeningServer> {
  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port: options.port ?? 0, hostname: host }, (info: AddressInfo) => {
      const address = info.family === "IPv6" ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${address}:${info.port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            const http = server as Server;
            http.close((error) => (error ? fail(error) : done()));
            // Keep-alive sockets of the SDK's fetch would otherwise hold close() open.
            http.closeAllConnections();
          }),
      });
    });
    server.once("error", reject);
  });
}

export function startRunnerServer(options: RunnerOptions & { port?: number; host?: string }): Promise<ListeningServer> {
  const app = createRunnerApp(options);
  return listen(app.fetch, options);
}
