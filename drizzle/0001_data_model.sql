CREATE TABLE "accounts" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"email" text NOT NULL,
	"full_name" text,
	"first_name" text,
	"last_name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"account_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "list_columns" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"list_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"name" text NOT NULL,
	"prompt" text,
	"response_type" text DEFAULT 'auto' NOT NULL,
	"source" text DEFAULT 'profile' NOT NULL,
	"subject" text DEFAULT 'person' NOT NULL,
	"is_dynamic" boolean DEFAULT false NOT NULL,
	"is_filter" boolean DEFAULT false NOT NULL,
	"is_preview" boolean DEFAULT false NOT NULL,
	"position" integer NOT NULL,
	"schema" jsonb,
	"enrichment_type" text,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"category" text DEFAULT 'custom' NOT NULL,
	"built_in_key" text,
	"trigger_run_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "list_company_cells" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"list_id" uuid NOT NULL,
	"column_id" uuid NOT NULL,
	"company_row_id" uuid NOT NULL,
	"value" jsonb,
	"status" text DEFAULT 'pending' NOT NULL,
	"reasoning" text,
	"error" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "list_company_rows" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"list_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"lead_id" uuid NOT NULL,
	"position" bigint GENERATED ALWAYS AS IDENTITY (sequence name "list_company_rows_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"domain" text,
	"linkedin_url" text,
	"industry" text,
	"employee_count" integer,
	"location" text,
	"website" text,
	"description" text,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_ledger" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"action" text NOT NULL,
	"units" integer NOT NULL,
	"delta" bigint NOT NULL,
	"balance_after" bigint NOT NULL,
	"reference_type" text,
	"reference_id" uuid,
	"dedupe_key" text,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_ledger_balance_after_non_negative" CHECK ("credit_ledger"."balance_after" >= 0)
);
--> statement-breakpoint
CREATE TABLE "enrichment_run_items" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"run_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"lead_id" uuid NOT NULL,
	"list_id" uuid,
	"membership_id" uuid,
	"status" text DEFAULT 'pending' NOT NULL,
	"result" jsonb,
	"skipped_reason" text,
	"error_message" text,
	"error_details" jsonb,
	"attempts" integer DEFAULT 0 NOT NULL,
	"provider" text,
	"provider_submission_id" text,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "enrichment_runs" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"enrichment_slug" text NOT NULL,
	"enrichment_version" integer NOT NULL,
	"mode" text DEFAULT 'persisted' NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"scope_type" text NOT NULL,
	"list_id" uuid,
	"requested" integer NOT NULL,
	"resolved_count" integer NOT NULL,
	"input" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"output_target" text DEFAULT 'lead' NOT NULL,
	"attribute_key" text NOT NULL,
	"write_policy" text DEFAULT 'overwrite' NOT NULL,
	"credit_action" text NOT NULL,
	"cost_preview" integer NOT NULL,
	"cost_actual" integer DEFAULT 0 NOT NULL,
	"trigger_run_id" text,
	"error" text,
	"idempotency_key" text,
	"request_hash" text,
	"started_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"cancelled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "leads" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"type" text NOT NULL,
	"full_name" text,
	"first_name" text,
	"last_name" text,
	"title" text,
	"company_name" text,
	"company_domain" text,
	"company_lead_id" uuid,
	"location" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"socials" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"contacts" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"domain" text,
	"industry" text,
	"size" text,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"raw" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"linkedin_key" text,
	"email_key" text,
	"domain_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lists" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"lead_type" text DEFAULT 'person' NOT NULL,
	"enrichment_status" text DEFAULT 'idle' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "list_cells" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"list_id" uuid NOT NULL,
	"column_id" uuid NOT NULL,
	"row_id" uuid NOT NULL,
	"value" jsonb,
	"status" text DEFAULT 'pending' NOT NULL,
	"reasoning" text,
	"error" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "list_rows" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"list_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"lead_id" uuid NOT NULL,
	"company_row_id" uuid,
	"position" bigint GENERATED ALWAYS AS IDENTITY (sequence name "list_rows_position_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"first_name" text,
	"last_name" text,
	"full_name" text,
	"company" text,
	"role" text,
	"headline" text,
	"linkedin_url" text,
	"location" text,
	"domain" text,
	"email" text,
	"phone" text,
	"seniority" text,
	"departments" text,
	"functions" text,
	"experience" text,
	"linkedin_key" text,
	"name_key" text,
	"company_key" text,
	"location_key" text,
	"attributes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workspaces" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"name" text NOT NULL,
	"plan" text DEFAULT 'free' NOT NULL,
	"credit_balance" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "workspaces_credit_balance_non_negative" CHECK ("workspaces"."credit_balance" >= 0)
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_columns" ADD CONSTRAINT "list_columns_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_columns" ADD CONSTRAINT "list_columns_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD CONSTRAINT "list_company_cells_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD CONSTRAINT "list_company_cells_column_id_list_columns_id_fk" FOREIGN KEY ("column_id") REFERENCES "public"."list_columns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD CONSTRAINT "list_company_cells_company_row_id_list_company_rows_id_fk" FOREIGN KEY ("company_row_id") REFERENCES "public"."list_company_rows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_rows" ADD CONSTRAINT "list_company_rows_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_rows" ADD CONSTRAINT "list_company_rows_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_company_rows" ADD CONSTRAINT "list_company_rows_lead_id_leads_id_fk" FOREIGN KEY ("lead_id") REFERENCES "public"."leads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_ledger" ADD CONSTRAINT "credit_ledger_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_run_items" ADD CONSTRAINT "enrichment_run_items_run_id_enrichment_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."enrichment_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_run_items" ADD CONSTRAINT "enrichment_run_items_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_run_items" ADD CONSTRAINT "enrichment_run_items_lead_id_leads_id_fk" FOREIGN KEY ("lead_id") REFERENCES "public"."leads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_run_items" ADD CONSTRAINT "enrichment_run_items_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD CONSTRAINT "enrichment_runs_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD CONSTRAINT "enrichment_runs_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leads" ADD CONSTRAINT "leads_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leads" ADD CONSTRAINT "leads_company_lead_id_leads_id_fk" FOREIGN KEY ("company_lead_id") REFERENCES "public"."leads"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lists" ADD CONSTRAINT "lists_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_cells" ADD CONSTRAINT "list_cells_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_cells" ADD CONSTRAINT "list_cells_column_id_list_columns_id_fk" FOREIGN KEY ("column_id") REFERENCES "public"."list_columns"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_cells" ADD CONSTRAINT "list_cells_row_id_list_rows_id_fk" FOREIGN KEY ("row_id") REFERENCES "public"."list_rows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_rows" ADD CONSTRAINT "list_rows_list_id_lists_id_fk" FOREIGN KEY ("list_id") REFERENCES "public"."lists"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_rows" ADD CONSTRAINT "list_rows_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_rows" ADD CONSTRAINT "list_rows_lead_id_leads_id_fk" FOREIGN KEY ("lead_id") REFERENCES "public"."leads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "list_rows" ADD CONSTRAINT "list_rows_company_row_id_list_company_rows_id_fk" FOREIGN KEY ("company_row_id") REFERENCES "public"."list_company_rows"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "accounts_email_key" ON "accounts" USING btree (lower("email"));--> statement-breakpoint
CREATE INDEX "accounts_workspace_idx" ON "accounts" USING btree ("workspace_id");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_one_active_per_account" ON "api_keys" USING btree ("account_id") WHERE "api_keys"."revoked_at" is null;--> statement-breakpoint
CREATE INDEX "list_columns_list_idx" ON "list_columns" USING btree ("list_id","subject","position");--> statement-breakpoint
CREATE UNIQUE INDEX "list_columns_built_in_key" ON "list_columns" USING btree ("list_id","built_in_key") WHERE "list_columns"."built_in_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "list_columns_one_hiring_status" ON "list_columns" USING btree ("list_id") WHERE "list_columns"."enrichment_type" = 'hiring_status';--> statement-breakpoint
CREATE UNIQUE INDEX "list_company_cells_column_row_key" ON "list_company_cells" USING btree ("column_id","company_row_id");--> statement-breakpoint
CREATE INDEX "list_company_cells_row_idx" ON "list_company_cells" USING btree ("company_row_id");--> statement-breakpoint
CREATE INDEX "list_company_cells_list_idx" ON "list_company_cells" USING btree ("list_id");--> statement-breakpoint
CREATE INDEX "list_company_rows_list_idx" ON "list_company_rows" USING btree ("list_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "list_company_rows_domain_key" ON "list_company_rows" USING btree ("list_id","domain") WHERE "list_company_rows"."domain" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "list_company_rows_lead_key" ON "list_company_rows" USING btree ("list_id","lead_id");--> statement-breakpoint
CREATE INDEX "credit_ledger_workspace_idx" ON "credit_ledger" USING btree ("workspace_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_ledger_dedupe_key" ON "credit_ledger" USING btree ("workspace_id","dedupe_key") WHERE "credit_ledger"."dedupe_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "enrichment_run_items_run_lead_key" ON "enrichment_run_items" USING btree ("run_id","lead_id");--> statement-breakpoint
CREATE INDEX "enrichment_run_items_run_status_idx" ON "enrichment_run_items" USING btree ("run_id","status","id");--> statement-breakpoint
CREATE INDEX "enrichment_runs_workspace_idx" ON "enrichment_runs" USING btree ("workspace_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "enrichment_runs_idempotency_key" ON "enrichment_runs" USING btree ("workspace_id","idempotency_key") WHERE "enrichment_runs"."idempotency_key" is not null;--> statement-breakpoint
CREATE INDEX "leads_workspace_idx" ON "leads" USING btree ("workspace_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "leads_linkedin_key" ON "leads" USING btree ("workspace_id","linkedin_key") WHERE "leads"."linkedin_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "leads_email_key" ON "leads" USING btree ("workspace_id","email_key") WHERE "leads"."email_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "leads_domain_key" ON "leads" USING btree ("workspace_id","domain_key") WHERE "leads"."domain_key" is not null;--> statement-breakpoint
CREATE INDEX "lists_workspace_idx" ON "lists" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "list_cells_column_row_key" ON "list_cells" USING btree ("column_id","row_id");--> statement-breakpoint
CREATE INDEX "list_cells_row_idx" ON "list_cells" USING btree ("row_id");--> statement-breakpoint
CREATE INDEX "list_cells_list_idx" ON "list_cells" USING btree ("list_id");--> statement-breakpoint
CREATE INDEX "list_rows_list_idx" ON "list_rows" USING btree ("list_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "list_rows_linkedin_key" ON "list_rows" USING btree ("list_id","linkedin_key") WHERE "list_rows"."linkedin_key" is not null;--> statement-breakpoint
CREATE INDEX "list_rows_name_idx" ON "list_rows" USING btree ("list_id","name_key");--> statement-breakpoint
CREATE INDEX "list_rows_lead_idx" ON "list_rows" USING btree ("lead_id");--> statement-breakpoint
CREATE INDEX "list_rows_company_row_idx" ON "list_rows" USING btree ("company_row_id");