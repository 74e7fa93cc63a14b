-- Write load (write_load.sh): a role logging calls into its own TEMP table,
-- created by the first transaction of each connection (pgbench has no
-- per-connection setup; "\;" sends both statements as one implicit
-- transaction). No other session can read a temporary table.
\set agent random(1, 200)
\set contact random(1, 20000)
\set duration random(5, 600)
CREATE TEMP TABLE IF NOT EXISTS my_calls (agent_id bigint, contact_id bigint, duration_s integer, at timestamptz DEFAULT now()) \; INSERT INTO my_calls (agent_id, contact_id, duration_s) VALUES (:agent, :contact, :duration);
