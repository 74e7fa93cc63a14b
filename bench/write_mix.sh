#!/usr/bin/env bash
# querycache under the call-center write mix (issue 12, part 3): 8 readers of
# the agents list and the contacts list of 20 users through querycache_wrap,
# while writers commit at fixed rates (call log 1000/s, call_queue status
# 50/s, contacts 20/s, agents 1/s), once per dependency policy: 'reads',
# 'rules' (with keyed rules: a contacts or agents write for one user
# invalidates that user's list only), and 'reads' with 500 ms
# stale-while-revalidate. Prints per policy
# the hit ratio, fills stored and discarded, stale hits, read latency and the
# staleness the readers actually observed; saved to
# bench/results/<date>-<time>-write-mix.txt.
# Usage (as root): bash bench/write_mix.sh [--quick] [-T seconds] [--rounds N]
#   -T        seconds of reading per policy and round (default 20; --quick: 8)
#   --rounds  rounds, each running every policy once (default 2; --quick: 1):
#             a full run reads 40 s per policy and takes about 3 minutes.
#   QC_PG_BIN=/path/to/15/bin uses (builds and installs into) that PostgreSQL 15
#   instead of /usr/lib/postgresql/15/bin; QC_INSTALLED=1 skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh

DUR=20 ROUNDS=2 WARM=2 QUICK=
while (($#)); do
	case $1 in
	--quick) DUR=8 ROUNDS=1 WARM=1 QUICK=-quick ;;
	-T) DUR=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	*) echo "usage: bash bench/write_mix.sh [--quick] [-T seconds] [--rounds N]" >&2; exit 2 ;;
	esac
	shift
done
[[ $DUR =~ ^[0-9]+$ ]] && ((DUR >= 2 && DUR <= 120)) || { echo "-T must be 2..120" >&2; exit 2; }
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 5)) || { echo "--rounds must be 1..5" >&2; exit 2; }
mkdir -p bench/results
OUT=bench/results/$(date +%Y-%m-%d-%H%M)-write-mix$QUICK.txt

READERS=8 USERS=20 SWR_MS=500 TTL_S=120

# The writers: pgbench script, --rate (commits/s, summed over its clients),
# clients. call_log is the unrelated table of write_load.sh; the others
# change what a list shows and bump that user's list version in the same
# statement.
WRITERS=(calllog queue contact agent)
declare -A WLABEL=([calllog]="call_log inserts (unrelated table)" [queue]="call_queue status updates"
	[contact]="contacts inserts" [agent]="agents updates")
declare -A WSCRIPT=([calllog]=call_log_insert.sql [queue]=mix_queue_status.sql
	[contact]=mix_contact_insert.sql [agent]=mix_agent_update.sql)
declare -A WRATE=([calllog]=1000 [queue]=50 [contact]=20 [agent]=1)
declare -A WCLIENTS=([calllog]=4 [queue]=1 [contact]=1 [agent]=1)

# The policies, in this order. The key patterns are the seeded ones.
PHASES=(reads rules swr)
declare -A PLABEL=([reads]="reads" [rules]="rules" [swr]="reads + swr ${SWR_MS} ms")
declare -A PSQL=([reads]="depends = 'reads', stale_while_revalidate = interval '0'"
	[rules]="depends = 'rules', stale_while_revalidate = interval '0'"
	[swr]="depends = 'reads', stale_while_revalidate = interval '$SWR_MS milliseconds'")

# The two lists of examples/node-api, each with one more column: v, the
# user's list version, read in the fill's snapshot like the rest.
AGENTS=$(sed '/^[[:space:]]*--/d' scripts/agents_list.sql)
CONTACTS=$(sed -n "/^const CONTACTS_LIST_SQL =/{n;s/^ *'\(.*\)';\$/\1/p}" examples/node-api/src/app.js)
[[ $CONTACTS == SELECT* ]] || { echo "cannot find CONTACTS_LIST_SQL in examples/node-api/src/app.js" >&2; exit 1; }
AGENTS_MIX="SELECT l.*, (SELECT version FROM agents_versions WHERE user_id = \$1) AS v FROM ($AGENTS) l"
CONTACTS_MIX="SELECT l.*, (SELECT version FROM contacts_versions WHERE user_id = \$1) AS v FROM ($CONTACTS) l"
RDEFS=(-D "agents_mix_lit=\$q\$$AGENTS_MIX\$q\$" -D "contacts_mix_lit=\$q\$$CONTACTS_MIX\$q\$")

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# The 'rules' phase keys the lists' rules on the user: the seeded rules
# (contacts -> ^contacts:, agents -> ^agents:, whole tables) give way, for
# that phase only, to keyed rules on user_id, so that a write for one user
# invalidates that user's list only (README, "Keyed rules"). KEYED lists
# the tables keyed (set in main: agents only if it has the column the
# agents list is keyed by); keyed_rules on|off sets or restores them.
declare -A KPATTERN=([contacts]='^contacts:list:userId=([0-9]+)$' [agents]='^agents:list:userId=([0-9]+)$')
declare -A KSEEDED=([contacts]='^contacts:' [agents]='^agents:')
KEYED=(contacts)
RULES_BEFORE=
rules_now() { sql -c "SELECT string_agg(table_name || ' -> ' || pattern || coalesce(' keyed on ' || key_column, ''), ', '
	ORDER BY pattern, table_name::text) FROM querycache_rules"; }
keyed_rules() {
	local t
	if [[ $1 == on ]]; then
		RULES_BEFORE=$(rules_now)
		for t in "${KEYED[@]}"; do
			sql -c "SELECT querycache_rule_set('$t', '${KSEEDED[$t]}', false)" \
				-c "SELECT querycache_watch('$t', '${KPATTERN[$t]}', 'user_id')" >/dev/null
		done
	else
		for t in "${KEYED[@]}"; do
			# the four-argument form drops the keyed trigger with the last keyed rule
			sql -c "SELECT querycache_rule_set('$t', '${KPATTERN[$t]}', false, NULL)" \
				-c "SELECT querycache_watch('$t', '${KSEEDED[$t]}')" >/dev/null
		done
		[[ $(rules_now) == "$RULES_BEFORE" ]] || die "rules not restored: $(rules_now), were $RULES_BEFORE"
		[[ $(sql -c "SELECT count(*) FROM pg_trigger WHERE tgname = 'querycache_invalidate_keyed'") == 0 ]] ||
			die "a keyed trigger is left"
	fi
}
die() { echo "ERROR: $*" >&2; exit 1; }
# hits stale_hits coalesced misses fills discarded bypasses too_large
stats() { sql -F ' ' -c 'SELECT hits, stale_hits, coalesced, misses, fills, discarded, bypasses, too_large FROM querycache_stats'; }
now_s() { sql -c 'SELECT extract(epoch FROM clock_timestamp())'; }

declare -A R # results: R[phase,name]
declare -A WPID

start_writers() {
	local w secs=$1 phase=$2
	for w in "${WRITERS[@]}"; do
		rm -f "$QC_PGDIR/w-$w.pid"
		# shellcheck disable=SC2016
		qc_as_pg sh -c 'echo $$ >"$0"; exec "$@"' "$QC_PGDIR/w-$w.pid" \
			pgbench -n -h 127.0.0.1 -p "$PGPORT" -U call_writer -d callcenter -M simple \
			-c "${WCLIENTS[$w]}" -j 1 -T "$secs" --rate "${WRATE[$w]}" \
			-f "$QC_ROOT/bench/${WSCRIPT[$w]}" >"$QC_PGDIR/w-$phase-$w.out" 2>&1 &
		WPID[$w]=$!
	done
}

# wait_writers PHASE: they stop by themselves (-T) just after the readers.
wait_writers() {
	local w
	for w in "${WRITERS[@]}"; do
		[[ -n ${WPID[$w]:-} ]] || continue
		wait "${WPID[$w]}" || true
		WPID[$w]=
		rm -f "$QC_PGDIR/w-$w.pid"
		grep -q '^number of transactions actually processed' "$QC_PGDIR/w-$1-$w.out" &&
			! grep -q 'aborted' "$QC_PGDIR/w-$1-$w.out" ||
			{ cat "$QC_PGDIR/w-$1-$w.out"; die "writer $w failed"; }
	done
}

# quantiles FILE: "n p50 p99 max" of the numbers in FILE (nearest rank).
quantiles() {
	sort -g "$1" | awk '{ v[NR] = $1 }
		function q(p,  i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return v[i] }
		END { if (NR == 0) print "0 - - -"; else printf "%d %.2f %.2f %.2f\n", NR, q(0.5), q(0.99), v[NR] }'
}

# run_round POLICY ROUND: set the policy, empty the cache, start the
# writers, run the readers for DUR s; add up this round's figures.
run_round() {
	local p=$1 round=$2 s0 s1 t0 t1 w n off0 secs i
	local dir=$QC_PGDIR/$p
	mkdir -p "$dir" && chown postgres: "$dir"
	n=$(sql -c "WITH u AS (UPDATE querycache_policies SET ${PSQL[$p]}
		WHERE pattern IN ('^agents:list', '^contacts:list') RETURNING 1) SELECT count(*) FROM u")
	((n == 2)) || die "expected the seeded policies '^agents:list' and '^contacts:list', updated $n rows"
	[[ $p == rules ]] && keyed_rules on
	[[ $p == rules && $round == 1 ]] && echo "  rules of the 'rules' phase: $(rules_now)"
	sql -c "SELECT querycache_clear_all()" >/dev/null

	start_writers $((WARM + DUR + 2)) "$p"
	sleep "$WARM"
	for w in "${WRITERS[@]}"; do
		[[ -s $QC_PGDIR/w-$w.pid ]] && kill -0 "$(cat "$QC_PGDIR/w-$w.pid")" 2>/dev/null ||
			{ cat "$QC_PGDIR/w-$p-$w.out"; die "writer $w did not start"; }
	done
	read -r -a s0 < <(stats)
	t0=$(now_s)
	off0=$(stat -c %s "$QC_PGDIR/server.log")
	qc_as_pg pgbench -n -h 127.0.0.1 -p "$PGPORT" -U call_reader -d callcenter -M simple \
		-c "$READERS" -j 2 -T "$DUR" -D "phase=$p" "${RDEFS[@]}" \
		--log --log-prefix="$dir/rd$round" \
		-f "$QC_ROOT/bench/mix_read_agents.sql@1" -f "$QC_ROOT/bench/mix_read_contacts.sql@1" \
		>"$dir/readers$round.out" 2>&1 || { cat "$dir/readers$round.out"; die "the readers failed"; }
	t1=$(now_s)
	read -r -a s1 < <(stats)
	# the server log since the readers started (nothing else logs meanwhile)
	tail -c +$((off0 + 1)) "$QC_PGDIR/server.log" >"$dir/round.log"
	cat "$dir/round.log" >>"$dir/server.log"
	wait_writers "$p"
	[[ $p == rules ]] && keyed_rules off
	grep -q '^number of transactions actually processed' "$dir/readers$round.out" ||
		{ cat "$dir/readers$round.out"; die "no reader summary"; }

	# querycache_stats over the readers' run (the writers never call the cache)
	local names=(hits stale_hits coalesced misses fills discarded bypasses too_large)
	for i in "${!names[@]}"; do
		R[$p,${names[$i]}]=$((${R[$p,${names[$i]}]:-0} + s1[i] - s0[i]))
	done
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	R[$p,secs]=$(awk -v a="${R[$p,secs]:-0}" -v b="$secs" 'BEGIN { printf "%.3f", a + b }')
	# what the writers committed while the readers ran
	local c_calllog c_queue c_contact c_agent
	read -r c_calllog c_queue c_contact c_agent < <(sql -F ' ' -c "
		SELECT (SELECT count(*) FROM call_log WHERE started_at >= to_timestamp($t0) AND started_at < to_timestamp($t1)),
		       count(*) FILTER (WHERE source = 'queue'), count(*) FILTER (WHERE source = 'contact'),
		       count(*) FILTER (WHERE source = 'agent')
		  FROM version_log WHERE changed_at >= to_timestamp($t0) AND changed_at < to_timestamp($t1)")
	for w in "${WRITERS[@]}"; do
		n=c_$w
		R[$p,c_$w]=$((${R[$p,c_$w]:-0} + ${!n}))
		R[$p,lag_$w]+="$(sed -n 's/^rate limit schedule lag: avg \([0-9.]*\) (max \([0-9.]*\)) ms/\1/p' "$QC_PGDIR/w-$p-$w.out") "
	done
	printf '  round %d  %-20s %6.0f reads/s; writers/s: call_log %6.1f, call_queue %5.1f, contacts %5.1f, agents %4.2f;' \
		"$round" "${PLABEL[$p]}" "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$dir/readers$round.out")" \
		"$(awk -v c="$c_calllog" -v s="$secs" 'BEGIN { print c / s }')" "$(awk -v c="$c_queue" -v s="$secs" 'BEGIN { print c / s }')" \
		"$(awk -v c="$c_contact" -v s="$secs" 'BEGIN { print c / s }')" "$(awk -v c="$c_agent" -v s="$secs" 'BEGIN { print c / s }')"
	printf ' hit ratio %s, %d stale values\n' \
		"$(awk -v h=$((s1[0] - s0[0] + s1[1] - s0[1] + s1[2] - s0[2])) -v c=$((s1[0] - s0[0] + s1[1] - s0[1] + s1[3] - s0[3])) 'BEGIN { printf "%.3f", c ? h / c : 0 }')" \
		"$(grep -c "LOG:  mix_stale $p " "$dir/round.log" || true)"
}

# summarize POLICY: the figures of its rounds together.
summarize() {
	local p=$1 dir=$QC_PGDIR/$1 w l
	echo
	echo "=== Policy: ${PLABEL[$p]} ($ROUNDS round(s) of $DUR s) ==="
	echo "  querycache_policies '^agents:list' and '^contacts:list' (ttl 2 minutes, seeded): ${PSQL[$p]}"
	# calls: a coalesced call counts as a miss too (it missed, then waited)
	R[$p,calls]=$((R[$p,hits] + R[$p,stale_hits] + R[$p,misses]))
	R[$p,hit_ratio]=$(awk -v h=$((R[$p,hits] + R[$p,stale_hits] + R[$p,coalesced])) -v c="${R[$p,calls]}" \
		'BEGIN { printf "%.3f", c ? h / c : 0 }')
	R[$p,stored]=$((R[$p,fills] - R[$p,discarded]))
	for w in "${WRITERS[@]}"; do
		R[$p,r_$w]=$(awk -v c="${R[$p,c_$w]}" -v s="${R[$p,secs]}" -v d="$([[ $w == agent ]] && echo 2 || echo 1)" \
			'BEGIN { printf "%.*f", d, c / s }')
		printf '  writer %-36s --rate %4d, %d client(s): achieved %7s/s; pgbench schedule lag avg per round %s ms\n' \
			"${WLABEL[$w]}" "${WRATE[$w]}" "${WCLIENTS[$w]}" "${R[$p,r_$w]}" "$(commas "${R[$p,lag_$w]}")"
	done

	# read latency from the per-transaction logs: client tx latency_us script ...
	cat "$dir"/rd*.* | awk -v d="$dir" '{ ms = $3 / 1000; print ms > (d "/lat." $4); print ms > (d "/lat.all") }'
	touch "$dir/lat.0" "$dir/lat.1" "$dir/lat.all"
	read -r "R[$p,n_agents]" "R[$p,p50_agents]" "R[$p,p99_agents]" "R[$p,max_agents]" < <(quantiles "$dir/lat.0")
	read -r "R[$p,n_contacts]" "R[$p,p50_contacts]" "R[$p,p99_contacts]" "R[$p,max_contacts]" < <(quantiles "$dir/lat.1")
	read -r "R[$p,n_all]" "R[$p,p50_all]" "R[$p,p99_all]" "R[$p,max_all]" < <(quantiles "$dir/lat.all")

	# per list, from querycache's DEBUG1 lines: hits (a coalesced call logs a
	# miss, then its hit), stale hits, discarded fills; every other call fills
	for l in agents contacts; do
		read -r "R[$p,h_$l]" "R[$p,sh_$l]" "R[$p,d_$l]" < <(awk -v k="$l:list:" '
			index($0, "querycache hit: " k) { h++ } index($0, "querycache stale hit: " k) { s++ }
			index($0, "querycache not storing " k) && /committed meanwhile/ { d++ }
			END { print h + 0, s + 0, d + 0 }' "$dir/server.log")
		R[$p,hr_$l]=$(awk -v h=$((R[$p,h_$l] + R[$p,sh_$l])) -v n="${R[$p,n_$l]}" 'BEGIN { printf "%.3f", n ? h / n : 0 }')
		R[$p,f_$l]=$((R[$p,n_$l] - R[$p,h_$l] - R[$p,sh_$l]))
	done
	# A model: reads of one key arrive at rho/s, commits that invalidate it at
	# lambda/s. With instant fills, never discarded, a read hits when the
	# event before it was a read, not an invalidation: rho / (rho + lambda).
	# Every agents list depends on call_queue and agents, every contacts
	# list on contacts: a write for one user invalidates the lists of all
	# users. Under 'rules' an agents list depends on agents only, and with
	# keyed rules only on its user's rows: a write invalidates one list of
	# USERS (the writers pick users, or agents of users, uniformly).
	local ka=0 kc=0
	if [[ $p == rules ]]; then
		[[ " ${KEYED[*]} " == *" agents "* ]] && ka=1
		[[ " ${KEYED[*]} " == *" contacts "* ]] && kc=1
	fi
	R[$p,lambda_agents]=$(awk -v q="${R[$p,r_queue]}" -v a="${R[$p,r_agent]}" -v rules="$([[ $p == rules ]] && echo 1 || echo 0)" \
		-v k=$ka -v u=$USERS 'BEGIN { printf "%.2f", rules ? (k ? a / u : a) : q + a }')
	R[$p,lambda_contacts]=$(awk -v c="${R[$p,r_contact]}" -v k=$kc -v u=$USERS 'BEGIN { printf "%.2f", k ? c / u : c }')
	for l in agents contacts; do
		R[$p,rho_$l]=$(awk -v n="${R[$p,n_$l]}" -v s="${R[$p,secs]}" -v u=$USERS 'BEGIN { printf "%.2f", n / s / u }')
		R[$p,model_$l]=$(awk -v r="${R[$p,rho_$l]}" -v l="${R[$p,lambda_$l]}" 'BEGIN { printf "%.3f", r / (r + l) }')
	done

	# staleness observed: the readers' mix_stale() lines (phase list uid
	# returned committed age_ms age_from_stamp_ms)
	for l in agents contacts; do
		awk -v p="$p" -v l="$l" '/LOG:  mix_stale / { for (i = 1; i <= NF; i++) if ($i == "mix_stale") break;
			if ($(i + 1) == p && $(i + 2) == l) print $(i + 6) }' "$dir/server.log" >"$dir/stale.$l"
		read -r "R[$p,ns_$l]" "R[$p,s50_$l]" "R[$p,s99_$l]" "R[$p,smax_$l]" < <(quantiles "$dir/stale.$l")
	done
	cat "$dir/stale.agents" "$dir/stale.contacts" >"$dir/stale.all"
	read -r "R[$p,ns_all]" _ _ "R[$p,smax_all]" < <(quantiles "$dir/stale.all")
	R[$p,over_window]=$(awk -v w=$SWR_MS '$1 > w { n++ } END { print n + 0 }' "$dir/stale.all")
	R[$p,smax_stamp]=$(awk -v p="$p" '/LOG:  mix_stale / { for (i = 1; i <= NF; i++) if ($i == "mix_stale") break;
		if ($(i + 1) == p && $(i + 7) > m) m = $(i + 7) } END { print m + 0 }' "$dir/server.log")

	echo "  readers: $READERS clients (-c $READERS -j 2 -M simple), ${R[$p,n_all]} reads in ${R[$p,secs]} s"
	printf '  querycache_stats: %d calls = %d hits + %d stale hits + %d misses (of which %d coalesced: they waited for another fill and took it); %d bypasses; hit ratio %s\n' \
		"${R[$p,calls]}" "${R[$p,hits]}" "${R[$p,stale_hits]}" "${R[$p,misses]}" "${R[$p,coalesced]}" "${R[$p,bypasses]}" "${R[$p,hit_ratio]}"
	printf '  fills %d: stored %d, discarded %d (too large %d)\n' "${R[$p,fills]}" "${R[$p,stored]}" "${R[$p,discarded]}" "${R[$p,too_large]}"
	for l in agents contacts; do
		printf '  %-8s %6d reads: hit ratio %s (%d hits incl. coalesced, %d stale hits), %d fills, %d discarded;\n' "$l" \
			"${R[$p,n_$l]}" "${R[$p,hr_$l]}" "${R[$p,h_$l]}" "${R[$p,sh_$l]}" "${R[$p,f_$l]}" "${R[$p,d_$l]}"
		printf '           %s reads/s per key, %s invalidating commits/s: model rho / (rho + lambda) = %s\n' \
			"${R[$p,rho_$l]}" "${R[$p,lambda_$l]}" "${R[$p,model_$l]}"
		printf '           latency p50 %s ms, p99 %s ms, max %s ms; stale values returned %d (%s %%), oldest missing change p50 %s ms, p99 %s ms, max %s ms\n' \
			"${R[$p,p50_$l]}" "${R[$p,p99_$l]}" "${R[$p,max_$l]}" "${R[$p,ns_$l]}" \
			"$(awk -v s="${R[$p,ns_$l]}" -v n="${R[$p,n_$l]}" 'BEGIN { printf "%.1f", n ? 100 * s / n : 0 }')" \
			"${R[$p,s50_$l]}" "${R[$p,s99_$l]}" "${R[$p,smax_$l]}"
	done
	printf '  all      %6d reads: latency p50 %s ms, p99 %s ms, max %s ms; oldest missing change max %s ms (from its commit timestamp; %s ms from its writer'"'"'s clock_timestamp())\n' \
		"${R[$p,n_all]}" "${R[$p,p50_all]}" "${R[$p,p99_all]}" "${R[$p,max_all]}" "${R[$p,smax_all]}" "${R[$p,smax_stamp]}"
	if [[ ${R[$p,ns_all]} -gt 0 ]]; then
		echo "  the oldest stale values returned (list, user, version returned, version committed, age from the commit"
		echo "  timestamp and from the writer's clock_timestamp(), ms):"
		awk '/LOG:  mix_stale / { for (i = 1; i <= NF; i++) if ($i == "mix_stale") break;
			print $(i + 6), $(i + 2), $(i + 3), $(i + 4), $(i + 5), $(i + 6), $(i + 7) }' "$dir/server.log" |
			sort -gr | awk 'NR <= 3 { $1 = ""; print "   " $0 }'
	fi
	if [[ $p == reads && ${R[$p,ns_all]} -gt 0 ]]; then
		echo "  WARNING: STALE VALUES UNDER depends = 'reads'; the first ones (phase list user returned committed age_ms stamp_age_ms):"
		grep 'mix_stale reads ' "$dir/server.log" | awk 'NR <= 20 { print "    " $0 }'
	fi
}

commas() { sed 's/ *$//; s/ /, /g' <<<"$1"; }

main() {
	echo "=== Build and install querycache into $("$QC_PG_CONFIG" --pkglibdir) ==="
	qc_install_deps
	qc_build_install
	[[ -n $QC_BUILD_DIR ]] && rm -rf "$QC_BUILD_DIR"

	echo "=== Start a throwaway cluster, load the seed, CREATE EXTENSION querycache ==="
	QC_PG_EXTRA_CONF="shared_buffers = 256MB
track_commit_timestamp = on"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	qc_start_cluster "" 54390
	sql -c 'CREATE DATABASE callcenter'
	export PGDATABASE=callcenter
	sql -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
	sql -c 'CREATE EXTENSION querycache'
	# the agents list is keyed by user (scripts/agents_list.sql: a.user_id = $1)
	[[ $(sql -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'agents'::regclass
		AND attname = 'user_id' AND NOT attisdropped") == 1 ]] && KEYED=(contacts agents)
	# call_log: calls made, which neither list reads (write_load.sh).
	# agents_versions, contacts_versions: one version per user and list, bumped
	# by every writer in the same statement as its change, read by the cached
	# queries; version_log: when each version was committed (about: stamped in
	# the writer's statement, just before its commit), read by the readers'
	# check only, never by a cached query.
	sql <<-EOF
		CREATE TABLE call_log (
			id			bigserial PRIMARY KEY,
			agent_id	bigint NOT NULL REFERENCES agents (id),
			contact_id	bigint NOT NULL REFERENCES contacts (id),
			started_at	timestamptz NOT NULL DEFAULT now(),
			duration_s	integer NOT NULL,
			outcome		text NOT NULL);
		CREATE TABLE agents_versions (user_id bigint PRIMARY KEY REFERENCES users (id),
			version bigint NOT NULL, changed_at timestamptz NOT NULL);
		CREATE TABLE contacts_versions (LIKE agents_versions INCLUDING ALL);
		INSERT INTO agents_versions SELECT id, 0, now() FROM users;
		INSERT INTO contacts_versions SELECT id, 0, now() FROM users;
		CREATE TABLE version_log (list text, user_id bigint, version bigint,
			changed_at timestamptz NOT NULL, source text NOT NULL, PRIMARY KEY (list, user_id, version));
		CREATE INDEX ON version_log (changed_at);
		-- the readers' check: logs a stale value and returns the age in ms of
		-- the oldest change missing from it, from its commit timestamp
		CREATE FUNCTION mix_stale(phase text, list text, uid int, rv bigint, cv bigint,
								  committed timestamptz, stamped timestamptz)
		RETURNS double precision LANGUAGE plpgsql AS \$\$
		DECLARE
			t timestamptz := clock_timestamp();
			age double precision := extract(epoch FROM t - committed) * 1000;
		BEGIN
			RAISE LOG 'mix_stale % % % % % % %', phase, list, uid, coalesce(rv::text, 'NULL'), cv,
				coalesce(round(age::numeric, 1)::text, 'NULL'),
				coalesce(round((extract(epoch FROM t - stamped) * 1000)::numeric, 1)::text, 'NULL');
			RETURN age;
		END \$\$;
		CREATE ROLE call_writer LOGIN;
		CREATE ROLE call_reader LOGIN;
		-- querycache logs each wrap's outcome at DEBUG1 (hit, stale hit,
		-- miss, refresh, not storing): counted per list from the server log
		ALTER ROLE call_reader SET log_min_messages = debug1;
		ALTER ROLE call_reader SET log_min_error_statement = panic;
		ALTER ROLE call_reader SET log_error_verbosity = terse;
		GRANT SELECT, INSERT ON call_log TO call_writer;
		GRANT USAGE ON SEQUENCE call_log_id_seq, contacts_id_seq TO call_writer;
		GRANT SELECT, UPDATE ON agents, call_queue, agents_versions, contacts_versions TO call_writer;
		GRANT SELECT, INSERT ON contacts, version_log TO call_writer;
		GRANT SELECT ON users, call_campaigns TO call_writer;
		GRANT SELECT ON agents, contacts, call_campaigns, call_queue, agents_versions, contacts_versions,
			version_log TO call_reader;
		VACUUM ANALYZE;
	EOF

	echo
	echo "=== Machine and versions ==="
	echo "date:        $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine:     $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p), load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "PostgreSQL:  $(sql -c 'SHOW server_version'), binaries $QC_PG_BIN"
	echo "querycache:  $(sql -c "SELECT extversion FROM pg_extension WHERE extname = 'querycache'")," \
		"source $(git -C "$QC_ROOT" describe --always --dirty 2>/dev/null || echo unknown)$([[ ${QC_INSTALLED:-} == 1 ]] && echo ' (not rebuilt: QC_INSTALLED=1)'), loaded from" \
		"$(grep -m 1 -o '/[^ ]*querycache\.so' "/proc/$(sed -n 1p "$QC_PGDIR/data/postmaster.pid")/maps")"
	echo "settings:    shared_buffers 256MB, track_commit_timestamp on, fsync and synchronous_commit on (defaults);"
	echo "             the readers' role logs at DEBUG1 (querycache's per-call hit/miss lines)"
	echo "rules:       $(rules_now)"
	echo "             under 'rules', keyed on user_id instead of their seeded rules:" \
		"$(for t in "${KEYED[@]}"; do printf '%s -> %s\n' "$t" "${KPATTERN[$t]}"; done | paste -sd, | sed 's/,/, /g')"
	local w
	for w in "${WRITERS[@]}"; do
		printf 'writer:      %-36s bench/%s, pgbench --rate %d, %d client(s), role call_writer\n' \
			"${WLABEL[$w]}" "${WSCRIPT[$w]}" "${WRATE[$w]}" "${WCLIENTS[$w]}"
	done
	echo "readers:     $READERS pgbench clients (role call_reader), each transaction one read of a random user's (1..$USERS)"
	echo "             agents list (bench/mix_read_agents.sql) or contacts list (bench/mix_read_contacts.sql), 50/50;"
	echo "             querycache_wrap(querycache_key('agents:list', {userId}), <list + version>, interval '2 minutes', userId)"
	echo "per round:   for each policy: querycache_clear_all(); the writers start; after ${WARM} s the readers run"
	echo "             for $DUR s (-T $DUR); $ROUNDS round(s), the policies in this order, then reversed, and so on"
	printf '\\set uid random(1, %d)\n%s;\n' "$USERS" "${AGENTS_MIX//\$1/:uid}" >"$QC_PGDIR/direct_a.sql"
	printf '\\set uid random(1, %d)\n%s;\n' "$USERS" "${CONTACTS_MIX//\$1/:uid}" >"$QC_PGDIR/direct_c.sql"
	chmod 644 "$QC_PGDIR"/direct_?.sql
	local la lc
	la=$(qc_as_pg pgbench -n -h 127.0.0.1 -p "$PGPORT" -d callcenter -c 1 -M simple -T 1 -f "$QC_PGDIR/direct_a.sql" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	lc=$(qc_as_pg pgbench -n -h 127.0.0.1 -p "$PGPORT" -d callcenter -c 1 -M simple -T 1 -f "$QC_PGDIR/direct_c.sql" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	echo "uncached:    agents list (with v) $la ms, contacts list (with v) $lc ms, 1 client, no writers;" \
		"contacts list of user 1: $(sql -c "SELECT count(*) FROM contacts WHERE user_id = 1") rows," \
		"$(sql -c "SELECT octet_length(coalesce(jsonb_agg(to_jsonb(t)), '[]')::text) FROM (${CONTACTS_MIX//\$1/1}) t") bytes of JSON"

	echo
	echo "=== $ROUNDS round(s), the policies alternating, $DUR s of reading each ==="
	local p round i
	for ((round = 1; round <= ROUNDS; round++)); do
		# odd rounds in order, even rounds reversed: drift (the machine, the
		# growing contacts lists) does not favour one policy
		for ((i = 0; i < ${#PHASES[@]}; i++)); do
			if ((round % 2)); then p=${PHASES[i]}; else p=${PHASES[${#PHASES[@]} - 1 - i]}; fi
			run_round "$p" "$round"
		done
	done
	for p in "${PHASES[@]}"; do
		summarize "$p"
	done
	report
}

cleanup() {
	local w pid
	set +e
	# writers still running (interrupted run): stop them by their pid
	for w in "${WRITERS[@]}"; do
		[[ -n ${QC_PGDIR:-} && -s $QC_PGDIR/w-$w.pid ]] || continue
		pid=$(cat "$QC_PGDIR/w-$w.pid")
		[[ $(ps -o comm= -p "$pid") == pgbench ]] && kill "$pid"
	done
	qc_stop_cluster
	wait 2>/dev/null
	return 0
}

row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@"; }
yesno() { awk "BEGIN { exit !($1) }" && echo "met" || echo "**not met**"; }

report() {
	local p hr fills lat stale tgt
	echo
	echo "=== Results: $READERS readers, agents and contacts lists of $USERS users, $ROUNDS x $DUR s per policy ==="
	echo
	echo "writers achieved (commits/s; target rates 1000, 50, 20, 1):"
	for p in "${PHASES[@]}"; do
		printf '  %-20s call_log %s, call_queue %s, contacts %s, agents %s\n' "${PLABEL[$p]}" \
			"${R[$p,r_calllog]}" "${R[$p,r_queue]}" "${R[$p,r_contact]}" "${R[$p,r_agent]}"
	done
	echo
	row "policy" "hit ratio" "fills stored / discarded" "stale hits" "read latency p50 / p99" \
		"stale values returned (agents; contacts)" "oldest missing change: p99 / max age"
	row "---" "---:" "---:" "---:" "---:" "---:" "---:"
	for p in "${PHASES[@]}"; do
		row "${PLABEL[$p]}" "${R[$p,hit_ratio]}" "${R[$p,stored]} / ${R[$p,discarded]}" "${R[$p,stale_hits]}" \
			"${R[$p,p50_all]} / ${R[$p,p99_all]} ms" \
			"$(pct "${R[$p,ns_agents]}" "${R[$p,n_agents]}"); $(pct "${R[$p,ns_contacts]}" "${R[$p,n_contacts]}")" \
			"$(ages "$p")"
	done
	echo
	echo "Per list (querycache's DEBUG1 lines; reads and latency from pgbench's per-transaction log):"
	echo
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "policy" "list" "reads" "reads/s per key (rho)" \
		"invalidating commits/s (lambda)" "hit ratio (model rho / (rho + lambda))" "fills / discarded" "latency p50 / p99" \
		"stale values returned; oldest missing change p50 / p99 / max"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "---" "---" "---:" "---:" "---:" "---:" "---:" "---:" "---:"
	local l
	for p in "${PHASES[@]}"; do
		for l in agents contacts; do
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${PLABEL[$p]}" "$l" "${R[$p,n_$l]}" "${R[$p,rho_$l]}" \
				"${R[$p,lambda_$l]}" "${R[$p,hr_$l]} (${R[$p,model_$l]})" "${R[$p,f_$l]} / ${R[$p,d_$l]}" \
				"${R[$p,p50_$l]} / ${R[$p,p99_$l]} ms" \
				"$(pct "${R[$p,ns_$l]}" "${R[$p,n_$l]}")$( ((R[$p,ns_$l] > 0)) && echo "; ${R[$p,s50_$l]} / ${R[$p,s99_$l]} / ${R[$p,smax_$l]} ms")"
		done
	done
	echo
	echo "hit ratio = (hits + stale_hits + coalesced) / calls, calls = hits + stale_hits + misses (querycache_stats"
	echo "deltas over the readers' runs; a coalesced call is counted in misses too: it missed, waited for"
	echo "another backend's fill and took its result). Per list: the same from querycache's DEBUG1 lines. A"
	echo "refresh under stale-while-revalidate is a miss. fills = misses - coalesced; stored = fills - discarded."
	echo "Model: a key read rho times a second and invalidated lambda times a second would reach a hit ratio"
	echo "of rho / (rho + lambda) with instant fills that are never discarded (a read hits when the event"
	echo "before it, for its key, was a read). Dependencies are per relation, so a write for one user"
	echo "invalidates the list of every user: lambda is the whole table's commit rate (agents lists:"
	echo "call_queue + agents; contacts lists: contacts); under 'rules', keyed rules make a write for one"
	echo "user invalidate that user's list only: lambda is the table's rate / $USERS. Fills that overlap such"
	echo "a commit are discarded (about 1 - exp(-lambda (fill + commit time))), which lowers the ratio;"
	echo "readers that wait for another's fill (coalesced) raise it."
	echo "Stale value: the list version in the returned value is older than the one committed when the"
	echo "reader's statement took its snapshot, before the wrap ran. Its age: when the value was returned -"
	echo "the commit timestamp of the first version missing from it (a commit becomes visible a little after"
	echo "its timestamp, so ages are over- rather than understated)."
	echo
	local bound maxs
	bound=$(awk -v w=$SWR_MS -v m="${R[swr,max_all]}" 'BEGIN { printf "%.1f", w + m }')
	printf '| %s | %s | %s |\n' "target (issue 12)" "measured" "met" "---" "---" "---"
	printf '| %s | %s | %s |\n' "reads: never a stale value" \
		"${R[reads,ns_all]} stale of ${R[reads,n_all]} reads (${R[reads,hits]} hits and ${R[reads,coalesced]} coalesced calls; the rest filled)" \
		"$(yesno "${R[reads,ns_all]} == 0")"
	printf '| %s | %s | %s |\n' "rules: hit ratio >= 0.9" "${R[rules,hit_ratio]}" "$(yesno "${R[rules,hit_ratio]} >= 0.9")"
	printf '| %s | %s | %s |\n' "reads + swr: hit ratio >= 0.9" "${R[swr,hit_ratio]}" "$(yesno "${R[swr,hit_ratio]} >= 0.9")"
	maxs=${R[swr,smax_all]/-/0}
	printf '| %s | %s | %s |\n' "reads + swr: no value older than window + one refresh" \
		"oldest missing change ${maxs} ms; window $SWR_MS ms + slowest read ${R[swr,max_all]} ms = $bound ms; ${R[swr,over_window]} values beyond $SWR_MS ms" \
		"$(yesno "$maxs <= $bound")"
	maxs=${R[rules,smax_all]/-/0}
	printf '| %s | %s | %s |\n' "rules: staleness within the TTL (no target; README)" \
		"oldest missing change ${maxs} ms; TTL $TTL_S s" "$(yesno "$maxs <= $TTL_S * 1000")"
	echo
	echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
}
pct() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%d (%.1f %%)", s, n ? 100 * s / n : 0 }'; }
ages() { [[ ${R[$1,ns_all]} -gt 0 ]] && echo "agents ${R[$1,s99_agents]} / ${R[$1,smax_agents]} ms; contacts ${R[$1,s99_contacts]} / ${R[$1,smax_contacts]} ms" || echo "none stale"; }

main "$@" 2>&1 | tee "$OUT"
status=${PIPESTATUS[0]}
echo "Saved to $OUT"
exit "$status"
