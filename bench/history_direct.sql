-- Parallel-query cost (write_load.sh): the aggregate over call_history
-- (a 2M-row table), run directly; :history_sql comes from pgbench -D.
:history_sql;
