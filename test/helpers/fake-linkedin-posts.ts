import { sendJson, startHttpFake, type FakeRequest } from "./http-fake";
import { scripted, type ScriptedReply } from "./scripted-replies";

// A fake of the LinkedIn posts API the linkedin_posts adapter speaks (its shape is documented in
// src/providers/company-adapters.ts): `GET /posts?profile_url=…` or `?company_name=…&company_domain=…`,
// `limit`, a bearer key (401 otherwise), `{ posts: [{ url, posted_at, text }] }` in the order stored,
// 404 for an unknown profile or company. Failures can be queued ahead of that behaviour.

export const FAKE_LINKEDIN_POSTS_KEY = "linkedin-posts-test-key";

export type FakePost = { url: string; postedAt: string | null; text: string | null };

export type FakeLinkedinPosts = {
  url: string;
  apiKey: string;
  requests: FakeRequest[];
  /** Posts by profile URL. */
  profiles: Map<string, FakePost[]>;
  /** Posts by company name, lower case. */
  companies: Map<string, FakePost[]>;
  enqueue(...replies: ScriptedReply[]): void;
  always(reply: ScriptedReply): void;
  reset(): void;
  close(): Promise<void>;
};

export async function startFakeLinkedinPosts(): Promise<FakeLinkedinPosts> {
  const profiles = new Map<string, FakePost[]>();
  const companies = new Map<string, FakePost[]>();
  const script = scripted((request, response) => {
    if (request.path !== "/posts") return sendJson(response, 404, { error: "no such route" });
    if (request.headers.authorization !== `Bearer ${FAKE_LINKEDIN_POSTS_KEY}`) return sendJson(response, 401, { error: "invalid api key" });
    const profile = request.query.get("profile_url");
    const company = request.query.get("company_name");
    if (!profile && !company) return sendJson(response, 400, { error: "profile_url or company_name is required" });
    const posts = profile ? profiles.get(profile) : companies.get(company!.toLowerCase());
    if (!posts) return sendJson(response, 404, { error: profile ? "profile not found" : "company not found" });
    const limit = Number(request.query.get("limit") ?? 50);
    sendJson(response, 200, { posts: posts.slice(0, limit).map((post) => ({ url: post.url, posted_at: post.postedAt, text: post.text })) });
  });
  const fake = await startHttpFake(script.handler);
  return {
    url: fake.url,
    apiKey: FAKE_LINKEDIN_POSTS_KEY,
    requests: fake.requests,
    profiles,
    companies,
    enqueue: script.enqueue,
    always: script.always,
    reset() {
      script.clear();
      fake.requests.length = 0;
      profiles.clear();
      companies.clear();
    },
    close: () => fake.close(),
  };
}
