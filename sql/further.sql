--
-- Further findings while writing the issue 10 tests (not in the issue).
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_further LOGIN;
SET SESSION AUTHORIZATION qc_further;

-- ---- a result column named t ----
-- The query runs as SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM (query) t,
-- and a column named t takes precedence over the row alias t: the result is
-- an array of that column's values instead of an array of row objects.
SELECT querycache_wrap('shape:t', 'SELECT 1 AS t, 2 AS u');
SELECT querycache_wrap('shape:u', 'SELECT 1 AS u, 2 AS t');
SELECT querycache_wrap('shape:plain', 'SELECT 1 AS u, 2 AS v');
-- and with the cache off
SET querycache.enabled = off;
SELECT querycache_wrap('shape:t', 'SELECT 1 AS t, 2 AS u');
RESET querycache.enabled;

RESET SESSION AUTHORIZATION;
DROP ROLE qc_further;
SELECT querycache_clear_all() >= 0 AS cleared;
