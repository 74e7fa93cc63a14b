#!/usr/bin/env bash
# querycache_wrap concurrent with DROP EXTENSION querycache fails with an
# internal error (SQLSTATE XX000) raised by relation_open:
#   ERROR:  could not open relation with OID 16481
# qc_config_resolve (src/rules.c) finds querycache_ttl/querycache_rules by
# name without a lock; qc_patterns_load then table_open()s that OID, waits
# for the dropping transaction's lock, and the relation is gone when it
# gets it.  Expected: the wrap goes on without config tables (or a clean
# error such as "querycache is not installed in this database"), never
# XX000.  Not a crash.  Seen 7 times in a 10-minute fuzz run.
# Usage: PGHOST=... PGPORT=... PGDATABASE=... bash 003_drop_extension_race.sh
set -u
psql -X -q -c 'CREATE EXTENSION IF NOT EXISTS querycache'
psql -X -q -c 'BEGIN' -c 'DROP EXTENSION querycache CASCADE' -c 'SELECT pg_sleep(2)' -c 'COMMIT' >/dev/null 2>&1 &
sleep 0.7
# a new backend: its copies of the config tables are not loaded yet
psql -X -c "SELECT querycache_wrap('k:race', 'SELECT 1 AS one')"
wait
psql -X -q -c 'CREATE EXTENSION IF NOT EXISTS querycache'
