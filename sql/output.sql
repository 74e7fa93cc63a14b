--
-- A hit that is the whole row goes to the client as the stored text of the
-- value (output.c), without jsonb_out.  It must be the very text jsonb_out
-- prints, in the client's encoding; every other shape goes through printtup.
-- DEBUG2 "querycache sent the stored text" marks the rows sent that way.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SHOW server_encoding;
-- (DDL makes the database's entries stale: create the table first.)
CREATE TABLE out_items (id int PRIMARY KEY, name text);
INSERT INTO out_items VALUES (1, 'café'), (2, 'naïve "quoted"');

SELECT querycache_set('out:' || k, v::jsonb) FROM (VALUES
	('str', '"quote \" backslash \\ tab \t newline \n bell \u0007 é 𝄞"'),
	('num', '[0, -0, 1.50, 1e100, -12345678901234567890.000000001, 0.0001]'),
	('nest', '{"b": {"c": [1, {"d": null}]}, "a": [], "e": {}, "f": true, "g": false}'),
	('null', 'null'),
	('empty', '[]'),
	('keys', '{"é": 1, "": 2, "a\"b": 3, "long key with spaces": 4}')) AS t(k, v);

PREPARE out_get AS SELECT querycache_get('out:empty');

-- Each value, received through the fast path, equals jsonb_out's text.
SET client_min_messages = debug2;
SELECT querycache_get('out:str') \gset str_
SELECT querycache_get('out:num') \gset num_
SELECT querycache_get('out:nest') \gset nest_
SELECT querycache_get('out:null') \gset null_
SELECT querycache_get('out:empty') \gset empty_
SELECT querycache_get('out:keys') \gset keys_
RESET client_min_messages;
SELECT :'str_querycache_get' = querycache_get('out:str')::text AS str,
	:'num_querycache_get' = querycache_get('out:num')::text AS num,
	:'nest_querycache_get' = querycache_get('out:nest')::text AS nest,
	:'null_querycache_get' = querycache_get('out:null')::text AS "null",
	:'empty_querycache_get' = querycache_get('out:empty')::text AS empty,
	:'keys_querycache_get' = querycache_get('out:keys')::text AS keys;
SELECT querycache_get('out:num');
SELECT querycache_get('out:nest');

-- Values whose jsonb and text span several 512-byte blocks.
SELECT querycache_set('out:big' || n, (SELECT jsonb_agg(i || repeat('é', i % 7))
	FROM generate_series(1, n) AS i)) FROM (VALUES (10), (100), (1000)) AS v(n);
SELECT querycache_get('out:big10') AS big10 \gset
SELECT querycache_get('out:big100') AS big100 \gset
SELECT querycache_get('out:big1000') AS big1000 \gset
SELECT :'big10' = querycache_get('out:big10')::text AS big10,
	:'big100' = querycache_get('out:big100')::text AS big100,
	:'big1000' = querycache_get('out:big1000')::text AS big1000,
	octet_length(:'big1000') AS text_bytes;

-- querycache_wrap: the miss goes through printtup, the hit is sent as text.
SET client_min_messages = debug2;
SELECT querycache_wrap('out:items', 'SELECT * FROM out_items ORDER BY id') \gset miss_
SELECT querycache_wrap('out:items', 'SELECT * FROM out_items ORDER BY id') \gset hit_
RESET client_min_messages;
SELECT :'miss_querycache_wrap' = :'hit_querycache_wrap' AS hit_equals_miss,
	:'hit_querycache_wrap';

-- Several rows: hits are sent as text, a miss (NULL) through printtup.
SET client_min_messages = debug2;
SELECT querycache_get(k) AS v FROM (VALUES ('out:empty'), ('out:missing'), ('out:null')) AS t(k);
RESET client_min_messages;

-- Other shapes go through printtup and print the same text.
SET client_min_messages = debug2;
SELECT querycache_get('out:nest') -> 'b' AS field;
SELECT querycache_get('out:empty') AS v, 1 AS one;
-- (the planner removes this subquery: the hit is the row again, sent as text)
SELECT v FROM (SELECT querycache_get('out:empty') AS v OFFSET 0) AS s;
SELECT querycache_get('out:empty') FROM out_items ORDER BY id DESC;
EXECUTE out_get;
COPY (SELECT querycache_get('out:nest')) TO STDOUT;
BEGIN;
DECLARE out_cur CURSOR FOR SELECT querycache_get('out:null');
FETCH out_cur;
COMMIT;
RESET client_min_messages;

-- The client encoding applies: converted like printtup does, or the same error.
SET client_encoding = 'LATIN1';
SELECT querycache_wrap('out:items', 'SELECT * FROM out_items ORDER BY id') \gset latin1_
SELECT :'latin1_querycache_wrap' = querycache_get('out:items')::text AS converted;
SELECT querycache_get('out:str');
SELECT querycache_get('out:str') AS v, 1 AS one;
RESET client_encoding;

-- A statement failing after a row went out as text leaves nothing behind.
SELECT querycache_get(CASE WHEN n = 2 THEN repeat('k', 300) ELSE 'out:empty' END)
FROM generate_series(1, 2) AS n;
SET client_min_messages = debug2;
SELECT querycache_get('out:null');
RESET client_min_messages;

-- querycache.store_text = off: entries without text take half the blocks
-- here, and their hits go through jsonb_out.
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT querycache_set('out:text', jsonb_build_object('s', repeat('x', 300)));
SELECT memory_bytes FROM querycache_stats;
SELECT querycache_clear_all();
SET querycache.store_text = off;
SELECT querycache_set('out:text', jsonb_build_object('s', repeat('x', 300)));
SELECT memory_bytes FROM querycache_stats;
RESET querycache.store_text;
SET client_min_messages = debug2;
SELECT querycache_get('out:text') AS notext \gset
RESET client_min_messages;
SELECT :'notext' = jsonb_build_object('s', repeat('x', 300))::text AS same;

DROP TABLE out_items;
