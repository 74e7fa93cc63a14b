-- Write load (write_load.sh): one call logged in call_log, a table the agents
-- list never reads (its foreign keys only check agents and contacts).
\set agent random(1, 200)
\set contact random(1, 20000)
\set duration random(5, 600)
INSERT INTO call_log (agent_id, contact_id, duration_s, outcome) VALUES (:agent, :contact, :duration, 'answered');
