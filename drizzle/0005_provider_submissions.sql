CREATE TABLE "provider_submissions" (
	"id" uuid PRIMARY KEY DEFAULT uuid_generate_v7() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"column_id" uuid,
	"provider" text NOT NULL,
	"enrichment_type" text NOT NULL,
	"status" text DEFAULT 'submitting' NOT NULL,
	"provider_ref" text,
	"run_id" text NOT NULL,
	"cells" jsonb NOT NULL,
	"payload" jsonb,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"submitted_at" timestamp with time zone,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "provider_submissions" ADD CONSTRAINT "provider_submissions_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_submissions" ADD CONSTRAINT "provider_submissions_column_id_list_columns_id_fk" FOREIGN KEY ("column_id") REFERENCES "public"."list_columns"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "provider_submissions_column_idx" ON "provider_submissions" USING btree ("column_id","status");