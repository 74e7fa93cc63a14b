-- Figure 1: the same hit as agents_hit.sql, by key only (querycache_get):
-- what the hit costs without sending and parsing the query text.
SELECT querycache_get('agents:list:userId=1');
