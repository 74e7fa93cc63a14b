# Shared helpers for querycache's scripts (test.sh, demo.sh, test_node.sh, bench).
# Source it from bash, as root:   source "$(dirname "$0")/pg_env.sh"
# PostgreSQL refuses to run as root, so servers, initdb, builds and tests run
# as the `postgres` user; installing (and psql clients) run as root.
#
#   qc_install_deps         apt-get install a C toolchain, IPC::Run (TAP),
#                           python3 and, for the default QC_PG_BIN, PostgreSQL
#                           15 and its dev files, only if missing.
#   qc_build_install        copy the repo (no .git, node_modules, build output)
#                           to a new postgres-owned dir, QC_BUILD_DIR, run
#                           `make WERROR=1` there as postgres, then `make
#                           install` as root. The caller may rm -rf QC_BUILD_DIR.
#                           Does nothing (QC_BUILD_DIR empty) when QC_INSTALLED=1:
#                           test.sh exports that for the scripts it calls.
#   qc_start_cluster [DIR] [PORT]
#                           initdb + start a throwaway cluster in DIR (default:
#                           a new mktemp dir) with shared_preload_libraries =
#                           'querycache', trust auth, unix socket in DIR and TCP
#                           on 127.0.0.1:PORT (default 54329, or the next free
#                           one). Extra postgresql.conf lines: $QC_PG_EXTRA_CONF.
#                           Exports QC_PGDIR, PGHOST, PGPORT, PGUSER=postgres,
#                           PGDATABASE=postgres, so plain `psql` connects.
#   qc_stop_cluster         stop that cluster and delete QC_PGDIR (safe to call
#                           twice, e.g. from `trap qc_stop_cluster EXIT`).
#   qc_as_pg CMD...         run CMD as postgres (absolute paths; cwd is /).
#   QC_PG_BIN, QC_PG_CONFIG The PostgreSQL every helper uses: set QC_PG_BIN
#                           before sourcing this file to pick another one (test.sh
#                           --pg sets it to a scripts/pg_build.sh prefix's bin);
#                           default Debian's 15, /usr/lib/postgresql/15/bin.
#                           QC_PG_CONFIG is always $QC_PG_BIN/pg_config, and
#                           QC_PG_BIN is put first in PATH (also for qc_as_pg),
#                           so pg_ctl, initdb, psql, pgbench, pg_dump and PGXS's
#                           pg_regress all come from it.

QC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QC_PG_BIN=${QC_PG_BIN:-/usr/lib/postgresql/15/bin}
QC_PG_BIN=${QC_PG_BIN%/}
QC_PG_CONFIG=$QC_PG_BIN/pg_config
export QC_PG_BIN QC_PG_CONFIG
if [[ $QC_PG_BIN == /usr/lib/postgresql/15/bin ]]; then
	QC_DEPS=(postgresql-15 postgresql-server-dev-15 build-essential libipc-run-perl python3)
else	# a PostgreSQL built elsewhere (scripts/pg_build.sh): only the toolchain
	QC_DEPS=(build-essential libipc-run-perl python3)
fi
export PATH="$QC_PG_BIN:$PATH"

if [[ $EUID -ne 0 ]]; then
	echo "querycache scripts must run as root (they install packages and the extension)" >&2
	return 1
fi

qc_as_pg() {
	(cd / && runuser -u postgres -- env PATH="$PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@")
}

qc_install_deps() {
	local p missing=()
	for p in "${QC_DEPS[@]}"; do
		dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
	done
	if [[ ${#missing[@]} -gt 0 ]]; then
		echo "Installing missing packages: ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		# Lock::Timeout waits for another apt/dpkg run instead of failing.
		apt-get -o DPkg::Lock::Timeout=900 update -qq
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}"
	fi
	[[ -x $QC_PG_CONFIG ]] || { echo "no pg_config in QC_PG_BIN=$QC_PG_BIN" >&2; return 1; }
}

qc_build_install() {
	QC_BUILD_DIR=
	[[ ${QC_INSTALLED:-} == 1 ]] && return 0
	QC_BUILD_DIR=$(mktemp -d /tmp/querycache-build.XXXXXX) || return 1
	tar -C "$QC_ROOT" -cf - --exclude=.git --exclude=node_modules \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude='tmp_check*' \
		--exclude=results --exclude=output_iso --exclude='regression.*' . |
		tar -C "$QC_BUILD_DIR" -xf - && chown -R postgres: "$QC_BUILD_DIR" || return 1
	echo "Building querycache (make WERROR=1) in $QC_BUILD_DIR"
	if ! qc_as_pg make -C "$QC_BUILD_DIR" -j2 PG_CONFIG="$QC_PG_CONFIG" WERROR=1 \
		>"$QC_BUILD_DIR/build.log" 2>&1; then
		cat "$QC_BUILD_DIR/build.log"
		echo "BUILD FAILED (log: $QC_BUILD_DIR/build.log)" >&2
		return 1
	fi
	make -C "$QC_BUILD_DIR" -s PG_CONFIG="$QC_PG_CONFIG" install >"$QC_BUILD_DIR/install.log" 2>&1 ||
		{ cat "$QC_BUILD_DIR/install.log"; return 1; }
	echo "Installed into $("$QC_PG_CONFIG" --pkglibdir) and $("$QC_PG_CONFIG" --sharedir)/extension"
}

qc_start_cluster() {
	QC_PGDIR=${1:-$(mktemp -d /tmp/querycache-pg.XXXXXX)}
	local port=${2:-54329}
	while (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	mkdir -p "$QC_PGDIR" && chmod 755 "$QC_PGDIR" && chown postgres: "$QC_PGDIR"
	qc_as_pg initdb -D "$QC_PGDIR/data" -U postgres --auth=trust --no-locale -E UTF8 \
		>"$QC_PGDIR/initdb.log" 2>&1 || { cat "$QC_PGDIR/initdb.log"; return 1; }
	cat >>"$QC_PGDIR/data/postgresql.conf" <<-EOF
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$QC_PGDIR'
		shared_preload_libraries = 'querycache'
		${QC_PG_EXTRA_CONF:-}
	EOF
	if ! qc_as_pg pg_ctl -D "$QC_PGDIR/data" -l "$QC_PGDIR/server.log" -w start >/dev/null; then
		tail -n 30 "$QC_PGDIR/server.log" >&2
		return 1
	fi
	export QC_PGDIR PGHOST=$QC_PGDIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

qc_stop_cluster() {
	[[ -n ${QC_PGDIR:-} && -d $QC_PGDIR ]] || return 0
	[[ -f $QC_PGDIR/data/postmaster.pid ]] &&
		qc_as_pg pg_ctl -D "$QC_PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$QC_PGDIR"
	unset QC_PGDIR
}
