CREATE TABLE "list_event_horizons" (
	"list_id" uuid PRIMARY KEY NOT NULL,
	"tx" bigint NOT NULL,
	"event_id" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "list_events" (
	"id" bigserial NOT NULL,
	"tx" bigint DEFAULT (pg_current_xact_id()::text::bigint) NOT NULL,
	"list_id" uuid NOT NULL,
	"subject" text NOT NULL,
	"column_id" uuid NOT NULL,
	"row_id" uuid NOT NULL,
	"status" text NOT NULL,
	"value" jsonb,
	"error" text,
	"updated_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "list_events_position_idx" ON "list_events" USING btree ("list_id","tx","id");--> statement-breakpoint
CREATE INDEX "list_events_cell_idx" ON "list_events" USING btree ("column_id","row_id","id");--> statement-breakpoint
CREATE INDEX "list_events_created_idx" ON "list_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "list_company_cells_open_list_idx" ON "list_company_cells" USING btree ("list_id") WHERE "list_company_cells"."status" in ('pending', 'processing');--> statement-breakpoint
CREATE INDEX "credit_ledger_column_idx" ON "credit_ledger" USING btree ("reference_id") WHERE "credit_ledger"."reference_type" = 'column';--> statement-breakpoint
CREATE INDEX "list_cells_open_list_idx" ON "list_cells" USING btree ("list_id") WHERE "list_cells"."status" in ('pending', 'processing');--> statement-breakpoint
ALTER TABLE "lists" DROP COLUMN "enrichment_status";--> statement-breakpoint
-- Every cell write becomes an event of its list in the writing statement: one insert per statement
-- (transition tables), whatever path wrote the cells. An update is an event only when what a caller
-- sees changed (status, value, error): lease renewals and bookkeeping are not events.
CREATE FUNCTION "list_cells_events_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO list_events (list_id, subject, column_id, row_id, status, value, error, updated_at)
  SELECT n.list_id, 'person', n.column_id, n.row_id, n.status, n.value, n.error, n.updated_at
  FROM new_cells n;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "list_cells_events_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO list_events (list_id, subject, column_id, row_id, status, value, error, updated_at)
  SELECT n.list_id, 'person', n.column_id, n.row_id, n.status, n.value, n.error, n.updated_at
  FROM new_cells n JOIN old_cells o ON o.id = n.id
  WHERE (n.status, n.value, n.error) IS DISTINCT FROM (o.status, o.value, o.error);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "list_cells_events_inserted" AFTER INSERT ON "list_cells"
  REFERENCING NEW TABLE AS new_cells FOR EACH STATEMENT EXECUTE FUNCTION "list_cells_events_inserted"();--> statement-breakpoint
CREATE TRIGGER "list_cells_events_updated" AFTER UPDATE ON "list_cells"
  REFERENCING OLD TABLE AS old_cells NEW TABLE AS new_cells FOR EACH STATEMENT EXECUTE FUNCTION "list_cells_events_updated"();
--> statement-breakpoint
CREATE FUNCTION "list_company_cells_events_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO list_events (list_id, subject, column_id, row_id, status, value, error, updated_at)
  SELECT n.list_id, 'company', n.column_id, n.company_row_id, n.status, n.value, n.error, n.updated_at
  FROM new_cells n;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "list_company_cells_events_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO list_events (list_id, subject, column_id, row_id, status, value, error, updated_at)
  SELECT n.list_id, 'company', n.column_id, n.company_row_id, n.status, n.value, n.error, n.updated_at
  FROM new_cells n JOIN old_cells o ON o.id = n.id
  WHERE (n.status, n.value, n.error) IS DISTINCT FROM (o.status, o.value, o.error);
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "list_company_cells_events_inserted" AFTER INSERT ON "list_company_cells"
  REFERENCING NEW TABLE AS new_cells FOR EACH STATEMENT EXECUTE FUNCTION "list_company_cells_events_inserted"();--> statement-breakpoint
CREATE TRIGGER "list_company_cells_events_updated" AFTER UPDATE ON "list_company_cells"
  REFERENCING OLD TABLE AS old_cells NEW TABLE AS new_cells FOR EACH STATEMENT EXECUTE FUNCTION "list_company_cells_events_updated"();
