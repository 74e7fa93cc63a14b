# querycache: PGXS build
EXTENSION = querycache
MODULE_big = querycache
OBJS = \
	src/querycache.o \
	src/store.o \
	src/gen.o \
	src/api.o \
	src/rules.o \
	src/schema.o \
	src/fill.o \
	src/flight.o \
	src/replica.o \
	src/output.o \
	src/track.o \
	src/trigger.o \
	src/sweeper.o \
	src/stats.o

DATA = querycache--1.0.sql querycache--1.1.sql querycache--1.0--1.1.sql
PGFILEDESC = "querycache - shared-memory query result cache"

REGRESS = api errors identity ttl eviction invalidation deps privileges migration output \
	security ordinary_role session_state keys shared_objects starve nested_wrap further policies \
	edges edges_denied config upgrade keyed_rules
REGRESS_OPTS = --temp-config=$(srcdir)/test/querycache.conf --load-extension=querycache --encoding=UTF8
ISOLATION = iso_commit iso_rollback iso_own_writes iso_repeatable_read iso_fill_race iso_truncate \
	iso_replica iso_inflight iso_starve iso_swr iso_utility iso_detach iso_rules_snapshot iso_set_fence iso_keyed
ISOLATION_OPTS = --temp-config=$(srcdir)/test/querycache.conf --load-extension=querycache
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src
# Warnings are errors in CI (make WERROR=1); unused parameters are idiomatic in fmgr code.
ifdef WERROR
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Werror
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
