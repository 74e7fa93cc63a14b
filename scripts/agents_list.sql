-- The agents-list query: one row per agent of user $1 with campaign, queued and
-- pending call counts. Shared by scripts/demo.sh, the benchmarks and the Node
-- example, which all read this file: $1 is the user id (bigint). Lines starting
-- with "--" are comments; the query has no trailing semicolon.
SELECT a.id, a.name, a.email, a.status,
       (SELECT count(*) FROM call_campaigns c WHERE c.agent_id = a.id) AS campaigns,
       (SELECT count(*) FROM call_queue q JOIN call_campaigns c ON c.id = q.campaign_id WHERE c.agent_id = a.id) AS queued,
       (SELECT count(*) FROM call_queue q JOIN call_campaigns c ON c.id = q.campaign_id WHERE c.agent_id = a.id AND q.status = 'pending') AS pending
  FROM agents a WHERE a.user_id = $1 ORDER BY a.id
