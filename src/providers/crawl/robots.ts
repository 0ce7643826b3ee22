import robotsParser from "robots-parser";

// robots.txt (RFC 9309), read by robots-parser: the groups naming the crawler's product token, else
// the `*` groups; the longest matching rule decides, allow winning a tie; `*` and `$` in patterns.

export type Robots = {
  /** Whether a path (with its query) may be fetched. */
  allows(pathAndQuery: string): boolean;
};

export const ALLOW_ALL: Robots = { allows: () => true };

/** The product token of a User-Agent ("LeadEnrichmentBot/1.0 (+…)" → "leadenrichmentbot"), as robots.txt names crawlers. */
export function productToken(userAgent: string): string {
  return (userAgent.trim().split(/[\s/]/)[0] ?? "").toLowerCase();
}

// robots-parser judges absolute URLs of the origin its file came from; the crawler keeps one Robots
// per origin, so any fixed origin serves.
const ORIGIN = "http://robots.invalid";

export function parseRobots(text: string, token: string): Robots {
  const robots = robotsParser(`${ORIGIN}/robots.txt`, text);
  return {
    // robots.txt itself is always allowed (RFC 9309 §2.2.2).
    allows: (pathAndQuery) => pathAndQuery === "/robots.txt" || robots.isAllowed(`${ORIGIN}${pathAndQuery}`, token) !== false,
  };
}
