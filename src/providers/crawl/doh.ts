import { z } from "zod";
import type { Resolver } from "./fetch-guard";

// Names resolved over DNS over HTTPS (the JSON API of RFC 8484 resolvers), for runtimes without a
// resolver of their own to ask: a Worker has no node:dns. The endpoint is named by host, not by
// 1.1.1.1, because a Worker may not fetch Cloudflare's addresses directly.

export const DEFAULT_DOH_ENDPOINT = "https://cloudflare-dns.com/dns-query";

const RECORD_TYPES = { A: 1, AAAA: 28 } as const;
const NXDOMAIN = 3;

const dnsJson = z.object({
  Status: z.number(),
  Answer: z.array(z.object({ type: z.number(), data: z.string() })).optional(),
});

export function dohResolver(options: { endpoint?: string; fetch?: typeof fetch } = {}): Resolver {
  const endpoint = options.endpoint ?? DEFAULT_DOH_ENDPOINT;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));

  async function query(hostname: string, type: keyof typeof RECORD_TYPES, signal?: AbortSignal): Promise<string[]> {
    const url = new URL(endpoint);
    url.searchParams.set("name", hostname);
    url.searchParams.set("type", type);
    const response = await doFetch(url.href, { headers: { accept: "application/dns-json" }, signal });
    if (!response.ok) throw new Error(`DNS over HTTPS answered ${response.status}`);
    const parsed = dnsJson.safeParse(await response.json().catch(() => null));
    if (!parsed.success) throw new Error("DNS over HTTPS answered something other than DNS JSON");
    if (parsed.data.Status === NXDOMAIN) return [];
    if (parsed.data.Status !== 0) throw new Error(`DNS over HTTPS answered status ${parsed.data.Status}`);
    // CNAME records come along in the answer; the addresses they lead to are the A/AAAA records.
    return (parsed.data.Answer ?? []).filter((record) => record.type === RECORD_TYPES[type]).map((record) => record.data);
  }

  return async (hostname, signal) => {
    const [v4, v6] = await Promise.all([query(hostname, "A", signal), query(hostname, "AAAA", signal)]);
    return [...v4, ...v6];
  };
}
