-- Whether a cell value fits its column's schema.type. It lives in the database so that a manual
-- cell write can check the column and write the cell in one statement (one round trip).
-- NULL fits every type (it clears a cell); a column without a schema accepts anything.
CREATE OR REPLACE FUNCTION cell_value_fits(col_schema jsonb, cell_value jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  kind text := col_schema ->> 'type';
  vtype text := jsonb_typeof(cell_value);
  text_value text := CASE WHEN jsonb_typeof(cell_value) = 'string' THEN cell_value #>> '{}' END;
  options jsonb := CASE WHEN jsonb_typeof(col_schema -> 'options') = 'array'
                          AND jsonb_array_length(col_schema -> 'options') > 0 THEN col_schema -> 'options' END;
  max_items int := CASE WHEN jsonb_typeof(col_schema -> 'maxItems') = 'number' THEN (col_schema ->> 'maxItems')::numeric END;
  item_type text := col_schema ->> 'itemType';
BEGIN
  IF cell_value IS NULL OR vtype = 'null' OR col_schema IS NULL OR jsonb_typeof(col_schema) <> 'object' THEN
    RETURN true;
  END IF;
  CASE kind
    WHEN 'text' THEN RETURN vtype = 'string';
    WHEN 'number' THEN RETURN vtype = 'number';
    WHEN 'boolean' THEN RETURN vtype = 'boolean';
    WHEN 'url' THEN RETURN coalesce(text_value ~* '^(https?://)?[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]{1,5})?([/?#][^\s]*)?$', false);
    WHEN 'email' THEN RETURN coalesce(text_value ~* '^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$', false);
    WHEN 'phone' THEN RETURN coalesce(text_value ~ '^\+?[0-9 ().-]{5,32}$' AND text_value ~ '[0-9]{2}', false);
    WHEN 'date' THEN RETURN coalesce(text_value ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$', false);
    WHEN 'enum' THEN RETURN vtype = 'string' AND (options IS NULL OR options @> jsonb_build_array(cell_value));
    WHEN 'multiselect' THEN
      RETURN vtype = 'array'
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cell_value) e WHERE jsonb_typeof(e) <> 'string')
        AND (options IS NULL OR options @> cell_value)
        AND (max_items IS NULL OR jsonb_array_length(cell_value) <= max_items);
    WHEN 'list' THEN
      RETURN vtype = 'array'
        AND (max_items IS NULL OR jsonb_array_length(cell_value) <= max_items)
        AND (item_type IS NULL OR item_type IN ('list', 'multiselect') OR NOT EXISTS (
              SELECT 1 FROM jsonb_array_elements(cell_value) e
              WHERE jsonb_typeof(e) = 'null' OR NOT cell_value_fits(jsonb_build_object('type', item_type), e)));
    ELSE RETURN true;
  END CASE;
END
$$;
