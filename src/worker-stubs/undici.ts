// Stands in for undici in the Worker bundle (wrangler.toml [alias]). Only the Node crawler network
// (src/providers/crawl/node-network.ts) imports undici, and a Worker never loads it: on Workers the
// crawler uses fetch(). Without this the Worker would carry ~540 KiB of code it never runs.

function unavailable(): never {
  throw new Error("undici is not available in the Worker bundle: the Node crawler network never runs on Workers");
}

export class Agent {
  constructor() {
    unavailable();
  }
}

export const fetch: typeof globalThis.fetch = () => unavailable();
