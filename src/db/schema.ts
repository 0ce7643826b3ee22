import type { Filter } from "../domain/filters/language";
import { sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { jsonb } from "./json";

// Ids are UUIDv7 so they sort by creation time; the SQL function comes from the first migration,
// which lets set-based INSERT … SELECT statements mint ids without a round trip per row.
const id = () => uuid("id").primaryKey().default(sql`uuid_generate_v7()`);
const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

export const workspaces = pgTable(
  "workspaces",
  {
    id: id(),
    name: text("name").notNull(),
    plan: text("plan").notNull().default("free"),
    // Cached sum of the ledger; every change to it happens in the same statement as its ledger row.
    creditBalance: bigint("credit_balance", { mode: "number" }).notNull().default(0),
    // Credits set aside for work written but not yet dispatched: the sum of the workspace's open
    // credit holds and of its runs' `held`, changed in the same statement as they are. What a new
    // request may spend is credit_balance − credit_held.
    creditHeld: bigint("credit_held", { mode: "number" }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check("workspaces_credit_balance_non_negative", sql`${t.creditBalance} >= 0`),
    check("workspaces_credit_held_covered", sql`${t.creditHeld} >= 0 and ${t.creditHeld} <= ${t.creditBalance}`),
  ],
);

export const accounts = pgTable(
  "accounts",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    email: text("email").notNull(),
    fullName: text("full_name"),
    firstName: text("first_name"),
    lastName: text("last_name"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex("accounts_email_key").on(sql`lower(${t.email})`), index("accounts_workspace_idx").on(t.workspaceId)],
);

export const apiKeys = pgTable(
  "api_keys",
  {
    id: id(),
    accountId: uuid("account_id")
      .notNull()
      .references(() => accounts.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    // SHA-256 of the whole key, hex; the plain key is never stored.
    keyHash: text("key_hash").notNull(),
    // The first characters of the key, to tell keys apart in listings without revealing them.
    keyPrefix: text("key_prefix").notNull(),
    createdAt: createdAt(),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_key").on(t.keyHash),
    // One active key per account.
    uniqueIndex("api_keys_one_active_per_account").on(t.accountId).where(sql`${t.revokedAt} is null`),
  ],
);

export const creditLedger = pgTable(
  "credit_ledger",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: ["charge", "refund", "grant"] }).notNull(),
    action: text("action").notNull(),
    units: integer("units").notNull(),
    delta: bigint("delta", { mode: "number" }).notNull(),
    balanceAfter: bigint("balance_after", { mode: "number" }).notNull(),
    referenceType: text("reference_type"),
    referenceId: uuid("reference_id"),
    // Makes a movement happen at most once (a retried task charging the same row, a repeated refund).
    dedupeKey: text("dedupe_key"),
    note: text("note"),
    createdAt: createdAt(),
  },
  (t) => [
    index("credit_ledger_workspace_idx").on(t.workspaceId, t.id),
    // What each column was charged and refunded (its `credits`).
    index("credit_ledger_column_idx").on(t.referenceId).where(sql`${t.referenceType} = 'column'`),
    uniqueIndex("credit_ledger_dedupe_key").on(t.workspaceId, t.dedupeKey).where(sql`${t.dedupeKey} is not null`),
    check("credit_ledger_balance_after_non_negative", sql`${t.balanceAfter} >= 0`),
  ],
);

// One row per workspace: the current one-minute window of API requests and how many it has seen.
export const rateLimitWindows = pgTable("rate_limit_windows", {
  workspaceId: uuid("workspace_id")
    .primaryKey()
    .references(() => workspaces.id, { onDelete: "cascade" }),
  windowStart: timestamp("window_start", { withTimezone: true, mode: "date" }).notNull(),
  requestCount: integer("request_count").notNull(),
});

export const leads = pgTable(
  "leads",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    type: text("type", { enum: ["person", "company"] }).notNull(),
    fullName: text("full_name"),
    firstName: text("first_name"),
    lastName: text("last_name"),
    title: text("title"),
    companyName: text("company_name"),
    companyDomain: text("company_domain"),
    companyLeadId: uuid("company_lead_id").references((): AnyPgColumn => leads.id, { onDelete: "set null" }),
    location: jsonb("location").$type<LeadLocation>().notNull().default({}),
    socials: jsonb("socials").$type<{ url: string }[]>().notNull().default([]),
    contacts: jsonb("contacts").$type<{ value: string }[]>().notNull().default([]),
    domain: text("domain"),
    industry: text("industry"),
    size: text("size"),
    attributes: jsonb("attributes").$type<Record<string, unknown>>().notNull().default({}),
    raw: jsonb("raw").$type<Record<string, unknown>>().notNull().default({}),
    // Normalised stable identifiers, the dedupe keys.
    linkedinKey: text("linkedin_key"),
    emailKey: text("email_key"),
    domainKey: text("domain_key"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("leads_workspace_idx").on(t.workspaceId, t.id),
    uniqueIndex("leads_linkedin_key").on(t.workspaceId, t.linkedinKey).where(sql`${t.linkedinKey} is not null`),
    uniqueIndex("leads_email_key").on(t.workspaceId, t.emailKey).where(sql`${t.emailKey} is not null`),
    uniqueIndex("leads_domain_key").on(t.workspaceId, t.domainKey).where(sql`${t.domainKey} is not null`),
  ],
);

export type LeadLocation = { city?: string | null; state?: string | null; country?: string | null; raw?: string | null };

export const lists = pgTable(
  "lists",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    description: text("description"),
    leadType: text("lead_type", { enum: ["person", "company", "mixed"] }).notNull().default("person"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("lists_workspace_idx").on(t.workspaceId, t.createdAt)],
);

export const companyRows = pgTable(
  "list_company_rows",
  {
    id: id(),
    listId: uuid("list_id")
      .notNull()
      .references(() => lists.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    leadId: uuid("lead_id")
      .notNull()
      .references(() => leads.id, { onDelete: "cascade" }),
    position: bigint("position", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    name: text("name").notNull(),
    domain: text("domain"),
    linkedinUrl: text("linkedin_url"),
    industry: text("industry"),
    employeeCount: integer("employee_count"),
    location: text("location"),
    website: text("website"),
    description: text("description"),
    attributes: jsonb("attributes").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("list_company_rows_list_idx").on(t.listId, t.position),
    uniqueIndex("list_company_rows_domain_key").on(t.listId, t.domain).where(sql`${t.domain} is not null`),
    uniqueIndex("list_company_rows_lead_key").on(t.listId, t.leadId),
  ],
);

export const personRows = pgTable(
  "list_rows",
  {
    id: id(),
    listId: uuid("list_id")
      .notNull()
      .references(() => lists.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    leadId: uuid("lead_id")
      .notNull()
      .references(() => leads.id, { onDelete: "cascade" }),
    companyRowId: uuid("company_row_id").references(() => companyRows.id, { onDelete: "set null" }),
    position: bigint("position", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    firstName: text("first_name"),
    lastName: text("last_name"),
    fullName: text("full_name"),
    company: text("company"),
    role: text("role"),
    headline: text("headline"),
    linkedinUrl: text("linkedin_url"),
    location: text("location"),
    domain: text("domain"),
    email: text("email"),
    phone: text("phone"),
    seniority: text("seniority"),
    departments: text("departments"),
    functions: text("functions"),
    experience: text("experience"),
    // Normalised dedupe keys inside the list.
    linkedinKey: text("linkedin_key"),
    nameKey: text("name_key"),
    companyKey: text("company_key"),
    locationKey: text("location_key"),
    attributes: jsonb("attributes").$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("list_rows_list_idx").on(t.listId, t.position),
    uniqueIndex("list_rows_linkedin_key").on(t.listId, t.linkedinKey).where(sql`${t.linkedinKey} is not null`),
    index("list_rows_name_idx").on(t.listId, t.nameKey),
    index("list_rows_lead_idx").on(t.leadId),
    index("list_rows_company_row_idx").on(t.companyRowId),
  ],
);

export type ColumnSchema = {
  type: "text" | "number" | "boolean" | "url" | "enum" | "multiselect" | "list" | "date" | "email" | "phone";
  format?: string;
  currency?: string;
  scale?: string;
  textFormat?: string;
  options?: string[];
  itemType?: string;
  maxItems?: number;
  linkType?: string;
};

export const columns = pgTable(
  "list_columns",
  {
    id: id(),
    listId: uuid("list_id")
      .notNull()
      .references(() => lists.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    prompt: text("prompt"),
    responseType: text("response_type").notNull().default("auto"),
    source: text("source", { enum: ["profile", "web", "reasoning"] }).notNull().default("profile"),
    subject: text("subject", { enum: ["person", "company"] }).notNull().default("person"),
    isDynamic: boolean("is_dynamic").notNull().default(false),
    isFilter: boolean("is_filter").notNull().default(false),
    isPreview: boolean("is_preview").notNull().default(false),
    position: integer("position").notNull(),
    schema: jsonb("schema").$type<ColumnSchema>(),
    enrichmentType: text("enrichment_type"),
    config: jsonb("config").$type<Record<string, unknown>>().notNull().default({}),
    category: text("category").notNull().default("custom"),
    builtInKey: text("built_in_key"),
    triggerRunIds: text("trigger_run_ids").array().notNull().default(sql`'{}'::text[]`),
    // The spreadsheet engine (src/domain/engine): run new and changed rows by themselves, only where
    // the condition holds, and never spend more than the budget.
    autoRun: boolean("auto_run").notNull().default(false),
    runIf: jsonb("run_if").$type<Filter>(),
    maxCredits: integer("max_credits"),
    // What the prompt's {{…}} and the condition's column:<name> name, resolved when the column was
    // written: other columns by id (so a rename keeps them), the AI and enrichment ones among them
    // (the column's dependencies: a row's cell runs once theirs are done), and the row fields read.
    refs: jsonb("refs").$type<Array<{ name: string; columnId: string }>>().notNull().default([]),
    dependsOn: uuid("depends_on").array().notNull().default(sql`'{}'::uuid[]`),
    reads: text("reads").array().notNull().default(sql`'{}'::text[]`),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("list_columns_list_idx").on(t.listId, t.subject, t.position),
    uniqueIndex("list_columns_built_in_key").on(t.listId, t.builtInKey).where(sql`${t.builtInKey} is not null`),
    // At most one hiring_status column per list, also under concurrent creation.
    uniqueIndex("list_columns_one_hiring_status")
      .on(t.listId)
      .where(sql`${t.enrichmentType} = 'hiring_status'`),
  ],
);

export const cellStatuses = ["pending", "processing", "completed", "complete", "failed"] as const;
export type CellStatus = (typeof cellStatuses)[number];

// The fields every cell has; person cells and company cells differ only in the row they belong to.
const cellFields = () => ({
  id: id(),
  listId: uuid("list_id")
    .notNull()
    .references(() => lists.id, { onDelete: "cascade" }),
  columnId: uuid("column_id")
    .notNull()
    .references(() => columns.id, { onDelete: "cascade" }),
  value: jsonb("value"),
  status: text("status", { enum: cellStatuses }).notNull().default("pending"),
  reasoning: text("reasoning"),
  error: text("error"),
  metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
  // A fresh token each time the cell is queued for enrichment: the key that makes its charge and
  // refund happen at most once per enrichment, however often a task is retried.
  runToken: uuid("run_token"),
  // Credits of the current enrichment: `paid` is what the cell costs and has not been given back;
  // while `hold_id` names a credit hold that is still open, that amount is only held (its dispatch
  // is not confirmed yet), otherwise it was charged. Settling a cell that ends without a value
  // returns `paid` (released from the hold, or refunded) and zeroes it, so a cell can never be
  // charged twice nor refunded twice.
  paid: integer("paid").notNull().default(0),
  holdId: uuid("hold_id"),
  // Who works on the cell and until when: the attempt renews the lease while it works; recovery
  // re-dispatches an open cell whose lease ran out, `recoveries` times at most before ABANDONED.
  leaseOwner: text("lease_owner"),
  leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }),
  recoveries: integer("recoveries").notNull().default(0),
  // A queued cell of a column with dependencies or a run condition is not released to a task until
  // its row's inputs are done: while `lease_expires_at` is null it is unreleased, and `waiting_on`
  // names the columns whose cells of this row are still open (src/domain/cell-store/readiness.ts).
  waitingOn: uuid("waiting_on").array().notNull().default(sql`'{}'::uuid[]`),
  // A waterfall cell's tries, one per provider asked so far, under the run token they belong to:
  // written after each provider answers, so a retried task resumes at the first provider this
  // enrichment has not heard from (src/domain/enrichment/waterfall.ts). Attempts of an earlier token
  // are stale (the cell was queued again) and are neither resumed nor shown.
  attempts: jsonb("attempts").$type<CellAttempts>(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const personCells = pgTable(
  "list_cells",
  {
    ...cellFields(),
    rowId: uuid("row_id")
      .notNull()
      .references(() => personRows.id, { onDelete: "cascade" }),
  },
  (t) => [
    uniqueIndex("list_cells_column_row_key").on(t.columnId, t.rowId),
    index("list_cells_row_idx").on(t.rowId),
    index("list_cells_list_idx").on(t.listId),
    // Recovery's scan: only open cells are in it.
    index("list_cells_open_lease_idx").on(t.leaseExpiresAt).where(sql`${t.status} in ('pending', 'processing')`),
    // A list's enrichmentStatus: is any of its cells open?
    index("list_cells_open_list_idx").on(t.listId).where(sql`${t.status} in ('pending', 'processing')`),
    // The engine's queued cells not handed to a task yet: unreleased, and released but not dispatched.
    index("list_cells_unreleased_idx").on(t.columnId).where(sql`${t.status} = 'pending' and ${t.leaseExpiresAt} is null`),
    index("list_cells_gathered_idx").on(t.columnId).where(sql`${t.status} = 'pending' and ${t.leaseOwner} = 'released'`),
  ],
);

export const companyCells = pgTable(
  "list_company_cells",
  {
    ...cellFields(),
    companyRowId: uuid("company_row_id")
      .notNull()
      .references(() => companyRows.id, { onDelete: "cascade" }),
  },
  (t) => [
    uniqueIndex("list_company_cells_column_row_key").on(t.columnId, t.companyRowId),
    index("list_company_cells_row_idx").on(t.companyRowId),
    index("list_company_cells_list_idx").on(t.listId),
    index("list_company_cells_open_lease_idx").on(t.leaseExpiresAt).where(sql`${t.status} in ('pending', 'processing')`),
    index("list_company_cells_open_list_idx").on(t.listId).where(sql`${t.status} in ('pending', 'processing')`),
    index("list_company_cells_unreleased_idx").on(t.columnId).where(sql`${t.status} = 'pending' and ${t.leaseExpiresAt} is null`),
    index("list_company_cells_gathered_idx").on(t.columnId).where(sql`${t.status} = 'pending' and ${t.leaseOwner} = 'released'`),
  ],
);

/**
 * The durable, ordered record of a list's cell changes that the event stream reads from; written by
 * triggers on both cell tables (drizzle/0008), so every path that writes a cell is covered, in the
 * writing transaction. An event's position is (tx, id): `tx` the writing transaction's id, `id` its
 * order within it. A reader only takes events of transactions older than every transaction still
 * running (tx < the snapshot's xmin): no transaction can add an event below that point any more,
 * so a cursor never skips an event that commits late, and never sees one twice. Pruned by age.
 */
export const listEvents = pgTable(
  "list_events",
  {
    id: bigserial("id", { mode: "number" }).notNull(),
    tx: bigint("tx", { mode: "number" })
      .notNull()
      .default(sql`(pg_current_xact_id()::text::bigint)`),
    // No foreign key: events are written for every cell write, and a deleted list's are pruned.
    listId: uuid("list_id").notNull(),
    subject: text("subject", { enum: ["person", "company"] }).notNull(),
    columnId: uuid("column_id").notNull(),
    rowId: uuid("row_id").notNull(),
    status: text("status").notNull(),
    value: jsonb("value"),
    error: text("error"),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index("list_events_position_idx").on(t.listId, t.tx, t.id),
    // A cell's newer writes, to leave out an event a later write at an earlier position supersedes.
    index("list_events_cell_idx").on(t.columnId, t.rowId, t.id),
    index("list_events_created_idx").on(t.createdAt),
  ],
);

/** Per list, the newest position pruned from list_events: a cursor at or below it may have missed events (410). */
export const listEventHorizons = pgTable("list_event_horizons", {
  listId: uuid("list_id").primaryKey(),
  tx: bigint("tx", { mode: "number" }).notNull(),
  eventId: bigint("event_id", { mode: "number" }).notNull(),
});

/**
 * Credits set aside for one queueing of a column's cells, from the transaction that writes the
 * cells until their dispatch is confirmed (captured: one charge of what is still held) or has failed
 * (released: nothing charged). Cells that end without a value before that give their share back to
 * the hold. A hold whose request died stays open until recovery captures it once its cells are
 * dispatched. It outlives its column (no foreign key): work delivered before a deletion is still
 * charged when its dispatch is confirmed.
 */
export const creditHolds = pgTable(
  "credit_holds",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    columnId: uuid("column_id").notNull(),
    action: text("action").notNull(),
    /** Credits still held, and for how many cells. */
    amount: bigint("amount", { mode: "number" }).notNull(),
    units: integer("units").notNull(),
    /** When recovery may take the hold over from the request that opened it. */
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }).notNull(),
    /** Captured or released: no longer held. */
    settledAt: timestamp("settled_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
  },
  (t) => [
    index("credit_holds_open_idx").on(t.leaseExpiresAt).where(sql`${t.settledAt} is null`),
    check("credit_holds_amount_non_negative", sql`${t.amount} >= 0`),
  ],
);

export const runStatuses = ["pending", "running", "completed", "failed", "cancelled"] as const;
export const itemStatuses = ["pending", "running", "completed", "skipped", "failed"] as const;

export const enrichmentRuns = pgTable(
  "enrichment_runs",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    enrichmentSlug: text("enrichment_slug").notNull(),
    enrichmentVersion: integer("enrichment_version").notNull(),
    mode: text("mode", { enum: ["persisted", "preview"] }).notNull().default("persisted"),
    status: text("status", { enum: runStatuses }).notNull().default("pending"),
    scopeType: text("scope_type").notNull(),
    listId: uuid("list_id").references(() => lists.id, { onDelete: "set null" }),
    requested: integer("requested").notNull(),
    resolvedCount: integer("resolved_count").notNull(),
    input: jsonb("input").$type<Record<string, unknown>>().notNull().default({}),
    outputTarget: text("output_target", { enum: ["lead", "membership"] }).notNull().default("lead"),
    attributeKey: text("attribute_key").notNull(),
    writePolicy: text("write_policy", { enum: ["overwrite", "skip_existing"] }).notNull().default("overwrite"),
    creditAction: text("credit_action").notNull(),
    // A contact run's waterfall (`config.providers`), in the order the providers are tried; null: one provider.
    providers: text("providers").array(),
    costPreview: integer("cost_preview").notNull(),
    costActual: integer("cost_actual").notNull().default(0),
    triggerRunId: text("trigger_run_id"),
    // Credits set aside at creation until the dispatch is confirmed (then charged), as for cells.
    held: integer("held").notNull().default(0),
    // The task working on the run renews this lease; recovery re-dispatches an open run whose lease
    // ran out, `recoveries` times at most before the run fails with ABANDONED.
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }),
    recoveries: integer("recoveries").notNull().default(0),
    error: text("error"),
    idempotencyKey: text("idempotency_key"),
    // Hash of the request body, so the same key with another body is told apart (409).
    requestHash: text("request_hash"),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
    cancelledAt: timestamp("cancelled_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("enrichment_runs_workspace_idx").on(t.workspaceId, t.id),
    index("enrichment_runs_open_lease_idx").on(t.leaseExpiresAt).where(sql`${t.status} in ('pending', 'running')`),
    // Recovery's scan for ended runs still holding credits.
    index("enrichment_runs_held_idx").on(t.leaseExpiresAt).where(sql`${t.held} > 0`),
    uniqueIndex("enrichment_runs_idempotency_key")
      .on(t.workspaceId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
  ],
);

export const enrichmentRunItems = pgTable(
  "enrichment_run_items",
  {
    id: id(),
    runId: uuid("run_id")
      .notNull()
      .references(() => enrichmentRuns.id, { onDelete: "cascade" }),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    leadId: uuid("lead_id")
      .notNull()
      .references(() => leads.id, { onDelete: "cascade" }),
    listId: uuid("list_id").references(() => lists.id, { onDelete: "set null" }),
    membershipId: uuid("membership_id"),
    status: text("status", { enum: itemStatuses }).notNull().default("pending"),
    result: jsonb("result"),
    skippedReason: text("skipped_reason"),
    errorMessage: text("error_message"),
    errorDetails: jsonb("error_details"),
    attempts: integer("attempts").notNull().default(0),
    provider: text("provider"),
    providerSubmissionId: text("provider_submission_id"),
    // A waterfall item's tries, one per provider asked so far, stored after each provider answers,
    // so a retried task resumes at the first provider this item has not heard from.
    providerAttempts: jsonb("provider_attempts").$type<CellAttempt[]>(),
    // What a waterfall item's match cost, when the matched provider is cheaper than the price the run
    // was charged per item: the difference is refunded (null: the item cost the run's price).
    cost: integer("cost"),
    startedAt: timestamp("started_at", { withTimezone: true, mode: "date" }),
    completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex("enrichment_run_items_run_lead_key").on(t.runId, t.leadId),
    // Items page by id within a run, with or without a status filter.
    index("enrichment_run_items_run_idx").on(t.runId, t.id),
    index("enrichment_run_items_run_status_idx").on(t.runId, t.status, t.id),
    // Recovery's scan for items left running (a cancelled run whose task died).
    index("enrichment_run_items_running_idx").on(t.runId).where(sql`${t.status} = 'running'`),
  ],
);

export const submissionStatuses = ["submitting", "submitted", "received", "completed", "failed"] as const;
export type SubmissionStatus = (typeof submissionStatuses)[number];

/** A cell sent to a bulk provider: the row it is for and the token it was queued with. */
/** One provider's try for a waterfall cell, as the cell returns it. */
export type CellAttempt = {
  provider: string;
  outcome: "matched" | "no_match" | "error" | "skipped" | "not_run";
  /** Credits charged for this try: the provider's price when it matched (and was paid), else 0. */
  cost: number;
  durationMs: number;
  /** Why it did not match, was skipped, or failed. */
  reason?: string;
};
export type CellAttempts = { runToken: string; attempts: CellAttempt[] };

export type SubmissionCell = { cellId: string; runToken: string; rowId: string };

/**
 * One batch of cells sent to a bulk provider (FullEnrich), recorded and charged before the provider is
 * called, so a retried task finds it instead of submitting and charging again. `provider_ref` is the
 * provider's id for the batch; `payload` its answer, from the webhook or a poll, kept once received.
 */
export const providerSubmissions = pgTable(
  "provider_submissions",
  {
    id: id(),
    workspaceId: uuid("workspace_id")
      .notNull()
      .references(() => workspaces.id, { onDelete: "cascade" }),
    // Outlives its column (set null), so a webhook arriving after the column was deleted is still
    // recognised and answered without writing anything.
    columnId: uuid("column_id").references(() => columns.id, { onDelete: "set null" }),
    // A submission of an enrichment run's items instead of a column's cells (its `cells` are then
    // the items: cellId and runToken the item's id, rowId its lead).
    enrichmentRunId: uuid("enrichment_run_id").references(() => enrichmentRuns.id, { onDelete: "set null" }),
    // One provider's step of a waterfall (src/domain/waterfall/bulk-step.ts): its result is read by
    // the waterfall task, which goes on to the next provider for the rows it misses; a webhook only
    // stores it, and writes no cell or item.
    waterfall: boolean("waterfall").notNull().default(false),
    provider: text("provider").notNull(),
    enrichmentType: text("enrichment_type").notNull(),
    status: text("status", { enum: submissionStatuses }).notNull().default("submitting"),
    providerRef: text("provider_ref"),
    runId: text("run_id").notNull(),
    cells: jsonb("cells").$type<SubmissionCell[]>().notNull(),
    payload: jsonb("payload"),
    error: text("error"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    submittedAt: timestamp("submitted_at", { withTimezone: true, mode: "date" }),
    completedAt: timestamp("completed_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [index("provider_submissions_column_idx").on(t.columnId, t.status), index("provider_submissions_run_idx").on(t.enrichmentRunId, t.status)],
);
