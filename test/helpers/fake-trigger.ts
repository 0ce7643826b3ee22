import { createTaskExecutor, type ExecutorOptions, type TaskExecutor } from "../../src/dispatch/in-process";
import { createRunnerApp, listen } from "../../src/dispatch/runner-server";
import { TASK_IDS, type TaskId, type TaskRegistry } from "../../src/dispatch/types";

/**
 * Trigger.dev's HTTP API on loopback, for tests: the project's own runner routes behind a layer that
 * records every request and can be told to fail. Runs execute through the given handler registry
 * (by default handlers that finish at once), so the whole pipeline can run through the real SDK.
 */

export type RecordedRequest = {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body; for an NDJSON batch stream, the array of its items. */
  body: unknown;
  /** Requests in flight when this one arrived, itself included. */
  inFlight: number;
  startedAt: number;
  /** Undefined while the request is unanswered. */
  endedAt: number | undefined;
  status: number | undefined;
};

export type RecordedRun = { runId: string; taskId: TaskId; payload: unknown; batchId: string | undefined };

/** Answer with this status, never answer (until the fake closes), or answer normally after a delay. */
export type Fault = { status: number } | { hang: true } | { delayMs: number };

type FaultRule = { fault: Fault; path: RegExp | undefined; remaining: number };

export type FakeTrigger = {
  url: string;
  secretKey: string;
  executor: TaskExecutor;
  requests: RecordedRequest[];
  runs: RecordedRun[];
  /** Applies the fault to the next `times` matching requests. */
  failNext(times: number, fault: Fault, options?: { path?: RegExp }): void;
  failAlways(fault: Fault, options?: { path?: RegExp }): void;
  clearFaults(): void;
  /** Forgets recorded requests and runs (not the runs' state in the executor). */
  clearRecords(): void;
  close(): Promise<void>;
};

export const FAKE_SECRET_KEY = "tr_dev_fake_secret_key";

const finishAtOnce = Object.fromEntries(TASK_IDS.map((taskId) => [taskId, async () => {}])) as unknown as TaskRegistry;

export async function startFakeTrigger(
  options: { registry?: TaskRegistry; secretKey?: string; executor?: Omit<ExecutorOptions, "registry"> } = {},
): Promise<FakeTrigger> {
  const secretKey = options.secretKey ?? FAKE_SECRET_KEY;
  const executor = createTaskExecutor({ ...options.executor, registry: options.registry ?? finishAtOnce });
  const requests: RecordedRequest[] = [];
  const runs: RecordedRun[] = [];
  let rules: FaultRule[] = [];
  const hanging = new Set<() => void>();
  let inFlight = 0;

  const runner = createRunnerApp({
    secretKeys: [secretKey],
    executor,
    onRunCreated: (run) => runs.push({ runId: run.id, taskId: run.taskId, payload: run.payload, batchId: run.batchId }),
  });

  const takeFault = (path: string): Fault | undefined => {
    const rule = rules.find((candidate) => candidate.remaining > 0 && (!candidate.path || candidate.path.test(path)));
    if (!rule) return undefined;
    rule.remaining -= 1;
    return rule.fault;
  };

  const answer = async (request: Request, text: string | undefined, path: string): Promise<Response> => {
    const fault = takeFault(path);
    if (fault && "hang" in fault) {
      await new Promise<void>((release) => hanging.add(release));
      return Response.json({ error: "Fake closed" }, { status: 503 });
    }
    if (fault && "status" in fault) return Response.json({ error: "Injected failure" }, { status: fault.status });
    if (fault && "delayMs" in fault) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    return runner.fetch(new Request(request.url, { method: request.method, headers: request.headers, body: text }));
  };

  const server = await listen(async (request) => {
    const path = new URL(request.url).pathname;
    const text = request.method === "GET" || request.method === "HEAD" ? undefined : await request.text();
    inFlight += 1;
    const entry: RecordedRequest = {
      method: request.method,
      path,
      headers: Object.fromEntries(request.headers),
      body: parseBody(text, request.headers.get("content-type")),
      inFlight,
      startedAt: performance.now(),
      endedAt: undefined,
      status: undefined,
    };
    requests.push(entry);
    try {
      const response = await answer(request, text, path);
      entry.status = response.status;
      return response;
    } finally {
      entry.endedAt = performance.now();
      inFlight -= 1;
    }
  });

  return {
    url: server.url,
    secretKey,
    executor,
    requests,
    runs,
    failNext(times, fault, ruleOptions = {}) {
      rules.push({ fault, path: ruleOptions.path, remaining: times });
    },
    failAlways(fault, ruleOptions = {}) {
      rules.push({ fault, path: ruleOptions.path, remaining: Number.POSITIVE_INFINITY });
    },
    clearFaults() {
      rules = [];
    },
    clearRecords() {
      requests.length = 0;
      runs.length = 0;
    },
    async close() {
      for (const release of hanging) release();
      hanging.clear();
      await server.close();
      await executor.idle();
    },
  };
}

function parseBody(text: string | undefined, contentType: string | null): unknown {
  if (text === undefined || text === "") return undefined;
  try {
    if (contentType?.includes("ndjson")) {
      return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as unknown);
    }
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
