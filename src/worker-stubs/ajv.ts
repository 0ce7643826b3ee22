// Stands in for ajv and ajv-formats in the Worker bundle (wrangler.toml [alias]). The MCP SDK's
// server imports them for its default JSON Schema validator, which it builds only when it is given
// none; src/mcp/handler.ts always gives its own (the server validates no schema itself), so this is
// never called. Without it the Worker would carry ~130 KiB of code it never runs.

function unavailable(): never {
  throw new Error("ajv is not available in the Worker bundle: the MCP server is given its own validator");
}

export default class Ajv {
  constructor() {
    unavailable();
  }
}

export function addFormats(): never {
  return unavailable();
}
