--
-- The SQL API: wrap, get, set, delete, clear, key, stats and entries.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT querycache_stats_reset();

CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric, tags text[]);
INSERT INTO items VALUES (1, 'apple', 1.50, '{fruit}'), (2, 'bread', 3.00, '{bakery}'),
	(3, 'cheese', 7.25, NULL);

-- The result is exactly jsonb_agg(to_jsonb(t)) of the query.
SELECT querycache_wrap('items:all', 'SELECT * FROM items ORDER BY id') =
	(SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM (SELECT * FROM items ORDER BY id) t)
	AS same_as_sql;
SELECT querycache_wrap('items:all', 'SELECT * FROM items ORDER BY id');
SELECT querycache_wrap('items:none', 'SELECT * FROM items WHERE false');
SELECT hits, misses, fills, entries FROM querycache_stats;

-- Parameters: typed, untyped literals (typed by the query), NULL, VARIADIC array.
SELECT querycache_wrap('items:one', 'SELECT name FROM items WHERE id = $1', NULL, 2);
SELECT querycache_wrap('items:one', 'SELECT name FROM items WHERE id = $1', NULL, '3');
SELECT querycache_wrap('items:one', 'SELECT name FROM items WHERE id = $1', NULL, '3');
SELECT querycache_wrap('items:two', 'SELECT name FROM items WHERE id = $1 OR price > $2 ORDER BY id',
	NULL, 1, 5.0);
SELECT querycache_wrap('items:arr', 'SELECT name FROM items WHERE id = ANY($1) ORDER BY id',
	NULL, ARRAY[1, 3]);
SELECT querycache_wrap('items:var', 'SELECT name FROM items WHERE id IN ($1, $2) ORDER BY id',
	NULL, VARIADIC ARRAY['1', '2']);
SELECT querycache_wrap('items:null', 'SELECT count(*) FROM items WHERE name IS NOT DISTINCT FROM $1',
	NULL, NULL::text);
-- A trailing semicolon is accepted.
SELECT querycache_wrap('items:semi', 'SELECT count(*) AS n FROM items;');

-- Same key, other query or other params: a miss whose result replaces the entry.
SELECT querycache_stats_reset();
SELECT querycache_wrap('items:swap', 'SELECT count(*) AS n FROM items');
SELECT querycache_wrap('items:swap', 'SELECT max(id) AS m FROM items');
SELECT querycache_wrap('items:swap', 'SELECT max(id) AS m FROM items');
SELECT querycache_wrap('items:p', 'SELECT $1::int AS x', NULL, 1);
SELECT querycache_wrap('items:p', 'SELECT $1::int AS x', NULL, 2);
SELECT hits, misses, fills FROM querycache_stats;
SELECT count(*) FROM querycache_entries WHERE key IN ('items:swap', 'items:p');

-- Settings that change how the same text resolves or prints are part of
-- the identity: search_path, TimeZone, DateStyle, IntervalStyle.
CREATE SCHEMA qc_s1;
CREATE SCHEMA qc_s2;
CREATE TABLE qc_s1.src AS SELECT 's1' AS name;
CREATE TABLE qc_s2.src AS SELECT 's2' AS name;
SET search_path = qc_s1, public;
SELECT querycache_wrap('items:sp', 'SELECT name FROM src');
SET search_path = qc_s2, public;
SELECT querycache_wrap('items:sp', 'SELECT name FROM src');
RESET search_path;
SET TimeZone = 'UTC';
SELECT querycache_wrap('items:tz', 'SELECT timestamptz ''2024-01-01 00:00:00+00'' AS ts');
SET TimeZone = 'Asia/Tokyo';
SELECT querycache_wrap('items:tz', 'SELECT timestamptz ''2024-01-01 00:00:00+00'' AS ts');
RESET TimeZone;
SET IntervalStyle = 'iso_8601';
SELECT querycache_wrap('items:iv', 'SELECT interval ''90 minutes''::text AS iv');
SET IntervalStyle = 'postgres';
SELECT querycache_wrap('items:iv', 'SELECT interval ''90 minutes''::text AS iv');
RESET IntervalStyle;
DROP SCHEMA qc_s1, qc_s2 CASCADE;

-- querycache_key: deterministic, sorted params.
SELECT querycache_key('agents:list', '{"userId": 123}');
SELECT querycache_key('agents:list', '{"b": 2, "a": "x"}') =
	querycache_key('agents:list', '{"a": "x", "b": 2}') AS order_independent;
SELECT querycache_key('agents:list', '{"b": 2, "a": "x", "c": null, "d": [1]}');
SELECT querycache_key('stats:all');

-- get / set / delete.
SELECT querycache_get('kv:1') IS NULL AS miss;
SELECT querycache_set('kv:1', '{"a": [1, 2]}');
SELECT querycache_get('kv:1');
SELECT querycache_set('kv:1', '"replaced"', interval '1 hour');
SELECT querycache_get('kv:1');
SELECT querycache_delete('kv:1'), querycache_delete('kv:1');
SELECT querycache_get('kv:1') IS NULL AS gone;
-- get returns what wrap stored under the same key.
SELECT querycache_wrap('items:for-get', 'SELECT count(*) AS n FROM items');
SELECT querycache_get('items:for-get');

-- clear_pattern is a POSIX regex over this role's keys in this database.
SELECT querycache_set('clr:a:1', '1'), querycache_set('clr:a:2', '2'), querycache_set('clr:b:1', '3');
SELECT querycache_clear_pattern('^clr:a:');
SELECT key FROM querycache_entries WHERE key LIKE 'clr:%' ORDER BY key;
SELECT querycache_clear_pattern('^nothing-matches$');

-- clear_all removes everything and says how many.
SELECT querycache_clear_all() > 0 AS removed_some;
SELECT entries, memory_bytes FROM querycache_stats;

-- querycache.enabled = off: wrap just runs the query, no reads and no writes.
SELECT querycache_stats_reset();
SET querycache.enabled = off;
SELECT querycache_wrap('items:off', 'SELECT count(*) AS n FROM items');
SELECT querycache_wrap('items:off', 'SELECT count(*) AS n FROM items');
SELECT querycache_get('items:off') IS NULL AS not_read;
RESET querycache.enabled;
SELECT hits, misses, fills, entries FROM querycache_stats;
SELECT querycache_get('items:off') IS NULL AS not_written;

-- entries view: columns of the seed's getStats().keys.
SELECT querycache_wrap('items:e', 'SELECT 1 AS one');
SELECT querycache_wrap('items:e', 'SELECT 1 AS one');
SELECT key, bytes > 0 AS has_bytes, expires_at > created_at AS expires_later,
	hits, last_hit_at IS NOT NULL AS was_hit, valid
  FROM querycache_entries WHERE key = 'items:e';

-- stats view has every documented column; hit_ratio is hits / (hits + misses).
SELECT entries, max_entries, memory_bytes > 0 AS mem, max_memory_bytes, hits, misses, fills,
	evictions >= 0 AS ev, expirations >= 0 AS ex, invalidations >= 0 AS inv, too_large,
	hit_ratio, stats_reset IS NOT NULL AS has_reset
  FROM querycache_stats;

-- DEBUG1 logs hits and misses with their key.
SET client_min_messages = debug1;
SELECT querycache_wrap('items:log', 'SELECT 2 AS two');
SELECT querycache_wrap('items:log', 'SELECT 2 AS two');
RESET client_min_messages;

DROP TABLE items;
SELECT querycache_clear_all() >= 0 AS cleared;
