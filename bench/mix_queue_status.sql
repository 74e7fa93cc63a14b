-- Write mix (write_mix.sh): a queued call changes status, pending <->
-- in_progress, so the pending count of one agent in the agents list of the
-- call's user changes. In the same statement (one transaction) the user's
-- agents-list version goes up, stamped with the time, and is logged.
\set qid random(1, 59400)
WITH q AS (
	UPDATE call_queue SET status = CASE WHEN status = 'pending' THEN 'in_progress' ELSE 'pending' END
	 WHERE id = (SELECT min(id) FROM call_queue WHERE id >= :qid)
	RETURNING campaign_id),
v AS (
	UPDATE agents_versions av SET version = av.version + 1, changed_at = clock_timestamp()
	  FROM q JOIN call_campaigns c ON c.id = q.campaign_id
	 WHERE av.user_id = c.user_id
	RETURNING av.user_id, av.version, av.changed_at)
INSERT INTO version_log (list, user_id, version, changed_at, source)
SELECT 'agents', user_id, version, changed_at, 'queue' FROM v;
