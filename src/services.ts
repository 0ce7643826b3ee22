import type { Db } from "./db/client";
import type { Dispatcher } from "./dispatch/types";
import type { Prices } from "./domain/prices";
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
};

/** Builds the services for one request; `release` runs when the response is done. */
export type ServicesFactory = (request: Request, executionCtx?: { waitUntil(p: Promise<unknown>): void }) =>
  | { services: Services; release?: () => Promise<void> }
  | Promise<{ services: Services; release?: () => Promise<void> }>;
