import type { Db } from "./db/client";
import { createEventFeeds, type EventFeeds, type EventStreamSettings } from "./domain/event-feed";
import type { Dispatcher } from "./dispatch/types";
import { createPrices, type Prices } from "./domain/prices";
import { creditCostsFrom, parseEnv, type Env } from "./env";
import { createProviders, createWaterfallSources } from "./providers";
import type { ContactSources } from "./providers/contact-sources";
import type { Providers } from "./providers/types";

export type Clock = { now(): Date };
export const systemClock: Clock = { now: () => new Date() };

export type Logger = {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
};

const LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LEVELS)[number];

export function createLogger(level: LogLevel): Logger {
  const threshold = LEVELS.indexOf(level);
  const at =
    (name: Exclude<LogLevel, "silent">) =>
    (message: string, fields?: Record<string, unknown>) => {
      if (LEVELS.indexOf(name) < threshold) return;
      console[name === "debug" ? "log" : name](JSON.stringify({ level: name, message, ...fields }));
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** How work in flight is leased and recovered (spec section 10). */
export type WorkSettings = {
  /** How long a claim on work lasts unless its attempt renews it. */
  leaseMs: number;
  /** How often recovery looks for work whose lease ran out. */
  recoveryIntervalMs: number;
  /** Recoveries of one piece of work before it ends failed with ABANDONED. */
  maxRecoveries: number;
};

/** What a request handler or task may touch. Built per request by the entry point; never global. */
export type Services = {
  db: Db;
  /** API requests a workspace may make per minute; null: no limit. */
  requestsPerMinute: number | null;
  dispatcher: Dispatcher;
  prices: Prices;
  clock: Clock;
  logger: Logger;
  providers: Providers;
  /** The contact providers a waterfall may name, configured ones only. */
  contactSources: ContactSources;
  work: WorkSettings;
  /** The list event streams over this request's database handle (shared by the process's requests on Node). */
  events: EventFeeds;
  eventSettings: EventSettings;
};

export type EventSettings = EventStreamSettings & {
  /** How long changes stay in the record for a stream to replay (recovery prunes older ones). */
  retentionMs: number;
};

/**
 * The parts of Services that live as long as the process (or the Worker isolate): settings, prices,
 * the logger and the providers (which hold per-provider concurrency limits, so they must be shared).
 * `services()` adds what each request or task brings: its database handle and its dispatcher.
 */
export type ServiceKit = {
  readonly env: Env;
  readonly logger: Logger;
  services(parts: { db: Db; dispatcher: Dispatcher }): Services;
};

export type ServiceKitOptions = { logger?: Logger; providers?: Providers; contactSources?: ContactSources; clock?: Clock; prices?: Prices; requestsPerMinute?: number | null };

/**
 * The one builder of Services, used by every entry point (Node server, Worker, Trigger.dev tasks,
 * the local runner, tests, benches): a new service is one edit here. `source` is the raw
 * environment (process.env, the Worker's bindings); it is validated once, here.
 */
export function createServiceKit(source: Record<string, unknown>, options: ServiceKitOptions = {}): ServiceKit {
  const env = parseEnv(source);
  const logger = options.logger ?? createLogger(env.LOG_LEVEL);
  const prices = options.prices ?? createPrices(creditCostsFrom(env));
  const providers = options.providers ?? createProviders(source);
  const contactSources = options.contactSources ?? createWaterfallSources(source);
  const clock = options.clock ?? systemClock;
  const requestsPerMinute = options.requestsPerMinute !== undefined ? options.requestsPerMinute : env.RATE_LIMIT_PER_MINUTE;
  const work: WorkSettings = { leaseMs: env.WORK_LEASE_MS, recoveryIntervalMs: env.RECOVERY_INTERVAL_MS, maxRecoveries: env.RECOVERY_MAX_ATTEMPTS };
  const eventSettings: EventSettings = {
    pollMs: env.EVENT_POLL_MS,
    heartbeatMs: env.EVENT_HEARTBEAT_MS,
    progressEveryMs: 1_000,
    retentionMs: env.EVENT_RETENTION_MS,
  };
  // One set of feeds per database handle: on Node every request shares the pool, so the streams of a
  // list share one reading loop; a Worker request's client is its own, and so are its feeds.
  const feeds = new WeakMap<Db, EventFeeds>();
  const eventsOf = (db: Db) => {
    let found = feeds.get(db);
    if (!found) feeds.set(db, (found = createEventFeeds(db, eventSettings)));
    return found;
  };
  return {
    env,
    logger,
    services: ({ db, dispatcher }) => ({ db, dispatcher, requestsPerMinute, prices, clock, logger, providers, contactSources, work, events: eventsOf(db), eventSettings }),
  };
}

/** Builds the services for one request; `release` runs when the response is done. */
export type ServicesFactory = (request: Request, executionCtx?: { waitUntil(p: Promise<unknown>): void }) =>
  | { services: Services; release?: () => Promise<void> }
  | Promise<{ services: Services; release?: () => Promise<void> }>;
