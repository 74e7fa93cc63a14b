/*-------------------------------------------------------------------------
 *
 * replica.c
 *		Invalidations carried in WAL, so that every hot standby keeps its own
 *		cache, never older than what it has replayed.
 *
 * A custom WAL resource manager, id QC_RMGR_ID.  What a standby must learn
 * is which slots a replayed commit may have written, before the commit
 * record.  Two ways, chosen by querycache.wal_lease:
 *
 * Leases (the default).  A record per commit would cost a tpcb-like
 * transaction about 10% more WAL, so a writing transaction, at PRE_COMMIT,
 * joins the lease on each slot it owes, and logs one LEASE record only for
 * slots not leased yet (or last announced before the current checkpoint's
 * redo pointer, for standbys restarting from there).  It holds the leases
 * until its transaction ends, after its commit or abort record.  The
 * sweeper releases a lease no writer held or joined for a tick
 * (querycache.wal_lease) in a RELEASE record, necessarily after every
 * commit record of the lease.  On a standby a leased slot's entries hold
 * only until the next replayed commit or abort (gen.c's header has the
 * argument).  The first lease after shared memory was (re)created is
 * preceded by RESET: leases announced before a crash are over.
 *
 * Per commit (querycache.wal_lease = 0).  A writing transaction logs one
 * XLOG_QC_INVAL record at PRE_COMMIT: its xid and the slots it owes
 * (gen.c).  COMMIT PREPARED logs one for the prepared xid, owing the
 * cluster epoch, whatever the setting.  On a standby the protocol of gen.c
 * runs with redo as the writer:
 *	- redo of the record is the writer's PRE_COMMIT: raise the in-flight
 *	  count of each slot and bump it, and remember (xid, slots) in the
 *	  pending table;
 *	- the xid's commit or abort record, replayed later, makes its rows
 *	  visible (or not);
 *	- once the xid is no longer in progress on the standby
 *	  (TransactionIdIsInProgress, which follows replay), qc_replica_resolve
 *	  plays the writer's COMMIT: bump, stamp with a new finish sequence,
 *	  lower.  Fills call it before reading their fence, the sweeper every
 *	  sweep_interval.  It runs after visibility, as the proof needs, and a
 *	  late resolution only discards fills, never lets a stale one in.
 * An xid whose commit record never comes (the primary crashed between the
 * two records) stops being in progress when the standby replays the
 * primary's next running-xacts record, and is resolved then.
 *
 * Either way, read-only and rolled-back transactions log nothing, nor does
 * wal_level = minimal (no standby).
 *
 * The same table holds, on a primary, the owed sets of prepared
 * transactions, raised at PREPARE and finished once COMMIT or ROLLBACK
 * PREPARED (by SQL, or by a two-phase logical replication apply worker,
 * which bypasses the utility hook) ended the xid.
 *
 * What replay cannot tell, it does not guess ("when in doubt, bump"):
 *	- after a standby (re)starts, redo begins at a restartpoint, so records
 *	  of xids still running then may never be replayed: fills are not
 *	  stored until every xid older than the next xid seen at the first fill
 *	  has finished (the fill's snapshot xmin passed it);
 *	- a full pending table makes the standby "unsure" the same way;
 *	- the end of recovery (promotion, or crash recovery of a primary)
 *	  resolves everything pending and bumps the cluster epoch: the new
 *	  primary starts with no entry valid.
 * A standby without querycache in shared_preload_libraries stops replay
 * at the first such record with PostgreSQL's own error.
 *
 * Locking: the pending table and the unsure state are guarded by
 * qc_replica->lock (an LWLock); generations follow gen.c's rules.  A
 * lease's state is one atomic word, joined by compare-and-swap without a
 * lock; announcing and releasing take qc_leases->lock, and log their
 * record while holding it, so a new announcement always follows the
 * release it replaces in WAL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/snapshot.h"

#include "querycache.h"

/*
 * Custom WAL resource manager id.  Custom ids are 128-255; the ids the
 * PostgreSQL wiki lists as taken when this was written included 129-138,
 * 140, 145 and 241.  Register this one there before a release.
 */
#define QC_RMGR_ID			163

#define XLOG_QC_INVAL		0x00	/* an xid owes slots (xl_qc_inval) */
#define XLOG_QC_LEASE		0x10	/* slots leased (xl_qc_slots) */
#define XLOG_QC_RELEASE		0x20	/* leases over (xl_qc_slots) */
#define XLOG_QC_RESET		0x30	/* the primary forgot its leases */

/* The record: the xid whose commit or abort resolves it, and its slots. */
typedef struct xl_qc_inval
{
	TransactionId xid;
	uint16		nslots;
	uint16		slots[FLEXIBLE_ARRAY_MEMBER];	/* < QC_GEN_SLOTS */
} xl_qc_inval;

#define SizeOfQcInval	offsetof(xl_qc_inval, slots)

/* LEASE and RELEASE: just slots. */
typedef struct xl_qc_slots
{
	uint16		nslots;
	uint16		slots[FLEXIBLE_ARRAY_MEMBER];
} xl_qc_slots;

#define SizeOfQcSlots	offsetof(xl_qc_slots, slots)

/*
 * A primary's lease on a slot, one 64-bit word: writers holding it (between
 * PRE_COMMIT and the end of their transaction), whether it is held, whether
 * a writer joined since the last tick, and an instance number that changes
 * with every announcement (no ABA between a release and a new lease).
 */
#define LEASE_WRITERS		UINT64CONST(0x3FFFFFFF)
#define LEASE_TOUCHED		(UINT64CONST(1) << 30)
#define LEASE_HELD			(UINT64CONST(1) << 31)
#define LEASE_INSTANCE		(UINT64CONST(1) << 32)

typedef struct QcLeases
{
	LWLock	   *lock;			/* announcements, releases, reset_logged */
	bool		reset_logged;	/* RESET logged since shared memory began */
	Latch	   *sweeper_latch;	/* woken when the first lease is taken */
	pg_atomic_uint32 nheld;
	pg_atomic_uint64 state[QC_GEN_SLOTS];
	pg_atomic_uint64 redo[QC_GEN_SLOTS];	/* checkpoint redo pointer
											 * when last announced */
} QcLeases;

static QcLeases *qc_leases = NULL;

/* Slots whose lease this backend holds until its transaction ends. */
static uint32 lease_held[QC_MAX_OWED];
static int	nlease_held = 0;

/* querycache.wal_lease: ms a lease outlives its last writer; 0: none. */
int			qc_wal_lease = 100;

typedef struct QcPendingXact
{
	TransactionId xid;
	uint16		nslots;
	uint16		slots[QC_MAX_OWED];
} QcPendingXact;

typedef struct QcReplica
{
	LWLock	   *lock;
	bool		unsure;			/* fills are not stored... */
	uint64		episode;		/* times unsure was set */
	FullTransactionId horizon;	/* ...until every xid before this finished
								 * (invalid: not chosen yet) */
	int			npending;
	int			maxpending;
	QcPendingXact pending[FLEXIBLE_ARRAY_MEMBER];
} QcReplica;

static QcReplica *qc_replica = NULL;

StaticAssertDecl(QC_GEN_SLOTS <= PG_UINT16_MAX + 1, "slots must fit in uint16");

static int
qc_replica_max_pending(void)
{
	/* the primary's xids in progress at once, bounded by the standby's */
	return MaxBackends + max_prepared_xacts + 16;
}

Size
qc_replica_shmem_size(void)
{
	return add_size(sizeof(QcLeases),
					add_size(offsetof(QcReplica, pending),
							 mul_size(qc_replica_max_pending(), sizeof(QcPendingXact))));
}

/* Called with AddinShmemInitLock held. */
void
qc_replica_shmem_init(void)
{
	bool		found;

	qc_replica = ShmemInitStruct("querycache replica", qc_replica_shmem_size(), &found);
	if (!found)
	{
		qc_replica->unsure = true;
		qc_replica->episode = 0;
		qc_replica->horizon = InvalidFullTransactionId;
		qc_replica->npending = 0;
		qc_replica->maxpending = qc_replica_max_pending();
	}
	qc_replica->lock = &(GetNamedLWLockTranche("querycache replica"))[0].lock;

	qc_leases = ShmemInitStruct("querycache leases", sizeof(QcLeases), &found);
	if (!found)
	{
		qc_leases->reset_logged = false;
		qc_leases->sweeper_latch = NULL;
		pg_atomic_init_u32(&qc_leases->nheld, 0);
		for (int i = 0; i < QC_GEN_SLOTS; i++)
		{
			pg_atomic_init_u64(&qc_leases->state[i], 0);
			pg_atomic_init_u64(&qc_leases->redo[i], InvalidXLogRecPtr);
		}
	}
	qc_leases->lock = &(GetNamedLWLockTranche("querycache replica"))[1].lock;
}

/* ---- primary: logging ---- */

/*
 * Register slots, as the uint16s every record carries, after the record's
 * header (between XLogBeginInsert and XLogInsert).
 */
static void
qc_wal_register_slots(const uint32 *slots, int nslots)
{
	uint16	   *s16;

	if (nslots == 0)
		return;
	s16 = palloc(sizeof(uint16) * nslots);
	for (int i = 0; i < nslots; i++)
		s16[i] = (uint16) slots[i];
	XLogRegisterData((char *) s16, sizeof(uint16) * nslots);
}

static void
qc_wal_log(TransactionId xid, const uint32 *slots, int nslots)
{
	xl_qc_inval xlrec;

	Assert(nslots <= QC_MAX_OWED);
	xlrec.xid = xid;
	xlrec.nslots = (uint16) nslots;
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, SizeOfQcInval);
	qc_wal_register_slots(slots, nslots);
	(void) XLogInsert(QC_RMGR_ID, XLOG_QC_INVAL);
}

static XLogRecPtr
qc_wal_log_slots(uint8 info, const uint32 *slots, int nslots)
{
	xl_qc_slots xlrec;

	Assert(nslots <= PG_UINT16_MAX);
	xlrec.nslots = (uint16) nslots;
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, SizeOfQcSlots);
	qc_wal_register_slots(slots, nslots);
	return XLogInsert(QC_RMGR_ID, info);
}

/*
 * Once per life of shared memory, before its first lease: tell standbys
 * that leases announced before (by a primary that since crashed, or this
 * server before a restart) are over.  Their writers committed before this
 * record or never will.  Until then a standby keeps them, which only costs
 * it precision.  Called with the lease lock held.
 */
static void
qc_lease_reset_if_needed(void)
{
	if (qc_leases->reset_logged)
		return;
	(void) qc_wal_log_slots(XLOG_QC_RESET, NULL, 0);
	qc_leases->reset_logged = true;
}

/* Join the lease on slot if it is held and was announced since redo. */
static bool
qc_lease_join(uint32 slot, XLogRecPtr redo)
{
	pg_atomic_uint64 *state = &qc_leases->state[slot];
	uint64		v = pg_atomic_read_u64(state);

	while ((v & LEASE_HELD) != 0)
	{
		if (pg_atomic_read_u64(&qc_leases->redo[slot]) != redo)
			return false;		/* announced before the last checkpoint */
		if (pg_atomic_compare_exchange_u64(state, &v, (v + 1) | LEASE_TOUCHED))
			return true;
	}
	return false;
}

/*
 * Announce leases on the slots this writer could not join: one LEASE
 * record, before the writer's commit record, then hold them.
 */
static void
qc_lease_announce(const uint32 *slots, int n, XLogRecPtr redo)
{
	uint32		need[QC_MAX_OWED];
	int			nneed = 0;
	bool		first = false;

	LWLockAcquire(qc_leases->lock, LW_EXCLUSIVE);
	qc_lease_reset_if_needed();
	for (int i = 0; i < n; i++)
	{
		if (qc_lease_join(slots[i], redo))
			lease_held[nlease_held++] = slots[i];
		else
			need[nneed++] = slots[i];
	}
	if (nneed > 0)
		(void) qc_wal_log_slots(XLOG_QC_LEASE, need, nneed);
	for (int i = 0; i < nneed; i++)
	{
		pg_atomic_uint64 *state = &qc_leases->state[need[i]];
		uint64		v = pg_atomic_read_u64(state);
		uint64		nv;

		/* the redo pointer first: a joiner reads it after the state */
		pg_atomic_write_u64(&qc_leases->redo[need[i]], redo);
		do
		{
			nv = ((v & ~(LEASE_INSTANCE - 1)) + LEASE_INSTANCE) |
				LEASE_HELD | LEASE_TOUCHED | ((v & LEASE_WRITERS) + 1);
		} while (!pg_atomic_compare_exchange_u64(state, &v, nv));
		if ((v & LEASE_HELD) == 0 &&
			pg_atomic_fetch_add_u32(&qc_leases->nheld, 1) == 0)
			first = true;
		lease_held[nlease_held++] = need[i];
	}
	LWLockRelease(qc_leases->lock);
	if (first && qc_leases->sweeper_latch != NULL)
		SetLatch(qc_leases->sweeper_latch);
}

/*
 * At PRE_COMMIT, after the PRE_COMMIT bumps, so before the commit record:
 * make sure standbys know this transaction's slots are being written.
 * With leases (the default) that is nothing for a slot already leased in
 * this checkpoint cycle, else one LEASE record; without, one INVAL record
 * per commit.  Only transactions with an xid commit anything a standby
 * replays.
 */
void
qc_replica_log_commit(const uint32 *slots, int nslots)
{
	TransactionId xid = GetTopTransactionIdIfAny();
	XLogRecPtr	redo;
	uint32		rest[QC_MAX_OWED];
	int			nrest = 0;

	if (nslots == 0 || !TransactionIdIsValid(xid) || !XLogStandbyInfoActive())
		return;
	if (qc_wal_lease == 0)
	{
		qc_wal_log(xid, slots, nslots);
		return;
	}
	Assert(nlease_held == 0);
	redo = GetRedoRecPtr();
	for (int i = 0; i < nslots; i++)
	{
		if (qc_lease_join(slots[i], redo))
			lease_held[nlease_held++] = slots[i];
		else
			rest[nrest++] = slots[i];
	}
	if (nrest > 0)
		qc_lease_announce(rest, nrest, redo);
}

/*
 * The transaction ended (its commit or abort record is written): let go of
 * its leases.  Cannot fail.
 */
void
qc_replica_commit_done(void)
{
	for (int i = 0; i < nlease_held; i++)
		pg_atomic_fetch_sub_u64(&qc_leases->state[lease_held[i]], 1);
	nlease_held = 0;
}

/*
 * The sweeper's tick on a primary: release the leases no writer held or
 * joined for a whole tick, in one RELEASE record logged after their
 * writers' commit records.  Returns whether leases remain (tick again
 * soon).
 */
bool
qc_replica_lease_tick(void)
{
	uint32	   *rel;
	int			nrel = 0;
	bool		more;

	if (qc_leases == NULL || RecoveryInProgress() || !XLogStandbyInfoActive())
		return false;
	LWLockAcquire(qc_leases->lock, LW_EXCLUSIVE);
	if (pg_atomic_read_u32(&qc_leases->nheld) == 0)
	{
		LWLockRelease(qc_leases->lock);
		return false;
	}
	rel = palloc(sizeof(uint32) * QC_GEN_SLOTS);
	for (int i = 0; i < QC_GEN_SLOTS; i++)
	{
		pg_atomic_uint64 *state = &qc_leases->state[i];
		uint64		v = pg_atomic_read_u64(state);

		if ((v & LEASE_HELD) == 0)
			continue;
		if ((v & LEASE_TOUCHED) != 0)
			(void) pg_atomic_compare_exchange_u64(state, &v, v & ~LEASE_TOUCHED);
		else if ((v & LEASE_WRITERS) == 0 &&
				 pg_atomic_compare_exchange_u64(state, &v, v & ~LEASE_HELD))
			rel[nrel++] = i;
	}
	if (nrel > 0)
	{
		/* no writer is flushing it for us: have the WAL writer do it */
		XLogSetAsyncXactLSN(qc_wal_log_slots(XLOG_QC_RELEASE, rel, nrel));
		pg_atomic_fetch_sub_u32(&qc_leases->nheld, nrel);
	}
	more = pg_atomic_read_u32(&qc_leases->nheld) > 0;
	LWLockRelease(qc_leases->lock);
	pfree(rel);
	return more;
}

/* The sweeper's latch, set when a first lease is taken. */
void
qc_replica_set_sweeper_latch(Latch *latch)
{
	qc_leases->sweeper_latch = latch;
}

/* Before COMMIT PREPARED: the prepared xid owes the given slots. */
void
qc_replica_log_prepared(TransactionId xid, const uint32 *slots, int nslots)
{
	if (nslots == 0 || !TransactionIdIsValid(xid) || !XLogStandbyInfoActive())
		return;
	qc_wal_log(xid, slots, nslots);
}

/*
 * At PRE_PREPARE, with the owed set raised and bumped: log it for
 * standbys, and keep it here, raised, until the prepared xid commits or
 * aborts, whoever ends it.
 */
void
qc_replica_hold_prepared(const uint32 *slots, int nslots)
{
	TransactionId xid = GetTopTransactionId();
	QcPendingXact *p;

	if (nslots == 0)
		return;
	qc_replica_log_prepared(xid, slots, nslots);
	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	if (qc_replica->npending >= qc_replica->maxpending)
	{
		LWLockRelease(qc_replica->lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("querycache cannot track more prepared transactions")));
	}
	p = &qc_replica->pending[qc_replica->npending++];
	p->xid = xid;
	p->nslots = nslots;
	for (int i = 0; i < nslots; i++)
		p->slots[i] = (uint16) slots[i];
	LWLockRelease(qc_replica->lock);
}

/* ---- resolution (standbys, and prepared transactions) ---- */

static void
qc_pending_finish(QcPendingXact *p)
{
	uint32		slots[QC_MAX_OWED];

	for (int i = 0; i < p->nslots; i++)
		slots[i] = p->slots[i];
	qc_slots_finish(slots, p->nslots);
}

/*
 * Play the COMMIT half for every pending xid that is no longer in
 * progress: its commit or abort was replayed, or, on a primary, the
 * prepared transaction was committed or rolled back.  Cheap when nothing
 * is pending.
 */
void
qc_replica_resolve(void)
{
	if (qc_replica == NULL || qc_replica->npending == 0)
		return;
	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	for (int i = 0; i < qc_replica->npending;)
	{
		QcPendingXact *p = &qc_replica->pending[i];

		if (TransactionIdIsInProgress(p->xid))
		{
			i++;
			continue;
		}
		qc_pending_finish(p);
		*p = qc_replica->pending[--qc_replica->npending];
	}
	LWLockRelease(qc_replica->lock);
}

/*
 * Before a fill reads its fence (so before its snapshot): was the standby
 * sure, and in which episode?  PG_UINT64_MAX if it was not.
 */
uint64
qc_replica_fill_begin(void)
{
	uint64		ticket;

	LWLockAcquire(qc_replica->lock, LW_SHARED);
	ticket = qc_replica->unsure ? PG_UINT64_MAX : qc_replica->episode;
	LWLockRelease(qc_replica->lock);
	return ticket;
}

/*
 * May a fill with this snapshot store its result on a standby?  Not while
 * replay may have missed the first half of a commit this snapshot does not
 * see (see the header).  Yes if the standby was sure from before the
 * fill's fence until now (same episode), or if this very snapshot's xmin
 * passed the horizon.  Another fill clearing the state meanwhile proves
 * nothing about this snapshot, which may be older.
 */
bool
qc_replica_fill_ok(Snapshot snap, uint64 ticket)
{
	bool		ok;
	bool		passes;

	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	passes = FullTransactionIdIsValid(qc_replica->horizon) &&
		!TransactionIdPrecedes(snap->xmin, XidFromFullTransactionId(qc_replica->horizon));
	if (qc_replica->unsure)
	{
		if (!FullTransactionIdIsValid(qc_replica->horizon))
			qc_replica->horizon = ReadNextFullTransactionId();
		else if (passes)
			qc_replica->unsure = false;
		ok = !qc_replica->unsure;
	}
	else
		ok = ticket == qc_replica->episode || passes;
	LWLockRelease(qc_replica->lock);
	return ok;
}

/* ---- standby: redo ---- */

/* A record's slots, each within range whatever the record says. */
static void
qc_slots_from_wal(const uint16 *wal, int n, uint32 *slots)
{
	for (int i = 0; i < n; i++)
		slots[i] = wal[i] % QC_GEN_SLOTS;
}

static void
qc_redo_inval(xl_qc_inval *xlrec)
{
	uint32		slots[QC_MAX_OWED] = {0};
	int			n = Min(xlrec->nslots, QC_MAX_OWED);

	qc_slots_from_wal(xlrec->slots, n, slots);

	/* the writer's PRE_COMMIT: raise and bump, before the commit replays */
	qc_slots_raise(slots, n);

	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	if (qc_replica->npending < qc_replica->maxpending)
	{
		QcPendingXact *p = &qc_replica->pending[qc_replica->npending++];

		p->xid = xlrec->xid;
		p->nslots = n;
		for (int i = 0; i < n; i++)
			p->slots[i] = (uint16) slots[i];
	}
	else
	{
		/* cannot track it: lower now and store nothing until it is over */
		qc_slots_finish(slots, n);
		qc_replica->unsure = true;
		qc_replica->episode++;
		qc_replica->horizon = InvalidFullTransactionId;
	}
	LWLockRelease(qc_replica->lock);
}

static void
qc_rmgr_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	xl_qc_slots *xlrec = (xl_qc_slots *) XLogRecGetData(record);
	uint32	   *slots;

	switch (info)
	{
		case XLOG_QC_INVAL:
			qc_redo_inval((xl_qc_inval *) XLogRecGetData(record));
			return;
		case XLOG_QC_RESET:
			qc_slots_unlease(NULL, -1);
			return;
		case XLOG_QC_LEASE:
		case XLOG_QC_RELEASE:
			break;
		default:
			elog(PANIC, "querycache redo: unknown op code %u", info);
	}
	slots = palloc(sizeof(uint32) * Max(xlrec->nslots, 1));
	qc_slots_from_wal(xlrec->slots, xlrec->nslots, slots);
	if (info == XLOG_QC_LEASE)
		qc_slots_lease(slots, xlrec->nslots);
	else
		qc_slots_unlease(slots, xlrec->nslots);
	pfree(slots);
}

/* Redo starts: nothing is pending, and nothing is sure yet. */
static void
qc_rmgr_startup(void)
{
	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	qc_replica->npending = 0;
	qc_replica->unsure = true;
	qc_replica->episode++;
	qc_replica->horizon = InvalidFullTransactionId;
	LWLockRelease(qc_replica->lock);
}

/*
 * Recovery ends (promotion, or crash recovery): xids still pending never
 * commit now; lower their counts, and make every entry stale.
 */
static void
qc_rmgr_cleanup(void)
{
	LWLockAcquire(qc_replica->lock, LW_EXCLUSIVE);
	for (int i = 0; i < qc_replica->npending; i++)
		qc_pending_finish(&qc_replica->pending[i]);
	qc_replica->npending = 0;
	qc_replica->unsure = false;
	LWLockRelease(qc_replica->lock);
	qc_slots_unlease(NULL, -1);
	qc_gen_bump_global_now();
}

static void
qc_rmgr_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	if (info == XLOG_QC_INVAL)
	{
		xl_qc_inval *xlrec = (xl_qc_inval *) XLogRecGetData(record);

		appendStringInfo(buf, "xid %u; slots %u", xlrec->xid, xlrec->nslots);
	}
	else if (info == XLOG_QC_LEASE || info == XLOG_QC_RELEASE)
	{
		xl_qc_slots *xlrec = (xl_qc_slots *) XLogRecGetData(record);

		appendStringInfo(buf, "slots %u", xlrec->nslots);
	}
}

static const char *
qc_rmgr_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_QC_INVAL:
			return "INVAL";
		case XLOG_QC_LEASE:
			return "LEASE";
		case XLOG_QC_RELEASE:
			return "RELEASE";
		case XLOG_QC_RESET:
			return "RESET";
	}
	return NULL;
}

static RmgrData qc_rmgr = {
	.rm_name = "querycache",
	.rm_redo = qc_rmgr_redo,
	.rm_desc = qc_rmgr_desc,
	.rm_identify = qc_rmgr_identify,
	.rm_startup = qc_rmgr_startup,
	.rm_cleanup = qc_rmgr_cleanup,
};

void
qc_replica_init(void)
{
	RegisterCustomRmgr(QC_RMGR_ID, &qc_rmgr);
}
