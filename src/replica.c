/*-------------------------------------------------------------------------
 *
 * replica.c
 *		Invalidations carried in WAL, so that every hot standby keeps its own
 *		cache, never older than what it has replayed.
 *
 * A custom WAL resource manager, id QC_RMGR_ID.  On the primary, a writing
 * transaction logs one XLOG_QC_INVAL record at PRE_COMMIT, after its
 * PRE_COMMIT bumps and so before its commit record: the xid and the slots
 * it owes (gen.c).  A record logged after the commit record would be lost
 * if the primary crashed in between.  COMMIT PREPARED logs one for the
 * prepared xid, owing the cluster epoch.  Read-only and rolled-back
 * transactions log nothing, nor does wal_level = minimal (no standby).
 *
 * On a standby the protocol of gen.c runs with redo as the writer:
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
 * qc_replica->lock (an LWLock); generations follow gen.c's rules.
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

#define XLOG_QC_INVAL		0x00

/* The record: the xid whose commit or abort resolves it, and its slots. */
typedef struct xl_qc_inval
{
	TransactionId xid;
	uint16		nslots;
	uint16		slots[FLEXIBLE_ARRAY_MEMBER];	/* < QC_GEN_SLOTS */
} xl_qc_inval;

#define SizeOfQcInval	offsetof(xl_qc_inval, slots)

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
	return add_size(offsetof(QcReplica, pending),
					mul_size(qc_replica_max_pending(), sizeof(QcPendingXact)));
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
	qc_replica->lock = &(GetNamedLWLockTranche("querycache replica"))->lock;
}

/* ---- primary: logging ---- */

static void
qc_wal_log(TransactionId xid, const uint32 *slots, int nslots)
{
	xl_qc_inval xlrec;
	uint16		s16[QC_MAX_OWED];

	Assert(nslots <= QC_MAX_OWED);
	for (int i = 0; i < nslots; i++)
		s16[i] = (uint16) slots[i];
	xlrec.xid = xid;
	xlrec.nslots = (uint16) nslots;
	XLogBeginInsert();
	XLogRegisterData((char *) &xlrec, SizeOfQcInval);
	XLogRegisterData((char *) s16, sizeof(uint16) * nslots);
	(void) XLogInsert(QC_RMGR_ID, XLOG_QC_INVAL);
}

/*
 * At PRE_COMMIT, after the PRE_COMMIT bumps: log what this transaction
 * owes, for standbys.  Only transactions with an xid commit anything a
 * standby replays.
 */
void
qc_replica_log_commit(const uint32 *slots, int nslots)
{
	TransactionId xid = GetTopTransactionIdIfAny();

	if (nslots == 0 || !TransactionIdIsValid(xid) || !XLogStandbyInfoActive())
		return;
	qc_wal_log(xid, slots, nslots);
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

static void
qc_rmgr_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;
	xl_qc_inval *xlrec = (xl_qc_inval *) XLogRecGetData(record);
	uint32		slots[QC_MAX_OWED] = {0};
	int			n;

	if (info != XLOG_QC_INVAL)
		elog(PANIC, "querycache redo: unknown op code %u", info);
	n = Min(xlrec->nslots, QC_MAX_OWED);
	for (int i = 0; i < n; i++)
		slots[i] = xlrec->slots[i] % QC_GEN_SLOTS;

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
	qc_gen_bump_global_now();
}

static void
qc_rmgr_desc(StringInfo buf, XLogReaderState *record)
{
	xl_qc_inval *xlrec = (xl_qc_inval *) XLogRecGetData(record);

	appendStringInfo(buf, "xid %u; slots %u", xlrec->xid, xlrec->nslots);
}

static const char *
qc_rmgr_identify(uint8 info)
{
	return (info & ~XLR_INFO_MASK) == XLOG_QC_INVAL ? "INVAL" : NULL;
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
