--
-- Keys and limits (issue 10): querycache_key is injective, the documented
-- key format stays, out-of-range TTLs are rejected with a clear error (in
-- the functions and by a CHECK on querycache_ttl), and params that are not
-- a JSON object get querycache's own error.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_keys LOGIN;
SET SESSION AUTHORIZATION qc_keys;

-- ---- the documented example stays as it is ----
SELECT querycache_key('agents:list', '{"userId": 123}') = 'agents:list:userId=123' AS documented_example;
SELECT querycache_key('agents:list', '{"userId": 123}');
SELECT querycache_key('agents:list') = 'agents:list' AS no_params;

-- ---- different params, different keys ----
-- separators inside a string value
SELECT querycache_key('a', '{"b":"x:y=z"}') = querycache_key('a', '{"b":"x","y":"z"}') AS same_key;
-- a separator inside a name
SELECT querycache_key('a', '{"b=x":"y"}') = querycache_key('a', '{"b":"x=y"}') AS same_key;
-- a string and a number, a string and null, true and a string, an array and a string
SELECT querycache_key('a', '{"b":"1"}') = querycache_key('a', '{"b":1}') AS same_key;
SELECT querycache_key('a', '{"b":"null"}') = querycache_key('a', '{"b":null}') AS same_key;
SELECT querycache_key('a', '{"b":"true"}') = querycache_key('a', '{"b":true}') AS same_key;
SELECT querycache_key('a', '{"b":"[1, 2]"}') = querycache_key('a', '{"b":[1,2]}') AS same_key;
-- the prefix and the params (beyond the issue's cases; for the maintainers
-- to decide, since the documented format puts ':' in prefixes)
SELECT querycache_key('a:b=1') = querycache_key('a', '{"b":1}') AS same_key;
-- all of these, distinct inputs: how many distinct keys?
SELECT count(*) AS inputs, count(DISTINCT querycache_key('a', p)) AS distinct_keys
  FROM unnest(ARRAY['{"b":"x:y=z"}', '{"b":"x","y":"z"}', '{"b=x":"y"}', '{"b":"x=y"}',
                    '{"b":"1"}', '{"b":1}', '{"b":"null"}', '{"b":null}',
                    '{"b":"true"}', '{"b":true}', '{"b":"[1, 2]"}', '{"b":[1,2]}']::jsonb[]) AS p;

-- ---- params that are not an object: querycache's own error ----
SELECT querycache_key('a', '[1,2]');
SELECT querycache_key('a', '5');
SELECT querycache_key('a', 'null');

-- ---- out-of-range TTLs ----
-- 178 million years overflows the expiry time (microseconds since 2000).
SELECT querycache_wrap('ttl:huge', 'SELECT 1 AS one', interval '178000000 years');
SELECT count(*) AS stored, bool_and(expires_at < now() + interval '200000 years') AS expiry_wrapped_around
  FROM querycache_entries WHERE key = 'ttl:huge';
SELECT querycache_set('ttl:huge-set', '1', interval '178000000 years');
SELECT count(*) AS stored, bool_and(expires_at < now() + interval '200000 years') AS expiry_wrapped_around
  FROM querycache_entries WHERE key = 'ttl:huge-set';
SELECT querycache_wrap('ttl:huge-param', 'SELECT $1::int AS one', interval '178000000 years', 1);
RESET SESSION AUTHORIZATION;

-- In querycache_ttl: the CHECK must refuse it, since otherwise every miss
-- in the database fails.
INSERT INTO querycache_ttl VALUES ('^huge:', interval '178000000 years');
SELECT querycache_wrap('other:1', 'SELECT 1 AS one');
SELECT querycache_wrap('huge:1', 'SELECT 1 AS one');
SET SESSION AUTHORIZATION qc_keys;
SELECT querycache_wrap('other:2', 'SELECT 2 AS two');
RESET SESSION AUTHORIZATION;
DELETE FROM querycache_ttl WHERE pattern = '^huge:';
SELECT querycache_wrap('other:1', 'SELECT 1 AS one');

DROP OWNED BY qc_keys;
DROP ROLE qc_keys;
SELECT querycache_clear_all() >= 0 AS cleared;
