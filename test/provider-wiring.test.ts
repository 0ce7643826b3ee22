import { describe, expect, it } from "vitest";
import { createProviders, PROVIDER_KINDS } from "../src/providers";

// Which adapter answers each kind is decided by the environment alone: configured adapters where
// their keys are set, the offline sandbox everywhere else.

const names = (env: Record<string, string>) => Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, createProviders(env)[kind].name]));

describe("createProviders", () => {
  it("answers every kind with the sandbox when nothing is configured", () => {
    expect(names({})).toEqual(Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, "sandbox"])));
  });

  it("uses the AI provider for AI columns and as the web fallback of the company kinds when an AI key is set", () => {
    expect(names({ OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" })).toEqual({
      ai: "openai",
      work_email: "sandbox",
      mobile_phone: "sandbox",
      site_crawl: "openai-web-search",
      website_overview: "openai-web-search",
      hiring_status: "openai-web-search",
      news_articles: "openai-web-search",
      linkedin_posts: "openai-web-search",
    });
  });

  it("prefers dedicated providers where they are configured", () => {
    expect(
      names({
        OPENAI_API_KEY: "sk-test",
        SITE_CRAWL_ENABLED: "true",
        NEWS_API_KEY: "news-key",
        LINKEDIN_POSTS_API_URL: "http://127.0.0.1:9",
        LINKEDIN_POSTS_API_KEY: "li-key",
      }),
    ).toEqual({
      ai: "openai",
      work_email: "sandbox",
      mobile_phone: "sandbox",
      site_crawl: "site-crawl",
      website_overview: "site-crawl+openai",
      hiring_status: "site-crawl+openai",
      news_articles: "newsapi",
      linkedin_posts: "linkedin-posts-api",
    });
  });

  it("without an AI key, the crawler still answers site crawls and the AI-backed kinds stay on the sandbox", () => {
    expect(names({ SITE_CRAWL_ENABLED: "true", NEWS_API_KEY: "news-key" })).toMatchObject({
      ai: "sandbox",
      site_crawl: "site-crawl",
      website_overview: "sandbox",
      hiring_status: "sandbox",
      news_articles: "newsapi",
      linkedin_posts: "sandbox",
    });
  });

  it("answers both contact kinds with FullEnrich when its key is set", () => {
    expect(names({ FULLENRICH_API_KEY: "fe-key", PUBLIC_BASE_URL: "https://api.example.com" })).toMatchObject({
      work_email: "fullenrich",
      mobile_phone: "fullenrich",
      ai: "sandbox",
    });
    const providers = createProviders({ FULLENRICH_API_KEY: "fe-key", PUBLIC_BASE_URL: "https://api.example.com" });
    expect(providers.work_email).toBe(providers.mobile_phone);
  });

  it("refuses a malformed setting at start-up", () => {
    expect(() => createProviders({ OPENAI_API_KEY: "sk-test", OPENAI_API_STYLE: "telepathy" })).toThrow(/Invalid environment:\n {2}OPENAI_API_STYLE/);
  });
});
