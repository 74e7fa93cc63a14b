--
-- An entry belongs to (database, role, key): nobody else ever sees it.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_alice;
CREATE ROLE qc_bob;
CREATE TABLE secrets (owner name, secret text);
INSERT INTO secrets VALUES ('qc_alice', 'alice-secret'), ('qc_bob', 'bob-secret');
GRANT SELECT ON secrets TO qc_alice, qc_bob;

-- Same key, same query text, two roles: each gets its own result.
SET ROLE qc_alice;
SELECT querycache_wrap('same:key', 'SELECT secret FROM secrets WHERE owner = current_user');
SELECT querycache_wrap('same:key', 'SELECT secret FROM secrets WHERE owner = current_user');
SET ROLE qc_bob;
SELECT querycache_wrap('same:key', 'SELECT secret FROM secrets WHERE owner = current_user');
SELECT querycache_get('same:key');
-- bob sees only his own entries
SELECT key, userid = 'qc_bob'::regrole AS mine FROM querycache_entries;
-- delete and clear_pattern reach only his own entries (alice keeps hers, below)
SELECT querycache_delete('same:key');
SELECT querycache_clear_pattern('.*');
-- admin functions are not for PUBLIC
SELECT querycache_clear_all();
SELECT querycache_stats_reset();
RESET ROLE;

SET SESSION AUTHORIZATION qc_alice;
SELECT querycache_get('same:key');
SELECT querycache_set('kv:shared-name', '"alice"');
RESET SESSION AUTHORIZATION;
SELECT querycache_get('kv:shared-name') IS NULL AS superuser_does_not_see_alice;
-- a superuser (pg_read_all_stats) sees every role's entries
SELECT key, userid::regrole FROM querycache_entries ORDER BY key, userid::regrole::text;

-- Another database with the same key and query never sees this one's entry.
SELECT current_database() AS origdb \gset
CREATE TABLE dbname_t AS SELECT current_database()::text AS db;
SELECT querycache_wrap('same:db', 'SELECT db FROM dbname_t');
CREATE DATABASE qc_other_db;
\c qc_other_db
CREATE EXTENSION querycache;
CREATE TABLE dbname_t AS SELECT current_database()::text AS db;
SELECT querycache_get('same:db') IS NULL AS not_visible;
SELECT querycache_wrap('same:db', 'SELECT db FROM dbname_t');
SELECT querycache_wrap('same:db', 'SELECT db FROM dbname_t');
\c :origdb
SELECT querycache_wrap('same:db', 'SELECT db FROM dbname_t');
DROP DATABASE qc_other_db;
-- entries of a dropped database are never served; clear_all reclaims them
SELECT querycache_clear_all() > 0 AS cleared;

DROP TABLE dbname_t;
DROP TABLE secrets;
DROP ROLE qc_alice;
DROP ROLE qc_bob;
