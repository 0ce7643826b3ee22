import type { TaskContext } from "../src/dispatch/types";

// A Trigger.dev task's attempt count, given once: the task's retry setting and the TaskContext of
// each attempt both come from it, so "is this the last attempt?" always agrees with what Trigger.dev
// will do after a failure. The backoff between attempts comes from trigger.config.ts.

type AttemptParams = { ctx: { run: { id: string }; attempt: { number: number } }; signal: AbortSignal };

export function taskAttempts(maxAttempts: number) {
  return {
    retry: { maxAttempts },
    contextOf: ({ ctx, signal }: AttemptParams): TaskContext => ({
      runId: ctx.run.id,
      attempt: ctx.attempt.number,
      lastAttempt: ctx.attempt.number >= maxAttempts,
      signal,
    }),
  };
}
