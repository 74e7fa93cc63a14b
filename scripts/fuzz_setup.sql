-- Objects scripts/fuzz.sh adds to the demo database (scripts/schema.sql,
-- scripts/seed_data.sql, CREATE EXTENSION querycache) for its fuzzer
-- (scripts/fuzz.py): roles, scratch tables of every kind a fill treats
-- differently, and helper functions that wrap from inside a wrap, write,
-- raise, change settings or call querycache's other functions in the
-- middle of a fill.  Run as a superuser, once, in a throwaway cluster.

-- An ordinary role (SET ROLE / SET SESSION AUTHORIZATION), and the owner of
-- the SECURITY DEFINER helper.
CREATE ROLE fuzz_user LOGIN;
CREATE ROLE fuzz_owner NOLOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fuzz_user, fuzz_owner;
GRANT INSERT, UPDATE, DELETE ON agents, contacts TO fuzz_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO fuzz_user;

-- Scratch tables.
CREATE TABLE fuzz_t (id int PRIMARY KEY, v text, j jsonb, b bytea, ts timestamptz, f float8, iv interval);
INSERT INTO fuzz_t
SELECT g, 'v' || g, jsonb_build_object('g', g, 'a', jsonb_build_array(g, 'x', null)),
       decode(md5(g::text), 'hex'), timestamptz '2024-01-01 00:00+00' + g * interval '1 hour',
       g / 7.0, g * interval '1 minute'
  FROM generate_series(1, 500) g;
GRANT ALL ON fuzz_t TO fuzz_user;

-- Row-level security: not cached unless querycache.cache_rls.
CREATE TABLE fuzz_rls (id int, owner name NOT NULL DEFAULT current_user, v text);
INSERT INTO fuzz_rls SELECT g, CASE WHEN g % 2 = 0 THEN 'postgres' ELSE 'fuzz_user' END, 'r' || g
  FROM generate_series(1, 100) g;
ALTER TABLE fuzz_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY fuzz_rls_own ON fuzz_rls USING (owner = current_user);
GRANT ALL ON fuzz_rls TO fuzz_user;

-- Partitions, a view, a materialized view, a sequence, an unlogged table.
CREATE TABLE fuzz_part (id int NOT NULL, k int) PARTITION BY RANGE (id);
CREATE TABLE fuzz_part_1 PARTITION OF fuzz_part FOR VALUES FROM (0) TO (500);
CREATE TABLE fuzz_part_2 PARTITION OF fuzz_part FOR VALUES FROM (500) TO (1000);
INSERT INTO fuzz_part SELECT g, g % 10 FROM generate_series(0, 999) g;
CREATE VIEW fuzz_v AS
	SELECT a.id, a.name, a.status, u.email AS owner_email FROM agents a JOIN users u ON u.id = a.user_id;
CREATE MATERIALIZED VIEW fuzz_mv AS SELECT user_id, count(*) AS n FROM agents GROUP BY user_id;
CREATE SEQUENCE fuzz_seq;
CREATE UNLOGGED TABLE fuzz_unlogged (id int, v text);
INSERT INTO fuzz_unlogged SELECT g, 'u' || g FROM generate_series(1, 50) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fuzz_user, fuzz_owner;

-- A table that shadows agents for search_path = fuzz_shadow, public.
CREATE SCHEMA fuzz_shadow;
CREATE TABLE fuzz_shadow.agents (id bigint, user_id bigint, name text, email text, status text);
INSERT INTO fuzz_shadow.agents VALUES (1, 1, 'shadow', 'shadow@example.com', 'active');
GRANT USAGE ON SCHEMA fuzz_shadow TO PUBLIC;
GRANT SELECT ON fuzz_shadow.agents TO PUBLIC;

-- Watched: a rule and the invalidation triggers.
SELECT querycache_watch('fuzz_t', '^fz:');
SELECT querycache_watch('fuzz_part', '^fzp:');
INSERT INTO querycache_ttl VALUES ('^fz:short', interval '1 second'), ('^fz:', interval '5 seconds');

-- Helpers called from wrapped queries.
CREATE FUNCTION fuzz_wrap(k text, q text) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$ SELECT querycache_wrap(k, q) $$;

CREATE FUNCTION fuzz_wrap_p(k text, q text, p bigint) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$ SELECT querycache_wrap(k, q, NULL, p) $$;

-- Catches the inner wrap's error: a subtransaction aborted inside the fill.
CREATE FUNCTION fuzz_wrap_catch(k text, q text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RETURN querycache_wrap(k, q);
EXCEPTION WHEN OTHERS THEN
	RETURN to_jsonb(SQLERRM);
END $$;

-- Wraps n levels deep, each level a different key and query text.
CREATE FUNCTION fuzz_rec(n int, k text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF n <= 0 THEN
		RETURN (SELECT to_jsonb(count(*)) FROM agents WHERE user_id = 1);
	END IF;
	RETURN querycache_wrap(k || ':' || n, format('SELECT fuzz_rec(%s, %L) AS r', n - 1, k));
END $$;

-- Like fuzz_rec, but the innermost level fails and a middle level catches.
CREATE FUNCTION fuzz_rec_fail(n int, k text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	IF n <= 0 THEN
		RAISE EXCEPTION 'fuzz_rec_fail bottom';
	END IF;
	BEGIN
		RETURN querycache_wrap(k || ':' || n, format('SELECT fuzz_rec_fail(%s, %L) AS r', n - 1, k));
	EXCEPTION WHEN OTHERS THEN
		IF n % 2 = 0 THEN
			RAISE;
		END IF;
		RETURN to_jsonb(SQLERRM);
	END;
END $$;

-- n wraps of different query texts: inside a fill, the backend's plan
-- cache (256 plans) fills up and is reset while the outer plans run.
CREATE FUNCTION fuzz_many(n int, tag text) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	FOR i IN 1..n LOOP
		PERFORM querycache_wrap('many:' || (i % 50), format('SELECT %s AS i, %L AS t', i, tag));
	END LOOP;
	RETURN n;
END $$;

-- Mislabelled: PARALLEL SAFE, so it may run in a parallel worker.
CREATE FUNCTION fuzz_par_wrap(k text, q text) RETURNS jsonb
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$ SELECT querycache_wrap(k, q) $$;

-- Another role's identity in the middle of a call.
CREATE FUNCTION fuzz_secdef_wrap(k text, q text) RETURNS jsonb
LANGUAGE sql VOLATILE SECURITY DEFINER AS $$ SELECT querycache_wrap(k, q) $$;
ALTER FUNCTION fuzz_secdef_wrap(text, text) OWNER TO fuzz_owner;

-- Writes inside a fill.
CREATE FUNCTION fuzz_write(i bigint) RETURNS int
LANGUAGE sql VOLATILE AS $$ UPDATE agents SET status = status WHERE id = i RETURNING 1 $$;
CREATE FUNCTION fuzz_write_t(i int) RETURNS int
LANGUAGE sql VOLATILE AS $$
	INSERT INTO fuzz_t (id, v) VALUES (i, 'w') ON CONFLICT (id) DO UPDATE SET v = excluded.v RETURNING 1 $$;

-- Reads hidden in functions of every volatility (some mislabelled).
CREATE FUNCTION fuzz_stable_read(c bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT count(*) FROM call_queue WHERE campaign_id = c); END $$;
CREATE FUNCTION fuzz_immutable_lie() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT count(*) FROM agents $$;
CREATE FUNCTION fuzz_srf(u bigint) RETURNS SETOF agents
LANGUAGE sql STABLE AS $$ SELECT * FROM agents WHERE user_id = u $$;

-- Errors, settings and the cache's own functions in the middle of a fill.
CREATE FUNCTION fuzz_raise(msg text) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$ BEGIN RAISE EXCEPTION '%', msg; END $$;
CREATE FUNCTION fuzz_set_guc(name text, val text) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT set_config(name, val, false) $$;
CREATE FUNCTION fuzz_clear_in_fill(p text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$ SELECT querycache_clear_pattern(p) $$;
CREATE FUNCTION fuzz_delete_in_fill(k text) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ SELECT querycache_delete(k) $$;
CREATE FUNCTION fuzz_set_in_fill(k text) RETURNS int
LANGUAGE sql VOLATILE AS $$ SELECT 1 FROM querycache_set(k, '{"set": "in fill"}') $$;
CREATE FUNCTION fuzz_inval_in_fill(r regclass) RETURNS int
LANGUAGE sql VOLATILE AS $$ SELECT 1 FROM querycache_invalidate_table(r) $$;
CREATE FUNCTION fuzz_ddl_in_fill() RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	EXECUTE 'CREATE TEMP TABLE IF NOT EXISTS fuzz_tmp_in_fill (x int)';
	EXECUTE 'INSERT INTO fuzz_tmp_in_fill VALUES (1)';
	RETURN 1;
END $$;

-- A trigger that wraps while a writer's statement runs.
CREATE FUNCTION fuzz_trigger_wrap() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM querycache_wrap('fz:trg:' || TG_OP, 'SELECT count(*) AS n FROM fuzz_t');
	RETURN NULL;
END $$;
CREATE TRIGGER fuzz_trigger_wrap AFTER INSERT OR DELETE ON fuzz_t
	FOR EACH STATEMENT EXECUTE FUNCTION fuzz_trigger_wrap();

-- Mislabelled PARALLEL SAFE wrappers of the other functions, for sessions
-- that SET force_parallel_mode.
CREATE FUNCTION fuzz_par_get(k text) RETURNS jsonb
LANGUAGE sql PARALLEL SAFE AS $$ SELECT querycache_get(k) $$;
CREATE FUNCTION fuzz_par_set(k text) RETURNS int
LANGUAGE sql PARALLEL SAFE AS $$ SELECT 1 FROM querycache_set(k, '{"p": 1}') $$;
CREATE FUNCTION fuzz_par_inval(r regclass) RETURNS int
LANGUAGE sql PARALLEL SAFE AS $$ SELECT 1 FROM querycache_invalidate_table(r) $$;
CREATE FUNCTION fuzz_par_clear(p text) RETURNS bigint
LANGUAGE sql PARALLEL SAFE AS $$ SELECT querycache_clear_pattern(p) $$;

-- Wide: a fill that reads more relations than an entry tracks (16: it then
-- depends on every write), keys matching more rules than that, and a
-- transaction that writes more relations than are remembered (64: it then
-- invalidates the whole database).
DO $$
BEGIN
	FOR i IN 1..70 LOOP
		EXECUTE format('CREATE TABLE fuzz_w%s (id int)', i);
		EXECUTE format('INSERT INTO fuzz_w%s VALUES (%s)', i, i);
	END LOOP;
	EXECUTE 'CREATE VIEW fuzz_wide AS ' ||
		(SELECT string_agg(format('SELECT id FROM fuzz_w%s', i), ' UNION ALL ') FROM generate_series(1, 20) i);
	FOR i IN 21..40 LOOP
		EXECUTE format('INSERT INTO querycache_rules VALUES (%L, %L)', 'fuzz_w' || i, '^wide:');
	END LOOP;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO fuzz_user, fuzz_owner;
CREATE FUNCTION fuzz_write_wide(n int) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE format('UPDATE fuzz_w%s SET id = id', i);
	END LOOP;
	RETURN n;
END $$;
