-- Write mix (write_mix.sh): an agent's status flips between active and
-- paused, a change to the agents list of the agent's user; in the same
-- statement that user's agents-list version goes up and is logged.
\set aid random(1, 200)
WITH a AS (
	UPDATE agents SET status = CASE WHEN status = 'active' THEN 'paused' ELSE 'active' END
	 WHERE id = :aid
	RETURNING user_id),
v AS (
	UPDATE agents_versions av SET version = av.version + 1, changed_at = clock_timestamp()
	  FROM a WHERE av.user_id = a.user_id
	RETURNING av.user_id, av.version, av.changed_at)
INSERT INTO version_log (list, user_id, version, changed_at, source)
SELECT 'agents', user_id, version, changed_at, 'agent' FROM v;
