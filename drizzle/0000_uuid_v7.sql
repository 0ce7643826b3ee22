-- UUIDv7 (RFC 9562) minted inside Postgres, so set-based INSERT ... SELECT statements get
-- time-ordered ids. Bits 0-47: Unix time in ms; the 12 bits after the version nibble carry the
-- sub-millisecond fraction (the RFC's "increased clock precision" method), so ids minted by
-- successive statements sort in the order they were made; the rest is random.
CREATE OR REPLACE FUNCTION uuid_generate_v7() RETURNS uuid
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
  now_ms numeric := extract(epoch FROM clock_timestamp()) * 1000;
  whole_ms bigint := floor(now_ms);
  fraction int := floor((now_ms - whole_ms) * 4096);
  bytes bytea := uuid_send(gen_random_uuid());
BEGIN
  bytes := overlay(bytes PLACING substring(int8send(whole_ms) FROM 3) FROM 1 FOR 6);
  bytes := set_byte(bytes, 6, 112 | (fraction >> 8));
  bytes := set_byte(bytes, 7, fraction & 255);
  RETURN encode(bytes, 'hex')::uuid;
END
$$;
