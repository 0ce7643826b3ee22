ALTER TABLE "list_company_cells" ADD COLUMN "held" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "paid" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "held" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "held" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "paid" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "credit_held" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "list_company_cells_open_lease_idx" ON "list_company_cells" USING btree ("lease_expires_at") WHERE "list_company_cells"."status" in ('pending', 'processing') or "list_company_cells"."held" > 0;--> statement-breakpoint
CREATE INDEX "enrichment_runs_open_lease_idx" ON "enrichment_runs" USING btree ("lease_expires_at") WHERE "enrichment_runs"."status" in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "list_cells_open_lease_idx" ON "list_cells" USING btree ("lease_expires_at") WHERE "list_cells"."status" in ('pending', 'processing') or "list_cells"."held" > 0;--> statement-breakpoint
ALTER TABLE "workspaces" ADD CONSTRAINT "workspaces_credit_held_covered" CHECK ("workspaces"."credit_held" >= 0 and "workspaces"."credit_held" <= "workspaces"."credit_balance");--> statement-breakpoint
-- Work left open by a version without leases is recovered by the first sweep.
UPDATE "list_cells" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'processing');--> statement-breakpoint
UPDATE "list_company_cells" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'processing');--> statement-breakpoint
UPDATE "enrichment_runs" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'running');
