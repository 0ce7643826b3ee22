import { sendJson, startHttpFake, type FakeRequest } from "./http-fake";
import { scripted, type ScriptedReply } from "./scripted-replies";

// A fake NewsAPI.org on 127.0.0.1 speaking its `GET /v2/everything` wire format: the key in
// X-Api-Key (401 `apiKeyInvalid` otherwise), `q` required (phrases in double quotes joined by OR or
// AND, matched against title and description), `from` (a date; articles published before it are left
// out), `sortBy=publishedAt` (newest first), `pageSize`; errors in NewsAPI's `{ status: "error",
// code, message }` shape. Failures can be queued ahead of that behaviour.

export const FAKE_NEWS_API_KEY = "news-test-key";

export type FakeArticle = { title: string; url: string; publishedAt: string; source: string; description?: string };

export type FakeNewsApi = {
  url: string;
  apiKey: string;
  requests: FakeRequest[];
  /** The articles the fake searches. */
  articles: FakeArticle[];
  enqueue(...replies: ScriptedReply[]): void;
  always(reply: ScriptedReply): void;
  reset(): void;
  close(): Promise<void>;
};

const newsError = (code: string, message: string) => ({ status: "error", code, message });

/** Whether an article matches a `q` of quoted phrases joined by OR or AND. */
function matches(query: string, article: FakeArticle): boolean {
  const haystack = `${article.title} ${article.description ?? ""}`.toLowerCase();
  const has = (phrase: string) => haystack.includes(phrase.replace(/"/g, "").trim().toLowerCase());
  if (query.includes(" AND ")) return query.split(" AND ").every(has);
  return query.split(" OR ").some(has);
}

export async function startFakeNewsApi(articles: FakeArticle[] = []): Promise<FakeNewsApi> {
  const corpus = [...articles];
  const script = scripted((request, response) => {
    if (request.path !== "/v2/everything") return sendJson(response, 404, newsError("routeNotFound", "Route not found."));
    if (request.headers["x-api-key"] !== FAKE_NEWS_API_KEY) {
      return sendJson(response, 401, newsError("apiKeyInvalid", "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org to create a free API key."));
    }
    const q = request.query.get("q");
    if (!q) return sendJson(response, 400, newsError("parametersMissing", "Required parameters are missing. Please set any of the following parameters and try again: q, qInTitle, sources, domains."));
    const from = request.query.get("from");
    const pageSize = Number(request.query.get("pageSize") ?? 100);
    const found = corpus
      .filter((article) => matches(q, article) && (!from || article.publishedAt >= from))
      .sort((a, b) => b.publishedAt.localeCompare(a.publishedAt));
    sendJson(response, 200, {
      status: "ok",
      totalResults: found.length,
      articles: found.slice(0, pageSize).map((article) => ({
        source: { id: null, name: article.source },
        author: null,
        title: article.title,
        description: article.description ?? null,
        url: article.url,
        urlToImage: null,
        publishedAt: article.publishedAt,
        content: null,
      })),
    });
  });
  const fake = await startHttpFake(script.handler);
  return {
    url: fake.url,
    apiKey: FAKE_NEWS_API_KEY,
    requests: fake.requests,
    articles: corpus,
    enqueue: script.enqueue,
    always: script.always,
    reset() {
      script.clear();
      fake.requests.length = 0;
    },
    close: () => fake.close(),
  };
}
