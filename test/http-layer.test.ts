import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app";
import { acceptsGzip } from "../src/compression";
import { MAX_BODY_BYTES } from "../src/limits";
import { useHarness } from "./helpers/harness";

// The HTTP layer around the routes, on the app as `npm start` builds it over the real database:
// the Node server compresses what a client accepts compressed (Workers compress at the edge), and
// every request body is held to MAX_BODY_BYTES, by its Content-Length or as it streams.

const h = useHarness();
const app = createApp(() => ({ services: h.services }), { compress: true });

async function listWithPeople(n: number) {
  const client = await h.seedWorkspace();
  const list = await client.post("/api/lists", { name: "Compressed" });
  const listId = list.body.list.id as string;
  const rows = Array.from({ length: n }, (_, i) => ({ firstName: `Ada${i}`, lastName: `Lovelace${i}`, domain: `analytical${i}.example` }));
  expect((await client.post(`/api/lists/${listId}/rows/bulk`, { rows })).status).toBe(200);
  return { client, listId };
}

describe("response compression on the Node server", () => {
  it("gzips a JSON page the client accepts gzipped: the same body, fewer bytes, Vary: Accept-Encoding", async () => {
    const { client, listId } = await listWithPeople(60);
    const plain = await app.request(`/api/lists/${listId}/rows?limit=100`, { headers: { authorization: `Bearer ${client.apiKey}` } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get("content-encoding")).toBeNull();
    const plainText = await plain.text();

    const zipped = await app.request(`/api/lists/${listId}/rows?limit=100`, { headers: { authorization: `Bearer ${client.apiKey}`, "accept-encoding": "gzip, deflate, br" } });
    expect(zipped.status).toBe(200);
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    expect(zipped.headers.get("vary")).toMatch(/accept-encoding/i);
    expect(zipped.headers.get("x-request-id")).toMatch(/^req_/);
    const bytes = Buffer.from(await zipped.arrayBuffer());
    const unzipped = gunzipSync(bytes).toString("utf8");
    expect(JSON.parse(unzipped).rows.map((r: { id: string }) => r.id)).toEqual(JSON.parse(plainText).rows.map((r: { id: string }) => r.id));
    expect(bytes.length).toBeLessThan(plainText.length / 3);
  });

  it("leaves small answers, errors under 1 KiB and event streams uncompressed", async () => {
    const { client, listId } = await listWithPeople(1);
    const small = await app.request("/api/account", { headers: { authorization: `Bearer ${client.apiKey}`, "accept-encoding": "gzip" } });
    expect(small.status).toBe(200);
    expect(small.headers.get("content-encoding")).toBeNull();
    expect(((await small.json()) as { account: { id: string } }).account.id).toBe(client.account.accountId);

    const refused = await app.request("/api/account", { headers: { "accept-encoding": "gzip" } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-encoding")).toBeNull();

    const aborter = new AbortController();
    const stream = await app.request(`/api/lists/${listId}/events`, { headers: { authorization: `Bearer ${client.apiKey}`, "accept-encoding": "gzip" }, signal: aborter.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(stream.headers.get("content-encoding")).toBeNull();
    const reader = stream.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^retry: \d+\n/);
    aborter.abort();
    await reader.cancel().catch(() => {});
  });
});

describe("Accept-Encoding", () => {
  it.each([
    ["gzip", true],
    ["gzip, deflate, br", true],
    ["br;q=1.0, gzip;q=0.8, *;q=0.1", true],
    ["GZip", true],
    ["*", true],
    ["*;q=0.5", true],
    ["deflate, br", false],
    ["gzip;q=0", false],
    ["gzip;q=0.000", false],
    ["*;q=0", false],
    ["*, gzip;q=0", false],
    ["identity", false],
    ["", false],
  ])("%j accepts gzip: %s", (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});

describe("the request body limit", () => {
  const TOO_BIG = MAX_BODY_BYTES + 1;

  it("answers 413 PAYLOAD_TOO_LARGE from a Content-Length over the limit, writing nothing", async () => {
    const client = await h.seedWorkspace();
    const body = JSON.stringify({ name: "x".repeat(TOO_BIG) });
    const res = await app.request("/api/lists", { method: "POST", headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json", "content-length": String(body.length) }, body });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: `Request body exceeds ${MAX_BODY_BYTES} bytes`, code: "PAYLOAD_TOO_LARGE", requestId: expect.stringMatching(/^req_/) });
    expect((await client.get("/api/lists")).body.lists).toEqual([]);
  });

  it("counts a body of unknown length as it streams, and refuses it past the limit", async () => {
    const client = await h.seedWorkspace();
    const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"name":"'));
        if (sent > MAX_BODY_BYTES) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    const res = await app.request("/api/lists", {
      method: "POST",
      headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json", "transfer-encoding": "chunked" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
    expect((await client.get("/api/lists")).body.lists).toEqual([]);
  });

  it("counts a body that comes with neither Content-Length nor Transfer-Encoding (a Worker's HTTP/2 upload, an in-process request)", async () => {
    const client = await h.seedWorkspace();
    const body = new Response(JSON.stringify({ name: "x".repeat(MAX_BODY_BYTES) })).body;
    const res = await app.request("/api/lists", { method: "POST", headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json" }, body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe("PAYLOAD_TOO_LARGE");
    expect((await client.get("/api/lists")).body.lists).toEqual([]);
  });

  it("takes a body within the limit, with or without a Content-Length", async () => {
    const client = await h.seedWorkspace();
    const body = JSON.stringify({ name: "Within" });
    const withLength = await app.request("/api/lists", { method: "POST", headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json", "content-length": String(body.length) }, body });
    expect(withLength.status).toBe(201);
    const streamed = await app.request("/api/lists", {
      method: "POST",
      headers: { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json", "transfer-encoding": "chunked" },
      body: new Response(JSON.stringify({ name: "Streamed" })).body,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(201);
    expect(((await client.get("/api/lists")).body.lists as Array<{ name: string }>).map((l) => l.name).sort()).toEqual(["Streamed", "Within"]);
  });
});
