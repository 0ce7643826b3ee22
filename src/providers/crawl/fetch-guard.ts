import { nonPublicRange, nonPublicRangeOf, parseAddress } from "./addresses";

// The address check every request of the crawler passes before it is sent: the start URL, robots.txt,
// each followed link and each redirect hop. A literal address is judged as it is; a name is judged by
// every address it resolves to, so `localhost`, a name an attacker points at 127.0.0.1, and odd
// notations (2130706433, 0177.0.0.1, 0x7f.1, 127.1, which URL parsing turns into 127.0.0.1) are all
// refused alike. Where the runtime lets the crawler pick the address it connects to (Node, see
// node-network.ts), the same check runs again at connect time, so a name that answers differently the
// second time (DNS rebinding) is refused there too.

/** The addresses a name resolves to, IPv4 and IPv6; throws when the lookup itself fails. */
export type Resolver = (hostname: string, signal?: AbortSignal) => Promise<string[]>;

export type AddressGuard = {
  /** Why `url` must not be fetched, or null when it may. */
  refusal(url: URL, signal?: AbortSignal): Promise<string | null>;
};

export type AddressGuardOptions = {
  /** Loopback, private and every other non-public address allowed: local test sites. */
  allowPrivate: boolean;
  /** How names are resolved for the check; null leaves names to the transport, which must check them itself. */
  resolver: Resolver | null;
};

/** The code a refusal carries (in the style of Node's error codes), so it can be found under the errors that wrap it. */
export const ADDRESS_REFUSED = "ERR_ADDRESS_REFUSED";

export function addressRefused(reason: string): Error {
  return Object.assign(new Error(reason), { code: ADDRESS_REFUSED });
}

/** The refusal a connection attempt was failed with, found under the fetch error that wraps it. */
export function refusalIn(error: unknown): Error | null {
  for (let current = error; current instanceof Error; current = current.cause) {
    if ((current as { code?: unknown }).code === ADDRESS_REFUSED) return current;
  }
  return null;
}

/** Why the addresses a name resolved to must not be connected to: any one that is not public refuses them all. */
export function resolvedRefusal(hostname: string, addresses: readonly string[]): string | null {
  if (addresses.length === 0) return `${hostname} resolves to no address`;
  for (const address of addresses) {
    const range = nonPublicRangeOf(address);
    if (range) return `${hostname} resolves to ${address}, which is not a public address (${range})`;
  }
  return null;
}

/** Why a literal address must not be connected to; null for a public one. */
export function literalRefusal(hostname: string): string | null {
  const address = parseAddress(hostname);
  const range = address && nonPublicRange(address);
  return range ? `${hostname} is not a public address (${range})` : null;
}

export function createAddressGuard(options: AddressGuardOptions): AddressGuard {
  if (options.allowPrivate) return { refusal: async () => null };
  const resolver = options.resolver;
  return {
    async refusal(url, signal) {
      const hostname = url.hostname;
      if (parseAddress(hostname)) return literalRefusal(hostname);
      if (!resolver) return null;
      let addresses: string[];
      try {
        addresses = await resolver(hostname, signal);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        return `${hostname} could not be resolved (${(error as Error)?.message ?? String(error)})`;
      }
      return resolvedRefusal(hostname, addresses);
    },
  };
}
