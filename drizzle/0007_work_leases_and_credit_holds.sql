CREATE TABLE "credit_holds" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"column_id" uuid NOT NULL,
	"action" text NOT NULL,
	"amount" bigint NOT NULL,
	"units" integer NOT NULL,
	"lease_expires_at" timestamp with time zone NOT NULL,
	"settled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_holds_amount_non_negative" CHECK ("credit_holds"."amount" >= 0)
);
--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "paid" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "hold_id" uuid;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "list_company_cells" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "held" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "paid" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "hold_id" uuid;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "recoveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "credit_held" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_holds" ADD CONSTRAINT "credit_holds_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_holds_open_idx" ON "credit_holds" USING btree ("lease_expires_at") WHERE "credit_holds"."settled_at" is null;--> statement-breakpoint
CREATE INDEX "list_company_cells_open_lease_idx" ON "list_company_cells" USING btree ("lease_expires_at") WHERE "list_company_cells"."status" in ('pending', 'processing');--> statement-breakpoint
CREATE INDEX "enrichment_run_items_running_idx" ON "enrichment_run_items" USING btree ("run_id") WHERE "enrichment_run_items"."status" = 'running';--> statement-breakpoint
CREATE INDEX "enrichment_runs_open_lease_idx" ON "enrichment_runs" USING btree ("lease_expires_at") WHERE "enrichment_runs"."status" in ('pending', 'running');--> statement-breakpoint
CREATE INDEX "enrichment_runs_held_idx" ON "enrichment_runs" USING btree ("lease_expires_at") WHERE "enrichment_runs"."held" > 0;--> statement-breakpoint
CREATE INDEX "list_cells_open_lease_idx" ON "list_cells" USING btree ("lease_expires_at") WHERE "list_cells"."status" in ('pending', 'processing');--> statement-breakpoint
ALTER TABLE "workspaces" ADD CONSTRAINT "workspaces_credit_held_covered" CHECK ("workspaces"."credit_held" >= 0 and "workspaces"."credit_held" <= "workspaces"."credit_balance");--> statement-breakpoint
-- Work left open by a version without leases is recovered by the first sweep.
UPDATE "list_cells" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'processing');--> statement-breakpoint
UPDATE "list_company_cells" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'processing');--> statement-breakpoint
UPDATE "enrichment_runs" SET "lease_expires_at" = now() WHERE "status" in ('pending', 'running');
