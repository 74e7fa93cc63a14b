-- Figure 4: a hit on a value of :bytes bytes (key size:<bytes>, set by run.sh).
SELECT querycache_get('size:' || :bytes);
