-- Figure 6: the same query through querycache_wrap under a new key each call,
-- so every call misses, runs it, and stores the result (miss + fill). With
-- querycache.enabled = off (PGOPTIONS) it measures the bare wrapper instead.
\set k random(1, 1000000000)
SELECT querycache_wrap('miss:' || :k, :miss_lit, interval '1 hour');
