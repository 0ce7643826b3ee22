import { z } from "zod";
import { domainKey } from "../domain/normalize";
import { blankAsUnset, parseProviderEnv, personNames, readBody } from "./common";
import { createHttpClient, failedOutcome, type HttpClient } from "./http";
import type { CellProvider, PersonData, ProviderMetadata, ProviderResult } from "./types";

// Hunter's Email Finder (https://hunter.io/api-documentation/v2#email-finder): one work email per
// request, `GET {HUNTER_BASE_URL}/email-finder` with the person's domain or company, their first and
// last name or their LinkedIn handle, and `api_key`. It answers `{ data: { email, score, ... } }`;
// an email of null, or a 404, means Hunter found no address. A second email provider for waterfalls.

export const HUNTER_PROVIDER = "hunter";
export const HUNTER_DEFAULT_BASE_URL = "https://api.hunter.io/v2";

const int = (min: number, max: number, fallback: number) => blankAsUnset(z.coerce.number().int().min(min).max(max).default(fallback));

const hunterEnv = z.object({
  HUNTER_API_KEY: blankAsUnset(z.string().trim().min(1).optional()),
  HUNTER_BASE_URL: blankAsUnset(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).default(HUNTER_DEFAULT_BASE_URL)),
  HUNTER_TIMEOUT_MS: int(1, 600_000, 15_000),
  // Hunter allows 15 requests a second on the Email Finder; a few in flight stay well under it.
  HUNTER_CONCURRENCY: int(1, 1000, 4),
  HUNTER_MAX_ATTEMPTS: int(1, 10, 3),
});

export type HunterSettings = { apiKey: string; baseUrl: string; timeoutMs: number; concurrency: number; maxAttempts: number; fetch?: typeof fetch };

/** Keyed on the environment object, so every caller of one environment shares one client and its limit. */
const byEnv = new WeakMap<object, CellProvider | null>();

/** The Hunter adapter configured from the environment; null without HUNTER_API_KEY. */
export function createHunterProvider(env: Readonly<Record<string, unknown>>): CellProvider | null {
  if (byEnv.has(env)) return byEnv.get(env)!;
  const e = parseProviderEnv(hunterEnv, env, ["HUNTER_API_KEY"]);
  const provider = e.HUNTER_API_KEY
    ? hunterProvider({ apiKey: e.HUNTER_API_KEY, baseUrl: e.HUNTER_BASE_URL, timeoutMs: e.HUNTER_TIMEOUT_MS, concurrency: e.HUNTER_CONCURRENCY, maxAttempts: e.HUNTER_MAX_ATTEMPTS })
    : null;
  byEnv.set(env, provider);
  return provider;
}

const finderAnswer = z.object({
  data: z.object({
    email: z.string().nullish(),
    score: z.number().nullish(),
    verification: z.object({ status: z.string().nullish() }).nullish(),
  }),
});

/** "https://www.linkedin.com/in/ada-lovelace/?x" → "ada-lovelace"; null for anything else. */
export function linkedinHandle(url: string | null): string | null {
  const match = /linkedin\.com\/in\/([^/?#\s]+)/i.exec(url ?? "");
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]!) || null;
  } catch {
    return match[1]!;
  }
}

/** What Hunter is asked for the row, or why the row cannot be looked up (then it is not asked). */
export function hunterLookup(row: PersonData): { query: Record<string, string> } | { unfit: string } {
  const { first, last } = personNames(row);
  const domain = domainKey(row.domain);
  const company = row.company?.trim() || null;
  const handle = linkedinHandle(row.linkedinUrl);
  // Hunter needs the person (both names, or their LinkedIn handle) and, with names, where they work.
  if (!handle && !(first && last && (domain || company))) {
    return { unfit: "Not enough to look this person up at Hunter: needs a first and last name with a company or domain, or a LinkedIn URL" };
  }
  // Both where known: Hunter takes the domain first and the company name when the domain is unknown to it.
  const query: Record<string, string> = {};
  if (domain) query.domain = domain;
  if (company) query.company = company;
  if (first && last) {
    query.first_name = first;
    query.last_name = last;
  }
  if (handle) query.linkedin_handle = handle;
  return { query };
}

export function hunterProvider(settings: HunterSettings): CellProvider {
  const http: HttpClient = createHttpClient({
    provider: HUNTER_PROVIDER,
    baseUrl: settings.baseUrl,
    timeoutMs: settings.timeoutMs,
    maxAttempts: settings.maxAttempts,
    concurrency: settings.concurrency,
    fetch: settings.fetch,
  });
  return {
    name: HUNTER_PROVIDER,
    unfit: ({ column, row }) => {
      if (row.subject !== "person" || column.schema?.type === "phone") return "Hunter finds work emails of people only";
      const lookup = hunterLookup(row);
      return "unfit" in lookup ? lookup.unfit : null;
    },
    async enrich({ column, row, signal }): Promise<ProviderResult> {
      const metadata: ProviderMetadata = { provider: HUNTER_PROVIDER };
      if (row.subject !== "person" || column.schema?.type === "phone") {
        return { outcome: "no_match", reason: "Hunter finds work emails of people only", metadata };
      }
      const lookup = hunterLookup(row);
      if ("unfit" in lookup) return { outcome: "no_match", reason: lookup.unfit, metadata };
      try {
        // 404: Hunter found nobody by these inputs; 451: the person asked Hunter not to process their data.
        const response = await http.request("GET", "email-finder", { query: { ...lookup.query, api_key: settings.apiKey }, accept: [404, 451], signal });
        if (response.status === 404 || response.status === 451) {
          return { outcome: "no_match", reason: `Hunter found no email for this person (HTTP ${response.status})`, metadata };
        }
        const { email, score, verification } = readBody(response, finderAnswer).data;
        const found = { ...metadata, score: score ?? null, verification: verification?.status ?? null };
        if (!email?.trim()) return { outcome: "no_match", reason: "Hunter found no email for this person", metadata: found };
        return { outcome: "value", value: email.trim(), metadata: found };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        return failedOutcome(error, metadata);
      }
    },
  };
}
