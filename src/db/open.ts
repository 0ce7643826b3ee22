import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Env } from "../env";
import { createPostgresDb, type Db } from "./client";
import { claimDataDir, lockHeldMessage, type DataLock } from "./data-lock";
import { classifyDatabaseError, describeDatabaseError, redactDatabaseUrl } from "./errors";
import { migrateDatabase } from "./migrate";

export type OpenDatabase = { db: Db; driver: "postgres" | "pglite"; where: string; close: () => Promise<void> };

export type OpenOptions = {
  max?: number;
  /**
   * The embedded database only: the data folder's lock, already taken by the caller. Without it the
   * lock is taken here (waiting briefly for an admin command), and a held lock is an error.
   * Either way close() releases it, after closing the database.
   */
  lock?: DataLock;
};

/**
 * Node-side: the database the environment names, or the embedded PGlite one; migrated. Failing to
 * reach or open it throws an Error whose message is one line for the operator (password redacted).
 */
export async function openDatabase(env: Pick<Env, "DATABASE_URL" | "DATA_DIR" | "DATABASE_POOL_MAX">, options: OpenOptions = {}): Promise<OpenDatabase> {
  if (env.DATABASE_URL) {
    const where = redactDatabaseUrl(env.DATABASE_URL);
    const { db, close } = createPostgresDb(env.DATABASE_URL, { max: options.max ?? env.DATABASE_POOL_MAX });
    try {
      await migrateDatabase(db, "postgres");
    } catch (error) {
      await close().catch(() => {});
      const unreachable = classifyDatabaseError(error)?.kind === "unavailable";
      throw new Error(`Cannot ${unreachable ? "reach" : "open"} the database at ${where}: ${describeDatabaseError(error)}`, { cause: error });
    }
    return { db, driver: "postgres", where, close };
  }
  let lock = options.lock;
  if (!lock) {
    const attempt = await claimDataDir(env.DATA_DIR, "admin", { patienceMs: 15_000, onLost: () => {} });
    if (!("acquired" in attempt)) throw new Error(lockHeldMessage(attempt.heldBy, env.DATA_DIR));
    lock = attempt.acquired;
  }
  const dataDir = resolve(join(env.DATA_DIR, "pglite"));
  try {
    mkdirSync(dataDir, { recursive: true });
    // Imported lazily so deployments on Postgres never load the WASM build.
    const { createPgliteDb } = await import("./pglite");
    const { db, close } = await createPgliteDb(dataDir);
    try {
      await migrateDatabase(db, "pglite");
    } catch (error) {
      await close().catch(() => {});
      throw error;
    }
    const owned = lock;
    return {
      db,
      driver: "pglite",
      where: dataDir,
      close: async () => {
        try {
          await close();
        } finally {
          owned.release();
        }
      },
    };
  } catch (error) {
    lock.release();
    throw new Error(`Cannot open the embedded database in ${dataDir}: ${describeDatabaseError(error)}`, { cause: error });
  }
}
