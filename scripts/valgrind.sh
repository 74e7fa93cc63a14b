#!/usr/bin/env bash
# querycache under valgrind memcheck:   bash scripts/valgrind.sh   (as root)
#
# Builds (or reuses) PostgreSQL 15 with assertions and USE_VALGRIND
# (scripts/pg_build.sh 15-valgrind, in /var/cache/querycache/pg15-valgrind),
# builds and installs querycache into it as scripts/test.sh does, and runs the
# pg_regress suite and then the isolation suite, each against its own
# throwaway cluster (shared_preload_libraries = 'querycache' plus
# test/querycache.conf) whose postmaster, and so every backend, the sweeper
# and the other server processes, runs under
#
#   valgrind --quiet --trace-children=yes --track-origins=yes --read-var-info=yes
#            --suppressions=<that build's src/tools/valgrind.supp> --error-limit=no
#            --leak-check=no --num-callers=40 --fullpath-after= --log-file=DIR/%p.log
#
# (`make installcheck` with PGHOST/PGPORT pointing at it, no --temp-instance).
# The server is then stopped and the valgrind logs scanned: every distinct
# error record with a frame in querycache (its src/*.c and src/*.h, or
# querycache.so) in any of its stacks (where it happened, where the memory
# was allocated or freed, where an uninitialised value came from) is printed
# in full, with how often it occurred and in which tests' backends; other
# (PostgreSQL-internal) errors are only counted.  A process killed by a
# signal (a crash, a failed assertion) is reported by valgrind the same way.
#
# Fails (0 passed, 1 failed) on any querycache-attributed valgrind error, or
# if nothing could be checked (build, install or server start failed).
# Failing tests are listed with their diffs but do not fail the run: under
# valgrind the server is many times slower and timing-dependent tests
# (TTLs, timeouts, isolation waits) may fail.  A suite that times out is
# reported the same way.
#
# Last line: "1 passed, 0 failed" or "0 passed, 1 failed".
# QC_VG_SUITE_TIMEOUT (s, default 3600) bounds each suite, QC_VG_BUILD_TIMEOUT
# (s, default 7200) the PostgreSQL build (about 10 minutes on 2 loaded cores;
# reused afterwards).  QC_VG_KEEP=1 keeps the build dir with the logs after a
# passing run (it is always kept after a failing one).
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $# -eq 0 ]] || { echo "usage: bash scripts/valgrind.sh" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "scripts/valgrind.sh must run as root" >&2; exit 1; }
suite_timeout=${QC_VG_SUITE_TIMEOUT:-3600}
t0=$SECONDS

echo "=== PostgreSQL 15 with USE_VALGRIND (scripts/pg_build.sh 15-valgrind) ==="
prefix=$(timeout -k 60 "${QC_VG_BUILD_TIMEOUT:-7200}" bash scripts/pg_build.sh 15-valgrind) ||
	{ echo "valgrind: could not build PostgreSQL 15 with USE_VALGRIND"; echo "0 passed, 1 failed"; exit 1; }
build_secs=$((SECONDS - t0))
export QC_PG_BIN=$prefix/bin
source scripts/pg_env.sh
echo "PostgreSQL: $("$QC_PG_CONFIG" --version) ($QC_PG_BIN; $(sed -n 2p "$prefix/.querycache-build-stamp"))"

fail() {
	echo "valgrind: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

QC_DEPS+=(valgrind)
qc_install_deps
supp=$("$QC_PG_CONFIG" --sharedir)/valgrind.supp
[[ -f $supp ]] || fail "no $supp: rebuild with QC_PG_REBUILD=1 bash scripts/pg_build.sh 15-valgrind"
"$QC_PG_CONFIG" --cflags | grep -q -- -DUSE_VALGRIND || fail "$QC_PG_BIN is not built with USE_VALGRIND"
echo "valgrind: $(valgrind --version), suppressions $supp"

unset QC_INSTALLED
qc_build_install || fail "could not build and install querycache"
B=$QC_BUILD_DIR
ok=0
pm_pid=
cleanup() {
	# a suite that timed out or an interrupted run can leave the server running
	if [[ -n ${QC_PGDIR:-} && -f $QC_PGDIR/data/postmaster.pid ]]; then
		qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m immediate -w -t 120 stop >/dev/null 2>&1 || true
	fi
	qc_stop_cluster
	if ((ok)) && [[ ${QC_VG_KEEP:-} != 1 ]]; then
		rm -rf "$B"
	else
		echo "valgrind: build dir with the valgrind logs, server logs and test results kept: $B"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The postmaster under valgrind: pg_ctl -p runs this instead of postgres.  It
# execs valgrind, which keeps the pid, so that pg_ctl -w recognises the
# postmaster.pid of the server it started.
vg_wrapper() {	# vg_wrapper LOGDIR: writes $B/postgres-valgrind
	cat >"$B/postgres-valgrind" <<-EOF
		#!/bin/sh
		exec valgrind --quiet --trace-children=yes --track-origins=yes --read-var-info=yes \\
		  --suppressions='$supp' --error-limit=no --leak-check=no --num-callers=40 \\
		  --fullpath-after= --log-file='$1/%p.log' '$QC_PG_BIN/postgres' "\$@"
	EOF
	chmod 755 "$B/postgres-valgrind"
	chown postgres: "$B/postgres-valgrind"
}

# The settings of the suites' temporary instances (test/querycache.conf),
# fsync off as pg_regress's, and logs that name each backend's test.
QC_PG_EXTRA_CONF="
$(cat test/querycache.conf)
fsync = off
log_connections = on
log_line_prefix = '%m [%p] %a: '
lc_messages = 'C'
"
export QC_PG_EXTRA_CONF

failed_tests=() timed_out=() suite_times=
harness_ok=1

# run_suite NAME RESULTSDIR MAKE-ARGS...: a cluster under valgrind, `make
# installcheck MAKE-ARGS` against it, stop it; logs in $B/vg-NAME/.
run_suite() {
	local name=$1 results=$2 s=$SECONDS rc=0 vgdir=$B/vg-$1 log=$B/$1.log t
	shift 2
	echo
	echo "=== $name (under valgrind) ==="
	mkdir -p "$vgdir" && chown postgres: "$vgdir"
	vg_wrapper "$vgdir"
	# initdb and a first start without valgrind (fast; checks the settings) ...
	qc_start_cluster || { harness_ok=0; echo "*** $name: could not start a server"; return 0; }
	qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m fast -w stop >/dev/null
	# ... then the server the tests use, under valgrind.
	if ! qc_as_pg pg_ctl -D "$QC_PGDIR/data" -l "$QC_PGDIR/server.log" -p "$B/postgres-valgrind" \
		-w -t 900 start >/dev/null; then
		tail -n 30 "$QC_PGDIR/server.log"
		cp "$QC_PGDIR/server.log" "$B/$name-server.log" 2>/dev/null || true
		harness_ok=0
		echo "*** $name: the server did not start under valgrind"
		qc_stop_cluster
		return 0
	fi
	pm_pid=$(head -n 1 "$QC_PGDIR/data/postmaster.pid")
	echo "server under valgrind: pid $pm_pid, port $PGPORT, started in $((SECONDS - s)) s; valgrind logs in $vgdir"
	# PGISOLATIONTIMEOUT: how long isolationtester lets a step wait before cancelling it.
	qc_as_pg env PGISOLATIONTIMEOUT="${QC_VG_ISOLATION_TIMEOUT:-900}" \
		timeout -k 30 "$suite_timeout" make -C "$B" -s PG_CONFIG="$QC_PG_CONFIG" \
		NO_LOCALE=1 ENCODING=UTF8 installcheck TAP_TESTS= "$@" 2>&1 | tee "$log" || rc=$?
	((rc == 124 || rc == 137)) && timed_out+=("$name (after $suite_timeout s)")
	# PG15's pg_regress: "test NAME ... FAILED" / "     NAME ... FAILED" (parallel groups)
	for t in $(sed -nE 's/^(test)? +([A-Za-z0-9_]+) +\.\.\. (FAILED|failed).*/\2/p' "$log"); do
		failed_tests+=("$name/$t")
	done
	if [[ -f $B/$results/regression.diffs ]] && grep -qE '\.\.\. (FAILED|failed)' "$log"; then
		cp "$B/$results/regression.diffs" "$B/$name.diffs"
		echo "----- $name: regression.diffs (first 150 lines; full: $B/$name.diffs) -----"
		head -n 150 "$B/$name.diffs"
	fi
	local st=$SECONDS
	if ! qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m fast -w -t 600 stop >/dev/null; then
		echo "*** $name: the server did not stop within 600 s: immediate shutdown"
		qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m immediate -w -t 120 stop >/dev/null || true
	fi
	# postmaster.pid goes before valgrind has finished in the postmaster
	for _ in $(seq 120); do kill -0 "$pm_pid" 2>/dev/null || break; sleep 1; done
	echo "$name: server stopped in $((SECONDS - st)) s"
	cp "$QC_PGDIR/server.log" "$B/$name-server.log"
	qc_stop_cluster
	suite_times+="$name $((SECONDS - s)) s, "
}

run_suite regress . ISOLATION=
run_suite isolation output_iso REGRESS=

echo
echo "=== valgrind logs ==="
scan_rc=0
python3 scripts/valgrind_scan.py "$B" "$B/valgrind-report.txt" || scan_rc=$?
((scan_rc <= 1)) || { harness_ok=0; echo "*** the log scan failed (exit $scan_rc)"; }

# For information: failed assertions and crashes the server logged.
traps=$(grep -hE 'TRAP:|terminated by signal|was terminated by exception' "$B"/*-server.log 2>/dev/null || true)
[[ -z $traps ]] || { echo; echo "server logs: assertion failures / crashes:"; echo "$traps" | head -n 40; }

echo
echo "=== summary ==="
if ((build_secs < 5)); then
	build_note="reused ($(sed -nE 's/.* in ([0-9]+ s)$/built in \1/p' "$prefix/.querycache-build-stamp"))"
else
	build_note="${build_secs} s"
fi
echo "times: PostgreSQL build ${build_note}, ${suite_times}total $((SECONDS - t0)) s"
grep -E '^(querycache-attributed|other \(PostgreSQL-internal\)) valgrind errors' "$B/valgrind-report.txt" 2>/dev/null |
	sed 's/:$//' || true
if ((${#failed_tests[@]})); then
	echo "tests that failed under valgrind (not valgrind errors; see the diffs above): ${failed_tests[*]}"
else
	echo "tests that failed under valgrind: none"
fi
((${#timed_out[@]} == 0)) || echo "suites that timed out: ${timed_out[*]}"
if ((scan_rc == 1)); then
	echo "*** valgrind found errors in querycache: see above (and $B/valgrind-report.txt)"
	echo "0 passed, 1 failed"
	exit 1
elif ((!harness_ok)); then
	echo "*** the run was incomplete (see above): nothing or not everything was checked"
	echo "0 passed, 1 failed"
	exit 1
fi
ok=1
echo "valgrind: no error attributable to querycache"
echo "1 passed, 0 failed"
