ALTER TABLE "list_columns" ADD COLUMN "auto_run" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "list_columns" ADD COLUMN "run_if" jsonb;--> statement-breakpoint
ALTER TABLE "list_columns" ADD COLUMN "max_credits" integer;--> statement-breakpoint
ALTER TABLE "list_columns" ADD COLUMN "refs" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "list_columns" ADD COLUMN "depends_on" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
ALTER TABLE "list_columns" ADD COLUMN "reads" text[] DEFAULT '{}'::text[] NOT NULL;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "waiting_on" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "waiting_on" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
CREATE INDEX "list_company_cells_unreleased_idx" ON "list_company_cells" USING btree ("column_id") WHERE "list_company_cells"."status" = 'pending' and "list_company_cells"."lease_expires_at" is null;--> statement-breakpoint
CREATE INDEX "list_company_cells_gathered_idx" ON "list_company_cells" USING btree ("column_id") WHERE "list_company_cells"."status" = 'pending' and "list_company_cells"."lease_owner" = 'released';--> statement-breakpoint
CREATE INDEX "list_cells_unreleased_idx" ON "list_cells" USING btree ("column_id") WHERE "list_cells"."status" = 'pending' and "list_cells"."lease_expires_at" is null;--> statement-breakpoint
CREATE INDEX "list_cells_gathered_idx" ON "list_cells" USING btree ("column_id") WHERE "list_cells"."status" = 'pending' and "list_cells"."lease_owner" = 'released';