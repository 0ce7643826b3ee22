import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createProviders, PROVIDER_KINDS, PROVIDER_SETTINGS, providersMode, unconfiguredProvider, withProvidersDefault } from "../src/providers";
import { createLogger, createServiceKit } from "../src/services";

// Which adapter answers each kind is decided by the environment alone: configured adapters where
// their keys are set; everywhere else the offline sandbox under PROVIDERS=sandbox (the default) and
// an unconfigured provider under PROVIDERS=live.

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

describe("PROVIDERS", () => {
  it("defaults to the sandbox when unset or blank, as under `npm start` and `npm run dev`", () => {
    expect(providersMode(undefined)).toBe("sandbox");
    expect(providersMode("")).toBe("sandbox");
    const sandboxAll = Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, "sandbox"]));
    expect(names({ PROVIDERS: "" })).toEqual(sandboxAll);
    expect(names({ PROVIDERS: "sandbox" })).toEqual(sandboxAll);
  });

  it("refuses any other value at start-up, naming the variable and what it held", () => {
    fc.assert(
      fc.property(
        fc.string().filter((raw) => raw !== "" && raw !== "sandbox" && raw !== "live"),
        (raw) => {
          expect(() => createProviders({ PROVIDERS: raw })).toThrow(`Invalid environment:\n  PROVIDERS: expected "sandbox" or "live", got ${JSON.stringify(raw)}`);
        },
      ),
    );
    for (const raw of ["Live", " live", "SANDBOX", "off"]) expect(() => providersMode(raw)).toThrow(/^Invalid environment:\n {2}PROVIDERS: /);
    // The one builder of Services reads it too, so every entry point refuses it the same way.
    expect(() => createServiceKit({ PROVIDERS: "production" }, { logger: createLogger("silent") })).toThrow(
      'Invalid environment:\n  PROVIDERS: expected "sandbox" or "live", got "production"',
    );
  });

  it("under live, holds every kind nothing real answers with an unconfigured provider, never the sandbox", () => {
    expect(names({ PROVIDERS: "live" })).toEqual(Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, "unconfigured"])));
    expect(names({ PROVIDERS: "live", OPENAI_API_KEY: "sk-test", OPENAI_BASE_URL: "http://127.0.0.1:9/v1" })).toEqual({
      ai: "openai",
      work_email: "unconfigured",
      mobile_phone: "unconfigured",
      site_crawl: "openai-web-search",
      website_overview: "openai-web-search",
      hiring_status: "openai-web-search",
      news_articles: "openai-web-search",
      linkedin_posts: "openai-web-search",
    });
    expect(names({ PROVIDERS: "live", SITE_CRAWL_ENABLED: "true", NEWS_API_KEY: "news-key", FULLENRICH_API_KEY: "fe-key" })).toEqual({
      ai: "unconfigured",
      work_email: "fullenrich",
      mobile_phone: "fullenrich",
      site_crawl: "site-crawl",
      website_overview: "unconfigured",
      hiring_status: "unconfigured",
      news_articles: "newsapi",
      linkedin_posts: "unconfigured",
    });
  });

  it("tells which kinds are unconfigured and the settings each needs; configured and sandbox kinds are not", () => {
    const bare = createProviders({ PROVIDERS: "live" });
    expect(Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, unconfiguredProvider(bare, kind)]))).toEqual({
      ai: { kind: "ai", settings: ["OPENAI_API_KEY"] },
      work_email: { kind: "work_email", settings: ["FULLENRICH_API_KEY"] },
      mobile_phone: { kind: "mobile_phone", settings: ["FULLENRICH_API_KEY"] },
      site_crawl: { kind: "site_crawl", settings: ["SITE_CRAWL_ENABLED=true", "OPENAI_API_KEY"] },
      website_overview: { kind: "website_overview", settings: ["OPENAI_API_KEY"] },
      hiring_status: { kind: "hiring_status", settings: ["OPENAI_API_KEY"] },
      news_articles: { kind: "news_articles", settings: ["NEWS_API_KEY", "OPENAI_API_KEY"] },
      linkedin_posts: { kind: "linkedin_posts", settings: ["LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY", "OPENAI_API_KEY"] },
    });
    expect(PROVIDER_SETTINGS).toEqual(Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, unconfiguredProvider(bare, kind)!.settings])));
    const withCrawler = createProviders({ PROVIDERS: "live", SITE_CRAWL_ENABLED: "true" });
    expect(unconfiguredProvider(withCrawler, "site_crawl")).toBeNull();
    const sandbox = createProviders({});
    for (const kind of PROVIDER_KINDS) expect(unconfiguredProvider(sandbox, kind)).toBeNull();
  });

  it("an unconfigured provider, if it is ever asked, answers a non-retryable error and never a value", async () => {
    const providers = createProviders({ PROVIDERS: "live" });
    const column = { id: "c1", name: "Email", prompt: null, source: "profile" as const, subject: "person" as const, schema: null, config: {} };
    const row = { subject: "person" as const, rowId: "r1", fullName: "Ada Lovelace", firstName: "Ada", lastName: "Lovelace", role: null, company: "Analytical", domain: "analytical.example", linkedinUrl: null, location: null, email: null };
    expect(await providers.work_email.enrich({ column, row, signal: new AbortController().signal })).toEqual({
      outcome: "error",
      error: "No provider is configured for work_email: set FULLENRICH_API_KEY",
      retryable: false,
      metadata: { provider: "unconfigured" },
    });
    expect(await providers.linkedin_posts.enrich({ column, row, signal: new AbortController().signal })).toMatchObject({
      outcome: "error",
      error: "No provider is configured for linkedin_posts: set LINKEDIN_POSTS_API_URL and LINKEDIN_POSTS_API_KEY, or OPENAI_API_KEY",
    });
    const aborted = new AbortController();
    aborted.abort(new Error("stopped"));
    await expect(providers.ai.enrich({ column, row, signal: aborted.signal })).rejects.toThrow("stopped");
  });

  it("the deployments (the Worker, Trigger.dev tasks) default to live; a value set is kept", () => {
    expect(withProvidersDefault({ LOG_LEVEL: "info" }, "live")).toEqual({ LOG_LEVEL: "info", PROVIDERS: "live" });
    expect(withProvidersDefault({ PROVIDERS: "" }, "live")).toEqual({ PROVIDERS: "live" });
    expect(withProvidersDefault({ PROVIDERS: "sandbox" }, "live")).toEqual({ PROVIDERS: "sandbox" });
    expect(names(withProvidersDefault({}, "live") as Record<string, string>)).toEqual(Object.fromEntries(PROVIDER_KINDS.map((kind) => [kind, "unconfigured"])));
  });
});
