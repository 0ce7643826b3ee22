import { eq } from "drizzle-orm";
import type { Queryable } from "../../db/client";
import { columns } from "../../db/schema";
import type { ProviderColumn } from "../../providers/types";
import type { Filter } from "../filters/language";

// Columns as the tasks see them.

export type TaskColumn = ProviderColumn & {
  listId: string;
  workspaceId: string;
  enrichmentType: string | null;
  refs: ReadonlyArray<{ name: string; columnId: string }>;
  runIf: Filter | null;
  maxCredits: number | null;
};

export async function loadColumn(db: Queryable, columnId: string): Promise<TaskColumn | null> {
  const [column] = await db
    .select({
      id: columns.id,
      listId: columns.listId,
      workspaceId: columns.workspaceId,
      name: columns.name,
      prompt: columns.prompt,
      source: columns.source,
      subject: columns.subject,
      schema: columns.schema,
      config: columns.config,
      enrichmentType: columns.enrichmentType,
      refs: columns.refs,
      runIf: columns.runIf,
      maxCredits: columns.maxCredits,
    })
    .from(columns)
    .where(eq(columns.id, columnId));
  return column ?? null;
}

export async function columnExists(db: Queryable, columnId: string): Promise<boolean> {
  const [row] = await db.select({ id: columns.id }).from(columns).where(eq(columns.id, columnId));
  return row !== undefined;
}
