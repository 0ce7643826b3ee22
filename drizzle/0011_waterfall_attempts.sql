ALTER TABLE "list_company_cells" ADD COLUMN "attempts" jsonb;--> statement-breakpoint
ALTER TABLE "list_cells" ADD COLUMN "attempts" jsonb;