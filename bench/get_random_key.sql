-- Figure 3: hits on keys bench:1 .. bench:<nkeys>, all present (run.sh sets them).
\set k random(1, :nkeys)
SELECT querycache_get('bench:' || :k);
