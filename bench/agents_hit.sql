-- Figure 1: the agents list of user 1 through querycache_wrap; run.sh warms
-- it first, so every call is a hit. :agents_lit is scripts/agents_list.sql
-- as a dollar-quoted literal (pgbench -D).
SELECT querycache_wrap('agents:list:userId=1', :agents_lit, interval '1 hour', 1);
