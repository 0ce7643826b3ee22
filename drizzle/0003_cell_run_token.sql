ALTER TABLE "list_company_cells" ADD COLUMN "run_token" uuid;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "run_token" uuid;