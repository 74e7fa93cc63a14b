-- Write mix (write_mix.sh), reader: the agents list of a random user through
-- querycache_wrap, as examples/node-api does (key querycache_key('agents:list',
-- {userId}), TTL 2 minutes, the user id as $1). :agents_mix_lit is
-- scripts/agents_list.sql with one more column, v, the user's agents-list
-- version read in the same snapshot (pgbench -D).
-- Staleness, in the same statement: the version in the returned value (rv)
-- against the one committed when this statement's snapshot was taken, before
-- the wrap ran (u.version). rv < u.version means a change committed before
-- the call is missing from the value: mix_stale() logs the age of the oldest
-- missing change to the server log: now - the commit timestamp of the
-- transaction that made version rv + 1 (track_commit_timestamp), and now -
-- the clock_timestamp() that transaction stamped on it, a little earlier.
\set uid random(1, 20)
WITH w AS MATERIALIZED (
	SELECT (querycache_wrap(querycache_key('agents:list', jsonb_build_object('userId', :uid)),
							:agents_mix_lit, interval '2 minutes', :uid) -> 0 ->> 'v')::bigint AS rv)
SELECT CASE WHEN coalesce(w.rv, -1) < u.version
			THEN mix_stale(':phase', 'agents', :uid, w.rv, u.version,
						   pg_xact_commit_timestamp(l.xmin), l.changed_at) ELSE 0 END AS stale_ms
  FROM w JOIN agents_versions u ON u.user_id = :uid
  LEFT JOIN version_log l ON l.list = 'agents' AND l.user_id = :uid AND l.version = w.rv + 1;
