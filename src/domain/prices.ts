// Credits per unit of each billable action. This is configuration: deployments override any entry
// with the CREDIT_COSTS environment variable; handlers only ever look prices up through here.
export const DEFAULT_CREDIT_COSTS: Readonly<Record<string, number>> = Object.freeze({
  FIND_PERSON: 1,
  IMPORT_LEAD: 1,
  EMAIL_LOOKUP: 2,
  // A work email found by Hunter in a waterfall (EMAIL_LOOKUP prices FullEnrich's and the sandbox's).
  HUNTER_EMAIL_LOOKUP: 1,
  PHONE_LOOKUP: 8,
  LINKEDIN_PROFILE: 1,
  LINKEDIN_POSTS: 1,
  COMPANY_NEWS: 4,
  PERSON_NEWS: 4,
  HIRING_STATUS: 1,
  WEBSITE_ENRICHMENT: 1,
  SITE_CRAWL_ENRICHMENT: 4,
  CUSTOM_ENRICHMENT_AI: 1,
  CUSTOM_ENRICHMENT_WEB: 1,
  DEEP_RESEARCH: 40,
});

export type Prices = {
  costs: Readonly<Record<string, number>>;
  /** Credits per unit of `action`, or undefined for an action that is not priced. */
  costOf(action: string): number | undefined;
};

export function createPrices(costs: Readonly<Record<string, number>>): Prices {
  return {
    costs,
    costOf: (action) => (Object.hasOwn(costs, action) ? costs[action] : undefined),
  };
}
