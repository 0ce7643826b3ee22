// The local Trigger.dev for `wrangler dev`: the Worker dispatches through @trigger.dev/sdk as in
// production, pointed by TRIGGER_API_URL at this process, which runs the tasks here.
//   TRIGGER_SECRET_KEY=tr_dev_local TRIGGER_API_URL=http://127.0.0.1:8788 tsx scripts/trigger-runner.ts
import { z } from "zod";
import { createTaskExecutor, executorDispatcher } from "../src/dispatch/in-process";
import { startRecoveryLoop } from "../src/domain/recovery";
import { startRunnerServer } from "../src/dispatch/runner-server";
import { openDatabase } from "../src/db/open";
import { createTaskRegistry } from "../src/tasks/registry";
import { createLogger, createServiceKit, type Services } from "../src/services";

const runnerEnv = z.object({
  // The same key the Worker is given; several may be listed, comma-separated.
  TRIGGER_SECRET_KEY: z.string().min(1),
  // The URL the Worker posts to, so both sides read their address from one variable.
  TRIGGER_API_URL: z
    .string()
    .url()
    .default("http://127.0.0.1:8788")
    .refine((url) => new URL(url).protocol === "http:", "the local runner serves plain http"),
  TRIGGER_RUNNER_CONCURRENCY: z.coerce.number().int().min(1).default(4),
  TRIGGER_RUNNER_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

const parsed = runnerEnv.safeParse(process.env);
if (!parsed.success) {
  console.error(`Invalid environment:\n${parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`).join("\n")}`);
  process.exit(1);
}
const env = parsed.data;
const logger = createLogger(env.LOG_LEVEL);

// The tasks run here against the same database the Worker uses (DATABASE_URL), with the same
// handlers as the in-process executor of `npm start`. It is a local mode, so PROVIDERS defaults to
// `sandbox` (`npm run dev` passes it the same value as the Worker).
const kit = createServiceKit(process.env, { logger, requestsPerMinute: null });
const database = await openDatabase(kit.env);
// Tasks start work of their own (a column's cells released as the cells they read finish): queued
// here, in this runner's executor, as the recovery sweep's work is.
const services = (): Services => kit.services({ db: database.db, dispatcher: executorDispatcher(executor) });
const registry = createTaskRegistry(services);

const executor = createTaskExecutor({
  registry,
  concurrency: env.TRIGGER_RUNNER_CONCURRENCY,
  maxAttempts: env.TRIGGER_RUNNER_MAX_ATTEMPTS,
  logger,
});

const address = new URL(env.TRIGGER_API_URL);
const server = await startRunnerServer({
  secretKeys: env.TRIGGER_SECRET_KEY.split(",").map((key) => key.trim()).filter(Boolean),
  executor,
  logger,
  host: address.hostname.replace(/^\[|\]$/g, ""),
  port: Number(address.port || 80),
  onRunCreated: (run) => logger.info("run queued", { runId: run.id, taskId: run.taskId, batchId: run.batchId }),
});
console.log(`Trigger.dev-compatible runner listening on ${server.url}`);

// The same recovery sweep as the Node server's and the scheduled Trigger.dev task's: work whose
// lease ran out (a killed runner, a Worker request that died mid-dispatch) is queued here again.
const recovery = startRecoveryLoop(() => kit.services({ db: database.db, dispatcher: executorDispatcher(executor) }), logger, {
  waiting: () => executor.waitingPayloads(),
});

// The first signal lets queued and running work finish; a second one does not wait.
let stopping = false;
const shutdown = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  await recovery.stop();
  await server.close();
  await executor.idle();
  await database.close();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
