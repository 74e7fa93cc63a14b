--
-- The config tables as the C loader reads them (src/rules.c): long
-- patterns, stored compressed or out of line, still match; a column of the
-- wrong type is an error, never a crash.  (Found by scripts/fuzz.sh work,
-- scripts/fuzz_repro/001 and 002.)
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE TABLE cfg_lt (x int);
INSERT INTO cfg_lt VALUES (1);
SELECT querycache_watch('cfg_lt', '^cfgshort:');
-- 3006 characters, stored compressed
SELECT querycache_watch('cfg_lt', '^cfglong:|' || repeat('z', 3000));
-- 2569 incompressible characters, stored out of line
SELECT querycache_watch('cfg_lt', '^cfgext:|' || (SELECT string_agg(md5(g::text), '' ORDER BY g) FROM generate_series(1, 80) g));
SELECT pattern ~ '^\^cfg' AS ours, length(pattern) AS len,
       pg_column_size(pattern) < length(pattern) AS compressed
  FROM querycache_rules WHERE table_name = 'cfg_lt'::regclass ORDER BY len;
SELECT querycache_set('cfgshort:x', (SELECT to_jsonb(max(x)) FROM cfg_lt));
SELECT querycache_set('cfglong:x', (SELECT to_jsonb(max(x)) FROM cfg_lt));
SELECT querycache_set('cfgext:x', (SELECT to_jsonb(max(x)) FROM cfg_lt));
UPDATE cfg_lt SET x = 2;
SELECT querycache_get('cfgshort:x') IS NULL AS short_invalidated,
       querycache_get('cfglong:x') IS NULL AS long_invalidated,
       querycache_get('cfgext:x') IS NULL AS out_of_line_invalidated;

-- a long policy pattern gives its TTL too
INSERT INTO querycache_policies (pattern, ttl) VALUES ('^cfgttl:|' || repeat('z', 3000), interval '7 minutes');
SELECT querycache_wrap('cfgttl:1', 'SELECT 1 AS one');
SELECT extract(epoch FROM expires_at - created_at)::int AS ttl_seconds FROM querycache_entries WHERE key = 'cfgttl:1';
DELETE FROM querycache_policies WHERE pattern LIKE '^cfgttl:%';
SELECT querycache_unwatch('cfg_lt');
DROP TABLE cfg_lt;

-- a superuser changed a column's type: querycache's error, no crash
SELECT current_database() AS origdb \gset
CREATE DATABASE qc_cfg_db;
\c qc_cfg_db
SET client_min_messages = warning;
CREATE EXTENSION querycache;
RESET client_min_messages;
ALTER TABLE querycache_rules DROP CONSTRAINT querycache_rules_pattern_check;
ALTER TABLE querycache_rules ALTER COLUMN pattern TYPE int USING length(pattern);
SELECT querycache_wrap('cfgtype:1', 'SELECT 1 AS one');
SELECT querycache_set('cfgtype:2', '1');
\c qc_cfg_db
ALTER TABLE querycache_rules ALTER COLUMN pattern TYPE text;
ALTER TABLE querycache_policies DROP CONSTRAINT querycache_policies_stale_while_revalidate_check,
	ALTER COLUMN stale_while_revalidate TYPE text;
SELECT querycache_wrap('cfgtype:3', 'SELECT 1 AS one');
SELECT 'backend still alive' AS status;
\c :origdb
DROP DATABASE qc_cfg_db;
SELECT querycache_clear_all() >= 0 AS cleared;
