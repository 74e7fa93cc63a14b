-- Write mix (write_mix.sh), reader: the contacts list of a random user
-- through querycache_wrap (examples/node-api's contacts list, key
-- querycache_key('contacts:list', {userId})), checked like
-- mix_read_agents.sql against the user's contacts-list version.
\set uid random(1, 20)
WITH w AS MATERIALIZED (
	SELECT (querycache_wrap(querycache_key('contacts:list', jsonb_build_object('userId', :uid)),
							:contacts_mix_lit, interval '2 minutes', :uid) -> 0 ->> 'v')::bigint AS rv)
SELECT CASE WHEN coalesce(w.rv, -1) < u.version
			THEN mix_stale(':phase', 'contacts', :uid, w.rv, u.version,
						   pg_xact_commit_timestamp(l.xmin), l.changed_at) ELSE 0 END AS stale_ms
  FROM w JOIN contacts_versions u ON u.user_id = :uid
  LEFT JOIN version_log l ON l.list = 'contacts' AND l.user_id = :uid AND l.version = w.rv + 1;
