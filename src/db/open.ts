import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Env } from "../env";
import { createPostgresDb, type Db } from "./client";
import { migrateDatabase } from "./migrate";

export type OpenDatabase = { db: Db; driver: "postgres" | "pglite"; where: string; close: () => Promise<void> };

/** Node-side: the database the environment names, or the embedded PGlite one; migrated. */
export async function openDatabase(env: Pick<Env, "DATABASE_URL" | "DATA_DIR" | "DATABASE_POOL_MAX">, options: { max?: number } = {}): Promise<OpenDatabase> {
  if (env.DATABASE_URL) {
    const { db, close } = createPostgresDb(env.DATABASE_URL, { max: options.max ?? env.DATABASE_POOL_MAX });
    await migrateDatabase(db, "postgres");
    return { db, driver: "postgres", where: redact(env.DATABASE_URL), close };
  }
  const dataDir = resolve(join(env.DATA_DIR, "pglite"));
  mkdirSync(dataDir, { recursive: true });
  // Imported lazily so deployments on Postgres never load the WASM build.
  const { createPgliteDb } = await import("./pglite");
  const { db, close } = await createPgliteDb(dataDir);
  await migrateDatabase(db, "pglite");
  return { db, driver: "pglite", where: dataDir, close };
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}
