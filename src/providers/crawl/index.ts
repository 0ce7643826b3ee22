// The site crawler as the company providers use it; the files next to this one each do one part.
export { createSiteCrawler, DEFAULT_PRIORITIES, DEFAULT_USER_AGENT } from "./crawler";
export type { Crawl, CrawlOptions, CrawlOutcome, SiteCrawler, SiteCrawlSettings, SkipReason } from "./crawler";
export { crawlText, type CrawledPage, type CrawlLink } from "./page";
export { entryUrlsOf } from "./urls";
export type { Resolver } from "./fetch-guard";
