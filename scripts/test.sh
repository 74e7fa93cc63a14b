#!/usr/bin/env bash
# THE test command (.ci/run calls it): bash scripts/test.sh [--pg VERSION]
# Installs missing deps, builds with `make WERROR=1` (warnings are errors),
# installs, then runs every pg_regress, isolation and TAP test as postgres on
# temporary instances, and examples/node-api's tests when present.
#   --pg 15         (default) Debian 12's PostgreSQL 15, /usr/lib/postgresql/15/bin
#   --pg 18|17|15-assert
#                   PostgreSQL built from Debian's source package with assertions
#                   (scripts/pg_build.sh, cached in /var/cache/querycache/pgVERSION);
#                   the Node tests run only for the default version.
# Also checks META.json (one test).
# On failure prints the diffs / logs, keeps the build dir, and exits non-zero.
# Last line: "N passed, N failed".  QC_SUITE_TIMEOUT (s, default 600) bounds each suite.
set -euo pipefail
cd "$(dirname "$0")/.."

pg=15
while (($#)); do
	case $1 in
	--pg) [[ $# -ge 2 ]] || { echo "usage: bash scripts/test.sh [--pg 15|18|17|15-assert]" >&2; exit 2; }
		pg=$2; shift 2 ;;
	--pg=*) pg=${1#--pg=}; shift ;;
	*) echo "usage: bash scripts/test.sh [--pg 15|18|17|15-assert]" >&2; exit 2 ;;
	esac
done
case $pg in
15) ;;
18 | 17 | 15-assert)
	[[ $EUID -eq 0 ]] || { echo "scripts/test.sh must run as root" >&2; exit 1; }
	echo "=== PostgreSQL $pg (scripts/pg_build.sh $pg) ==="
	prefix=$(bash scripts/pg_build.sh "$pg") || { echo "0 passed, 1 failed"; exit 1; }
	export QC_PG_BIN=$prefix/bin ;;
*) echo "scripts/test.sh: unknown --pg $pg (15, 18, 17 or 15-assert)" >&2; exit 2 ;;
esac
source scripts/pg_env.sh

passed=0 failed=0 ok=1

qc_install_deps
echo "PostgreSQL: $("$QC_PG_CONFIG" --version) ($QC_PG_BIN)"

# META.json: valid JSON with the PGXN keys (counted as one test).
echo
echo "=== meta ==="
if python3 -m json.tool META.json >/dev/null && python3 scripts/check_meta.py META.json; then
	passed=$((passed + 1))
else
	failed=$((failed + 1)) ok=0
	echo "*** meta FAILED"
fi

unset QC_INSTALLED
qc_build_install || { echo "$passed passed, $((failed + 1)) failed"; exit 1; }	# the build counts as a test
B=$QC_BUILD_DIR
export QC_INSTALLED=1	# scripts/test_node.sh needn't build again

# A timed-out suite can leave its temporary server running: stop it.
stop_leftovers() {
	local pid
	for pid in $(find "$B" -name postmaster.pid -path '*tmp_check*' 2>/dev/null); do
		qc_as_pg pg_ctl -D "$(dirname "$pid")" -m immediate stop >/dev/null 2>&1 || true
	done
}
trap stop_leftovers EXIT

show() {	# show FILE...: print test artifacts after a failure
	local f
	for f in "$@"; do
		[[ -f $f ]] || continue
		echo "----- $f (last 300 lines) -----"
		tail -n 300 "$f"
	done
}

# suite NAME COMMAND...: run it, tee to $B/NAME.log, count its tests into passed/failed.
suite() {
	local name=$1 log=$B/$1.log rc=0 p f
	shift
	echo
	echo "=== $name ==="
	"$@" 2>&1 | tee "$log" || rc=$?
	case $name in
	regress | isolation)	# PG15: "test x ... ok", PG16+: "ok 1 - x"
		p=$(grep -cE '\.\.\. ok( |$)|^ok [0-9]' "$log" || true)
		f=$(grep -cE '\.\.\. (FAILED|failed)|^not ok [0-9]' "$log" || true) ;;
	tap)	# prove: "Files=2, Tests=14, ..." and "t/x.pl (Wstat: 256 Tests: 5 Failed: 1)"
		p=$(sed -nE 's/^Files=[0-9]+, Tests=([0-9]+),.*/\1/p' "$log" | tail -n 1)
		f=$(sed -nE 's/.*\(Wstat: .* Failed: ([0-9]+)\)$/\1/p' "$log" | awk '{ s += ($1 > 0 ? $1 : 1) } END { print s + 0 }')
		p=$(( ${p:-0} - f > 0 ? ${p:-0} - f : 0 )) ;;
	node)	# its own "N passed, N failed", node:test's "# pass N"/"ℹ pass N", else the exit code
		p=$(sed -nE 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/p; s/^(#|ℹ) pass ([0-9]+)$/\2/p' "$log" | tail -n 1)
		f=$(sed -nE 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/p; s/^(#|ℹ) fail ([0-9]+)$/\2/p' "$log" | tail -n 1)
		[[ -n $p ]] || { p=$((rc == 0)); f=$((rc != 0)); } ;;
	esac
	f=${f:-0}
	# A suite that failed without a failing test (server crash, timeout) counts as one failure.
	((rc != 0 && f == 0)) && f=1
	passed=$((passed + p)) failed=$((failed + f))
	((rc == 0)) || { ok=0; echo "*** $name FAILED (exit $rc)"; }
	return $rc
}

# installcheck SUITE-ARGS...: PGXS `make installcheck` with only the given suite enabled.
installcheck() {
	qc_as_pg timeout -k 30 "${QC_SUITE_TIMEOUT:-600}" \
		make -C "$B" -s PG_CONFIG="$QC_PG_CONFIG" NO_LOCALE=1 ENCODING=UTF8 installcheck "$@"
}

# PGXS installcheck expects a running server; --temp-instance makes pg_regress start its own.
suite regress installcheck ISOLATION= TAP_TESTS= EXTRA_REGRESS_OPTS=--temp-instance=./tmp_check_regress ||
	show "$B/regression.diffs" "$B/log/postmaster.log"
stop_leftovers
suite isolation installcheck REGRESS= TAP_TESTS= EXTRA_REGRESS_OPTS=--temp-instance=./tmp_check_iso ||
	show "$B/output_iso/regression.diffs" "$B/output_iso/log/postmaster.log"
stop_leftovers
if compgen -G "$B/t/*.pl" >/dev/null; then
	# PostgreSQL::Test::Cluster starts its own nodes; logs go to tmp_check/log.
	suite tap installcheck REGRESS= ISOLATION= || show "$B"/tmp_check/log/*
	stop_leftovers
else
	echo "=== tap: no t/*.pl, skipped ==="
fi

# An assertion failure in a backend or the sweeper need not fail the test that
# caused it (the postmaster restarts and the test may still pass): on a build
# with assertions, any "TRAP:" in a server log counts as one failed test.
if "$QC_PG_CONFIG" --configure | grep -q -- --enable-cassert; then
	echo
	echo "=== assertions: server logs ==="
	traps=$(grep -rsl --include='*.log' 'TRAP:' "$B" || true)
	if [[ -z $traps ]]; then
		echo "no assertion failure in $(find "$B" -name '*.log' -path '*log/*' | wc -l) server logs"
		passed=$((passed + 1))
	else
		for f in $traps; do
			echo "----- $f -----"
			grep -n -B 5 -A 25 'TRAP:' "$f" | head -n 200
		done
		echo "*** assertion failures in: $traps"
		failed=$((failed + 1)) ok=0
	fi
fi

if [[ $pg != 15 ]]; then
	echo "=== node: only run for the default PostgreSQL 15, skipped ==="
elif [[ -f examples/node-api/package.json ]]; then
	if [[ -f scripts/test_node.sh ]]; then
		suite node bash scripts/test_node.sh || true
	else
		echo "WARNING: examples/node-api exists but scripts/test_node.sh does not; Node tests not run"
	fi
fi

echo
if ((ok)); then
	rm -rf "$B"
else
	echo "Some tests failed; build dir with results/ and logs kept: $B"
fi
echo "$passed passed, $failed failed"
((ok))
