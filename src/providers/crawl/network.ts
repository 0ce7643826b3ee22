import { dohResolver } from "./doh";
import type { Resolver } from "./fetch-guard";

// How the crawler reaches the network on the runtime it finds itself on.
//
// Node: undici with the address check in its DNS lookup (node-network.ts); the check before each
// request and the one at connect time resolve through the same resolver.
//
// Cloudflare Workers: fetch() is the only way out and it resolves names itself, so no code here can
// see the address it connects to. Names are resolved over DNS over HTTPS and every address checked
// before the request, which refuses names that point at private or loopback addresses. What that
// leaves open, a name answering the platform's resolver differently a moment later, is the platform's
// to close: a deployed Worker's subrequests leave from Cloudflare's network, not from a host on the
// operator's own network, so there is no loopback or private service of ours behind such an address
// to reach. (`wrangler dev` runs the Worker locally, where that does not hold; it is a development tool.)

export type Network = {
  fetch: typeof fetch;
  /** Names are resolved with this for the check before each request; null leaves them to `fetch`. */
  resolver: Resolver | null;
};

const onWorkers = () => (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === "Cloudflare-Workers";

export function platformNetwork(options: { allowPrivate: boolean; resolver?: Resolver }): Network {
  if (onWorkers()) return { fetch: (input, init) => fetch(input, init), resolver: options.resolver ?? dohResolver() };

  // Imported on first use, so a Worker bundle never evaluates undici or node:dns.
  let node: Promise<typeof import("./node-network")> | undefined;
  const load = () => (node ??= import("./node-network"));
  const resolver: Resolver = options.resolver ?? (async (hostname) => (await load()).systemResolver(hostname));
  let transport: Promise<typeof fetch> | undefined;
  const connect = () => (transport ??= load().then((module) => module.guardedFetch({ resolver, allowPrivate: options.allowPrivate })));
  return { fetch: async (input, init) => (await connect())(input, init), resolver };
}
