#!/usr/bin/env bash
# Fuzz querycache for a given time:  bash scripts/fuzz.sh [seconds]   (default 60)
#
# Builds and installs querycache (like scripts/test.sh), starts a throwaway
# cluster with it preloaded, loads the demo schema and data
# (scripts/schema.sql, scripts/seed_data.sql), CREATE EXTENSION querycache
# and scripts/fuzz_setup.sql, then runs scripts/fuzz.py for that long:
# sqlsmith (as is, and its queries fed through querycache_wrap), API
# sessions, writers and a chaos thread that cancels and terminates them
# (see fuzz.py's header).  It fails if the server crashes or restarts,
# logs PANIC or a failed assertion, a session hangs, or a client receives
# corrupt JSON; ERRORs are expected.  On a failure the postmaster log, the
# statements each session sent (and sqlsmith's), core backtraces and a
# SUMMARY.txt go to fuzz-failure-<timestamp>/ under the build dir, whose
# path it prints.
#
# QC_PG_BIN: the PostgreSQL 15 installation to use (default: the
# assertion-enabled build in /var/cache/querycache/pg15-assert/bin if it is
# complete, else Debian's).  querycache is built and installed into it.
# QC_FUZZ_ARGS: extra arguments for fuzz.py (e.g. "--seed 42 --api-sessions 6").
# QC_FUZZ_KEEP=1: keep the statement logs and the server log of a passing run.
# Ends with "fuzz: N statements, N server restarts, ..." and "1 passed, 0 failed"
# (or "0 passed, 1 failed").  Runs as root; servers run as postgres.  Only
# local connections (unix socket); nothing leaves the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs < 1)); then
	echo "usage: bash scripts/fuzz.sh [seconds]" >&2
	exit 2
fi

# Prefer an assertion-enabled build, but only a complete one (it may be
# being built right now): its pg_config, server, initdb and PGXS must exist.
QC_ASSERT_BIN=/var/cache/querycache/pg15-assert/bin
if [[ -z ${QC_PG_BIN:-} && -x $QC_ASSERT_BIN/postgres && -x $QC_ASSERT_BIN/initdb &&
	-x $QC_ASSERT_BIN/pg_ctl && -x $QC_ASSERT_BIN/pg_config ]] &&
	pgxs=$("$QC_ASSERT_BIN/pg_config" --pgxs 2>/dev/null) && [[ -f $pgxs ]]; then
	QC_PG_BIN=$QC_ASSERT_BIN
fi
export QC_PG_BIN
source scripts/pg_env.sh

fail() {
	echo "fuzz: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

qc_install_deps
# sqlsmith and psycopg2 (for Debian's python3, not whatever python3 is first in PATH)
fuzz_missing=()
for p in sqlsmith python3-psycopg2; do
	dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || fuzz_missing+=("$p")
done
if ((${#fuzz_missing[@]})); then
	echo "Installing missing packages: ${fuzz_missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${fuzz_missing[@]}"
fi
PY=/usr/bin/python3

qc_build_install || fail "build failed"
B=${QC_BUILD_DIR:-}
[[ -n $B ]] || B=$(mktemp -d /tmp/querycache-fuzz.XXXXXX)	# QC_INSTALLED=1: nothing built
ok=0
cleanup() {
	# after a failure a backend may be stuck: don't wait for it
	if ((!ok)) && [[ -f ${QC_PGDIR:-/nonexistent}/data/postmaster.pid ]]; then
		qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	qc_stop_cluster
	if ((ok)); then rm -rf "$B"; fi
}
trap cleanup EXIT

# Small cache so that eviction, sweeps and the memory bound are reached;
# verbose logs (SQLSTATE and source location of every error); a long
# activity query text so that "Failed process was running" shows it whole;
# backends notice a client that went away (a killed sqlsmith).
export QC_PG_EXTRA_CONF="
querycache.max_entries = 200
querycache.max_memory = '8MB'
querycache.sweep_interval = '1s'
max_prepared_transactions = 8
max_connections = 60
track_activity_query_size = 32768
log_line_prefix = '%m [%p] %e %a: '
log_error_verbosity = verbose
lc_messages = 'C'
restart_after_crash = on
client_connection_check_interval = '1s'
deadlock_timeout = '100ms'
"
qc_start_cluster || fail "could not start the server"
# Again with core files allowed (runuser resets the limit): a crashed
# backend leaves a core in the data directory, and fuzz.py keeps it with a
# backtrace.
qc_as_pg pg_ctl -D "$QC_PGDIR/data" -l "$QC_PGDIR/server.log" -c -w restart >/dev/null ||
	fail "could not restart the server"
asserts=$(psql -X -At -c 'SHOW debug_assertions')
echo "fuzz: server $("$QC_PG_CONFIG" --version) from $QC_PG_BIN, debug_assertions = $asserts, cluster $QC_PGDIR"

psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE fuzz' &&
	psql -X -q -v ON_ERROR_STOP=1 -d fuzz -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null &&
	psql -X -q -v ON_ERROR_STOP=1 -d fuzz -c 'CREATE EXTENSION querycache' &&
	psql -X -q -v ON_ERROR_STOP=1 -d fuzz -f scripts/fuzz_setup.sql >/dev/null ||
	fail "could not load the demo schema and scripts/fuzz_setup.sql"

run=$B/fuzz-run
mkdir -p "$run"
rc=0
# shellcheck disable=SC2086
$PY scripts/fuzz.py --seconds "$secs" --run-dir "$run" --server-log "$QC_PGDIR/server.log" \
	--data-dir "$QC_PGDIR/data" --failure-base "$B" --pg-bin "$QC_PG_BIN" ${QC_FUZZ_ARGS:-} || rc=$?
cp "$QC_PGDIR/server.log" "$run/" 2>/dev/null || true
if ((rc == 0)); then
	if [[ ${QC_FUZZ_KEEP:-} == 1 ]]; then
		echo "fuzz: QC_FUZZ_KEEP=1: statement logs and the server log kept in $run"
	else
		ok=1
	fi
	echo "1 passed, 0 failed"
else
	echo "fuzz: build dir kept: $B"
	echo "0 passed, 1 failed"
	exit 1
fi
