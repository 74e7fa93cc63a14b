/*-------------------------------------------------------------------------
 *
 * querycache.c
 *		Module initialization: GUCs and the shared memory hooks.
 *
 * Everything shared lives in memory sized at postmaster start, so the
 * library must be in shared_preload_libraries.  Loaded any other way it
 * does nothing at all; every SQL function then fails through
 * qc_require_loaded() instead of silently caching per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "querycache.h"

PG_MODULE_MAGIC;

bool		qc_enabled = true;
int			qc_max_entries = 1000;
int			qc_max_memory_kb = 64 * 1024;
int			qc_max_entry_size = 1024 * 1024;
int			qc_default_ttl = 120;
int			qc_sweep_interval = 10;
bool		qc_cache_rls = false;
int			qc_lock_timeout = 10000;
bool		qc_store_text = true;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;

void		_PG_init(void);

static void
qc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(add_size(qc_store_shmem_size(), qc_gen_shmem_size()),
											 qc_flight_shmem_size()),
									qc_replica_shmem_size()));
	/* one lock per partition, plus the allocator lock */
	RequestNamedLWLockTranche("querycache", QC_NUM_PARTITIONS + 1);
	RequestNamedLWLockTranche("querycache flights", 1);
	RequestNamedLWLockTranche("querycache replica", 2);
}

static void
qc_shmem_startup(void)
{
	bool		found;
	void	   *gens;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	gens = ShmemInitStruct("querycache generations", qc_gen_shmem_size(), &found);
	qc_gen_shmem_init(gens, found);
	qc_store_shmem_init();
	qc_flight_shmem_init();
	qc_replica_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

void
qc_require_loaded(void)
{
	if (!qc_store_ready())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("querycache is not loaded through shared_preload_libraries"),
				 errhint("Add querycache to shared_preload_libraries in postgresql.conf and restart the server.")));
}

static void
qc_define_gucs(void)
{
	DefineCustomBoolVariable("querycache.enabled",
							 "Serves and stores querycache_wrap results.",
							 "When off, querycache_wrap just runs the query.",
							 &qc_enabled, true, PGC_USERSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.max_entries",
							"Maximum number of cached entries.",
							NULL,
							&qc_max_entries, 1000, 16, 10 * 1000 * 1000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.max_memory",
							"Shared memory for cached results.",
							NULL,
							&qc_max_memory_kb, 64 * 1024, 1024, INT_MAX / 2,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.max_entry_size",
							"Largest result that is cached; larger ones are returned uncached.",
							NULL,
							&qc_max_entry_size, 1024 * 1024, 1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.default_ttl",
							"TTL of entries whose key matches no querycache_ttl pattern.",
							NULL,
							&qc_default_ttl, 120, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.sweep_interval",
							"Time between the background sweeps that reclaim expired and invalidated entries.",
							NULL,
							&qc_sweep_interval, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.wal_lease",
							"How long a standby lease on a written table outlives its last writer.",
							"While a lease is held, writing commits log nothing for standbys; 0 logs one record per writing commit.",
							&qc_wal_lease, 100, 0, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("querycache.cache_rls",
							 "Caches results of queries that read tables with row-level security.",
							 "Policies may depend on session state that is not part of the cache key.",
							 &qc_cache_rls, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.lock_timeout",
							"Longest wait for another backend filling the same entry; then the query runs uncached.",
							"0 waits without limit.",
							&qc_lock_timeout, 10000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomBoolVariable("querycache.store_text",
							 "Stores each cached value's text form too, so that hits sent to clients skip jsonb_out.",
							 "Off saves about 40% of the memory of each entry stored from then on.",
							 &qc_store_text, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("querycache.debug_commit_lock",
							"Test only: a writing commit waits for this advisory lock between its PRE_COMMIT and COMMIT bumps.",
							"Lets tests pause a writer after it raised its in-flight counts; 0 (the default) never waits.",
							&qc_debug_commit_lock, 0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	MarkGUCPrefixReserved("querycache");
}

void
_PG_init(void)
{
	/* PGC_POSTMASTER settings cannot be defined after startup */
	if (!process_shared_preload_libraries_in_progress)
		return;

	qc_define_gucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = qc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = qc_shmem_startup;

	qc_gen_init();
	qc_replica_init();
	qc_flight_init();
	qc_track_init();
	qc_output_init();
	qc_sweeper_init();
}
