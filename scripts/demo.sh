#!/usr/bin/env bash
# Demo: build and install querycache, load the call-center seed data into a
# throwaway PostgreSQL 15 cluster, then run the agents-list query uncached and
# through querycache_wrap (miss, then hit) and show querycache_stats.
# Usage (as root): bash scripts/demo.sh [--keep]   --keep leaves the cluster running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

keep=0
case ${1:-} in
--keep) keep=1 ;;
"") ;;
*) echo "usage: bash scripts/demo.sh [--keep]" >&2; exit 2 ;;
esac
heading() { printf '\n=== %s ===\n' "$*"; }
sql() { psql -X -v ON_ERROR_STOP=1 -d callcenter "$@"; }

heading "Build and install querycache (installs missing packages first)"
qc_install_deps
qc_build_install
rm -rf "$QC_BUILD_DIR"

heading "Start a throwaway PostgreSQL 15 cluster with shared_preload_libraries = 'querycache'"
trap qc_stop_cluster EXIT
qc_start_cluster "" 54329
echo "cluster in $QC_PGDIR, port $PGPORT"

heading "Create database callcenter, load scripts/schema.sql and scripts/seed_data.sql"
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE callcenter'
sql -q -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
sql -c "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM agents) AS agents,
               (SELECT count(*) FROM contacts) AS contacts, (SELECT count(*) FROM call_campaigns) AS campaigns,
               (SELECT count(*) FROM call_queue) AS queued_calls,
               (SELECT count(*) - count(DISTINCT (campaign_id, contact_id)) FROM call_queue) AS duplicate_rows"

heading "CREATE EXTENSION querycache (its migration moves duplicate call_queue rows to call_queue_duplicates and adds the unique constraint and indexes)"
sql -c 'CREATE EXTENSION querycache'
# What the migration did.
sql -c "SELECT (SELECT count(*) FROM call_queue) AS queued_calls,
               (SELECT count(*) FROM call_queue_duplicates) AS moved_to_call_queue_duplicates" \
    -c "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"

# The shared query text, without its comment lines; $1 is the user id.
q=$(sed '/^[[:space:]]*--/d' scripts/agents_list.sql)
sql -v q="$q" -v q_user1="${q//\$1/1}" <<'SQL'
\echo
\echo === The agents-list query for user 1, straight from the tables (scripts/agents_list.sql) ===
\timing on
:q_user1;
\echo
\echo === The same through querycache_wrap, first call: a miss, runs the query and stores the result ===
\pset format wrapped
\pset columns 110
SELECT querycache_wrap('agents:list:userId=1', :'q', interval '2 minutes', 1::bigint);
\echo
\echo === Second call: a hit, served from shared memory ===
SELECT querycache_wrap('agents:list:userId=1', :'q', interval '2 minutes', 1::bigint);
\echo
\echo === Any committed write invalidates, whoever makes it (here: psql, not the app) ===
UPDATE agents SET status = 'offline' WHERE id = 1;
\echo
\echo === Third call: a miss again, and agent 1 is offline in the result ===
SELECT querycache_wrap('agents:list:userId=1', :'q', interval '2 minutes', 1::bigint) -> 0 ->> 'status' AS agent_1_status;
\timing off
\echo
\echo === SELECT * FROM querycache_stats ===
\x on
SELECT * FROM querycache_stats;
SQL

if ((keep)); then
	trap - EXIT
	heading "Cluster left running"
	echo "connect: psql -h $PGHOST -p $PGPORT -U postgres callcenter"
	echo "stop:    runuser -u postgres -- $QC_PG_BIN/pg_ctl -D $QC_PGDIR/data stop && rm -rf $QC_PGDIR"
else
	heading "Done: stopping and removing the cluster (run with --keep to keep it)"
fi
