--
-- Automatic dependencies: every relation a fill reads, through views,
-- functions and partitions, invalidates the entry when written, by any
-- path (DML, COPY, TRUNCATE, REFRESH, foreign-key actions), with no rule.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE TABLE dep_base (id int PRIMARY KEY, v text);
CREATE TABLE dep_other (id int PRIMARY KEY, v text);
INSERT INTO dep_base VALUES (1, 'a');
INSERT INTO dep_other VALUES (1, 'x');

-- through a view
CREATE VIEW dep_view AS SELECT b.v, o.v AS ov FROM dep_base b JOIN dep_other o USING (id);
SELECT querycache_wrap('d:view', 'SELECT * FROM dep_view');
UPDATE dep_other SET v = 'y';
SELECT querycache_wrap('d:view', 'SELECT * FROM dep_view');

-- through a SQL function that is inlined, and a PL/pgSQL one that is not
CREATE FUNCTION dep_sql() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM dep_other';
CREATE FUNCTION dep_plpgsql() RETURNS text LANGUAGE plpgsql STABLE AS
$$ BEGIN RETURN (SELECT string_agg(v, ',' ORDER BY id) FROM dep_other); END $$;
SELECT querycache_wrap('d:fn', 'SELECT dep_sql() AS n, dep_plpgsql() AS vs');
INSERT INTO dep_other VALUES (2, 'z');
SELECT querycache_wrap('d:fn', 'SELECT dep_sql() AS n, dep_plpgsql() AS vs');
-- a write to an unrelated table leaves the entry valid
SELECT querycache_stats_reset();
UPDATE dep_base SET v = 'b';
SELECT querycache_wrap('d:fn', 'SELECT dep_sql() AS n, dep_plpgsql() AS vs');
SELECT hits FROM querycache_stats;

-- COPY FROM
SELECT querycache_wrap('d:copy', 'SELECT count(*) AS n FROM dep_base');
COPY dep_base FROM stdin;
10	copied
11	copied
\.
SELECT querycache_wrap('d:copy', 'SELECT count(*) AS n FROM dep_base');

-- TRUNCATE
SELECT querycache_wrap('d:trunc', 'SELECT count(*) AS n FROM dep_other');
TRUNCATE dep_other;
SELECT querycache_wrap('d:trunc', 'SELECT count(*) AS n FROM dep_other');

-- foreign-key actions run through SPI and are seen too
CREATE TABLE dep_child (id int, base_id int REFERENCES dep_base ON DELETE CASCADE);
INSERT INTO dep_child VALUES (1, 10), (2, 11);
SELECT querycache_wrap('d:fk', 'SELECT count(*) AS n FROM dep_child');
DELETE FROM dep_base WHERE id = 10;
SELECT querycache_wrap('d:fk', 'SELECT count(*) AS n FROM dep_child');

-- a write inside a trigger
CREATE TABLE dep_log (msg text);
CREATE FUNCTION dep_log_it() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO dep_log VALUES (TG_OP); RETURN NULL; END $$;
CREATE TRIGGER dep_log_it AFTER INSERT ON dep_base FOR EACH ROW EXECUTE FUNCTION dep_log_it();
SELECT querycache_wrap('d:log', 'SELECT count(*) AS n FROM dep_log');
INSERT INTO dep_base VALUES (20, 'logged');
SELECT querycache_wrap('d:log', 'SELECT count(*) AS n FROM dep_log');

-- materialized views: REFRESH invalidates readers of the view
CREATE MATERIALIZED VIEW dep_mv AS SELECT count(*) AS n FROM dep_base;
SELECT querycache_wrap('d:mv', 'SELECT n FROM dep_mv');
INSERT INTO dep_base VALUES (21, 'more');
SELECT querycache_wrap('d:mv', 'SELECT n FROM dep_mv');
REFRESH MATERIALIZED VIEW dep_mv;
SELECT querycache_wrap('d:mv', 'SELECT n FROM dep_mv');

-- partitions: reading a partition, writing through the parent, and back
CREATE TABLE dep_part (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE dep_part_1 PARTITION OF dep_part FOR VALUES FROM (0) TO (100);
CREATE TABLE dep_part_2 PARTITION OF dep_part FOR VALUES FROM (100) TO (200);
INSERT INTO dep_part VALUES (1, 'p1'), (150, 'p2');
SELECT querycache_wrap('d:leaf', 'SELECT count(*) AS n FROM dep_part_1');
SELECT querycache_wrap('d:parent', 'SELECT count(*) AS n FROM dep_part');
INSERT INTO dep_part VALUES (2, 'via parent');
SELECT querycache_wrap('d:leaf', 'SELECT count(*) AS n FROM dep_part_1');
SELECT querycache_wrap('d:parent', 'SELECT count(*) AS n FROM dep_part');
INSERT INTO dep_part_2 VALUES (151, 'direct');
SELECT querycache_wrap('d:parent', 'SELECT count(*) AS n FROM dep_part');

-- a wrap inside another fill is not cached on its own: its reads belong
-- to the outer entry
CREATE FUNCTION dep_inner() RETURNS jsonb LANGUAGE sql VOLATILE AS
$$ SELECT querycache_wrap('d:inner', 'SELECT count(*) AS n FROM dep_other') $$;
SELECT querycache_wrap('d:outer', 'SELECT dep_inner() AS inner_result');
SELECT querycache_get('d:inner') IS NULL AS inner_not_cached;
INSERT INTO dep_other VALUES (5, 'five');
SELECT querycache_wrap('d:outer', 'SELECT dep_inner() AS inner_result');

-- a fill that writes (a volatile function) is returned but never cached
CREATE FUNCTION dep_writer() RETURNS int LANGUAGE sql VOLATILE AS
$$ INSERT INTO dep_log VALUES ('from a fill') RETURNING 1 $$;
SELECT querycache_wrap('d:writes', 'SELECT dep_writer() AS w');
SELECT querycache_get('d:writes') IS NULL AS not_cached;

-- temporary tables are per session: never cached
CREATE TEMP TABLE dep_temp (v int);
INSERT INTO dep_temp VALUES (1);
SELECT querycache_wrap('d:temp', 'SELECT count(*) AS n FROM dep_temp');
SELECT querycache_get('d:temp') IS NULL AS not_cached;

-- a fill reading more relations than an entry tracks depends on every
-- write in the database instead: coarser, never stale
DO $$
BEGIN
	FOR i IN 1..18 LOOP
		EXECUTE format('CREATE TABLE dep_many_%s (v int)', i);
	END LOOP;
END $$;
SELECT querycache_wrap('d:many',
	'SELECT count(*) AS n FROM dep_many_1, dep_many_2, dep_many_3, dep_many_4, dep_many_5, dep_many_6,
	 dep_many_7, dep_many_8, dep_many_9, dep_many_10, dep_many_11, dep_many_12, dep_many_13,
	 dep_many_14, dep_many_15, dep_many_16, dep_many_17, dep_many_18');
SELECT querycache_get('d:many');
INSERT INTO dep_log VALUES ('unrelated write');
SELECT querycache_get('d:many') IS NULL AS invalidated_by_any_write;

DROP TABLE dep_child, dep_log, dep_part, dep_temp;
DO $$ BEGIN FOR i IN 1..18 LOOP EXECUTE format($f$DROP TABLE dep_many_%s$f$, i); END LOOP; END $$;
DROP MATERIALIZED VIEW dep_mv;
DROP VIEW dep_view;
DROP TABLE dep_base, dep_other;
DROP FUNCTION dep_sql(), dep_plpgsql(), dep_log_it(), dep_inner(), dep_writer();
SELECT querycache_clear_all() >= 0 AS cleared;
