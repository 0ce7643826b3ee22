import { lookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent, fetch as undiciFetch } from "undici";
import { addressRefused, literalRefusal, refusalIn, resolvedRefusal, type Resolver } from "./fetch-guard";

// The crawler's transport on Node: undici with a connector whose DNS lookup is the address check.
// net.connect asks `lookup` for the address it then connects to, so the address judged is the address
// connected to, with no second resolution in between for a rebinding name to answer differently.
// net.connect skips `lookup` for a literal address, so those are judged before the request is made.
// Loaded only on Node (see network.ts): undici and node:dns have no place in a Worker.

/** The system resolver (getaddrinfo: /etc/hosts, then DNS), every address of both families. */
export const systemResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);

function wantedFamily(family: number | "IPv4" | "IPv6" | undefined): 0 | 4 | 6 {
  return family === 4 || family === "IPv4" ? 4 : family === 6 || family === "IPv6" ? 6 : 0;
}

/** A `net` lookup through `resolver` that fails the connection when a non-public address comes back. */
export function guardedLookup(resolver: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const answer = async (): Promise<LookupAddress[]> => {
      const addresses = await resolver(hostname);
      const refusal = allowPrivate ? null : resolvedRefusal(hostname, addresses);
      if (refusal) throw addressRefused(refusal);
      const family = wantedFamily(options.family);
      const entries = addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })).filter((entry) => family === 0 || entry.family === family);
      if (entries.length === 0) throw Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: "ENOTFOUND" });
      return entries;
    };
    answer().then(
      (entries) => (options.all ? callback(null, entries) : callback(null, entries[0]!.address, entries[0]!.family)),
      (error: NodeJS.ErrnoException) => callback(error, "", 0),
    );
  };
}

/** fetch over connections whose addresses are checked; a refusal is thrown as itself, not as undici's bare "fetch failed". */
export function guardedFetch(options: { resolver: Resolver; allowPrivate: boolean }): typeof fetch {
  const agent = new Agent({ connect: { lookup: guardedLookup(options.resolver, options.allowPrivate) } });
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const refusal = options.allowPrivate ? null : literalRefusal(url.hostname);
    if (refusal) throw addressRefused(refusal);
    try {
      // undici's own fetch, not the global one: the global fetch comes with an undici of its own version, which need not accept this Agent.
      return (await undiciFetch(url, { ...(init as object), dispatcher: agent })) as unknown as Response;
    } catch (error) {
      throw refusalIn(error) ?? error;
    }
  };
}
