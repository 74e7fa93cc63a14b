/*-------------------------------------------------------------------------
 *
 * sweeper.c
 *		Background worker that reclaims expired and invalidated entries
 *		every querycache.sweep_interval, so memory comes back without
 *		traffic.
 *
 * It only calls qc_store_sweep(), which follows store.c's locking rules,
 * qc_replica_resolve() (replayed commits, prepared transactions) and, on
 * a primary, qc_replica_lease_tick(), which releases standby leases a tick
 * (querycache.wal_lease) after their last writer; it connects to no
 * database.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "querycache.h"

PGDLLEXPORT void querycache_sweeper_main(Datum arg);

void
querycache_sweeper_main(Datum arg)
{
	MemoryContext cxt;
	TimestampTz last_sweep;
	bool		leases = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	/* no database: this only makes the worker visible in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	cxt = AllocSetContextCreate(TopMemoryContext, "querycache sweeper",
								ALLOCSET_DEFAULT_SIZES);
	qc_replica_set_sweeper_latch(MyLatch);
	last_sweep = GetCurrentTimestamp();
	while (!ShutdownRequestPending)
	{
		MemoryContext old;
		long		timeout;
		int			n;

		/* sweeps keep their schedule whatever wakes us in between */
		timeout = qc_sweep_interval * 1000L -
			(long) (TimestampDifferenceMilliseconds(last_sweep, GetCurrentTimestamp()));
		if (leases && qc_wal_lease > 0)
			timeout = Min(timeout, qc_wal_lease);	/* release held leases */
		if (timeout > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		old = MemoryContextSwitchTo(cxt);
		leases = qc_replica_lease_tick();
		if (TimestampDifferenceExceeds(last_sweep, GetCurrentTimestamp(),
									   qc_sweep_interval * 1000))
		{
			last_sweep = GetCurrentTimestamp();
			qc_replica_resolve();
			n = qc_store_sweep();
			if (n > 0)
				elog(DEBUG1, "querycache sweeper reclaimed %d entries", n);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(cxt);
	}
	proc_exit(0);
}

void
qc_sweeper_init(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* on a hot standby too: it resolves replayed commits (replica.c) */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "querycache");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "querycache_sweeper_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "querycache sweeper");
	snprintf(worker.bgw_type, BGW_MAXLEN, "querycache sweeper");
	RegisterBackgroundWorker(&worker);
}
