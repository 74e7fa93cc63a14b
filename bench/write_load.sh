#!/usr/bin/env bash
# querycache under write load (issue 12, part 1): out of 100 agents-list
# fills, how many are stored while another session commits, for each write
# load; and what running fills with parallel query off costs a query that
# PostgreSQL would run with a parallel plan. Builds and installs querycache,
# starts a throwaway cluster, loads the call-center seed, prints a table, also
# saved to bench/results/<date>-<time>-write-load.txt.
# Usage (as root): bash bench/write_load.sh [--quick] [--rounds N]
#   --quick   1 round, a 1M-row table (smoke test, under a minute);
#             default 3 rounds, 2M rows (2 to 3.5 minutes on a busy 2-core VM).
#   QC_PG_BIN=/path/to/15/bin uses (builds and installs into) that PostgreSQL 15
#   instead of /usr/lib/postgresql/15/bin; QC_INSTALLED=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

ROUNDS=3 WARM=1 HIST_ROWS=2000000 HIST_ROUNDS=7 QUICK=
while (($#)); do
	case $1 in
	--quick) ROUNDS=1 WARM=0.5 HIST_ROWS=1000000 HIST_ROUNDS=3 QUICK=-quick ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bash bench/write_load.sh [--quick] [--rounds N]" >&2; exit 2 ;;
	esac
	shift
done
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 10)) || { echo "--rounds must be 1..10" >&2; exit 2; }
mkdir -p bench/results
OUT=bench/results/$(date +%Y-%m-%d-%H%M)-write-load$QUICK.txt
NFILLS=100
KEY=agents:list:userId=1
# A writer is stopped once the fills are done; this only bounds it.
WRITER_MAX_S=120

AGENTS=$(sed '/^[[:space:]]*--/d' scripts/agents_list.sql)
# A query PostgreSQL runs with a parallel plan: aggregates over a big scan.
HIST_SQL="SELECT outcome, count(*) AS calls, sum(duration_s) AS total_s, round(avg(duration_s), 2) AS mean_s FROM call_history GROUP BY outcome ORDER BY outcome"
DEFS=(-D "agents_sql=${AGENTS//\$1/1}" -D "history_sql=$HIST_SQL" -D "history_lit=\$q\$$HIST_SQL\$q\$")

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
die() { echo "ERROR: $*" >&2; exit 1; }
# pgbench runs as postgres, over loopback TCP, one client.
pgb() { qc_as_pg pgbench -n -h 127.0.0.1 -p "$PGPORT" -d callcenter -c 1 -j 1 -M simple "$@"; }
lat_of() { sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$1"; }
stats() { sql -F ' ' -c 'SELECT fills, discarded, bypasses FROM querycache_stats'; }
# The next transaction id and the time: every writer commit takes one xid,
# the fills and checks none (they write no table).
xid_now() { sql -F ' ' -c "SELECT pg_snapshot_xmax(pg_current_snapshot()), extract(epoch FROM clock_timestamp())"; }

# The write loads: label, pgbench script ("-" for none), PGOPTIONS, pgbench options.
LOADS=(none u10 u50 u200 umax uasync temp agents50 agentsmax)
declare -A LABEL SCRIPT POPT WOPT
load() { LABEL[$1]=$2 SCRIPT[$1]=$3 POPT[$1]=$4 WOPT[$1]=${5:-}; }
load none "none" - ""
load u10 "call_log inserts, --rate 10" call_log_insert.sql "" "--rate 10"
load u50 "call_log inserts, --rate 50" call_log_insert.sql "" "--rate 50"
load u200 "call_log inserts, --rate 200" call_log_insert.sql "" "--rate 200"
load umax "call_log inserts, 1 client flat out" call_log_insert.sql ""
load uasync "same, synchronous_commit = off" call_log_insert.sql "-c synchronous_commit=off"
load temp "TEMP table inserts, 1 client flat out" temp_insert.sql "-c client_min_messages=warning"
load agents50 "agents updates, --rate 50 (control)" agent_status.sql "" "--rate 50"
load agentsmax "agents updates, 1 client flat out (control)" agent_status.sql ""

# Results per load, one value per round.
declare -A STORED DISC RATE WRAPMS HITS STALE

# make_fill_loop FILE: 100 fills of the agents list, each = delete the key;
# wrap (a miss: runs the query, stores the result unless the fence says no),
# timed by psql; then check, in one statement: whether the key is in
# querycache_entries, whether querycache_get hits, and whether that hit
# differs from the list read afresh by the same statement (stale: never, if
# the fence holds). Every statement is its own transaction.
make_fill_loop() {
	local i
	for ((i = 0; i < NFILLS; i++)); do
		printf "SELECT querycache_delete('%s') \\\\g /dev/null\n\\\\timing on\n" "$KEY"
		printf "SELECT querycache_wrap('%s', \$q\$%s\$q\$, interval '1 hour', 1) \\\\g /dev/null\n\\\\timing off\n" "$KEY" "$AGENTS"
		printf "SELECT (SELECT count(*) FROM querycache_entries WHERE key = '%s'), (v IS NOT NULL)::int, coalesce((v <> d)::int, 0)\n" "$KEY"
		printf "  FROM (SELECT querycache_get('%s') AS v, (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM (%s) t) AS d) s;\n" \
			"$KEY" "${AGENTS//\$1/1}"
	done >"$1"
}

# run_load LOAD ROUND: start the writer, let it settle, run the fill loop,
# stop the writer, record the figures.
run_load() {
	local ld=$1 round=$2 script=${SCRIPT[$1]} wpid='' out=$QC_PGDIR/writer.out
	local f0 d0 b0 f1 d1 b1 x0 x1 t0 t1 seen hits stale wrapms rate stored disc
	read -r f0 d0 b0 < <(stats)
	if [[ $script != - ]]; then
		rm -f "$WRITER_PID"
		# shellcheck disable=SC2016,SC2086
		qc_as_pg sh -c 'echo $$ >"$0"; exec "$@"' "$WRITER_PID" env PGOPTIONS="${POPT[$ld]}" \
			pgbench -n -h 127.0.0.1 -p "$PGPORT" -U call_writer -d callcenter -c 1 -j 1 -M simple \
			-T "$WRITER_MAX_S" ${WOPT[$ld]} -f "$QC_ROOT/bench/$script" >"$out" 2>&1 &
		wpid=$!
		sleep "$WARM"
	fi
	read -r x0 t0 < <(xid_now)
	read -r seen hits stale wrapms < <(sql -F ' ' -f "$FILLS" | awk '
		/^Time: / { ms += $2; n++; next }
		{ s += $1; h += $2; x += $3 }
		END { printf "%d %d %d %.2f\n", s, h, x, n ? ms / n : 0 }')
	read -r x1 t1 < <(xid_now)
	if [[ -n $wpid ]]; then
		# the writer must still be running; then stop it (by its pid)
		[[ -s $WRITER_PID ]] && kill -0 "$(cat "$WRITER_PID")" 2>/dev/null ||
			{ wait "$wpid" || true; cat "$out"; die "the writer (${LABEL[$ld]}) stopped before the fills were done"; }
		kill "$(cat "$WRITER_PID")"
		wait "$wpid" || true
		rm -f "$WRITER_PID"
	fi
	read -r f1 d1 b1 < <(stats)
	((f1 - f0 == NFILLS && b1 == b0)) ||
		echo "  WARNING: expected $NFILLS fills and no bypass, querycache_stats says $((f1 - f0)) fills, $((b1 - b0)) bypasses"
	((stale == 0)) || echo "  WARNING: $stale of $hits hits right after a fill differed from the list read afresh: STALE"
	rate=$(awk -v n=$((x1 - x0)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	stored=$((f1 - f0 - (d1 - d0))) disc=$((d1 - d0))
	STORED[$ld]+="$stored " DISC[$ld]+="$disc " RATE[$ld]+="$rate " WRAPMS[$ld]+="$wrapms " HITS[$ld]+="$hits " STALE[$ld]+="$stale "
	printf '  round %d  %-46s %5d commits/s  stored %3d (in querycache_entries %3d), discarded %3d; checks: %3d hits, %d stale; wrap %5.2f ms, %.1f s\n' \
		"$round" "${LABEL[$ld]}" "$rate" "$stored" "$seen" "$disc" "$hits" "$stale" "$wrapms" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}

# Numbers of a "v1 v2 ..." list: median (with a printf format), mean; and as "v1, v2".
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g |
	awk -v f="${2:-%.0f}" '{ v[NR] = $1 } END { printf f, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
lmean() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | awk '{ s += $1 } END { printf "%.2f", s / NR }'; }
commas() { sed 's/ *$//; s/ /, /g' <<<"$1"; }

main() {
	echo "=== Build and install querycache into $("$QC_PG_CONFIG" --pkglibdir) ==="
	qc_install_deps
	qc_build_install
	[[ -n $QC_BUILD_DIR ]] && rm -rf "$QC_BUILD_DIR"

	echo "=== Start a throwaway cluster, load the seed, CREATE EXTENSION querycache ==="
	QC_PG_EXTRA_CONF="shared_buffers = 256MB"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	qc_start_cluster "" 54370
	sql -c 'CREATE DATABASE callcenter'
	export PGDATABASE=callcenter
	sql -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
	sql -c 'CREATE EXTENSION querycache'
	# call_log: the calls made, which the agents list never reads; its
	# foreign keys read agents and contacts, as a real call log's would.
	# call_history: a big table for the parallel-query figure.
	sql <<-EOF
		CREATE TABLE call_log (
			id			bigserial PRIMARY KEY,
			agent_id	bigint NOT NULL REFERENCES agents (id),
			contact_id	bigint NOT NULL REFERENCES contacts (id),
			started_at	timestamptz NOT NULL DEFAULT now(),
			duration_s	integer NOT NULL,
			outcome		text NOT NULL);
		CREATE TABLE call_history AS
		SELECT g AS id, 1 + g % 200 AS agent_id, 1 + g % 20000 AS contact_id,
		       (g::bigint * 7919) % 600 AS duration_s,
		       (ARRAY['answered', 'busy', 'no answer', 'voicemail'])[1 + g % 4] AS outcome
		  FROM generate_series(1, $HIST_ROWS) g;
		CREATE ROLE call_writer LOGIN;
		GRANT SELECT, INSERT ON call_log TO call_writer;
		GRANT USAGE ON SEQUENCE call_log_id_seq TO call_writer;
		GRANT SELECT, UPDATE ON agents TO call_writer;
		VACUUM ANALYZE;
	EOF
	FILLS=$QC_PGDIR/fills.sql WRITER_PID=$QC_PGDIR/writer.pid
	make_fill_loop "$FILLS"

	echo
	echo "=== Machine and versions ==="
	echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:     $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "PostgreSQL:  $(sql -c 'SHOW server_version'), binaries $QC_PG_BIN"
	echo "querycache:  $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'querycache'")," \
		"source $(git -C "$QC_ROOT" describe --always --dirty 2>/dev/null || echo unknown)$([[ ${QC_INSTALLED:-} == 1 ]] && echo ' (not rebuilt: QC_INSTALLED=1)'), loaded from" \
		"$(grep -o '/[^ ]*querycache\.so' "/proc/$(head -1 "$QC_PGDIR/data/postmaster.pid")/maps" | head -1)"
	echo "settings:    shared_buffers 256MB, fsync and synchronous_commit on (defaults), max_parallel_workers_per_gather $(sql -c 'SHOW max_parallel_workers_per_gather')"
	echo "writers:     pgbench, 1 client (-c 1 -j 1 -M simple -h 127.0.0.1) as role call_writer; the fills start ${WARM} s"
	echo "             after it, and it is stopped when they are done; commits/s = xids taken during the fills / their time"
	lat=$(pgb -T "$((ROUNDS > 1 ? 2 : 1))" -f "$QC_ROOT/bench/agents_raw.sql" "${DEFS[@]}" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	echo "query:       the agents list of user 1 (scripts/agents_list.sql), uncached: $lat ms at 1 client"
	echo "fills:       $NFILLS x (querycache_delete('$KEY'); querycache_wrap('$KEY', <agents list>, '1 hour', 1);"
	echo "             a check: the key in querycache_entries? querycache_get hits? equal to the list read afresh?),"
	echo "             one psql session, each statement its own transaction"

	echo
	echo "=== Fills stored under write load: $ROUNDS round(s), $NFILLS fills per load and round ==="
	for ((round = 1; round <= ROUNDS; round++)); do
		for ld in "${LOADS[@]}"; do
			run_load "$ld" "$round"
		done
	done

	echo
	echo "=== Parallel query off in fills: a $HIST_ROWS-row aggregate direct vs as a fill ==="
	echo "  query: $HIST_SQL"
	sql -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $HIST_SQL" | grep -E 'Gather|Workers|Execution' | sed 's/^ */  direct plan: /'
	local h0 h1 hist_lat
	read -r h0 _ < <(stats)
	for ((round = 1; round <= HIST_ROUNDS; round++)); do
		pgb -t 1 -f "$QC_ROOT/bench/history_direct.sql" "${DEFS[@]}" >"$QC_PGDIR/h.out" 2>&1 ||
			{ cat "$QC_PGDIR/h.out"; die "history_direct failed"; }
		HLAT[direct]+="$(lat_of "$QC_PGDIR/h.out") "
		pgb -t 1 -f "$QC_ROOT/bench/history_wrap.sql" "${DEFS[@]}" >"$QC_PGDIR/h.out" 2>&1 ||
			{ cat "$QC_PGDIR/h.out"; die "history_wrap failed"; }
		HLAT[fill]+="$(lat_of "$QC_PGDIR/h.out") "
		qc_as_pg env PGOPTIONS='-c max_parallel_workers_per_gather=0' pgbench -n -h 127.0.0.1 -p "$PGPORT" -d callcenter \
			-c 1 -j 1 -M simple -t 1 -f "$QC_ROOT/bench/history_direct.sql" "${DEFS[@]}" >"$QC_PGDIR/h.out" 2>&1 ||
			{ cat "$QC_PGDIR/h.out"; die "history_direct (serial) failed"; }
		HLAT[serial]+="$(lat_of "$QC_PGDIR/h.out") "
		for v in direct fill serial; do
			hist_lat=${HLAT[$v]% }
			HLAST[$v]=${hist_lat##* }
			printf '  round %d  %-52s %8.1f ms\n' "$round" "${HLABEL[$v]}" "${HLAST[$v]}"
		done
		# this round's ratios: the three runs saw about the same machine
		HLAT[r_fill]+="$(awk -v a="${HLAST[fill]}" -v b="${HLAST[direct]}" 'BEGIN { printf "%.3f", a / b }') "
		HLAT[r_serial]+="$(awk -v a="${HLAST[serial]}" -v b="${HLAST[direct]}" 'BEGIN { printf "%.3f", a / b }') "
		HLAT[r_wrap]+="$(awk -v a="${HLAST[fill]}" -v b="${HLAST[serial]}" 'BEGIN { printf "%.3f", a / b }') "
	done
	read -r h1 _ < <(stats)
	echo "  fills during these runs: $((h1 - h0)) (expected $HIST_ROUNDS)"

	report
}

declare -A HLAT HLAST HLABEL=([direct]="direct, parallel workers allowed" [fill]="querycache_wrap, a miss: fill with parallel off"
	[serial]="direct, max_parallel_workers_per_gather = 0")

cleanup() {
	[[ -n ${WRITER_PID:-} && -s $WRITER_PID ]] && kill "$(cat "$WRITER_PID")" 2>/dev/null
	qc_stop_cluster
	wait 2>/dev/null || true
}

row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

# met_min LIST MIN: yes when every value of LIST is >= MIN
met_min() { awk -v m="$2" '{ for (i = 1; i <= NF; i++) if ($i < m) { print "NO"; exit } print "yes" }' <<<"$1"; }

report() {
	local ld tgt met
	echo
	echo "=== Results: agents-list fills stored under write load ($ROUNDS round(s) of $NFILLS fills; one value per round) ==="
	echo
	row "write load" "commits/s achieved" "fills stored, of $NFILLS" "discarded" "target" "met"
	row "---" "---:" "---:" "---:" "---" "---"
	for ld in "${LOADS[@]}"; do
		tgt='' met=''
		case $ld in
		u200) tgt="$NFILLS of $NFILLS"; met=$(met_min "${STORED[$ld]}" "$NFILLS") ;;
		umax | uasync | temp) tgt=">= 95"; met=$(met_min "${STORED[$ld]}" 95) ;;
		agents*)
			tgt="most discarded"
			met=$(awk -v n=$NFILLS '{ for (i = 1; i <= NF; i++) if ($i * 2 <= n) { print "NO"; exit } print "yes" }' <<<"${DISC[$ld]}") ;;
		esac
		row "${LABEL[$ld]}" "$(commas "${RATE[$ld]}")" "$(commas "${STORED[$ld]}")" \
			"$(commas "${DISC[$ld]}")" "$tgt" "$met"
	done
	echo
	echo "commits/s: transaction ids the writer took during the fills, per second. Stored: fills - discarded"
	echo "in querycache_stats. Checked right after each fill: querycache_get hits, and hits that differ from"
	echo "the list read afresh in the same statement (stale; agents rows change under the control writers):"
	for ld in "${LOADS[@]}"; do
		printf '  %-46s hits %s; stale %s; mean wrap (fill) time %s ms\n' "${LABEL[$ld]}" \
			"$(commas "${HITS[$ld]}")" "$(commas "${STALE[$ld]}")" "$(lmean "${WRAPMS[$ld]}")"
	done
	local allstale
	allstale=$(tr ' ' '\n' <<<"${STALE[*]}" | awk '{ s += $1 } END { print s + 0 }')
	echo "stale hits over all loads: $allstale (target 0): $( ((allstale == 0)) && echo yes || echo NO)"
	echo
	local r f est
	r=$(med "${RATE[agents50]}") f=$(lmean "${WRAPMS[agents50]}")
	est=$(awk -v r="$r" -v f="$f" -v n=$NFILLS 'BEGIN { printf "%.0f", n * (1 - exp(-r * f / 1000)) }')
	echo "Control: only a commit to agents that overlaps a fill can discard it: one whose PRE_COMMIT..stamp"
	echo "window meets the fill's fence read..check. pgbench --rate spaces commits as a Poisson process, so"
	echo "at r commits/s about 1 - exp(-r (F + C)) of the fills overlap one, F the fill's time, C a commit's."
	echo "At r = $r/s and F = $f ms (mean wrap time), that is $est of $NFILLS plus what C adds (the WAL flush);"
	echo "measured $(commas "${DISC[agents50]}") discarded. Flat out, the writer has a commit in flight most of"
	echo "the time, so nearly every fill overlaps one: measured $(commas "${DISC[agentsmax]}") discarded."

	local dir fill ser
	dir=$(med "${HLAT[direct]}" %.1f) fill=$(med "${HLAT[fill]}" %.1f) ser=$(med "${HLAT[serial]}" %.1f)
	echo
	echo "=== Results: parallel query off in fills ($HIST_ROWS rows; medians over $HIST_ROUNDS rounds of one run each) ==="
	echo
	printf '| %s | %s | %s |\n' "run" "latency" "/ direct (median of round ratios)" "---" "---:" "---:"
	printf '| %s | %s ms | %s |\n' "${HLABEL[direct]}" "$dir" "1" \
		"${HLABEL[fill]}" "$fill" "$(med "${HLAT[r_fill]}" %.2f)" \
		"${HLABEL[serial]}" "$ser" "$(med "${HLAT[r_serial]}" %.2f)"
	echo "fill / direct without parallel workers (the wrapper alone): $(med "${HLAT[r_wrap]}" %.2f) (median of round ratios)"
	echo
	echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
}

main "$@" 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}
echo "Saved to $OUT"
exit "$status"
