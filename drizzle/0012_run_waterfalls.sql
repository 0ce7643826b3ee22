ALTER TABLE "enrichment_run_items" ADD COLUMN "provider_attempts" jsonb;--> statement-breakpoint
ALTER TABLE "enrichment_run_items" ADD COLUMN "cost" integer;--> statement-breakpoint
ALTER TABLE "enrichment_runs" ADD COLUMN "providers" text[];