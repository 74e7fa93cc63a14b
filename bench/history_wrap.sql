-- Parallel-query cost (write_load.sh): the same aggregate through
-- querycache_wrap under a new key on every call, so every call is a miss
-- and a fill, which runs with parallel query off.
\set k random(1, 1000000000)
SELECT querycache_wrap('history:' || :k, :history_lit, interval '1 hour');
