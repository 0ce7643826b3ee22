import { copyFile, mkdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Files of installed packages that pages of the app load, copied into public/ (the static root of
 * every run mode: the Node server serves it, the Worker's static assets are uploaded from it), so
 * nothing is fetched from a CDN: the project runs offline. The copies are not committed.
 */
export const VENDOR_ASSETS = {
  // Scalar's API reference, the interactive page at /docs.
  "assets/vendor/scalar-api-reference.js": "@scalar/api-reference/browser/standalone.js",
} as const;

export const PUBLIC_DIR = fileURLToPath(new URL("../public", import.meta.url));

/** Copies each vendor asset into public/ when it is missing or differs in size from the installed one. */
export async function copyVendorAssets(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const copied: string[] = [];
  for (const [target, source] of Object.entries(VENDOR_ASSETS)) {
    const from = require.resolve(source);
    const to = join(PUBLIC_DIR, target);
    const [installed, present] = await Promise.all([stat(from), stat(to).catch(() => null)]);
    if (present?.size === installed.size) continue;
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
    copied.push(target);
  }
  return copied;
}
