#!/usr/bin/env node
// The command-line client, run from its TypeScript source through tsx (a dependency of the package).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

const tsconfig = fileURLToPath(new URL("../tsconfig.json", import.meta.url));
register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });
await import(new URL("../src/client-cli/main.ts", import.meta.url).href);
