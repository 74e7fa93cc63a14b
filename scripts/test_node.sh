#!/usr/bin/env bash
# Runs examples/node-api's tests (node --test) against a throwaway PostgreSQL 15
# cluster with querycache preloaded, loaded with scripts/schema.sql,
# scripts/seed_data.sql and CREATE EXTENSION querycache.
# Usage (as root): bash scripts/test_node.sh
# scripts/test.sh calls it with QC_INSTALLED=1 after installing the extension;
# run alone, it builds and installs querycache first if it isn't installed
# (QC_REBUILD=1: even if it is). QC_SUITE_TIMEOUT (s, default 600) bounds the
# tests; LOAD_SECONDS and LOAD_CLIENTS tune their load check.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_env.sh
APP=$QC_ROOT/examples/node-api

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "test_node.sh: node and npm (Node.js >= 20) are required" >&2
	exit 1
fi
if (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
	echo "test_node.sh: Node.js >= 20 is required, found $(node --version)" >&2
	exit 1
fi

qc_install_deps
if [[ ${QC_INSTALLED:-} != 1 ]] &&
	[[ ${QC_REBUILD:-} == 1 || ! -f $("$QC_PG_CONFIG" --pkglibdir)/querycache.so ||
		! -f $("$QC_PG_CONFIG" --sharedir)/extension/querycache.control ]]; then
	qc_build_install
	rm -rf "$QC_BUILD_DIR"
fi

trap qc_stop_cluster EXIT
qc_start_cluster "" 54339
echo "cluster in $QC_PGDIR, port $PGPORT"
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE node_api'
export PGDATABASE=node_api
psql -X -q -v ON_ERROR_STOP=1 -f scripts/schema.sql -f scripts/seed_data.sql >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION querycache'
if [[ $(psql -X -qAt -c "SELECT count(*) FROM pg_constraint
                          WHERE conname = 'call_queue_campaign_contact_unique'") != 1 ]]; then
	echo "test_node.sh: CREATE EXTENSION querycache did not add the call_queue_campaign_contact_unique constraint" >&2
	exit 1
fi

# npm ci unless node_modules was installed from the current package-lock.json.
if [[ ! $APP/node_modules/.package-lock.json -nt $APP/package-lock.json ]] ||
	! (cd "$APP" && npm ls --omit=dev >/dev/null 2>&1); then
	(cd "$APP" && npm ci --no-audit --no-fund)
fi

# node runs as root: only the server must not.
cd "$APP"
timeout -k 10 "${QC_SUITE_TIMEOUT:-600}" node --test test/api.test.js
