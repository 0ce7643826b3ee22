// The crawler's transport under the provider HTTP client: redirects come back to the crawler (which
// checks each hop's address, site and robots.txt before following it), a body is read up to the page
// byte budget, and a successful page that is not HTML is not downloaded at all.

export const HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9";
export const isHtml = (contentType: string | null) => /^\s*(text\/html|application\/xhtml\+xml)\b/i.test(contentType ?? "");

/** Reads at most `maxBytes` of a body and cancels the rest of the download. */
function capStream(body: ReadableStream<Uint8Array>, maxBytes: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let read = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      const room = maxBytes - read;
      if (value.byteLength >= room) {
        controller.enqueue(value.subarray(0, room));
        controller.close();
        await reader.cancel();
        return;
      }
      read += value.byteLength;
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

export function crawlerFetch(base: typeof fetch, maxPageBytes: number): typeof fetch {
  return async (input, init) => {
    const response = await base(input, { ...init, redirect: "manual" });
    if (!response.body || [101, 204, 205, 304].includes(response.status)) return response;
    const wantsHtml = new Headers(init?.headers).get("accept") === HTML_ACCEPT;
    if (wantsHtml && response.ok && !isHtml(response.headers.get("content-type"))) {
      await response.body.cancel();
      return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    return new Response(capStream(response.body, maxPageBytes), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

const encoder = new TextEncoder();

export const utf8Length = (text: string) => encoder.encode(text).byteLength;

/** The first `maxBytes` of a string's UTF-8, decoded back, without a broken trailing character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return text;
  return new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD+$/, "");
}
