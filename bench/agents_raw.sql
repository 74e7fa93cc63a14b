-- Figures 1 and 2: the agents list of user 1 as plain SQL, straight to the
-- server (uncached) or through pgpool-II (its query cache). :agents_sql is
-- scripts/agents_list.sql with $1 replaced by 1 (pgbench -D).
:agents_sql;
