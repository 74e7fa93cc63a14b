--
-- TTLs: explicit, from querycache_ttl (longest pattern first), or the default;
-- expired entries are never returned and the sweeper reclaims them.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT querycache_stats_reset();

-- the seeded TTLs of the seed's cache
SELECT * FROM querycache_ttl ORDER BY pattern;

CREATE FUNCTION ttl_of(k text) RETURNS interval LANGUAGE sql AS
$$ SELECT date_trunc('second', expires_at - created_at + interval '0.5 s')
     FROM querycache_entries WHERE key = k $$;

SELECT querycache_wrap('agents:list:userId=1', 'SELECT 1 AS x');
SELECT querycache_wrap('stats:calls', 'SELECT 1 AS x');
SELECT querycache_wrap('campaigns:7', 'SELECT 1 AS x');
SELECT querycache_wrap('other:key', 'SELECT 1 AS x');
SELECT querycache_wrap('explicit:key', 'SELECT 1 AS x', interval '42 seconds');
SELECT querycache_set('set:key', '1', interval '1 hour');
SELECT ttl_of('agents:list:userId=1') AS agents, ttl_of('stats:calls') AS stats,
	ttl_of('campaigns:7') AS campaigns, ttl_of('other:key') AS default_ttl,
	ttl_of('explicit:key') AS explicit, ttl_of('set:key') AS set_ttl;

-- the longest matching pattern wins; table changes apply to the next fill
INSERT INTO querycache_ttl VALUES ('^stats:calls', interval '5 seconds'), ('^stat', interval '1 hour');
SELECT querycache_delete('stats:calls');
SELECT querycache_wrap('stats:calls', 'SELECT 1 AS x');
SELECT querycache_wrap('stats:other', 'SELECT 1 AS x');
SELECT querycache_wrap('statistics', 'SELECT 1 AS x');
SELECT ttl_of('stats:calls') AS longest, ttl_of('stats:other') AS next, ttl_of('statistics') AS short;
DELETE FROM querycache_ttl WHERE pattern IN ('^stats:calls', '^stat');

-- querycache.default_ttl applies when no pattern matches
SET querycache.default_ttl = '7min';
SELECT querycache_wrap('other:key2', 'SELECT 1 AS x');
SELECT ttl_of('other:key2');
RESET querycache.default_ttl;

-- an expired entry is never returned, by wrap or get: the call after the
-- TTL runs the query again (a miss) and stores a new entry.
SELECT querycache_stats_reset();
SELECT querycache_wrap('short:lived', 'SELECT 1 AS v', interval '1 second');
SELECT querycache_set('short:kv', '"old"', interval '1 second');
SELECT querycache_wrap('short:lived', 'SELECT 1 AS v', interval '1 second');
CREATE TEMP TABLE short_before AS
	SELECT created_at FROM querycache_entries WHERE key = 'short:lived';
SELECT pg_sleep(1.2);
SELECT querycache_wrap('short:lived', 'SELECT 1 AS v', interval '1 second');
SELECT querycache_get('short:kv') IS NULL AS expired_get;
SELECT hits, misses FROM querycache_stats;
SELECT e.created_at > b.created_at AS refilled
  FROM querycache_entries e, short_before b WHERE e.key = 'short:lived';

-- the sweeper (querycache.sweep_interval = 1s in the test config) reclaims
-- expired entries without any traffic
SELECT querycache_wrap('sweep:1', 'SELECT 1 AS x', interval '1 second');
SELECT querycache_wrap('sweep:2', 'SELECT 2 AS x', interval '1 second');
SELECT count(*) FROM querycache_entries WHERE key LIKE 'sweep:%';
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM querycache_entries WHERE key LIKE 'sweep:%');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT count(*) FROM querycache_entries WHERE key LIKE 'sweep:%';
SELECT expirations >= 2 AS swept FROM querycache_stats;
SELECT backend_type FROM pg_stat_activity WHERE backend_type = 'querycache sweeper';

DROP FUNCTION ttl_of(text);
SELECT querycache_clear_all() >= 0 AS cleared;
