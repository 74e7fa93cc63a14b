#!/usr/bin/env bash
# querycache benchmarks: builds and installs querycache, starts a throwaway
# cluster (plus pgpool-II in front of it), loads the call-center seed and runs
# the pgbench scripts of bench/, alternating competitors over rounds; prints a
# table of figures and ratios, also saved to bench/results/<date-time>.txt.
# Usage (as root): bash bench/run.sh [--quick] [-T seconds] [--rounds N]
#   --quick   one round of 3 s runs (smoke test); default 5 rounds of 6 s.
#   QC_INSTALLED=1 skips the build and uses the installed querycache.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

T=6 ROUNDS=5 QUICK=
while (($#)); do
	case $1 in
	--quick) T=3 ROUNDS=1 QUICK=-quick ;;
	-T) T=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bash bench/run.sh [--quick] [-T seconds] [--rounds N]" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p bench/results
OUT=bench/results/$(date +%Y-%m-%d-%H%M)$QUICK.txt

# The queries. The agents list is scripts/agents_list.sql; the ~1 ms query
# for figure 6 scans contacts on a column no index covers.
AGENTS=$(sed '/^[[:space:]]*--/d' scripts/agents_list.sql)
MISS_SQL="SELECT count(*) FROM contacts WHERE name LIKE 'Contact 3-%'"
DEFS=(-D "agents_sql=${AGENTS//\$1/1}" -D "agents_lit=\$q\$$AGENTS\$q\$"
	-D "miss_sql=$MISS_SQL" -D "miss_lit=\$q\$$MISS_SQL\$q\$")

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
die() { echo "ERROR: $*" >&2; exit 1; }

# pgb LABEL SCRIPT [pgbench options]: one timed run against $PORT (default:
# the server); appends its TPS to TPS[LABEL] and its transactions to NTX[LABEL].
declare -A TPS NTX
pgb() {
	local label=$1 script=$2 out tps; shift 2
	[[ $script == /* ]] || script=bench/$script
	out=$(pgbench -n -h 127.0.0.1 -p "${PORT:-$PGPORT}" -c 4 -j 2 -M simple -T "$T" \
		-f "$script" "${DEFS[@]}" "$@" 2>&1) || { echo "$out"; die "pgbench $label failed"; }
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	TPS[$label]+="$tps "
	NTX[$label]=$((${NTX[$label]:-0} + $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")))
	printf '  round %d  %-34s %10.0f tps\n' "$round" "$label" "$tps"
}
# warm SCRIPT [pgbench options]: one transaction, so the next run only hits.
warm() {
	local script=$1
	[[ $script == /* ]] || script=bench/$script
	pgbench -n -h 127.0.0.1 -p "${PORT:-$PGPORT}" -c 1 -t 1 -M simple -f "$script" "${DEFS[@]}" "${@:2}" >/dev/null 2>&1 ||
		die "warming $1 failed"
}
# pair: one head-to-head run, querycache hits and pgpool-II hits at the same
# time (2 clients each), so both see the same machine; records both TPS and
# their ratio for this round in TPS[h2h_ratio].
pair() {
	local qc pool tmp=$QC_PGDIR/pair
	pgbench -n -h 127.0.0.1 -p "$PGPORT" -c 2 -j 1 -M simple -T "$T" \
		-f bench/agents_hit.sql "${DEFS[@]}" >"$tmp.qc" 2>&1 &
	pgbench -n -h 127.0.0.1 -p "$POOL_PORT" -c 2 -j 1 -M simple -T "$T" \
		-f bench/agents_raw.sql "${DEFS[@]}" >"$tmp.pool" 2>&1 || true
	wait $! || true
	qc=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp.qc")
	pool=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp.pool")
	[[ -n $qc && -n $pool ]] || { cat "$tmp.qc" "$tmp.pool"; die "head-to-head pgbench run failed"; }
	# pgpool's cache-hit check below covers these transactions too
	NTX[pgpool]=$((NTX[pgpool] + $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$tmp.pool")))
	TPS[h2h_qc]+="$qc " TPS[h2h_pool]+="$pool "
	TPS[h2h_ratio]+="$(awk -v a="$qc" -v b="$pool" 'BEGIN { printf "%.4f", a / b }') "
	printf '  round %d  %-34s %10.0f tps, pgpool %.0f tps\n' "$round" "head to head: querycache" "$qc" "$pool"
}

# median LABEL [FORMAT]: the median of LABEL's values (a shared VM has
# outliers), printed with FORMAT (default %.0f, for TPS).
median() { tr ' ' '\n' <<<"${TPS[$1]}" | sed '/^$/d' | sort -g |
	awk -v f="${2:-%.0f}" '{ v[NR] = $1 } END { printf f, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

main() {
	echo "=== Build and install querycache ==="
	qc_install_deps
	command -v pgpool >/dev/null || apt-get -o DPkg::Lock::Timeout=900 install -y -qq pgpool2
	qc_build_install
	[[ -n $QC_BUILD_DIR ]] && rm -rf "$QC_BUILD_DIR"

	echo "=== Start a throwaway cluster, load the seed, CREATE EXTENSION querycache ==="
	QC_PG_EXTRA_CONF="shared_buffers = 256MB
querycache.max_entries = 120000
querycache.max_memory = '512MB'
huge_pages = try"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	# ~900 MB of shared memory in 4 kB pages costs a TLB miss per random
	# entry; reserve 2 MB pages for the run (restored afterwards), as a
	# production server with this much shared memory would.
	HUGE_OLD=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
	((HUGE_OLD >= 600)) || echo 600 >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	qc_start_cluster "" 54340
	HUGE=$(awk '/HugePages_Rsvd|HugePages_Total/ { v[$1] = $2 } END { print (v["HugePages_Rsvd:"] > 0 || v["HugePages_Total:"] > 0) ? "huge_pages = try, " v["HugePages_Total:"] " x 2 MB reserved" : "no huge pages" }' /proc/meminfo)
	sql -c 'CREATE DATABASE callcenter'
	export PGDATABASE=callcenter
	sql -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
	sql -c 'CREATE EXTENSION querycache' -c 'VACUUM ANALYZE'

	echo "=== Start pgpool-II (raw mode, in-memory query cache in shmem) ==="
	start_pgpool

	echo
	echo "=== Machine and versions ==="
	echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:     $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "PostgreSQL:  $(sql -c 'SHOW server_version')"
	echo "pgpool-II:   $(pgpool --version 2>&1)"
	echo "querycache:  $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'querycache'")," \
		"source $(git -C "$QC_ROOT" describe --always --dirty 2>/dev/null || echo unknown)$([[ ${QC_INSTALLED:-} == 1 ]] && echo ' (not rebuilt: QC_INSTALLED=1)')"
	echo "settings:    shared_buffers 256MB, querycache.max_entries 120000, querycache.max_memory 512MB, $HUGE"
	echo "pgbench:     -c 4 -j 2 -M simple -h 127.0.0.1 -T $T, $ROUNDS rounds alternating competitors; figures are medians over rounds"
	echo "seed:        $(sql -c "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('agents', 'call_campaigns', 'call_queue', 'contacts')") indexes on agents/call_campaigns/call_queue/contacts after CREATE EXTENSION"

	echo
	echo "=== Figures 1 and 2: floor, querycache hit, uncached, pgpool-II cache hit ==="
	PORT=$POOL_PORT warm agents_raw.sql
	read -r pool_hits0 pool_selects0 _ < <(pool_cache)
	sql -c "CREATE TABLE bench_payload AS SELECT querycache_wrap('agents:list:userId=1', \$q\$$AGENTS\$q\$, interval '1 hour', 1) AS doc"
	warm agents_hit.sql
	# -M prepared sends pgbench variables (any ":name", even in literals) as
	# parameters: inline the text, and use a key without colons
	HIT_INLINE=$QC_PGDIR/agents_hit_inline.sql
	printf "SELECT querycache_wrap('agents.list.userId=1', \$q\$%s\$q\$, interval '1 hour', 1);\n" "$AGENTS" >"$HIT_INLINE"
	warm "$HIT_INLINE"
	DEFS+=(-D "result_len=$(sql -c "SELECT octet_length(doc::text) FROM bench_payload")")
	for ((round = 1; round <= ROUNDS; round++)); do
		pgb floor select1.sql
		pgb hit agents_hit.sql
		pgb result_floor result_floor.sql
		pgb wire_floor wire_floor.sql
		pgb get get_agents.sql
		pgb uncached agents_raw.sql
		PORT=$POOL_PORT pgb pgpool agents_raw.sql
		pair
		pgb payload payload.sql
		pgb floor_prep select1.sql -M prepared
		pgb hit_prep "$HIT_INLINE" -M prepared
	done
	read -r pool_hits pool_selects pool_ratio < <(pool_cache)
	pool_hits=$((pool_hits - pool_hits0)) pool_selects=$((pool_selects - pool_selects0))
	echo "  pgpool SHOW pool_cache during its runs: $pool_hits cache hits, $pool_selects SELECTs sent to the server" \
		"(pgbench ran ${NTX[pgpool]} transactions; cumulative cache_hit_ratio $pool_ratio)"
	((pool_hits >= ${NTX[pgpool]} * 99 / 100)) ||
		{ echo "  WARNING: pgpool did NOT serve these runs from its cache; its log:"; tail -n 20 "$POOL_DIR/pgpool.log"; }

	echo
	echo "=== Figure 3: hits over 100k entries vs over 100 entries (querycache_get, random keys) ==="
	for ((round = 1; round <= ROUNDS; round++)); do
		fill_keys 100000
		pgb scale_100k get_random_key.sql -D nkeys=100000
		fill_keys 100
		pgb scale_100 get_random_key.sql -D nkeys=100
	done

	echo
	echo "=== Figure 4: a hit returning 100 kB vs 1 kB (querycache_get), and the 100 kB value built uncached ==="
	sql -c "SELECT querycache_clear_all()" \
		-c "SELECT querycache_set('size:' || n, to_jsonb(repeat('x', n)), interval '1 hour') FROM (VALUES (1000), (100000)) v(n)" >/dev/null
	echo "  stored values: $(sql -c "SELECT string_agg(key || ' = ' || bytes || ' bytes', ', ' ORDER BY bytes) FROM querycache_entries")"
	for ((round = 1; round <= ROUNDS; round++)); do
		pgb size_1k get_sized.sql -D bytes=1000
		pgb size_100k get_sized.sql -D bytes=100000
		pgb size_100k_nocache sized_direct.sql -D bytes=100000
	done

	echo
	echo "=== Figure 5: UPDATE agents with 100k cached entries that read agents vs with none ==="
	for ((round = 1; round <= ROUNDS; round++)); do
		sql -c "SELECT querycache_clear_all()" >/dev/null
		pgb update_0 update_agent.sql
		sql -c "DO \$\$ BEGIN FOR i IN 1..100000 LOOP
			PERFORM querycache_wrap('dep:' || i, 'SELECT count(*) FROM agents WHERE id > \$1', interval '1 hour', i); END LOOP; END \$\$"
		echo "  cached entries before the run: $(sql -c 'SELECT entries FROM querycache_stats')"
		pgb update_100k update_agent.sql
	done

	echo
	echo "=== Figure 6: a ~1 ms query direct vs through querycache_wrap (always a miss; enabled = off) ==="
	latency=$(pgbench -n -h 127.0.0.1 -p "$PGPORT" -c 1 -T 2 -M simple -f bench/miss_direct.sql "${DEFS[@]}" 2>&1 |
		sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	echo "  query: $MISS_SQL -- ${latency} ms at 1 client"
	for ((round = 1; round <= ROUNDS; round++)); do
		pgb direct miss_direct.sql
		sql -c "SELECT querycache_clear_all()" >/dev/null
		pgb miss_fill miss_wrap.sql
		PGOPTIONS='-c querycache.enabled=off' pgb wrap_off miss_wrap.sql
	done
	echo "  querycache_stats: $(sql -F ' ' -c 'SELECT entries, hits, misses, fills FROM querycache_stats' |
		awk '{ print $1 " entries, " $2 " hits, " $3 " misses, " $4 " fills (cumulative)" }')"

	echo
	echo "=== Figure 7: memory per entry ==="
	read -r shm maxmem maxent < <(sql -F ' ' -c "SELECT (SELECT size FROM pg_shmem_allocations WHERE name = 'querycache store'),
		max_memory_bytes, max_entries FROM querycache_stats")
	slot=$(awk -v s="$shm" -v m="$maxmem" -v n="$maxent" 'BEGIN { printf "%.0f", (s - m) / n }')
	sql -c "SELECT querycache_clear_all()" >/dev/null
	sql -c "SELECT querycache_wrap('agents:list:userId=' || u, \$q\$$AGENTS\$q\$, interval '1 hour', u) FROM generate_series(1, 20) u" >/dev/null
	read -r nent meanbytes meantext mem < <(sql -F ' ' -c "SELECT count(*), round(avg(bytes)),
		round(avg(octet_length(querycache_get(key)::text))), (SELECT memory_bytes FROM querycache_stats)
		FROM querycache_entries WHERE key LIKE 'agents:list:%'")
	meanmem=$((mem / nent)) waste=$((mem / nent - meanbytes - meantext))
	echo "  'querycache store' shared memory $shm bytes, max_memory $maxmem, max_entries $maxent"
	echo "  slot: ($shm - $maxmem) / $maxent = $slot bytes per entry; minus the 257-byte inline key: $((slot - 257))"
	echo "  agents-list results of users 1..20 ($nent entries, the only ones): memory_bytes $mem, $meanmem per entry:"
	echo "    value (jsonb) $meanbytes + its stored text $meantext + block rounding $waste bytes"

	report
}

# pool_cache: num_cache_hits num_selects cache_hit_ratio from pgpool's SHOW pool_cache.
pool_cache() { psql -X -At -F ' ' -h 127.0.0.1 -p "$POOL_PORT" -c 'SHOW pool_cache' | cut -d' ' -f1-3; }

start_pgpool() {
	POOL_DIR=$QC_PGDIR/pgpool POOL_PORT=$((PGPORT + 100))
	while (: >"/dev/tcp/127.0.0.1/$POOL_PORT") 2>/dev/null; do POOL_PORT=$((POOL_PORT + 1)); done
	mkdir -p "$POOL_DIR/oiddir"
	cat >"$POOL_DIR/pgpool.conf" <<-EOF
		backend_clustering_mode = 'raw'
		listen_addresses = '127.0.0.1'
		port = $POOL_PORT
		socket_dir = '$POOL_DIR'
		pcp_listen_addresses = ''
		pcp_port = $((POOL_PORT + 1))
		pcp_socket_dir = '$POOL_DIR'
		wd_ipc_socket_dir = '$POOL_DIR'
		pid_file_name = '$POOL_DIR/pgpool.pid'
		logdir = '$POOL_DIR'
		backend_hostname0 = '127.0.0.1'
		backend_port0 = $PGPORT
		enable_pool_hba = off
		pool_passwd = ''
		sr_check_period = 0
		memory_cache_enabled = on
		memqcache_method = 'shmem'
		memqcache_oiddir = '$POOL_DIR/oiddir'
	EOF
	: >"$POOL_DIR/pcp.conf"
	: >"$POOL_DIR/pool_hba.conf"
	chown -R postgres: "$POOL_DIR"
	qc_as_pg pgpool -n -f "$POOL_DIR/pgpool.conf" -F "$POOL_DIR/pcp.conf" -a "$POOL_DIR/pool_hba.conf" \
		>"$POOL_DIR/pgpool.log" 2>&1 &
	POOL_PID=$!
	for _ in {1..50}; do
		psql -X -Atq -h 127.0.0.1 -p "$POOL_PORT" -c 'SHOW pool_version' >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	tail -n 30 "$POOL_DIR/pgpool.log"
	die "pgpool-II did not start"
}

cleanup() {
	if [[ -n ${POOL_PID:-} ]]; then
		qc_as_pg pgpool -f "$POOL_DIR/pgpool.conf" -m fast stop >/dev/null 2>&1 || true
		wait "$POOL_PID" 2>/dev/null || true
	fi
	qc_stop_cluster
	[[ -n ${HUGE_OLD:-} ]] && echo "$HUGE_OLD" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
}

# row FIGURE WHAT VALUE [RATIO-NAME RATIO [TARGET MIN]]: one line of the table;
# "met" is yes when RATIO >= MIN.
row() {
	local met=
	[[ -n ${7:-} ]] && met=$(awk -v r="$5" -v m="$7" 'BEGIN { print (r >= m) ? "yes" : "NO" }')
	printf '%-3s %-40s %14s  %-26s %6s  %-8s %s\n' "$1" "$2" "$3" "${4:-}" "${5:-}" "${6:-}" "$met"
}

report() {
	local floor hit rfloor wfloor get unc pool payload floorp hitp s100k s100 z1k z100k znc u0 u100k dir miss off
	floor=$(median floor) hit=$(median hit) rfloor=$(median result_floor) wfloor=$(median wire_floor) get=$(median get)
	unc=$(median uncached) pool=$(median pgpool)
	payload=$(median payload) floorp=$(median floor_prep) hitp=$(median hit_prep)
	s100k=$(median scale_100k) s100=$(median scale_100) z1k=$(median size_1k) z100k=$(median size_100k) znc=$(median size_100k_nocache)
	u0=$(median update_0) u100k=$(median update_100k) dir=$(median direct) miss=$(median miss_fill) off=$(median wrap_off)
	echo
	echo "=== Results (TPS: median of $ROUNDS rounds of $T s, 4 clients) ==="
	printf '%-3s %-40s %14s  %-26s %6s  %-8s %s\n' fig what value ratio "" target met
	row 1 "SELECT 1 (round-trip floor)" "$floor tps"
	row 1 "querycache hit, agents list user 1" "$hit tps" "hit / floor" "$(ratio "$hit" "$floor")" ">= 0.95" 0.95
	row 1 "SELECT repeat('x', <hit's length>)" "$rfloor tps" "hit / result floor" "$(ratio "$hit" "$rfloor")"
	row 1 "same call text in, same length out" "$wfloor tps" "hit / wire floor" "$(ratio "$hit" "$wfloor")"
	row 1 "  (no work: the wire floor)" "" "wire floor / floor" "$(ratio "$wfloor" "$floor")"
	row 1 "same hit by key (querycache_get)" "$get tps" "get / result floor" "$(ratio "$get" "$rfloor")"
	row 1 "" "" "get / floor" "$(ratio "$get" "$floor")"
	row 1 "agents list uncached" "$unc tps" "hit / uncached" "$(ratio "$hit" "$unc")"
	row 1 "same result read from a 1-row table" "$payload tps" "hit / payload floor" "$(ratio "$hit" "$payload")"
	row 1 "SELECT 1, -M prepared" "$floorp tps"
	row 1 "querycache hit, -M prepared" "$hitp tps" "hit / floor, prepared" "$(ratio "$hitp" "$floorp")"
	row 2 "pgpool-II cache hit, agents list" "$pool tps" "qc hit / pgpool hit" "$(ratio "$hit" "$pool")" ">= 1" 1
	row 2 "" "" "pgpool hit / floor" "$(ratio "$pool" "$floor")"
	row 2 "head to head, 2+2 clients: querycache" "$(median h2h_qc) tps" "median of round ratios" "$(median h2h_ratio %.2f)" ">= 1" 1
	row 2 "head to head: pgpool-II" "$(median h2h_pool) tps"
	row 2 "pgpool cache hits / its transactions" "$pool_hits/${NTX[pgpool]}"
	row 3 "hit, 100k entries (random keys)" "$s100k tps" "100k / 100 entries" "$(ratio "$s100k" "$s100")" ">= 0.9" 0.9
	row 3 "hit, 100 entries (random keys)" "$s100 tps"
	row 4 "hit, 1 kB value" "$z1k tps"
	row 4 "hit, 100 kB value" "$z100k tps" "100 kB / 1 kB" "$(ratio "$z100k" "$z1k")"
	row 4 "100 kB value built uncached (no cache)" "$znc tps" "hit / uncached, 100 kB" "$(ratio "$z100k" "$znc")"
	row 5 "UPDATE agents, 0 cached entries" "$u0 tps"
	row 5 "UPDATE agents, 100k dependent entries" "$u100k tps" "100k / 0 entries" "$(ratio "$u100k" "$u0")" "~1 (>=.9)" 0.9
	row 6 "~1 ms query direct (${latency} ms, 1 client)" "$dir tps"
	row 6 "wrap, every call a miss + fill" "$miss tps" "miss+fill / direct" "$(ratio "$miss" "$dir")"
	row 6 "wrap, querycache.enabled = off" "$off tps" "wrapper off / direct" "$(ratio "$off" "$dir")"
	row 7 "entry slot (fixed, per max_entries)" "$slot B"
	row 7 "entry slot minus 257 B inline key" "$((slot - 257)) B"
	row 7 "stored text, agents-list results" "$meantext B" "of mean value" "$meanbytes B"
	row 7 "block rounding, agents-list results" "$waste B"
	echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
}

main "$@" 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}
echo "Saved to $OUT"
exit "$status"
