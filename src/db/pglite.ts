import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import type { Db } from "./client";
import * as schema from "./schema";

// The embedded database of `npm start` without DATABASE_URL: PGlite in-process, its data in a folder.
export async function createPgliteDb(dataDir: string): Promise<{ db: Db; close: () => Promise<void> }> {
  const client = await PGlite.create(dataDir);
  const db = drizzle(client, { schema }) as unknown as Db;
  return { db, close: () => client.close() };
}
