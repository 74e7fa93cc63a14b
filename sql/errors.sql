--
-- Bad input gets a clear error, leaves nothing behind, and the next call works.
--
CREATE TABLE err_t (id int PRIMARY KEY, v text);
INSERT INTO err_t VALUES (1, 'one');
SELECT querycache_stats_reset();

-- keys
SELECT querycache_wrap(NULL, 'SELECT 1');
SELECT querycache_wrap('', 'SELECT 1');
SELECT querycache_wrap(repeat('k', 257), 'SELECT 1');
SELECT querycache_wrap(repeat('k', 256), 'SELECT 1 AS ok');
SELECT querycache_get(NULL);
SELECT querycache_set(NULL, '1');
SELECT querycache_set('k', NULL);
SELECT querycache_delete('');

-- queries
SELECT querycache_wrap('e', NULL);
SELECT querycache_wrap('e', 'SELEC 1');
SELECT querycache_wrap('e', '');
SELECT querycache_wrap('e', 'INSERT INTO err_t VALUES (2, ''two'')');
SELECT querycache_wrap('e', 'UPDATE err_t SET v = ''x''');
SELECT querycache_wrap('e', 'DELETE FROM err_t');
SELECT querycache_wrap('e', 'DROP TABLE err_t');
SELECT querycache_wrap('e', 'SELECT 1; DELETE FROM err_t');
SELECT querycache_wrap('e', 'SELECT * FROM err_t FOR UPDATE');
SELECT querycache_wrap('e', 'SELECT * FROM err_t FOR SHARE');
SELECT querycache_wrap('e', 'SELECT * FROM (SELECT * FROM err_t FOR UPDATE) s');
SELECT querycache_wrap('e', 'WITH d AS (DELETE FROM err_t RETURNING *) SELECT * FROM d');
SELECT querycache_wrap('e', 'SELECT * INTO err_t2 FROM err_t');
SELECT querycache_wrap('e', 'SELECT 1) t; DELETE FROM err_t; SELECT (1');
-- nothing ran
SELECT * FROM err_t;
SELECT to_regclass('err_t2') IS NULL AS no_table;

-- ttl
SELECT querycache_wrap('e', 'SELECT 1', interval '0');
SELECT querycache_wrap('e', 'SELECT 1', interval '-5 minutes');
SELECT querycache_set('e', '1', interval '-1 second');
INSERT INTO querycache_ttl VALUES ('^bad:', interval '0');
INSERT INTO querycache_ttl VALUES ('(', interval '1 minute');

-- regex
SELECT querycache_clear_pattern('(unclosed');
SELECT querycache_clear_pattern(NULL);
SELECT querycache_watch('err_t', '[');

-- params: too few, wrong type, unconvertible
SELECT querycache_wrap('e', 'SELECT $1::int + $2::int AS s', NULL, 1);
SELECT querycache_wrap('e', 'SELECT v FROM err_t WHERE id = $1 AND v = $2', NULL, '1');
SELECT querycache_wrap('e', 'SELECT v FROM err_t WHERE v = $1', NULL, 1);
SELECT querycache_wrap('e', 'SELECT v FROM err_t WHERE id = $1', NULL, 'one');
SELECT querycache_wrap('e', 'SELECT v FROM err_t WHERE id = $1', NULL, VARIADIC NULL::int[]);
SELECT querycache_wrap('e', 'SELECT 1 AS one', NULL, 'extra');
SELECT querycache_wrap('e', 'SELECT $1::int AS one', NULL, 1, 2);
SELECT querycache_wrap('e', 'SELECT $2::int AS two', NULL, 1, 2);

-- a query that fails at run time caches nothing, and the next call works
SELECT querycache_wrap('e:div', 'SELECT 1 / (count(*) - 1) AS x FROM err_t');
SELECT querycache_get('e:div') IS NULL AS nothing_cached;
INSERT INTO err_t VALUES (2, 'two');
SELECT querycache_wrap('e:div', 'SELECT 1 / (count(*) - 1) AS x FROM err_t');
SELECT querycache_wrap('e:div', 'SELECT 1 / (count(*) - 1) AS x FROM err_t');

-- a result over querycache.max_entry_size is returned, not cached
SET querycache.max_entry_size = '1kB';
SELECT length(querycache_wrap('e:big', 'SELECT repeat(''x'', 5000) AS s')::text);
SELECT querycache_get('e:big') IS NULL AS not_cached;
SELECT too_large FROM querycache_stats;
RESET querycache.max_entry_size;

-- the trigger function refuses to run other than as an AFTER statement trigger
SELECT querycache_invalidate_trigger();
CREATE TRIGGER bad BEFORE INSERT ON err_t FOR EACH ROW EXECUTE FUNCTION querycache_invalidate_trigger();
INSERT INTO err_t VALUES (3, 'three');
DROP TRIGGER bad ON err_t;

-- no locks and no half-written entries are left: the cache still works
SELECT querycache_wrap('e:after', 'SELECT count(*) AS n FROM err_t');
SELECT querycache_wrap('e:after', 'SELECT count(*) AS n FROM err_t');
SELECT hits FROM querycache_stats;
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' OR (locktype = 'relation' AND relation = 'err_t'::regclass AND pid <> pg_backend_pid());

DROP TABLE err_t;
SELECT querycache_clear_all() >= 0 AS cleared;
