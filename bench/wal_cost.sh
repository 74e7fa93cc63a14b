#!/usr/bin/env bash
# The cost on a primary of carrying invalidations in WAL (src/replica.c):
# pgbench tpcb-like on a cluster with querycache preloaded and created vs
# the same cluster without querycache, wal_level = replica. Measures WAL
# bytes per transaction (pg_current_wal_insert_lsn() difference / pgbench's
# transactions), how much of it is querycache's records (pg_waldump
# --stats), mean latency and TPS; then checks that read-only transactions
# (pgbench -S) and rolled-back transactions log no querycache record.
# Latency is also compared head to head (both clusters at once, 4 clients
# each), which a busy machine's drift between runs cannot bias.
# Prints a table, also saved to bench/results/<date>-<time>-wal.txt.
# Usage (as root): bash bench/wal_cost.sh [--quick] [-T s] [--rounds N] [-s scale] [--fpw]
#   default: 3 rounds of 30 s, scale 10, 4 clients, full_page_writes = off
#   (full-page images are the same with and without querycache and only
#   dilute its share; --fpw keeps them).  --quick: 1 round of 5 s.
#   QC_INSTALLED=1 skips the build.  QC_PG_BIN as in scripts/pg_env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

T=30 ROUNDS=3 SCALE=10 QUICK= FPW=off
while (($#)); do
	case $1 in
	--quick) T=5 ROUNDS=1 QUICK=-quick ;;
	-T) T=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	-s) SCALE=$2; shift ;;
	--fpw) FPW=on ;;
	*) echo "usage: bash bench/wal_cost.sh [--quick] [-T s] [--rounds N] [-s scale] [--fpw]" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p bench/results
OUT=bench/results/$(date +%Y-%m-%d-%H%M)-wal$QUICK.txt
RMGR=custom163	# pg_waldump's name for querycache's resource manager (QC_RMGR_ID)

die() { echo "ERROR: $*" >&2; exit 1; }
# sql qc|noqc ARGS...: psql on one of the two clusters
sql() { local c=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "${DIR[$c]}" -p "${PORTS[$c]}" -d postgres "$@"; }

declare -A DIR PORTS VAL L0 PID
CLUSTERS=(qc noqc)
TMPD=

# start NAME PRELOAD PORT: a throwaway cluster (scripts/pg_env.sh) for this
# run. Checkpoints and autovacuum stay out of the measured windows.
start() {
	local name=$1 preload=$2 port=$3
	QC_PG_EXTRA_CONF="shared_preload_libraries = '$preload'
wal_level = replica
max_wal_size = '8GB'
checkpoint_timeout = '1h'
autovacuum = off
full_page_writes = $FPW
synchronous_commit = on"
	qc_start_cluster "" "$port" || die "could not start cluster $name"
	DIR[$name]=$QC_PGDIR PORTS[$name]=$PGPORT
	unset QC_PGDIR
}

cleanup() {
	local c
	for c in "${CLUSTERS[@]}"; do
		[[ -n ${DIR[$c]:-} ]] && QC_PGDIR=${DIR[$c]} qc_stop_cluster
	done
	[[ -n $TMPD ]] && rm -rf "$TMPD"
	return 0
}

lsn() { sql "$1" -c 'SELECT pg_current_wal_insert_lsn()'; }

# waldump CLUSTER START END [ARGS]: pg_waldump over a range of its WAL.
waldump() {
	local c=$1 s=$2 e=$3; shift 3
	pg_waldump -p "${DIR[$c]}/data/pg_wal" -s "$s" -e "$e" "$@" 2>&1
}

# wal_stats CLUSTER START END: "records record_bytes fpi_bytes qc_records qc_bytes"
# (pg_waldump --stats: Type, N, Record size, FPI size, Combined size, each
# followed by a percentage in parentheses or brackets)
wal_stats() {
	waldump "$@" --stats | awk -v r="$RMGR" '
		{ l = $0; gsub(/\([^)]*\)|\[[^]]*\]/, "", l); split(l, f, " ") }
		f[1] == "Total" { n = f[2]; rec = f[3]; fpi = f[4] }
		f[1] == r { qn = f[2]; qb = f[3] }
		END { printf "%d %d %d %d %d\n", n, rec, fpi, qn, qb }'
}

# bench_start CLUSTER LABEL [pgbench options]: start a timed pgbench run of
# 4 clients in the background; bench_end CLUSTER LABEL waits for it and
# records tps, latency, transactions, WAL bytes and the WAL's breakdown.
# Runs on the two clusters may overlap (head to head).
bench_start() {
	local c=$1 label=$2
	shift 2
	L0[$c]=$(lsn "$c")
	pgbench -n -h 127.0.0.1 -p "${PORTS[$c]}" -c 4 -j 2 -T "$T" "$@" postgres >"$TMPD/$c.out" 2>&1 &
	PID[$c]=$!
}
per() { awk -v w="$1" -v t="$2" -v f="${3:-%.1f}" 'BEGIN { printf f, w / t }'; }
bench_end() {
	local c=$1 label=$2 out tps lat ntx l1 wal n rec fpi qn qb
	wait "${PID[$c]}" || { cat "$TMPD/$c.out"; die "pgbench $label failed"; }
	l1=$(lsn "$c")
	out=$(cat "$TMPD/$c.out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
	ntx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	wal=$(sql "$c" -c "SELECT pg_wal_lsn_diff('$l1', '${L0[$c]}')::bigint")
	read -r n rec fpi qn qb < <(wal_stats "$c" "${L0[$c]}" "$l1")
	VAL[$label.tps]+="$tps " VAL[$label.lat]+="$lat " VAL[$label.walpertx]+="$(per "$wal" "$ntx") "
	VAL[$label.recpertx]+="$(per "$rec" "$ntx") " VAL[$label.fpipertx]+="$(per "$fpi" "$ntx") "
	VAL[$label.qcpertx]+="$(per "$qb" "$ntx") " VAL[$label.qcrecpertx]+="$(per "$qn" "$ntx" %.3f) "
	LAST_LAT=$lat LAST_TPS=$tps
	printf '  round %d  %-12s %6.0f tps %8.3f ms %7d tx  WAL %6.1f B/tx: records %5.1f, FPI %6.1f; querycache %d records, %4.1f B/tx\n' \
		"$round" "$label" "$tps" "$lat" "$ntx" "$(per "$wal" "$ntx")" "$(per "$rec" "$ntx")" "$(per "$fpi" "$ntx")" \
		"$qn" "$(per "$qb" "$ntx")"
}
run() { bench_start "$@"; bench_end "$1" "$2"; }

# median KEY [FORMAT], range KEY [FORMAT], ratio A B
median() { tr ' ' '\n' <<<"${VAL[$1]}" | sed '/^$/d' | sort -g |
	awk -v f="${2:-%.1f}" '{ v[NR] = $1 } END { printf f, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' <<<"${VAL[$1]}" | sed '/^$/d' | sort -g | awk -v f="${2:-%.1f}" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "-" f, lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }

# flushed_end CLUSTER: the end of the WAL written so far, flushed (abort
# records are not flushed at once) by a WAL switch, which logs nothing of
# querycache's.
flushed_end() {
	local end
	end=$(lsn "$1")
	sql "$1" -c 'SELECT pg_switch_wal()' >/dev/null
	echo "$end"
}

# count_qc CLUSTER START END: querycache records (and all records) in a range.
count_qc() {
	local q all
	q=$(waldump "$@" --rmgr="$RMGR" | grep -c "^rmgr: $RMGR" || true)
	all=$(waldump "$@" | grep -c '^rmgr:' || true)
	echo "$q $all"
}

main() {
	local c l0 l1 q all out lq tq
	echo "=== Build and install querycache ==="
	qc_install_deps
	qc_build_install
	[[ -n $QC_BUILD_DIR ]] && rm -rf "$QC_BUILD_DIR"
	echo "pkglibdir: $("$QC_PG_CONFIG" --pkglibdir)"

	echo "=== Two throwaway clusters: querycache preloaded and created, and without querycache ==="
	TMPD=$(mktemp -d)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	start qc querycache 54360
	start noqc '' 54370
	sql qc -c 'CREATE EXTENSION querycache'
	[[ -z $(sql noqc -c "SHOW shared_preload_libraries") ]] || die "the second cluster preloads something"
	for c in "${CLUSTERS[@]}"; do
		pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "${PORTS[$c]}" postgres >/dev/null 2>&1 || die "pgbench -i failed on $c"
		sql "$c" -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
	done

	echo
	echo "=== Machine and versions ==="
	echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:     $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "PostgreSQL:  $(sql qc -c 'SHOW server_version')"
	echo "querycache:  $(sql qc -c "SELECT extversion FROM pg_extension WHERE extname = 'querycache'")," \
		"source $(git -C "$QC_ROOT" describe --always --dirty 2>/dev/null || echo unknown)$([[ ${QC_INSTALLED:-} == 1 ]] && echo ' (not rebuilt: QC_INSTALLED=1)')"
	echo "clusters:    qc: shared_preload_libraries = 'querycache' + CREATE EXTENSION; noqc: nothing preloaded"
	echo "             both: wal_level = replica, full_page_writes = $FPW, synchronous_commit = on, autovacuum off, no checkpoint during runs"
	echo "pgbench:     tpcb-like, -i -s $SCALE, -c 4 -j 2 -h 127.0.0.1 -T $T; $ROUNDS rounds alternating qc, noqc, then $ROUNDS rounds head to head; figures are medians"

	echo
	echo "=== Warm-up: $T s each ==="
	round=0
	run qc warm_qc
	run noqc warm_noqc

	echo
	echo "=== tpcb-like, one cluster at a time, alternating ==="
	for ((round = 1; round <= ROUNDS; round++)); do
		if ((round % 2)); then run qc qc; run noqc noqc; else run noqc noqc; run qc qc; fi
	done

	echo
	echo "=== tpcb-like, head to head: both clusters at once, 4 clients each ==="
	for ((round = 1; round <= ROUNDS; round++)); do
		# alternate which cluster's pgbench starts first
		if ((round % 2)); then bench_start qc h2h_qc; bench_start noqc h2h_noqc
		else bench_start noqc h2h_noqc; bench_start qc h2h_qc; fi
		bench_end qc h2h_qc
		lq=$LAST_LAT tq=$LAST_TPS
		bench_end noqc h2h_noqc
		VAL[h2h.latratio]+="$(ratio "$lq" "$LAST_LAT") " VAL[h2h.tpsratio]+="$(ratio "$tq" "$LAST_TPS") "
	done

	echo
	echo "=== Nothing is logged for read-only and rolled-back transactions (qc cluster) ==="
	round=0
	l0=$(lsn qc)
	T=$((T < 10 ? T : 10)) run qc select_only -S
	l1=$(flushed_end qc)
	read -r q all < <(count_qc qc "$l0" "$l1")
	RO_QC=$q RO_ALL=$all
	echo "  pgbench -S: $RO_QC querycache records among $RO_ALL WAL records"
	cat >"$TMPD/rollback.sql" <<-'EOF'
		\set aid random(1, 100000 * :scale)
		\set delta random(-5000, 5000)
		BEGIN;
		UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
		INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, :delta, CURRENT_TIMESTAMP);
		ROLLBACK;
	EOF
	l0=$(lsn qc)
	out=$(pgbench -n -h 127.0.0.1 -p "${PORTS[qc]}" -c 4 -j 2 -T 5 -f "$TMPD/rollback.sql" postgres 2>&1) ||
		{ echo "$out"; die "rollback pgbench failed"; }
	RB_TX=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	l1=$(flushed_end qc)
	read -r q all < <(count_qc qc "$l0" "$l1")
	RB_QC=$q RB_ALL=$all
	RB_ABORTS=$(waldump qc "$l0" "$l1" --rmgr=Transaction | grep -c 'desc: ABORT' || true)
	echo "  $RB_TX rolled-back writing transactions: $RB_QC querycache records among $RB_ALL WAL records ($RB_ABORTS abort records)"
	# and a committed writer does log one, for contrast
	l0=$(lsn qc)
	sql qc -c 'UPDATE pgbench_branches SET bbalance = bbalance WHERE bid = 1'
	l1=$(sql qc -c 'SELECT pg_current_wal_flush_lsn()')
	read -r q all < <(count_qc qc "$l0" "$l1")
	CM_QC=$q
	echo "  one committed UPDATE: $CM_QC querycache record; it reads:"
	waldump qc "$l0" "$l1" | grep -E "^rmgr: ($RMGR|Transaction)" | sed 's/^/    /'

	report
}

report() {
	local wq wn rq rn lq ln tq tn qb qn met_wal lr lrr
	wq=$(median qc.walpertx) wn=$(median noqc.walpertx)
	rq=$(median qc.recpertx) rn=$(median noqc.recpertx)
	lq=$(median qc.lat %.3f) ln=$(median noqc.lat %.3f)
	tq=$(median qc.tps %.0f) tn=$(median noqc.tps %.0f)
	qb=$(median qc.qcpertx) qn=$(median qc.qcrecpertx %.3f)
	lr=$(median h2h.latratio %.4f) lrr=$(range h2h.latratio %.4f)
	met_wal=$(awk -v r="$(ratio "$wq" "$wn")" 'BEGIN { print (r < 1.03) ? "yes" : "NO" }')
	echo
	echo "=== Results (medians of $ROUNDS rounds of $T s, 4 clients, tpcb-like, scale $SCALE, full_page_writes = $FPW) ==="
	printf '%-46s %14s %14s %9s  %s\n' "" "querycache" "without" "ratio" "target"
	printf '%-46s %14s %14s %9s  %s\n' "WAL bytes per transaction (LSN difference)" "$wq" "$wn" "$(ratio "$wq" "$wn")" "< 1.03: $met_wal"
	printf '%-46s %14s %14s %9s\n' "  record bytes per transaction (pg_waldump)" "$rq" "$rn" "$(ratio "$rq" "$rn")"
	if [[ $FPW == on ]]; then
		printf '%-46s %14s %14s\n' "  full-page image bytes per transaction" "$(median qc.fpipertx)" "$(median noqc.fpipertx)"
	fi
	printf '%-46s %14s %14s\n' "  querycache records per transaction" "$qn" "0"
	printf '%-46s %14s %14s\n' "  querycache record bytes per transaction" "$qb" "0"
	printf '%-46s %14s %14s %9s\n' "mean latency, ms, one cluster at a time" "$lq" "$ln" "$(ratio "$lq" "$ln")"
	printf '%-46s %14s %14s\n' "  range over rounds" "$(range qc.lat %.3f)" "$(range noqc.lat %.3f)"
	printf '%-46s %14s %14s %9s  %s\n' "mean latency, ms, head to head" "$(median h2h_qc.lat %.3f)" "$(median h2h_noqc.lat %.3f)" "$lr" \
		"no measurable change: $(awk -v r="$lrr" 'BEGIN { split(r, a, "-"); print (a[1] <= 1 && a[2] >= 1) ? "within noise" : (a[2] < 1 ? "yes, never slower" : "NO") }')"
	printf '%-46s %14s %14s %9s\n' "  per-round ratios (querycache / without)" "" "" "$lrr"
	printf '%-46s %14s %14s %9s\n' "TPS, one cluster at a time" "$tq" "$tn" "$(ratio "$tq" "$tn")"
	printf '%-46s %14s %14s %9s\n' "TPS, head to head" "$(median h2h_qc.tps %.0f)" "$(median h2h_noqc.tps %.0f)" "$(median h2h.tpsratio %.4f)"
	printf '%-46s %14s\n' "pgbench -S: querycache records" "$RO_QC of $RO_ALL"
	printf '%-46s %14s\n' "rolled back ($RB_TX tx): querycache records" "$RB_QC of $RB_ALL"
	echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
	if ((RO_QC != 0 || RB_QC != 0 || CM_QC != 1)); then
		echo "FAILED: read-only or rolled-back transactions logged querycache records, or a commit did not"
		return 1
	fi
}

main "$@" 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}
echo "Saved to $OUT"
exit "$status"
