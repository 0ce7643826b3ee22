import ipaddr from "ipaddr.js";

// Which IP addresses the crawler may connect to: public unicast ones only. A row's website is data
// anyone can write, so without this it could point the server at its own loopback, the cloud's
// metadata service (169.254.169.254) or the private network behind it. The ranges come from
// ipaddr.js; what this file adds is reading the IPv4 address inside the IPv6 forms that carry one
// (IPv4-mapped, IPv4-translated, NAT64, 6to4), so ::ffff:127.0.0.1 or 64:ff9b::a00:1 is judged as
// the IPv4 address it reaches.

/** The NAT64 well-known prefix (RFC 6052): its last 32 bits are the IPv4 address reached. */
const NAT64 = ipaddr.IPv6.parse("64:ff9b::");
/** Global unicast (2000::/3): the only IPv6 space allocated for the public internet. */
const GLOBAL_UNICAST = ipaddr.IPv6.parse("2000::");

/** An IP address in any notation ipaddr.js reads (decimal, octal, hex, short IPv4; IPv6 with or without brackets); null for a name. */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  return ipaddr.isValid(bare) ? ipaddr.parse(bare) : null;
}

function fromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The IPv4 address an IPv6 address stands for, where its form carries one. */
function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  const parts = address.parts as [number, number, number, number, number, number, number, number];
  const range = address.range();
  if (range === "ipv4Mapped" || range === "rfc6145" || address.match(NAT64, 96)) return fromParts(parts[6], parts[7]);
  if (range === "6to4") return fromParts(parts[1], parts[2]);
  return null;
}

/**
 * Why an address is not a public one ("loopback", "private", "linkLocal", …, as ipaddr.js names its
 * ranges), or null when it is public unicast and may be connected to.
 */
export function nonPublicRange(address: ipaddr.IPv4 | ipaddr.IPv6): string | null {
  if (address.kind() === "ipv4") {
    const range = (address as ipaddr.IPv4).range();
    return range === "unicast" ? null : range;
  }
  const v6 = address as ipaddr.IPv6;
  const inner = embeddedIpv4(v6);
  if (inner) {
    const range = nonPublicRange(inner);
    return range === null ? null : `${range} ${inner.toString()} inside ${v6.range() === "6to4" ? "6to4" : "IPv6"}`;
  }
  const range = v6.range();
  if (range !== "unicast") return range;
  // Nothing outside 2000::/3 is on the public internet; ::a.b.c.d (IPv4-compatible, deprecated) is named apart for a clearer refusal.
  if (v6.parts.slice(0, 6).every((part) => part === 0)) return "ipv4Compatible";
  return v6.match(GLOBAL_UNICAST, 3) ? null : "unallocated";
}

/** `nonPublicRange` of an address written as text; text that is no address is refused as such. */
export function nonPublicRangeOf(text: string): string | null {
  const address = parseAddress(text);
  return address ? nonPublicRange(address) : "not an IP address";
}
