#!/usr/bin/env bash
# Builds PostgreSQL from Debian's source packages for testing querycache on
# other versions, with assertions on:
#
#   bash scripts/pg_build.sh VERSION      (as root)
#   VERSION: 18, 17, 15-assert, or 15-valgrind (15-assert plus USE_VALGRIND)
#
# installs into /var/cache/querycache/pgVERSION (e.g. /var/cache/querycache/pg18)
# and prints that prefix as its last line; scripts/test.sh --pg VERSION calls it.
# A prefix holding a stamp file written by the same configure command is reused
# as it is (no network); QC_PG_REBUILD=1 builds again.
#
# Sources: a temporary apt sources file with only `deb-src` entries (sid for 18,
# trixie and sid for 17, bookworm for 15) is added, apt downloads the source
# package from the first of those suites that has it, and the file is removed
# again (with a final `apt-get update`) whether or not that worked. No binary package comes from
# outside bookworm. A download already in /var/cache/querycache/src whose
# tarball matches its .dsc's SHA-256 is reused (15-assert and 15-valgrind share
# postgresql-15's). Only the upstream (orig) tarball is used, without Debian's
# patches. The build runs as postgres at nice 19; `make install` as root.
#
# Configure: --enable-cassert --enable-debug --enable-tap-tests --without-icu
# --with-libxml; 15-valgrind also CFLAGS='-O1 -g -fno-omit-frame-pointer
# -DUSE_VALGRIND' (Valgrind client requests in the memory contexts, as
# pg_config_manual.h asks for; -O1 keeps valgrind's stacks readable), for
# scripts/valgrind.sh.
# Installs the server, the client programs, the PGXS files, pg_regress, the
# isolation tester (src/test/isolation), the TAP modules (src/test/perl) and
# the source's src/tools/valgrind.supp as `pg_config --sharedir`/valgrind.supp.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bash scripts/pg_build.sh 18|17|15-assert|15-valgrind" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
version=$1
case $version in
18) pkg=postgresql-18 suites="sid" ;;
17) pkg=postgresql-17 suites="trixie sid" ;;
15-assert | 15-valgrind) pkg=postgresql-15 suites="bookworm" ;;
*) usage ;;
esac
if [[ $EUID -ne 0 ]]; then
	echo "pg_build.sh must run as root (it installs build dependencies)" >&2
	exit 1
fi

CACHE=/var/cache/querycache
prefix=$CACHE/pg$version
stamp=$prefix/.querycache-build-stamp
# --with-libxml: sql/migration.sql counts rows with query_to_xml, as Debian's 15 allows.
configure_args=(--prefix="$prefix" --enable-tap-tests --enable-cassert --enable-debug --without-icu --with-libxml)
# USE_VALGRIND in CFLAGS, so that PGXS compiles extensions with it too.
[[ $version == 15-valgrind ]] && configure_args+=("CFLAGS=-O1 -g -fno-omit-frame-pointer -DUSE_VALGRIND")
want_stamp="configure ${configure_args[*]}"
log() { echo "pg_build[$version]: $*" >&2; }

mkdir -p "$CACHE" && chmod 755 "$CACHE"
# One build of a version at a time; a second caller waits and then reuses it.
exec 9>"$CACHE/.pg$version.lock"
flock 9

if [[ ${QC_PG_REBUILD:-} != 1 && -f $stamp && -x $prefix/bin/pg_config ]] &&
	[[ $(sed -n 1p "$stamp") == "$want_stamp" ]]; then
	log "reusing $prefix ($(sed -n 2p "$stamp"))"
	echo "$prefix"
	exit 0
fi

start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Build dependencies, from bookworm. libipc-run-perl: --enable-tap-tests.
deps=(build-essential bison flex libreadline-dev zlib1g-dev libxml2-dev pkg-config perl libipc-run-perl)
missing=()
for p in "${deps[@]}"; do
	dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing build dependencies: ${missing[*]}"
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- download the source package (temporary deb-src entries) ----------------
srcdir=$CACHE/src/$pkg
# Versions built from one package share its download: one of them at a time
# downloads or unpacks it (released once unpacked), and a complete one is reused.
exec 7>"$CACHE/.src-$pkg.lock"
flock 7
src_complete() {	# a .dsc and its orig tarball, whose SHA-256 the .dsc lists
	local dsc orig sum
	dsc=$(ls "$srcdir"/"$pkg"_*.dsc 2>/dev/null | head -n 1) && [[ -f $dsc ]] || return 1
	orig=$(ls "$srcdir"/"$pkg"_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1) && [[ -f $orig ]] || return 1
	sum=$(awk -v f="$(basename "$orig")" '$3 == f && length($1) == 64 { print $1 }' "$dsc")
	[[ -n $sum && $(sha256sum <"$orig" | cut -d' ' -f1) == "$sum" ]]
}
if src_complete; then
	log "reusing the source downloaded in $srcdir"
else
rm -rf "$srcdir"
mkdir -p "$srcdir"
chown _apt: "$srcdir" 2>/dev/null || true	# apt downloads as _apt where it can
src_list=/etc/apt/sources.list.d/querycache-pg-src.sources
(
	# Another version's pg_build.sh would rewrite the same sources file: one at a time.
	exec 8>"$CACHE/.apt-src.lock"
	flock 8
	remove_src_list() {
		rm -f "$src_list"
		log "removed $src_list; apt-get update"
		apt-get -o DPkg::Lock::Timeout=900 update -qq >&2 || log "WARNING: apt-get update failed"
	}
	trap remove_src_list EXIT
	trap 'exit 1' INT TERM HUP
	{
		echo "# Temporary: scripts/pg_build.sh downloads $pkg's source; removed when it is done."
		printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$suites"
	} >"$src_list"
	log "deb-src $suites: apt-get update"
	apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
	cd "$srcdir"
	for s in $suites; do	# the first suite that has it
		log "apt-get source --download-only $pkg/$s"
		apt-get source --download-only "$pkg/$s" >&2 && exit 0
		rm -f "$srcdir"/*
	done
	exit 1
) || {
	log "could not download the source of $pkg from $suites: PostgreSQL $version is not supported here"
	exit 1
}
fi
dsc=$(ls "$srcdir"/"$pkg"_*.dsc | head -n 1)
orig=$(ls "$srcdir"/"$pkg"_*.orig.tar.* | grep -v '\.asc$' | head -n 1)
srcversion=$(sed -n 's/^Version: //p' "$dsc")
log "source $pkg $srcversion ($(basename "$orig"))"

# --- build as postgres, install as root --------------------------------------
build=$CACHE/build/pg$version
rm -rf "$build" "$prefix"
mkdir -p "$build"
tar -C "$build" --strip-components=1 -xf "$orig"
exec 7>&-	# the source is unpacked: another version may use $srcdir now
chown -R postgres: "$build"
# nice: the build machines are shared and loaded.
as_pg() { (cd "$build" && runuser -u postgres -- nice -n 19 env LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"); }
blog=$CACHE/build-pg$version.log
log "building in $build (log: $blog)"
{
	as_pg ./configure "${configure_args[@]}" &&
		as_pg make -j2 &&
		as_pg make -j2 -C src/test/isolation &&
		make -C "$build" install &&
		make -C "$build/src/test/isolation" install &&
		make -C "$build/src/test/perl" install &&
		install -m 644 "$build/src/tools/valgrind.supp" "$("$prefix/bin/pg_config" --sharedir)/valgrind.supp"
} >"$blog" 2>&1 || {
	tail -n 60 "$blog" >&2
	log "BUILD FAILED after $((SECONDS - start)) s (log: $blog)"
	exit 1
}
pgxs_src=$(dirname "$(dirname "$("$prefix/bin/pg_config" --pgxs)")")	# .../pgxs/src
for f in "$prefix"/bin/{pg_config,postgres,initdb,pg_ctl,psql,pgbench,pg_dump} \
	"$pgxs_src"/test/regress/pg_regress \
	"$pgxs_src"/test/isolation/{pg_isolation_regress,isolationtester} \
	"$pgxs_src"/test/perl/PostgreSQL/Test/Cluster.pm \
	"$("$prefix/bin/pg_config" --sharedir)/valgrind.supp"; do
	[[ -e $f ]] || { log "BUILD INCOMPLETE: $f is missing (log: $blog)"; exit 1; }
done
rm -rf "$build"
printf '%s\n%s %s, built %s in %d s\n' "$want_stamp" "$pkg" "$srcversion" "$(date -u +%FT%TZ)" \
	$((SECONDS - start)) >"$stamp"
log "built $pkg $srcversion into $prefix in $((SECONDS - start)) s"
echo "$prefix"
