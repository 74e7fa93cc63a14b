/* querycache--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION querycache" to load this file. \quit

--
-- Configuration tables.  Both are dumped by pg_dump.
--

-- TTL of keys created without one: the longest matching pattern wins.
CREATE TABLE querycache_ttl (
	pattern		text PRIMARY KEY CHECK (('' ~ pattern) IS NOT NULL),
	ttl			interval NOT NULL CHECK (ttl > interval '0')
);
INSERT INTO querycache_ttl VALUES
	('^agents:list', interval '2 minutes'),
	('^contacts:list', interval '2 minutes'),
	('^stats:', interval '1 minute'),
	('^campaigns:', interval '2 minutes');
-- The seeded rows come back with CREATE EXTENSION; dump only the others.
SELECT pg_catalog.pg_extension_config_dump('querycache_ttl',
	$$WHERE pattern NOT IN ('^agents:list', '^contacts:list', '^stats:', '^campaigns:')$$);

-- Keys matching pattern depend on table_name, whatever their query reads.
CREATE TABLE querycache_rules (
	table_name	regclass NOT NULL,
	pattern		text NOT NULL CHECK (('' ~ pattern) IS NOT NULL),
	PRIMARY KEY (table_name, pattern)
);
SELECT pg_catalog.pg_extension_config_dump('querycache_rules', '');

-- Every backend reads them on a miss, as the role that misses.
GRANT SELECT ON querycache_ttl, querycache_rules TO PUBLIC;

--
-- The cache.
--
CREATE FUNCTION querycache_wrap(key text, query text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'querycache_wrap'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_wrap(key text, query text, ttl interval)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'querycache_wrap'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_wrap(key text, query text, ttl interval, VARIADIC params "any")
RETURNS jsonb
AS 'MODULE_PATHNAME', 'querycache_wrap'
LANGUAGE C VOLATILE;

-- Untyped parameters (string literals, drivers' text parameters) resolve
-- here and take their type from the query, as the extended protocol does.
CREATE FUNCTION querycache_wrap(key text, query text, ttl interval, VARIADIC params text[])
RETURNS jsonb
AS 'MODULE_PATHNAME', 'querycache_wrap'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_key(prefix text, params jsonb DEFAULT '{}')
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN prefix || coalesce(
	(SELECT ':' || string_agg(k || '=' || CASE jsonb_typeof(v)
											WHEN 'string' THEN v #>> '{}'
											ELSE v::text END, ':' ORDER BY k)
	   FROM jsonb_each(params) AS p(k, v)), '');

CREATE FUNCTION querycache_get(key text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'querycache_get'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_set(key text, value jsonb, ttl interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_set'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_delete(key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'querycache_delete'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_clear_pattern(pattern text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'querycache_clear_pattern'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_clear_all()
RETURNS bigint
AS 'MODULE_PATHNAME', 'querycache_clear_all'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_invalidate_table(tbl regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_invalidate_table'
LANGUAGE C VOLATILE;

--
-- Statistics.
--
CREATE FUNCTION querycache_stats(
	OUT entries bigint,
	OUT max_entries bigint,
	OUT memory_bytes bigint,
	OUT max_memory_bytes bigint,
	OUT hits bigint,
	OUT misses bigint,
	OUT fills bigint,
	OUT bypasses bigint,
	OUT evictions bigint,
	OUT expirations bigint,
	OUT invalidations bigint,
	OUT too_large bigint,
	OUT coalesced bigint,
	OUT hit_ratio double precision,
	OUT max_entry_size bigint,
	OUT stats_reset timestamptz)
AS 'MODULE_PATHNAME', 'querycache_stats'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW querycache_stats AS SELECT * FROM querycache_stats();

CREATE FUNCTION querycache_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_stats_reset'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_entries(
	OUT key text,
	OUT bytes bigint,
	OUT created_at timestamptz,
	OUT expires_at timestamptz,
	OUT hits bigint,
	OUT last_hit_at timestamptz,
	OUT valid boolean,
	OUT userid oid,
	OUT dbid oid)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'querycache_entries'
LANGUAGE C VOLATILE STRICT;

CREATE VIEW querycache_entries AS SELECT * FROM querycache_entries();

GRANT SELECT ON querycache_stats, querycache_entries TO PUBLIC;

-- These hurt every other user's hit rate or figures.
REVOKE ALL ON FUNCTION querycache_clear_all() FROM PUBLIC;
REVOKE ALL ON FUNCTION querycache_stats_reset() FROM PUBLIC;

--
-- Invalidation by table: the trigger, and the rules that install it.
--
CREATE FUNCTION querycache_invalidate_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'querycache_invalidate_trigger'
LANGUAGE C;

-- Add a rule (pattern may be NULL for the trigger alone) and make sure tbl
-- has the trigger, firing ALWAYS so replica-mode writes invalidate too.
CREATE FUNCTION querycache_watch(tbl regclass, pattern text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'querycache_watch table must not be null';
	END IF;
	IF pattern IS NOT NULL THEN
		INSERT INTO @extschema@.querycache_rules (table_name, pattern)
		VALUES (tbl, pattern)
		ON CONFLICT DO NOTHING;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
				   WHERE tgrelid = tbl AND tgname = 'querycache_invalidate') THEN
		EXECUTE pg_catalog.format(
			'CREATE TRIGGER querycache_invalidate'
			' AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
			' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.querycache_invalidate_trigger()',
			tbl);
	END IF;
	EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER querycache_invalidate', tbl);
END;
$$;

CREATE FUNCTION querycache_unwatch(tbl regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	DELETE FROM @extschema@.querycache_rules WHERE table_name = tbl;
	EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS querycache_invalidate ON %s', tbl);
END;
$$;

-- Rules of a dropped table go with it.
CREATE FUNCTION querycache_drop_rules()
RETURNS event_trigger
LANGUAGE plpgsql
AS $$
BEGIN
	DELETE FROM @extschema@.querycache_rules r
	 USING pg_catalog.pg_event_trigger_dropped_objects() d
	 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objsubid = 0
	   AND r.table_name::pg_catalog.oid = d.objid;
END;
$$;

CREATE EVENT TRIGGER querycache_drop_rules ON sql_drop
	EXECUTE FUNCTION querycache_drop_rules();

-- The seed's invalidation table, for those of its tables that exist.
CREATE FUNCTION querycache_watch_defaults()
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	r record;
BEGIN
	FOR r IN
		SELECT * FROM (VALUES ('agents', '^agents:'),
							  ('contacts', '^contacts:'),
							  ('call_campaigns', '^campaigns:'),
							  ('call_queue', '^campaigns:')) AS d(tbl, pattern)
		WHERE pg_catalog.to_regclass(d.tbl) IS NOT NULL
	LOOP
		PERFORM @extschema@.querycache_watch(pg_catalog.to_regclass(r.tbl), r.pattern);
	END LOOP;
END;
$$;

SELECT querycache_watch_defaults();
