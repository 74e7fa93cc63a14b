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

--
--
-- Migration 047 of the seed app, and the seed's recommended indexes.
--
-- The seed app once queued a campaign created with one contact twice; its fix
-- was a unique constraint on call_queue (campaign_id, contact_id).  This
-- function applies that fix (moving existing duplicates out of the way first)
-- and creates the seed's user_id indexes.  The extension script calls it once;
-- users call it again whenever they like, e.g. after creating call_queue.
--
-- It deliberately has no SET search_path: the tables are looked up through the
-- caller's search_path (during CREATE EXTENSION that is the extension's
-- schema).  Everything it creates lives in the schema of the table it belongs
-- to, and none of it becomes part of the extension: DROP EXTENSION querycache
-- CASCADE and pg_dump/restore treat it as ordinary user data.
--
CREATE FUNCTION querycache_apply_schema() RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
	c_conname	CONSTANT name := 'call_queue_campaign_contact_unique';
	v_queue		regclass := pg_catalog.to_regclass('call_queue');
	v_qname		text;			-- call_queue, schema-qualified and quoted
	v_nsp		name;
	v_kind		"char";
	v_only		text;			-- 'ONLY ' for a plain table
	v_dup		regclass;
	v_dupname	text;
	v_cols		text;
	v_ids		bigint[];
	v_refids	bigint[];
	v_cond		text;
	v_using		text := '';
	v_deleted	bigint;
	v_tab		regclass;
	v_cmm		text;
	r			record;
BEGIN
	/* ---- migration 047: UNIQUE (campaign_id, contact_id) on call_queue ---- */
	IF v_queue IS NOT NULL THEN
		SELECT c.relkind, n.nspname INTO v_kind, v_nsp
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = v_queue;
		v_qname := pg_catalog.format('%I.%I', v_nsp, 'call_queue');
		IF v_kind NOT IN ('r', 'p') THEN
			RAISE NOTICE 'querycache: % is not a table, skipping migration 047', v_qname;
			v_queue := NULL;
		END IF;
	ELSE
		RAISE NOTICE 'querycache: table call_queue not found in search_path (%), skipping migration 047',
			pg_catalog.current_setting('search_path')
			USING HINT = 'Once call_queue exists, run SELECT querycache_apply_schema().';
	END IF;

	<<migration_047>>
	BEGIN
		EXIT migration_047 WHEN v_queue IS NULL;
		/* The app may have run its own migration 047: nothing to do then. */
		EXIT migration_047 WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
										WHERE conrelid = v_queue AND conname = c_conname);

		/*
		 * Keep writers (and readers: ADD CONSTRAINT needs this lock anyway, and
		 * upgrading a weaker lock later could deadlock) out until we are done,
		 * so no duplicate or referencing row can sneak in between the checks
		 * and the ALTER TABLE.  Then look again: someone may have added the
		 * constraint while we waited.
		 */
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_qname);
		EXIT migration_047 WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
										WHERE conrelid = v_queue AND conname = c_conname);
		v_only := CASE WHEN v_kind = 'r' THEN 'ONLY ' ELSE '' END;

		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
					   WHERE attrelid = v_queue AND attname = 'id' AND attnum > 0
						 AND NOT attisdropped) THEN
			RAISE EXCEPTION 'table % has no column "id"', v_qname
				USING ERRCODE = 'undefined_column',
					  HINT = 'Migration 047 keeps the row with the lowest id of each (campaign_id, contact_id) pair and needs that column.';
		END IF;

		/*
		 * An index of the constraint's name may exist already (the app may
		 * have created a unique index instead of the constraint).  Adopt it if
		 * it is exactly what the constraint would create.
		 */
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_class
				   WHERE relname = c_conname AND relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = v_queue)) THEN
			IF EXISTS (SELECT 1
					   FROM pg_catalog.pg_index i
					   JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
					   JOIN pg_catalog.pg_am am ON am.oid = ic.relam
					   WHERE i.indrelid = v_queue AND ic.relname = c_conname
						 AND i.indisunique AND i.indisvalid AND am.amname = 'btree'
						 AND i.indpred IS NULL AND i.indexprs IS NULL
						 AND i.indnkeyatts = 2 AND i.indnatts = 2
						 AND (SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
							  FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
							  JOIN pg_catalog.pg_attribute a ON a.attrelid = v_queue AND a.attnum = k.attnum)
							 = ARRAY['campaign_id', 'contact_id']::name[]) THEN
				v_using := pg_catalog.format(' USING INDEX %I', c_conname);
			ELSE
				RAISE EXCEPTION 'cannot add constraint "%" to table %: relation "%" already exists',
					c_conname, v_qname, c_conname
					USING ERRCODE = 'duplicate_object',
						  HINT = pg_catalog.format('Rename or drop relation %I.%I, or make it a unique index on call_queue (campaign_id, contact_id), then run SELECT querycache_apply_schema().',
												   v_nsp, c_conname);
			END IF;
		END IF;

		/*
		 * The duplicates: every row of a (campaign_id, contact_id) group but
		 * the one with the lowest id.  Rows with a NULL in either column are
		 * no duplicates as far as UNIQUE is concerned.
		 */
		EXECUTE pg_catalog.format(
			'SELECT pg_catalog.array_agg(id ORDER BY id) FROM ('
			'  SELECT id, pg_catalog.row_number() OVER (PARTITION BY campaign_id, contact_id ORDER BY id) AS rn'
			'  FROM %s%s WHERE campaign_id IS NOT NULL AND contact_id IS NOT NULL) d '
			'WHERE rn > 1', v_only, v_qname)
			INTO v_ids;
		v_ids := coalesce(v_ids, '{}');

		/*
		 * Moving a row that another table references would fail, cascade or
		 * set the reference to NULL, depending on the foreign key.  Refuse
		 * all of that before changing anything.
		 */
		IF pg_catalog.cardinality(v_ids) > 0 THEN
			FOR r IN
				SELECT c.conname, c.conkey, c.confkey, c.conrelid, rc.relkind, rn.nspname, rc.relname,
					   pg_catalog.format('%I.%I', rn.nspname, rc.relname) AS refname
				FROM pg_catalog.pg_constraint c
				JOIN pg_catalog.pg_class rc ON rc.oid = c.conrelid
				JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
				WHERE c.contype = 'f' AND c.confrelid = v_queue AND c.conparentid = 0
				ORDER BY rn.nspname, rc.relname, c.conname
			LOOP
				SELECT pg_catalog.string_agg(pg_catalog.format('r.%I = q.%I', ra.attname, qa.attname), ' AND ' ORDER BY k.ord)
				INTO v_cond
				FROM ROWS FROM (pg_catalog.unnest(r.conkey), pg_catalog.unnest(r.confkey)) WITH ORDINALITY AS k(refcol, qcol, ord)
				JOIN pg_catalog.pg_attribute ra ON ra.attrelid = r.conrelid AND ra.attnum = k.refcol
				JOIN pg_catalog.pg_attribute qa ON qa.attrelid = v_queue AND qa.attnum = k.qcol;

				EXECUTE pg_catalog.format(
					'SELECT pg_catalog.array_agg(q.id ORDER BY q.id) FROM %s%s q '
					'WHERE q.id = ANY ($1) AND EXISTS (SELECT 1 FROM %s%s r WHERE %s)',
					v_only, v_qname,
					CASE WHEN r.relkind = 'r' THEN 'ONLY ' ELSE '' END, r.refname, v_cond)
					INTO v_refids USING v_ids;

				IF v_refids IS NOT NULL THEN
					RAISE EXCEPTION 'cannot move duplicate call_queue rows with id %: table % references them',
						pg_catalog.array_to_string(v_refids[1:10], ', ')
						|| CASE WHEN pg_catalog.cardinality(v_refids) > 10
								THEN pg_catalog.format(' and %s more', pg_catalog.cardinality(v_refids) - 10)
								ELSE '' END,
						r.refname
						USING ERRCODE = 'foreign_key_violation',
							  SCHEMA = r.nspname,
							  TABLE = r.relname,
							  CONSTRAINT = r.conname,
							  DETAIL = pg_catalog.format('Migration 047 (unique constraint %s on %s) moves all but the oldest row of each (campaign_id, contact_id) pair to %I.%I, but foreign key constraint %I on table %s references %s of them.',
														 c_conname, v_qname, v_nsp, 'call_queue_duplicates',
														 r.conname, r.refname, pg_catalog.cardinality(v_refids)),
							  HINT = pg_catalog.format('Delete the referencing rows of %s or point them to the rows being kept (or remove the duplicates yourself), then retry.',
													   r.refname);
				END IF;
			END LOOP;
		END IF;

		/* The table the duplicates go to: call_queue's columns, no defaults. */
		v_dupname := pg_catalog.format('%I.%I', v_nsp, 'call_queue_duplicates');
		v_dup := pg_catalog.to_regclass(v_dupname);
		IF v_dup IS NULL THEN
			EXECUTE pg_catalog.format('CREATE TABLE %s (LIKE %s, moved_at timestamptz NOT NULL DEFAULT pg_catalog.now())',
									  v_dupname, v_qname);
			v_dup := pg_catalog.to_regclass(v_dupname);
			EXECUTE pg_catalog.format('COMMENT ON TABLE %s IS %L', v_dupname,
				'call_queue rows moved away by querycache_apply_schema() (migration 047: unique (campaign_id, contact_id))');
		ELSE
			/* call_queue may have gained columns since. */
			FOR r IN
				SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
				FROM pg_catalog.pg_attribute a
				WHERE a.attrelid = v_queue AND a.attnum > 0 AND NOT a.attisdropped
				  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute d
								  WHERE d.attrelid = v_dup AND d.attname = a.attname
									AND d.attnum > 0 AND NOT d.attisdropped)
				ORDER BY a.attnum
			LOOP
				EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s', v_dupname, r.attname, r.typ);
			END LOOP;
		END IF;

		/*
		 * Inside CREATE EXTENSION every new table becomes a member of the
		 * extension; this one is user data and must not be.  (Indexes and
		 * constraints never are members.)
		 */
		FOR r IN
			SELECT e.extname
			FROM pg_catalog.pg_depend d
			JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
			WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = v_dup
			  AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
		LOOP
			EXECUTE pg_catalog.format('ALTER EXTENSION %I DROP TABLE %s', r.extname, v_dupname);
		END LOOP;

		IF pg_catalog.cardinality(v_ids) > 0 THEN
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) INTO v_cols
			FROM pg_catalog.pg_attribute
			WHERE attrelid = v_queue AND attnum > 0 AND NOT attisdropped;

			EXECUTE pg_catalog.format('INSERT INTO %s (%s) SELECT %s FROM %s%s WHERE id = ANY ($1)',
									  v_dupname, v_cols, v_cols, v_only, v_qname)
				USING v_ids;
			EXECUTE pg_catalog.format('DELETE FROM %s%s WHERE id = ANY ($1)', v_only, v_qname)
				USING v_ids;
			GET DIAGNOSTICS v_deleted = ROW_COUNT;
			IF v_deleted <> pg_catalog.cardinality(v_ids) THEN
				RAISE EXCEPTION 'could not move duplicate call_queue rows: % of % deleted',
					v_deleted, pg_catalog.cardinality(v_ids)
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'A trigger or rule on call_queue may have prevented the deletion.';
			END IF;
		END IF;

		EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE%s',
								  v_qname, c_conname,
								  CASE WHEN v_using = '' THEN ' (campaign_id, contact_id)' ELSE v_using END);

		/*
		 * CREATE EXTENSION runs its script with client_min_messages raised
		 * to WARNING; a DBA must still see that rows were moved.
		 */
		v_cmm := pg_catalog.current_setting('client_min_messages');
		IF v_cmm = 'warning' THEN
			PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
		END IF;
		RAISE NOTICE 'querycache: moved % duplicate call_queue row% to %',
			pg_catalog.cardinality(v_ids),
			CASE WHEN pg_catalog.cardinality(v_ids) = 1 THEN '' ELSE 's' END,
			v_dupname;
		PERFORM pg_catalog.set_config('client_min_messages', v_cmm, true);
	END migration_047;

	/* ---- the seed's recommended indexes, where their tables exist ---- */
	FOR r IN
		SELECT * FROM (VALUES ('agents', 'idx_agents_user_id'),
							  ('contacts', 'idx_contacts_user_id'),
							  ('call_campaigns', 'idx_campaigns_user_id')) AS v(tab, idx)
	LOOP
		v_tab := pg_catalog.to_regclass(pg_catalog.quote_ident(r.tab));
		CONTINUE WHEN v_tab IS NULL;
		SELECT n.nspname INTO v_nsp
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = v_tab AND c.relkind IN ('r', 'p');
		CONTINUE WHEN NOT FOUND;
		CONTINUE WHEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_nsp, r.idx)) IS NOT NULL;
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
					   WHERE attrelid = v_tab AND attname = 'user_id' AND attnum > 0
						 AND NOT attisdropped) THEN
			RAISE NOTICE 'querycache: table %.% has no column "user_id", not creating index %',
				pg_catalog.quote_ident(v_nsp), pg_catalog.quote_ident(r.tab), pg_catalog.quote_ident(r.idx);
			CONTINUE;
		END IF;
		EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %I.%I (user_id)',
								  r.idx, v_nsp, r.tab);
	END LOOP;

	/* ---- the seed's invalidation rules and their triggers ---- */
	PERFORM @extschema@.querycache_watch_defaults();
END
$fn$;

COMMENT ON FUNCTION querycache_apply_schema() IS
'apply the seed app''s migration 047 (unique call_queue (campaign_id, contact_id), duplicates moved to call_queue_duplicates), its user_id indexes and its invalidation rules to the tables found in search_path; idempotent';

SELECT querycache_apply_schema();
