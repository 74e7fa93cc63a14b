-- Figure 6: the ~1 ms query, run directly. :miss_sql comes from run.sh (pgbench -D).
:miss_sql;
