/* querycache--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION querycache UPDATE TO '1.1'" to load this file. \quit

--
-- 1.1: every function runs with a pinned search_path and qualified
-- operators; user tables are touched as their owner; injective keys; TTLs
-- bounded; querycache_fence() and a fenced querycache_set; the
-- "discarded" counter; row triggers for logical replication; keyed
-- rules (querycache_rules.key_column).  Users' rows
-- in querycache_ttl and querycache_rules are kept.  See CHANGELOG.md.
--

-- querycache_ttl becomes querycache_policies (TTL, dependency policy,
-- stale-while-revalidate); its rows move there, and querycache_ttl stays
-- as an updatable view.  TTLs are at most 100 years now: a longer one
-- (1.0 accepted them, and they made every miss fail) becomes 100 years,
-- with a warning.
CREATE TABLE querycache_policies (
	pattern		text PRIMARY KEY CHECK (('' OPERATOR(pg_catalog.~) pattern) IS NOT NULL),
	ttl			interval
		CHECK (ttl OPERATOR(pg_catalog.>) interval '0' AND ttl OPERATOR(pg_catalog.<=) interval '100 years'),
	depends		text NOT NULL DEFAULT 'reads'
		CHECK (depends OPERATOR(pg_catalog.=) ANY (ARRAY['reads', 'rules'])),
	stale_while_revalidate interval NOT NULL DEFAULT interval '0'
		CHECK (stale_while_revalidate OPERATOR(pg_catalog.>=) interval '0'
			   AND stale_while_revalidate OPERATOR(pg_catalog.<=) interval '1 day')
);
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT pattern, ttl FROM @extschema@.querycache_ttl
			 WHERE ttl OPERATOR(pg_catalog.>) interval '100 years'
			 ORDER BY pattern
	LOOP
		RAISE WARNING 'querycache: TTL % of pattern % is more than 100 years; it becomes 100 years', r.ttl, r.pattern;
	END LOOP;
END
$$;
INSERT INTO querycache_policies (pattern, ttl, depends)
	SELECT pattern, LEAST(ttl, interval '100 years'), 'reads' FROM querycache_ttl;
SELECT pg_catalog.pg_extension_config_dump('querycache_policies',
	$$WHERE pattern NOT IN ('^agents:list', '^contacts:list', '^stats:', '^campaigns:')$$);
ALTER EXTENSION querycache DROP TABLE querycache_ttl;
DROP TABLE querycache_ttl;
CREATE VIEW querycache_ttl AS
	SELECT pattern, ttl FROM querycache_policies WHERE ttl IS NOT NULL;
GRANT SELECT ON querycache_policies, querycache_ttl TO PUBLIC;

-- Keyed rules: key_column NULL (every 1.0 rule) is the whole table.
ALTER TABLE querycache_rules ADD COLUMN key_column name;

-- Pinned search_path on the C functions that run extension code.
ALTER FUNCTION querycache_set(text, jsonb, interval) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION querycache_delete(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION querycache_clear_pattern(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION querycache_clear_all() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION querycache_invalidate_table(regclass) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION querycache_stats_reset() SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION querycache_key(prefix text, params jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF params IS NOT NULL AND jsonb_typeof(params) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'querycache_key params must be a JSON object, not %', jsonb_typeof(params)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the parameters as an object, for example ''{"userId": 123}''.';
	END IF;
	RETURN replace(replace(prefix, '\', '\\'), '=', '\=') OPERATOR(pg_catalog.||) coalesce(
		(SELECT string_agg(':' OPERATOR(pg_catalog.||)
						   replace(replace(replace(k, '\', '\\'), ':', '\:'), '=', '\=')
						   OPERATOR(pg_catalog.||) '='
						   OPERATOR(pg_catalog.||)
						   replace(replace(replace(
							   CASE WHEN jsonb_typeof(v) OPERATOR(pg_catalog.=) 'string'
										 AND NOT (v OPERATOR(pg_catalog.#>>) '{}') OPERATOR(pg_catalog.~) '^([-0-9"{[]|(true|false|null)$)'
									THEN v OPERATOR(pg_catalog.#>>) '{}'
									ELSE v::text END,
							   '\', '\\'), ':', '\:'), '=', '\='),
						   '' ORDER BY k COLLATE "C")
		   FROM jsonb_each(params) AS p(k, v)), '');
END;
$$;

-- Stored only if none of the key's dependencies committed since the token.
CREATE FUNCTION querycache_set(key text, value jsonb, ttl interval, fence bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_set'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- A token for querycache_set, to take before computing the value.
CREATE FUNCTION querycache_fence()
RETURNS bigint
AS 'MODULE_PATHNAME', 'querycache_fence'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- querycache_stats gains "discarded" and "stale_hits", querycache_entries
-- "stale".
DROP VIEW querycache_stats;
DROP FUNCTION querycache_stats();
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
	OUT stats_reset timestamptz,
	OUT discarded bigint,
	OUT stale_hits bigint)
AS 'MODULE_PATHNAME', 'querycache_stats'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;

CREATE VIEW querycache_stats AS SELECT * FROM querycache_stats();
GRANT SELECT ON querycache_stats TO PUBLIC;

DROP VIEW querycache_entries;
DROP FUNCTION querycache_entries();
CREATE FUNCTION querycache_entries(
	OUT key text,
	OUT bytes bigint,
	OUT created_at timestamptz,
	OUT expires_at timestamptz,
	OUT hits bigint,
	OUT last_hit_at timestamptz,
	OUT valid boolean,
	OUT userid oid,
	OUT dbid oid,
	OUT stale boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'querycache_entries'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
CREATE VIEW querycache_entries AS SELECT * FROM querycache_entries();
GRANT SELECT ON querycache_entries TO PUBLIC;

-- Add or remove a rule of a table; for the table's owner (src/schema.c).
CREATE FUNCTION querycache_rule_set(tbl regclass, pattern text, present boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_rule_set'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- The same, keyed on key_column (NULL: not keyed; a rule of the same
-- pattern changes); also makes the table's keyed trigger match the key
-- columns of its rules.
CREATE FUNCTION querycache_rule_set(tbl regclass, pattern text, present boolean, key_column name)
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_rule_set'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;

-- The keyed row trigger (src/trigger.c): for each row written, the slots
-- of the values, old and new, of the key columns named as its arguments.
-- querycache_rule_set installs it for the keyed rules of a table.
CREATE FUNCTION querycache_invalidate_keyed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'querycache_invalidate_keyed'
LANGUAGE C;

CREATE OR REPLACE FUNCTION querycache_watch(tbl regclass, pattern text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'querycache_watch table must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only the owner of a table may watch it.';
	END IF;
	IF pattern IS NOT NULL THEN
		PERFORM @extschema@.querycache_rule_set(tbl, pattern, true);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger
				   WHERE tgrelid OPERATOR(pg_catalog.=) tbl
					 AND tgname OPERATOR(pg_catalog.=) 'querycache_invalidate') THEN
		EXECUTE format('CREATE TRIGGER querycache_invalidate'
					   ' AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.querycache_invalidate_trigger()',
					   tbl);
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_trigger
				   WHERE tgrelid OPERATOR(pg_catalog.=) tbl
					 AND tgname OPERATOR(pg_catalog.=) 'querycache_invalidate_row') THEN
		EXECUTE format('CREATE TRIGGER querycache_invalidate_row'
					   ' AFTER INSERT OR UPDATE OR DELETE ON %s'
					   ' FOR EACH ROW EXECUTE FUNCTION @extschema@.querycache_invalidate_trigger()',
					   tbl);
	END IF;
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER querycache_invalidate', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER querycache_invalidate_row', tbl);
END;
$$;

-- A keyed rule: under depends = 'rules', keys matching pattern depend only
-- on the rows of tbl whose key_column, as text, is pattern's first capture
-- group, e.g. querycache_watch('contacts', '^contacts:list:userId=([0-9]+)$',
-- 'user_id'); plus the triggers of the two-argument form.  For the table's
-- owner; runs as the caller.
CREATE FUNCTION querycache_watch(tbl regclass, pattern text, key_column name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL OR pattern IS NULL THEN
		RAISE EXCEPTION 'querycache_watch table and pattern must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only the owner of a table may watch it.';
	END IF;
	PERFORM @extschema@.querycache_watch(tbl);
	PERFORM @extschema@.querycache_rule_set(tbl, pattern, true, key_column);
END;
$$;

CREATE OR REPLACE FUNCTION querycache_unwatch(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'querycache_unwatch table must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid OPERATOR(pg_catalog.=) tbl), 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only the owner of a table may unwatch it.';
	END IF;
	PERFORM @extschema@.querycache_rule_set(tbl, NULL, false);
	EXECUTE format('DROP TRIGGER IF EXISTS querycache_invalidate ON %s', tbl);
	EXECUTE format('DROP TRIGGER IF EXISTS querycache_invalidate_row ON %s', tbl);
	IF EXISTS (SELECT 1 FROM pg_trigger
			   WHERE tgrelid OPERATOR(pg_catalog.=) tbl
				 AND tgname OPERATOR(pg_catalog.=) 'querycache_invalidate_keyed') THEN
		EXECUTE format('DROP TRIGGER querycache_invalidate_keyed ON %s', tbl);
	END IF;
END;
$$;

CREATE OR REPLACE FUNCTION querycache_drop_rules()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM @extschema@.querycache_rules r
	 USING pg_event_trigger_dropped_objects() d
	 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
	   AND d.objsubid OPERATOR(pg_catalog.=) 0
	   AND r.table_name::oid OPERATOR(pg_catalog.=) d.objid;
END;
$$;
REVOKE ALL ON FUNCTION querycache_drop_rules() FROM PUBLIC;

CREATE OR REPLACE FUNCTION querycache_watch_defaults()
RETURNS void
AS 'MODULE_PATHNAME', 'querycache_watch_defaults'
LANGUAGE C VOLATILE;

CREATE FUNCTION querycache_migrate_047(v_queue regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	c_conname	CONSTANT name := 'call_queue_campaign_contact_unique';
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
	v_cmm		text;
	r			record;
BEGIN
	SELECT c.relkind, n.nspname INTO v_kind, v_nsp
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) v_queue;
	v_qname := pg_catalog.format('%I.%I', v_nsp, 'call_queue');

	<<migration_047>>
	BEGIN
		/* The app may have run its own migration 047: nothing to do then. */
		EXIT migration_047 WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
										WHERE conrelid OPERATOR(pg_catalog.=) v_queue AND conname OPERATOR(pg_catalog.=) c_conname);

		/*
		 * Keep writers (and readers: ADD CONSTRAINT needs this lock anyway, and
		 * upgrading a weaker lock later could deadlock) out until we are done,
		 * so no duplicate or referencing row can sneak in between the checks
		 * and the ALTER TABLE.  Then look again: someone may have added the
		 * constraint while we waited.
		 */
		EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_qname);
		EXIT migration_047 WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
										WHERE conrelid OPERATOR(pg_catalog.=) v_queue AND conname OPERATOR(pg_catalog.=) c_conname);
		v_only := CASE WHEN v_kind OPERATOR(pg_catalog.=) 'r' THEN 'ONLY ' ELSE '' END;

		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
					   WHERE attrelid OPERATOR(pg_catalog.=) v_queue AND attname OPERATOR(pg_catalog.=) 'id' AND attnum OPERATOR(pg_catalog.>) 0
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
				   WHERE relname OPERATOR(pg_catalog.=) c_conname AND relnamespace OPERATOR(pg_catalog.=) (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) v_queue)) THEN
			IF EXISTS (SELECT 1
					   FROM pg_catalog.pg_index i
					   JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
					   JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
					   WHERE i.indrelid OPERATOR(pg_catalog.=) v_queue AND ic.relname OPERATOR(pg_catalog.=) c_conname
						 AND i.indisunique AND i.indisvalid AND am.amname OPERATOR(pg_catalog.=) 'btree'
						 AND i.indpred IS NULL AND i.indexprs IS NULL
						 AND i.indnkeyatts OPERATOR(pg_catalog.=) 2 AND i.indnatts OPERATOR(pg_catalog.=) 2
						 AND (SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord)
							  FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
							  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) v_queue AND a.attnum OPERATOR(pg_catalog.=) k.attnum)
							 OPERATOR(pg_catalog.=) ARRAY['campaign_id', 'contact_id']::pg_catalog.name[]) THEN
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
			'WHERE rn OPERATOR(pg_catalog.>) 1', v_only, v_qname)
			INTO v_ids;
		v_ids := coalesce(v_ids, '{}');

		/*
		 * Moving a row that another table references would fail, cascade or
		 * set the reference to NULL, depending on the foreign key.  Refuse
		 * all of that before changing anything.
		 */
		IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.>) 0 THEN
			FOR r IN
				SELECT c.conname, c.conkey, c.confkey, c.conrelid, rc.relkind, rn.nspname, rc.relname,
					   pg_catalog.format('%I.%I', rn.nspname, rc.relname) AS refname
				FROM pg_catalog.pg_constraint c
				JOIN pg_catalog.pg_class rc ON rc.oid OPERATOR(pg_catalog.=) c.conrelid
				JOIN pg_catalog.pg_namespace rn ON rn.oid OPERATOR(pg_catalog.=) rc.relnamespace
				WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) v_queue AND c.conparentid OPERATOR(pg_catalog.=) 0
				ORDER BY rn.nspname, rc.relname, c.conname
			LOOP
				SELECT pg_catalog.string_agg(pg_catalog.format('r.%I OPERATOR(pg_catalog.=) q.%I', ra.attname, qa.attname), ' AND ' ORDER BY k.ord)
				INTO v_cond
				FROM ROWS FROM (pg_catalog.unnest(r.conkey), pg_catalog.unnest(r.confkey)) WITH ORDINALITY AS k(refcol, qcol, ord)
				JOIN pg_catalog.pg_attribute ra ON ra.attrelid OPERATOR(pg_catalog.=) r.conrelid AND ra.attnum OPERATOR(pg_catalog.=) k.refcol
				JOIN pg_catalog.pg_attribute qa ON qa.attrelid OPERATOR(pg_catalog.=) v_queue AND qa.attnum OPERATOR(pg_catalog.=) k.qcol;

				EXECUTE pg_catalog.format(
					'SELECT pg_catalog.array_agg(q.id ORDER BY q.id) FROM %s%s q '
					'WHERE q.id OPERATOR(pg_catalog.=) ANY ($1) AND EXISTS (SELECT 1 FROM %s%s r WHERE %s)',
					v_only, v_qname,
					CASE WHEN r.relkind OPERATOR(pg_catalog.=) 'r' THEN 'ONLY ' ELSE '' END, r.refname, v_cond)
					INTO v_refids USING v_ids;

				IF v_refids IS NOT NULL THEN
					RAISE EXCEPTION 'cannot move duplicate call_queue rows with id %: table % references them',
						pg_catalog.array_to_string(v_refids[1:10], ', ')
						OPERATOR(pg_catalog.||) CASE WHEN pg_catalog.cardinality(v_refids) OPERATOR(pg_catalog.>) 10
								THEN pg_catalog.format(' and %s more', pg_catalog.cardinality(v_refids) OPERATOR(pg_catalog.-) 10)
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
			/*
			 * It runs as call_queue's owner: a table someone else owns could
			 * run that role's triggers with the owner's rights.
			 */
			IF (SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) v_dup)
			   OPERATOR(pg_catalog.<>) (SELECT relowner FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) v_queue) THEN
				RAISE EXCEPTION 'table % must be owned by the owner of %', v_dupname, v_qname
					USING ERRCODE = 'insufficient_privilege',
						  HINT = 'Migration 047 moves duplicates as the owner of call_queue; change the owner of call_queue_duplicates or drop it.';
			END IF;
			/* call_queue may have gained columns since. */
			FOR r IN
				SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) AS typ
				FROM pg_catalog.pg_attribute a
				WHERE a.attrelid OPERATOR(pg_catalog.=) v_queue AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
				  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute d
								  WHERE d.attrelid OPERATOR(pg_catalog.=) v_dup AND d.attname OPERATOR(pg_catalog.=) a.attname
									AND d.attnum OPERATOR(pg_catalog.>) 0 AND NOT d.attisdropped)
				ORDER BY a.attnum
			LOOP
				EXECUTE pg_catalog.format('ALTER TABLE %s ADD COLUMN %I %s', v_dupname, r.attname, r.typ);
			END LOOP;
		END IF;

		IF pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.>) 0 THEN
			SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) INTO v_cols
			FROM pg_catalog.pg_attribute
			WHERE attrelid OPERATOR(pg_catalog.=) v_queue AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped;

			EXECUTE pg_catalog.format('INSERT INTO %s (%s) SELECT %s FROM %s%s WHERE id OPERATOR(pg_catalog.=) ANY ($1)',
									  v_dupname, v_cols, v_cols, v_only, v_qname)
				USING v_ids;
			EXECUTE pg_catalog.format('DELETE FROM %s%s WHERE id OPERATOR(pg_catalog.=) ANY ($1)', v_only, v_qname)
				USING v_ids;
			GET DIAGNOSTICS v_deleted = ROW_COUNT;
			IF v_deleted OPERATOR(pg_catalog.<>) pg_catalog.cardinality(v_ids) THEN
				RAISE EXCEPTION 'could not move duplicate call_queue rows: % of % deleted',
					v_deleted, pg_catalog.cardinality(v_ids)
					USING ERRCODE = 'object_not_in_prerequisite_state',
						  HINT = 'A trigger or rule on call_queue may have prevented the deletion.';
			END IF;
		END IF;

		EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I UNIQUE%s',
								  v_qname, c_conname,
								  CASE WHEN v_using OPERATOR(pg_catalog.=) '' THEN ' (campaign_id, contact_id)' ELSE v_using END);

		/*
		 * CREATE EXTENSION runs its script with client_min_messages raised
		 * to WARNING; a DBA must still see that rows were moved.
		 */
		v_cmm := pg_catalog.current_setting('client_min_messages');
		IF v_cmm OPERATOR(pg_catalog.=) 'warning' THEN
			PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
		END IF;
		RAISE NOTICE 'querycache: moved % duplicate call_queue row% to %',
			pg_catalog.cardinality(v_ids),
			CASE WHEN pg_catalog.cardinality(v_ids) OPERATOR(pg_catalog.=) 1 THEN '' ELSE 's' END,
			v_dupname;
		PERFORM pg_catalog.set_config('client_min_messages', v_cmm, true);
	END migration_047;
END
$fn$;

CREATE FUNCTION querycache_seed_index(v_tab regclass, v_idx text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_nsp		name;
	v_rel		name;
BEGIN
	SELECT n.nspname, c.relname INTO v_nsp, v_rel
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) v_tab;
	IF pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_nsp, v_idx)) IS NOT NULL THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
				   WHERE attrelid OPERATOR(pg_catalog.=) v_tab
					 AND attname OPERATOR(pg_catalog.=) 'user_id'
					 AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped) THEN
		RAISE NOTICE 'querycache: table %.% has no column "user_id", not creating index %',
			pg_catalog.quote_ident(v_nsp), pg_catalog.quote_ident(v_rel), pg_catalog.quote_ident(v_idx);
		RETURN;
	END IF;
	EXECUTE pg_catalog.format('CREATE INDEX IF NOT EXISTS %I ON %I.%I (user_id)',
							  v_idx, v_nsp, v_rel);
END
$fn$;

REVOKE ALL ON FUNCTION querycache_migrate_047(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION querycache_seed_index(regclass, text) FROM PUBLIC;

CREATE OR REPLACE FUNCTION querycache_apply_schema() RETURNS void
AS 'MODULE_PATHNAME', 'querycache_apply_schema'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION querycache_apply_schema() IS
'apply the seed app''s migration 047 (unique call_queue (campaign_id, contact_id), duplicates moved to call_queue_duplicates), its user_id indexes and its invalidation rules to the tables found in search_path, as their owner; idempotent';

-- Tables watched under 1.0 get the row trigger for apply workers too.
-- (The subquery's alias must not be "r": PL/pgSQL would take r.tgrelid for
-- a field of the loop variable r, which is not assigned yet.)
DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT t.tgrelid::pg_catalog.regclass AS tbl
			 FROM pg_catalog.pg_trigger t
			 WHERE t.tgname OPERATOR(pg_catalog.=) 'querycache_invalidate'
			   AND t.tgfoid OPERATOR(pg_catalog.=) '@extschema@.querycache_invalidate_trigger()'::pg_catalog.regprocedure
			   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger o
							   WHERE o.tgrelid OPERATOR(pg_catalog.=) t.tgrelid
								 AND o.tgname OPERATOR(pg_catalog.=) 'querycache_invalidate_row')
	LOOP
		EXECUTE pg_catalog.format('CREATE TRIGGER querycache_invalidate_row'
					   ' AFTER INSERT OR UPDATE OR DELETE ON %s'
					   ' FOR EACH ROW EXECUTE FUNCTION @extschema@.querycache_invalidate_trigger()',
					   r.tbl);
		EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE REPLICA TRIGGER querycache_invalidate_row', r.tbl);
	END LOOP;
END
$$;
