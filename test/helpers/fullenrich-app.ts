import { createHmac } from "node:crypto";
import { afterAll, beforeEach } from "vitest";
import { backgroundIdle } from "../../src/after-response";
import { createApp } from "../../src/app";
import { createInProcessDispatcher, friendlyId } from "../../src/dispatch/in-process";
import type { Dispatcher, TaskContext } from "../../src/dispatch/types";
import { createSandboxProviders } from "../../src/providers";
import { fullEnrichProvider, type FullEnrichSettings } from "../../src/providers/fullenrich";
import type { Services } from "../../src/services";
import { createTaskRegistry } from "../../src/tasks/registry";
import { defaultDirectory, startFakeFullEnrich, type FakeContact, type Found } from "./fake-fullenrich";
import { serveOverHttp } from "./serve";

/** A task the dispatcher was asked to run while tasks were held. */
export type HeldTask = { taskId: string; payload: unknown };

/**
 * The real app served on 127.0.0.1 (FullEnrich must reach its webhook route) over the harness's
 * services, the real task handlers run in-process as under `npm start`, and a fake of FullEnrich's
 * API that calls back with signed webhooks. Before each test the fake is reset (FullEnrich knowing
 * what `directory` says), tasks run again, and FullEnrich is configured with the defaults.
 */
export async function startFullEnrichApp(
  h: { services: Services },
  options: { apiKey: string; webhookSecret: string; directory?: (contact: FakeContact) => Found },
) {
  const { apiKey, webhookSecret } = options;
  const fake = await startFakeFullEnrich({ apiKey });

  let current: Services;
  const app = createApp(() => ({ services: current }));
  const served = await serveOverHttp(app.fetch);
  const registry = createTaskRegistry(() => current, { recheckMs: 20 });
  const inProcess = createInProcessDispatcher({ registry, logger: h.services.logger, retryDelay: { minMs: 10, maxMs: 50 } });

  // Runs tasks in-process, unless told to hold them for a test to run by hand.
  let holding = false;
  let held: HeldTask[] = [];
  const dispatcher: Dispatcher = {
    async trigger(taskId, payload) {
      if (!holding) return inProcess.trigger(taskId, payload);
      held.push({ taskId, payload });
      return { runId: friendlyId("run") };
    },
    async batchTrigger(taskId, payloads) {
      if (!holding) return inProcess.batchTrigger(taskId, payloads);
      held.push(...payloads.map((payload) => ({ taskId, payload })));
      return { batchId: friendlyId("batch"), runIds: payloads.map(() => friendlyId("run")) };
    },
    cancel: (ids) => inProcess.cancel(ids),
  };

  /** Waits for the in-process tasks, the fake's webhook deliveries, and the work after responses. */
  async function settle() {
    await inProcess.idle();
    await fake.idle();
    await backgroundIdle();
  }

  /** Configures FullEnrich for the next requests and tasks. */
  function useFullEnrich(overrides: Partial<FullEnrichSettings> = {}) {
    const provider = fullEnrichProvider({
      apiKey,
      baseUrl: fake.url,
      publicBaseUrl: served.url,
      webhookSecret,
      // Long enough that a webhook always lands before the first poll.
      pollIntervalMs: 500,
      pollTimeoutMs: 10_000,
      timeoutMs: 2_000,
      maxAttempts: 2,
      concurrency: 4,
      maxRetryAfterMs: 2_000,
      backoff: { minMs: 5, maxMs: 20 },
      ...overrides,
    });
    // The same client answers the contact kinds and stands as `fullenrich` in waterfalls.
    current = {
      ...h.services,
      dispatcher,
      providers: { ...createSandboxProviders(), work_email: provider, mobile_phone: provider },
      contactSources: { ...h.services.contactSources, fullenrich: { work_email: provider, mobile_phone: provider } },
    };
    return provider;
  }

  /** Runs `fn` with the tasks it dispatches held, not run; returns its result and those tasks. */
  async function holdingTasks<T>(fn: () => Promise<T>): Promise<{ result: T; held: HeldTask[] }> {
    held = [];
    holding = true;
    try {
      const result = await fn();
      return { result, held };
    } finally {
      holding = false;
    }
  }

  afterAll(async () => {
    await settle();
    await fake.close();
    await served.close();
  });

  beforeEach(async () => {
    await settle();
    fake.http.requests.length = 0;
    fake.faults.length = 0;
    fake.enrichments.clear();
    Object.assign(fake.options, {
      finishAfterMs: 0,
      deliverWebhooks: true,
      finalStatus: "FINISHED",
      inProgressAs: 400,
      directory: options.directory ?? defaultDirectory,
    });
    holding = false;
    held = [];
    useFullEnrich();
  });

  return {
    fake,
    app,
    served,
    registry,
    /** The services the app and the tasks use now; a test may put others in their place. */
    get services(): Services {
      return current;
    },
    set services(services: Services) {
      current = services;
    },
    useFullEnrich,
    holdingTasks,
    settle,
    /** The signature our webhook URL for a submission carries. */
    urlSig: (submissionId: string) => createHmac("sha256", webhookSecret).update(`fullenrich-webhook:${submissionId}`).digest("hex"),
  };
}

/** A task's context for a first attempt, unless told otherwise. */
export function taskContext(overrides: Partial<TaskContext> = {}): TaskContext {
  return { runId: friendlyId("run"), attempt: 1, lastAttempt: false, signal: new AbortController().signal, ...overrides };
}

/** Polls `condition` every 10ms until it holds; fails after `timeoutMs`. */
export async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
