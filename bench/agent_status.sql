-- Write load, control (write_load.sh): an agent of user 1 changes status, a
-- change to agents, which the agents list reads, and to that list's value.
\set id random(1, 10)
\set s random(1, 3)
UPDATE agents SET status = (ARRAY['active', 'paused', 'offline'])[:s] WHERE id = :id;
