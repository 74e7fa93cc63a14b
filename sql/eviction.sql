--
-- Bounded memory and entries: CLOCK eviction keeps hot keys, memory_bytes
-- never passes max_memory, and churn cannot fragment the memory.
--
SELECT querycache_clear_all() >= 0 AS cleared;
SELECT querycache_stats_reset();
SHOW querycache.max_entries;
SHOW querycache.max_memory;

-- A key hit all along survives a flood of one-off keys three times the capacity.
SELECT querycache_wrap('hot', 'SELECT 42 AS answer');
DO $$
BEGIN
	FOR i IN 1..3000 LOOP
		PERFORM querycache_wrap('flood:' || i, 'SELECT $1::int AS i', NULL, i);
		IF i % 10 = 0 THEN
			PERFORM querycache_wrap('hot', 'SELECT 42 AS answer');
		END IF;
	END LOOP;
END $$;
SELECT querycache_get('hot');
SELECT entries <= max_entries AS bounded, entries = max_entries AS full,
	evictions >= 3000 + 1 - max_entries AS evicted, hits >= 300 AS hot_hits
  FROM querycache_stats;
-- the oldest one-off keys were the ones evicted
SELECT querycache_get('flood:1') IS NULL AS oldest_gone, querycache_get('flood:3000') IS NOT NULL AS newest_kept;

-- memory_bytes never exceeds max_memory, checked after every store.
SELECT querycache_clear_all() > 0 AS cleared;
DO $$
DECLARE
	s record;
BEGIN
	FOR i IN 1..120 LOOP
		PERFORM querycache_wrap('big:' || i, 'SELECT repeat(''x'', $1) AS s', NULL, 100000 + i);
		SELECT * INTO s FROM querycache_stats;
		IF s.memory_bytes > s.max_memory_bytes THEN
			RAISE EXCEPTION 'memory_bytes % exceeds max_memory_bytes %', s.memory_bytes, s.max_memory_bytes;
		END IF;
	END LOOP;
END $$;
SELECT memory_bytes <= max_memory_bytes AS within, memory_bytes > max_memory_bytes / 2 AS used,
	too_large FROM querycache_stats;

-- After a churn of random-sized entries, an entry of max_entry_size still fits.
DO $$
BEGIN
	PERFORM setseed(0.42);
	FOR i IN 1..600 LOOP
		PERFORM querycache_wrap('churn:' || (i % 97), 'SELECT repeat(''y'', $1) AS s', NULL,
								1 + (random() * 200000)::int);
	END LOOP;
END $$;
SELECT querycache_stats_reset();
-- jsonb overhead of [{"s": "..."}] is small; aim just below the limit
SELECT current_setting('querycache.max_entry_size')::text AS max_entry_size;
SELECT length(querycache_wrap('max:sized', 'SELECT repeat(''z'', $1) AS s', NULL, 1024 * 1024 - 64)::text) > 1000000 AS returned;
SELECT querycache_get('max:sized') IS NOT NULL AS stored, too_large FROM querycache_stats;
SELECT bytes <= 1024 * 1024 AS fits, bytes > 1024 * 1024 - 128 AS near_max
  FROM querycache_entries WHERE key = 'max:sized';

SELECT querycache_clear_all() > 0 AS cleared;
