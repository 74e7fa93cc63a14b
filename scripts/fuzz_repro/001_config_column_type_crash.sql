-- SIGSEGV in qc_patterns_load (src/rules.c:228, VARSIZE_ANY on the pattern
-- datum) after a superuser changes the type of querycache_ttl.pattern:
-- the loader checks that the columns exist, not their types, and reads an
-- int4 datum as a pointer to a varlena.  Same with querycache_rules.pattern
-- (and garbage, not a crash, for ttl or table_name of another type).
--   LOG:  server process (PID n) was terminated by signal 11: Segmentation fault
--   #0 qc_patterns_load (pc=<qc_ttls>) at src/rules.c:228
--   #1 qc_ttl_for_key at src/rules.c:273
--   #2 qc_expiry / qc_store_result at src/api.c:148,165
--   #4 querycache_wrap at src/api.c:280
-- Expected: an error naming the table whose column has the wrong type (or
-- ignoring the table), never a crash.  Superuser only: the config tables
-- belong to the extension's owner.
CREATE EXTENSION IF NOT EXISTS querycache;
BEGIN;
ALTER TABLE querycache_ttl DROP CONSTRAINT querycache_ttl_pattern_check;
ALTER TABLE querycache_ttl ALTER COLUMN pattern TYPE int USING length(pattern);
COMMIT;
SELECT querycache_wrap('k', 'SELECT 1 AS one');	-- a miss that stores: looks up the key's TTL
