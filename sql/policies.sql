--
-- querycache_policies: per key pattern, the TTL, the dependency policy and
-- the stale-while-revalidate window; the longest matching pattern wins.
-- querycache_ttl is a view of it, for 1.0 users.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT * FROM querycache_policies ORDER BY pattern;
SELECT * FROM querycache_ttl ORDER BY pattern;

-- the view is updatable: 1.0's way of adding a TTL still works
INSERT INTO querycache_ttl VALUES ('^pol:viewttl', interval '7 minutes');
SELECT pattern, ttl, depends, stale_while_revalidate FROM querycache_policies WHERE pattern = '^pol:viewttl';
DELETE FROM querycache_ttl WHERE pattern = '^pol:viewttl';

-- bad rows are refused
INSERT INTO querycache_policies (pattern, depends) VALUES ('^pol:bad', 'everything');
INSERT INTO querycache_policies (pattern, stale_while_revalidate) VALUES ('^pol:bad', interval '-1 second');
INSERT INTO querycache_policies (pattern, stale_while_revalidate) VALUES ('^pol:bad', interval '2 days');
INSERT INTO querycache_policies (pattern, ttl) VALUES ('(', interval '1 minute');

CREATE TABLE pol_ruled (id int);
CREATE TABLE pol_other (id int);
INSERT INTO pol_ruled VALUES (1);
INSERT INTO pol_other VALUES (1);
SELECT querycache_watch('pol_ruled', '^pol:');

-- depends = 'reads' (the default): a write to any table read invalidates
SELECT querycache_wrap('pol:reads', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');
INSERT INTO pol_other VALUES (2);
SELECT querycache_wrap('pol:reads', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');

-- depends = 'rules': only the tables of the rules the key matches; a
-- write to another table it read shows after the TTL (the seed's semantics)
INSERT INTO querycache_policies (pattern, ttl, depends) VALUES ('^pol:rules', interval '1 hour', 'rules');
SELECT querycache_wrap('pol:rules', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');
INSERT INTO pol_other VALUES (3);
SELECT valid AS valid_after_unruled_write FROM querycache_entries WHERE key = 'pol:rules';
SELECT querycache_wrap('pol:rules', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');
INSERT INTO pol_ruled VALUES (2);
SELECT valid AS valid_after_ruled_write FROM querycache_entries WHERE key = 'pol:rules';
SELECT querycache_wrap('pol:rules', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');
SELECT extract(epoch FROM expires_at - created_at)::int AS ttl_seconds FROM querycache_entries WHERE key = 'pol:rules';

-- whatever the policy, a transaction never shares what it computed from
-- its own writes, nor reads an entry it wrote a dependency of
BEGIN;
INSERT INTO pol_other VALUES (4);
SELECT querycache_wrap('pol:rules:own', 'SELECT count(*) AS o FROM pol_other');
SELECT querycache_get('pol:rules:own') IS NULL AS not_shared;
ROLLBACK;
SELECT querycache_wrap('pol:rules:own', 'SELECT count(*) AS o FROM pol_other');

-- DDL and privileges still invalidate 'rules' entries (the epochs)
SELECT querycache_wrap('pol:rules', 'SELECT (SELECT count(*) FROM pol_ruled) AS r, (SELECT count(*) FROM pol_other) AS o');
ALTER TABLE pol_other ADD COLUMN extra int;
SELECT valid AS valid_after_ddl FROM querycache_entries WHERE key = 'pol:rules';

-- the longest pattern wins
INSERT INTO querycache_policies (pattern, ttl) VALUES ('^pol:rules:long', interval '3 minutes');
SELECT querycache_wrap('pol:rules:long', 'SELECT count(*) AS o FROM pol_other');
INSERT INTO pol_other VALUES (5);
SELECT valid AS reads_policy_of_longer_pattern FROM querycache_entries WHERE key = 'pol:rules:long';
SELECT extract(epoch FROM expires_at - created_at)::int AS ttl_seconds FROM querycache_entries WHERE key = 'pol:rules:long';

-- stale_while_revalidate: a single session always refreshes itself (it
-- leads the refresh); iso_swr shows other sessions getting the stale value.
-- The window counts from the fill for an invalidated entry.
INSERT INTO querycache_policies (pattern, stale_while_revalidate) VALUES ('^pol:swr', interval '1 second');
SELECT querycache_wrap('pol:swr', 'SELECT count(*) AS o FROM pol_other');
INSERT INTO pol_other VALUES (6);
SELECT valid, stale FROM querycache_entries WHERE key = 'pol:swr';
SELECT pg_sleep(1.1);
-- (the sweeper may have reclaimed it already)
SELECT coalesce(bool_or(stale), false) AS stale_after_window FROM querycache_entries WHERE key = 'pol:swr';
SELECT querycache_wrap('pol:swr', 'SELECT count(*) AS o FROM pol_other');
SELECT stale_hits FROM querycache_stats;

DELETE FROM querycache_policies WHERE pattern LIKE '^pol:%';
SELECT querycache_unwatch('pol_ruled');
DROP TABLE pol_ruled, pol_other;
SELECT querycache_clear_all() >= 0 AS cleared;
