#!/usr/bin/env bash
# Where a backend's CPU goes per transaction: SELECT 1, the wire floor (the
# hit's call text in, as many bytes out, no work) and a querycache hit on the
# agents list.  One pgbench client per script (-M simple, loopback); perf
# samples that client's backend for 4 s with call graphs, and the table gives
# microseconds of backend CPU per transaction for the steps of a statement.
# Usage (as root): bash bench/profile.sh      (QC_INSTALLED=1: skip the build)
# Saves the table to bench/results/<date-time>-hit-cpu.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

OUT=bench/results/$(date +%Y-%m-%d-%H%M)-hit-cpu.txt
command -v perf >/dev/null || apt-get -o DPkg::Lock::Timeout=900 install -y -qq linux-perf
qc_install_deps
qc_build_install
[[ -n $QC_BUILD_DIR ]] && rm -rf "$QC_BUILD_DIR"
WORK=$(mktemp -d /tmp/querycache-prof.XXXXXX)
trap 'qc_stop_cluster; rm -rf "$WORK"' EXIT
qc_start_cluster "" 54350
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
sql -c 'CREATE DATABASE callcenter'
export PGDATABASE=callcenter
sql -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
sql -c 'CREATE EXTENSION querycache' -c 'VACUUM ANALYZE' >/dev/null

AGENTS=$(sed '/^[[:space:]]*--/d' scripts/agents_list.sql)
HIT="SELECT querycache_wrap('agents:list:userId=1', \$q\$$AGENTS\$q\$, interval '1 hour', 1)"
LEN=$(sql -c "SELECT octet_length(($HIT)::text)")
echo "SELECT 1;" >"$WORK/select1.sql"
echo "SELECT repeat('x', $LEN) WHERE \$q\$$AGENTS\$q\$ <> '';" >"$WORK/wire_floor.sql"
echo "$HIT;" >"$WORK/hit.sql"
chmod -R a+rX "$WORK"

# record NAME: pgbench -c 1 for 8 s; perf samples its backend from 3 s to 7 s.
record() {
	local pid
	pgbench -n -h 127.0.0.1 -p "$PGPORT" -c 1 -j 1 -M simple -T 8 -f "$WORK/$1.sql" >"$WORK/$1.txt" 2>&1 &
	sleep 3
	pid=$(sql -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'
		ORDER BY backend_start DESC LIMIT 1")
	perf record -q -o "$WORK/$1.data" -F 4000 --call-graph dwarf,16384 -p "$pid" -- sleep 4 >/dev/null 2>&1
	wait
}
# usec NAME SYMBOL: microseconds of backend CPU per transaction in SYMBOL
# (inclusive; TOTAL: all samples, KERNEL: kernel samples).
usec() {
	local tps total v
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/$1.txt")
	total=$(perf report -i "$WORK/$1.data" --no-children --sort dso --stdio -g none -n 2>/dev/null |
		awk '/^ +[0-9.]+%/ { s += $2 } END { print s }' || true)
	case $2 in
	TOTAL) v=$total ;;
	KERNEL) v=$(perf report -i "$WORK/$1.data" --no-children --sort dso --stdio -g none -n 2>/dev/null |
		awk '/kernel.kallsyms/ { print $2 }' || true) ;;
	*) v=$(perf report -i "$WORK/$1.data" --children --sort sym --stdio -g none 2>/dev/null |
		awk -v f="$2" -v t="$total" '$NF == f { sub("%", "", $1); print $1 * t / 100; exit }' || true) ;;
	esac
	awk -v v="${v:-0}" -v t="$tps" 'BEGIN { printf "%11.2f", v / 4000 * 1e6 / (t * 4) }'
}

sql -f "$WORK/hit.sql" >/dev/null	# warm: the profiled calls are hits
for n in select1 wire_floor hit; do record $n; done
{
	echo "# Backend CPU per transaction (us), pgbench -c 1 -M simple on loopback, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "# $(nproc) CPUs, PostgreSQL $(sql -c 'SHOW server_version'), perf cpu-clock 4000 Hz, dwarf call graphs, one backend"
	echo "# hit = ${HIT/\$q\$*\$q\$/<agents query>}, $LEN bytes of text"
	printf '%-36s%11s%11s%11s\n' step select1 wire_floor hit
	printf '%-36s' "tps (1 client)"
	for n in select1 wire_floor hit; do printf '%11.0f' "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/$n.txt")"; done
	echo
	for s in TOTAL KERNEL secure_read secure_write pg_parse_query pg_analyze_and_rewrite_fixedparams \
		pg_plan_queries PortalStart PortalRun OutputFunctionCall querycache_wrap qc_store_lookup \
		CommitTransactionCommand; do
		printf '%-36s' "$s"
		for n in select1 wire_floor hit; do usec $n $s; done
		echo
	done
} | tee "$OUT"
echo "Saved to $OUT"
