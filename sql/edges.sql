--
-- Freshness at the edges (issue 11): reads in parallel workers, and
-- catalog reads.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT querycache_stats_reset();

-- ---- reads inside a parallel plan ----
-- The wrapped query calls a PL/pgSQL function whose query runs a parallel
-- plan; the plan's filter calls STABLE PARALLEL SAFE functions (SQL and
-- PL/pgSQL) that read cfg.  With these settings and the leader not
-- participating, only the workers call them, and a read made in a worker
-- never reaches the leader's tracking: 1.0 stored {"n": 7} without a
-- dependency on cfg and kept serving it after the insert below made it
-- 18.  Fills now run with parallel workers off, so every read happens in
-- the backend that tracks them.
CREATE TABLE big (id int);
INSERT INTO big SELECT g FROM generate_series(1, 1000) g;
ANALYZE big;
CREATE TABLE cfg (k int);
INSERT INTO cfg SELECT g FROM generate_series(1, 7) g;
CREATE FUNCTION cfg_has_sql(i int) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT count(*) > 0 FROM cfg WHERE k = i $$;
CREATE FUNCTION cfg_has_plpgsql(i int) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$ BEGIN RETURN EXISTS (SELECT 1 FROM cfg WHERE k = i); END $$;
CREATE FUNCTION big_count_sql() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT count(*) FROM big WHERE cfg_has_sql(id)); END $$;
CREATE FUNCTION big_count_plpgsql() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT count(*) FROM big WHERE cfg_has_plpgsql(id)); END $$;
CREATE FUNCTION big_count_kept() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN (SELECT count(*) FROM big WHERE cfg_has_sql(id)); END $$;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET max_parallel_workers = 4;
SET parallel_leader_participation = off;

-- the functions' queries are parallel outside the cache
EXPLAIN (COSTS OFF) SELECT count(*) FROM big WHERE cfg_has_sql(id);
EXPLAIN (COSTS OFF) SELECT count(*) FROM big WHERE cfg_has_plpgsql(id);
SELECT count(*) AS n FROM big WHERE cfg_has_sql(id);

SELECT querycache_wrap('par:sql', 'SELECT big_count_sql() AS n');
SELECT querycache_wrap('par:plpgsql', 'SELECT big_count_plpgsql() AS n');
SELECT key, valid FROM querycache_entries WHERE key LIKE 'par:%' ORDER BY key;
-- the session's settings are back after the fills
SHOW max_parallel_workers_per_gather;
SHOW max_parallel_workers;

INSERT INTO cfg SELECT g FROM generate_series(8, 18) g;
-- both entries depend on cfg
SELECT key, valid FROM querycache_entries WHERE key LIKE 'par:%' ORDER BY key;
SELECT querycache_wrap('par:sql', 'SELECT big_count_sql() AS n');
SELECT querycache_wrap('par:plpgsql', 'SELECT big_count_plpgsql() AS n');
SELECT big_count_sql() AS n_sql, big_count_plpgsql() AS n_plpgsql;
-- and are cached again
SELECT key, valid FROM querycache_entries WHERE key LIKE 'par:%' ORDER BY key;

-- A function called outside the cache first keeps its parallel plan
-- (PL/pgSQL caches it; settings do not replan).  In a fill its Gather
-- starts no worker (max_parallel_workers is 0 there too), so the leader
-- runs the whole plan and tracks cfg.
SELECT big_count_kept() AS n;
SELECT querycache_wrap('par:kept', 'SELECT big_count_kept() AS n');
SELECT key, valid FROM querycache_entries WHERE key = 'par:kept';
INSERT INTO cfg VALUES (19);
-- invalid, or already reclaimed by the sweeper
SELECT coalesce(bool_or(valid), false) AS kept_valid FROM querycache_entries WHERE key = 'par:kept';
SELECT querycache_wrap('par:kept', 'SELECT big_count_kept() AS n');

RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET max_parallel_workers;
RESET parallel_leader_participation;

-- ---- catalog reads ----
-- VACUUM and ANALYZE update pg_class in place, without a transaction that
-- could bump a generation.  A query that reads a system catalog is run,
-- never stored, and counts as a bypass, so no such change can be served
-- stale.  (1.0 stored it.)
CREATE TABLE cat_t (v int);
INSERT INTO cat_t VALUES (1), (2), (3);
SELECT querycache_stats_reset();
SELECT querycache_wrap('cat:reltuples', 'SELECT reltuples FROM pg_class WHERE relname = ''cat_t''');
SELECT querycache_get('cat:reltuples') IS NULL AS not_stored;
SELECT fills, bypasses FROM querycache_stats;
ANALYZE cat_t;
SELECT querycache_wrap('cat:reltuples', 'SELECT reltuples FROM pg_class WHERE relname = ''cat_t''');
SELECT querycache_get('cat:reltuples') IS NULL AS not_stored;
-- through a view and a function too
CREATE VIEW cat_v AS SELECT relname, reltuples FROM pg_class;
CREATE FUNCTION cat_reltuples(name) RETURNS real
LANGUAGE sql STABLE AS $$ SELECT reltuples FROM pg_class WHERE relname = $1 $$;
SELECT querycache_wrap('cat:view', 'SELECT reltuples FROM cat_v WHERE relname = ''cat_t''');
SELECT querycache_wrap('cat:func', 'SELECT cat_reltuples(''cat_t'') AS reltuples');
SELECT count(*) AS stored FROM querycache_entries WHERE key LIKE 'cat:%';
SELECT fills, bypasses FROM querycache_stats;

DROP FUNCTION cat_reltuples(name);
DROP VIEW cat_v;
DROP TABLE cat_t, big, cfg;
DROP FUNCTION big_count_sql(), big_count_plpgsql(), big_count_kept(), cfg_has_sql(int), cfg_has_plpgsql(int);
SELECT querycache_clear_all() >= 0 AS cleared;
