/*-------------------------------------------------------------------------
 *
 * flight.c
 *		Single-flight misses: concurrent wraps of the same missing entry run
 *		the query once; the others wait and take the stored result.
 *
 * A flight is identified by a 64-bit hash of (database, role, key, query
 * hash); two entries sharing it only make one wait for the other's fill,
 * after which it looks up again, so a collision costs time, never a wrong
 * result.  The first backend to miss leads the flight; the others sleep on
 * the flight's condition variable until the leader ends it.  If the leader
 * stored its result, they look it up.  If it failed, the next waiter to
 * look up finds no flight and leads a new one.  If it ran the query but
 * could not store the result (too large, row-level security, a commit in
 * flight), the waiters run the query themselves, side by side, instead of
 * queueing behind each other.
 *
 * Locking rules:
 * - The flights LWLock guards hash, leader and outcome of every slot; seq
 *   is an atomic, bumped (under the lock, after outcome is set) each time a
 *   flight ends, so a waiter can tell "my flight ended" without the lock.
 *   It reads outcome under the lock; if the slot was reused meanwhile it
 *   may read a later flight's outcome, which only costs a lookup or a fill.
 * - A backend leads at most one flight.  Its slot is released by
 *   qc_flight_end(), or by the transaction abort callback when the fill
 *   errors, is cancelled or the backend is terminated, so no slot leaks and
 *   no waiter hangs.  The wait itself is bounded by querycache.lock_timeout.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "querycache.h"

#define QC_MAX_FLIGHTS		128

typedef struct QcFlight
{
	uint64		hash;
	int			leader;			/* pid, 0 when the slot is free */
	QcFlightOutcome outcome;	/* how the last flight here ended */
	pg_atomic_uint32 seq;		/* bumped when a flight ends */
	ConditionVariable cv;
} QcFlight;

typedef struct QcFlights
{
	LWLock	   *lock;
	QcFlight	flights[QC_MAX_FLIGHTS];
} QcFlights;

static QcFlights *qc_flights = NULL;

/* The slot this backend leads, or -1, and the transaction level it began at. */
static int	my_flight = -1;
static int	my_flight_level = 0;

Size
qc_flight_shmem_size(void)
{
	return sizeof(QcFlights);
}

/* Called with AddinShmemInitLock held. */
void
qc_flight_shmem_init(void)
{
	bool		found;

	qc_flights = ShmemInitStruct("querycache flights", sizeof(QcFlights), &found);
	if (!found)
	{
		for (int i = 0; i < QC_MAX_FLIGHTS; i++)
		{
			qc_flights->flights[i].hash = 0;
			qc_flights->flights[i].leader = 0;
			qc_flights->flights[i].outcome = QC_OUTCOME_STORED;
			pg_atomic_init_u32(&qc_flights->flights[i].seq, 0);
			ConditionVariableInit(&qc_flights->flights[i].cv);
		}
	}
	qc_flights->lock = &(GetNamedLWLockTranche("querycache flights"))->lock;
}

uint64
qc_flight_hash(const QcKey *k, uint64 query_hash)
{
	uint64		h;

	h = hash_bytes_extended((const unsigned char *) k->key, k->keylen, query_hash);
	return hash_combine64(h, ((uint64) k->dbid << 32) | k->roleid);
}

/*
 * Join the flight for hash: lead it if there is none, else wait until it
 * ends.  See QcFlightResult for what the caller does next.
 */
QcFlightResult
qc_flight_join(uint64 hash)
{
	int			slot = -1;
	int			free_slot = -1;
	uint32		seq = 0;
	QcFlight   *f;
	TimestampTz start;
	QcFlightOutcome outcome;

	Assert(my_flight < 0);
	LWLockAcquire(qc_flights->lock, LW_EXCLUSIVE);
	for (int i = 0; i < QC_MAX_FLIGHTS; i++)
	{
		f = &qc_flights->flights[i];
		if (f->leader == 0)
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (f->hash == hash)
		{
			slot = i;
			seq = pg_atomic_read_u32(&f->seq);
			break;
		}
	}
	if (slot < 0)
	{
		if (free_slot >= 0)
		{
			f = &qc_flights->flights[free_slot];
			f->hash = hash;
			f->leader = MyProcPid;
			my_flight = free_slot;
			my_flight_level = GetCurrentTransactionNestLevel();
		}
		LWLockRelease(qc_flights->lock);
		return (free_slot >= 0) ? QC_FLIGHT_LEAD : QC_FLIGHT_FULL;
	}
	LWLockRelease(qc_flights->lock);

	/* Wait for the leader; interrupts are served while sleeping. */
	f = &qc_flights->flights[slot];
	start = GetCurrentTimestamp();
	ConditionVariablePrepareToSleep(&f->cv);
	while (pg_atomic_read_u32(&f->seq) == seq)
	{
		long		timeout = -1;

		if (qc_lock_timeout > 0)
		{
			timeout = qc_lock_timeout -
				(long) ((GetCurrentTimestamp() - start) / 1000);
			if (timeout <= 0)
			{
				ConditionVariableCancelSleep();
				return QC_FLIGHT_TIMEOUT;
			}
		}
		(void) ConditionVariableTimedSleep(&f->cv, timeout, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	LWLockAcquire(qc_flights->lock, LW_SHARED);
	outcome = f->outcome;
	LWLockRelease(qc_flights->lock);
	return (outcome == QC_OUTCOME_NOT_STORED) ? QC_FLIGHT_ALONE : QC_FLIGHT_DONE;
}

/*
 * Lead the flight for hash if there is none, without waiting: for a
 * stale-while-revalidate refresh, whose callers take the stale value
 * instead of waiting.  False if another backend leads it or no slot is
 * free.
 */
bool
qc_flight_try_lead(uint64 hash)
{
	int			free_slot = -1;

	Assert(my_flight < 0);
	LWLockAcquire(qc_flights->lock, LW_EXCLUSIVE);
	for (int i = 0; i < QC_MAX_FLIGHTS; i++)
	{
		QcFlight   *f = &qc_flights->flights[i];

		if (f->leader == 0)
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (f->hash == hash)
		{
			LWLockRelease(qc_flights->lock);
			return false;
		}
	}
	if (free_slot >= 0)
	{
		qc_flights->flights[free_slot].hash = hash;
		qc_flights->flights[free_slot].leader = MyProcPid;
		my_flight = free_slot;
		my_flight_level = GetCurrentTransactionNestLevel();
	}
	LWLockRelease(qc_flights->lock);
	return free_slot >= 0;
}

/* End the flight this backend leads, if any, and wake its waiters. */
void
qc_flight_end(QcFlightOutcome outcome)
{
	QcFlight   *f;

	if (my_flight < 0)
		return;
	f = &qc_flights->flights[my_flight];
	my_flight = -1;
	LWLockAcquire(qc_flights->lock, LW_EXCLUSIVE);
	f->leader = 0;
	f->outcome = outcome;
	pg_atomic_fetch_add_u32(&f->seq, 1);
	LWLockRelease(qc_flights->lock);
	ConditionVariableBroadcast(&f->cv);
}

/*
 * A fill that errors, is cancelled, or whose backend is terminated ends
 * its flight here (process exit aborts the transaction first).
 */
static void
qc_flight_xact_callback(XactEvent event, void *arg)
{
	if (my_flight >= 0 &&
		(event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT))
		qc_flight_end(QC_OUTCOME_FAILED);
}

/* An error caught inside the fill, deeper than the flight, is the fill's. */
static void
qc_flight_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (my_flight >= 0 && event == SUBXACT_EVENT_ABORT_SUB &&
		GetCurrentTransactionNestLevel() <= my_flight_level)
		qc_flight_end(QC_OUTCOME_FAILED);
}

void
qc_flight_init(void)
{
	RegisterXactCallback(qc_flight_xact_callback, NULL);
	RegisterSubXactCallback(qc_flight_subxact_callback, NULL);
}
