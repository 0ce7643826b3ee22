import { z } from "zod";
import { DEFAULT_CREDIT_COSTS } from "./domain/prices";

// Everything the app reads from its environment, validated once where the environment is read.
const creditCosts = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "CREDIT_COSTS must be JSON" });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().regex(/^[A-Z_]+$/), z.number().int().min(0)));

export const envSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  // Connections of the Node server's pool (ignored by the embedded database and by Workers).
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  HOST: z.string().default("127.0.0.1"),
  DATA_DIR: z.string().default(".data"),
  // API requests per workspace per minute; unset or 0: no limit.
  RATE_LIMIT_PER_MINUTE: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .transform((n) => (n ? n : null)),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  // Background work through Trigger.dev (or the local Trigger.dev-compatible runner). Without a key,
  // `npm start` runs the tasks in-process.
  TRIGGER_SECRET_KEY: z.string().min(1).optional(),
  TRIGGER_API_URL: z.string().url().optional(),
  TRIGGER_DISPATCH_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
  // JSON object of ACTION → credits per unit; merged over the defaults.
  CREDIT_COSTS: creditCosts.optional(),
  // Work in flight is leased: an attempt renews its lease while it works, and recovery picks up
  // work whose lease ran out (its process died). Lease plus interval bound how long a crash can
  // leave work unfinished; the defaults add up to 45 s.
  WORK_LEASE_MS: z.coerce.number().int().min(1000).max(3_600_000).default(30_000),
  RECOVERY_INTERVAL_MS: z.coerce.number().int().min(500).max(3_600_000).default(15_000),
  // Times a piece of work may be recovered before it ends failed with ABANDONED (and is refunded).
  RECOVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  // On SIGINT/SIGTERM, how long the Node server waits for requests and in-process tasks before it
  // aborts them (their work is picked up again by recovery on the next start).
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  // The event stream (GET /api/lists/{id}/events): how often a list's change record is read, how
  // often an idle stream gets a comment line, and how long changes are kept for replay.
  EVENT_POLL_MS: z.coerce.number().int().min(20).max(60_000).default(500),
  EVENT_HEARTBEAT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  EVENT_RETENTION_MS: z.coerce.number().int().min(60_000).max(30 * 86_400_000).default(86_400_000),
});

export type Env = z.infer<typeof envSchema>;

export function parseEnv(source: Record<string, unknown>): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

export function creditCostsFrom(env: Pick<Env, "CREDIT_COSTS">): Record<string, number> {
  return { ...DEFAULT_CREDIT_COSTS, ...(env.CREDIT_COSTS ?? {}) };
}
