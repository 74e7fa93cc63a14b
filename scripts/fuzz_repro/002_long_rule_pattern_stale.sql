-- A rule (querycache_rules) whose pattern is longer than about 2 kB is
-- stored compressed or out of line, and qc_patterns_load (src/rules.c)
-- copies the raw datum without detoasting it: the compiled regex is that of
-- the compressed bytes or the TOAST pointer, so the rule never matches and
-- writes to its table do not invalidate the keys it names.  Any table's
-- owner can add such a rule with querycache_watch.  Long querycache_ttl
-- patterns are ignored the same way (the key gets another TTL).
-- Expected: short_after_write and long_after_write both NULL.
-- Actual:   long_after_write is 1, the value from before the write (stale).
CREATE EXTENSION IF NOT EXISTS querycache;
CREATE TABLE repro_lt (x int);
INSERT INTO repro_lt VALUES (1);
SELECT querycache_watch('repro_lt', '^short:');
SELECT querycache_watch('repro_lt', '^long:|' || repeat('z', 3000));	-- 3006 chars, stored pglz-compressed
SELECT querycache_set('short:x', (SELECT to_jsonb(max(x)) FROM repro_lt));
SELECT querycache_set('long:x', (SELECT to_jsonb(max(x)) FROM repro_lt));
UPDATE repro_lt SET x = 2;
SELECT querycache_get('short:x') AS short_after_write,
       querycache_get('long:x') AS long_after_write,
       (SELECT max(x) FROM repro_lt) AS actual;
-- Inline patterns work: with repeat('z', 1900) long_after_write is NULL too.
-- An incompressible pattern of 2,406 characters (stored out of line) fails
-- the same way.
DROP TABLE repro_lt;
