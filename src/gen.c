/*-------------------------------------------------------------------------
 *
 * gen.c
 *		Generation counters and the commit-time fence that keeps the cache
 *		from ever serving a result older than a committed write.
 *
 * Shared state: a global epoch and QC_GEN_SLOTS 64-bit counters.  A target
 * is hashed onto a slot: (database, relation) for relation writes, and two
 * per-database targets, the database's epoch (DDL, privileges, anything
 * coarse) and its write counter (bumped by every writing commit).  Two
 * targets sharing a slot only cause extra invalidations, never stale reads,
 * so the footprint is fixed whatever the number of relations.
 *
 * Locking: none.  Every generation is a pg_atomic_uint64 that only grows,
 * every bump is a pg_atomic_fetch_add_u64, which is a full barrier, and the
 * in-flight counts are pg_atomic_uint32 raised and lowered the same way.
 * The order of those operations is the whole protocol:
 *
 * Writer.  A transaction records what it wrote as pending (backend-local,
 * in fixed arrays: recording never allocates and bumping cannot fail).  At
 * PRE_COMMIT, before its rows become visible, it raises the in-flight count
 * of every slot it owes and bumps them; at COMMIT, after they became
 * visible, it bumps them again and lowers the in-flight counts.  Bumps go in
 * this order: its database's write counter, the epochs it owes, then each
 * written relation's slot.  Abort forgets the pending set (and lowers the
 * in-flight counts if PRE_COMMIT raised them).
 *
 * Filler.  Before its snapshot, a fill reads the global epoch, the database
 * epoch and the database write counter (qc_fence_begin).  It runs the query
 * with a snapshot taken after that (GetLatestSnapshot, READ COMMITTED only:
 * REPEATABLE READ and SERIALIZABLE keep an older snapshot, so they never
 * fill), learning the relations it read.  It
 * then reads each relation's slot, and last re-reads the fence
 * (qc_fence_holds).  It stores the entry only if the fence did not move.
 *
 * Why it holds.  Let W commit a write to R that the fill's snapshot does not
 * see.  W became visible after the snapshot, so W's COMMIT-time bumps come
 * after the fence was read.  If W bumped the write counter before the fence
 * was re-read, the fence moved and nothing is stored.  Otherwise W bumps R's
 * slot even later (W bumps R after the write counter; the filler reads R's
 * slot before re-reading the fence), so the stored generation of R is older
 * than the one W leaves behind, and every lookup after W's commit returns
 * sees the entry as stale.  A lookup compares every stored generation with
 * the current one (qc_gens_current).
 *
 * Visibility.  That argument is about commits that have returned.  A reader
 * may also see a commit's rows (in a plain query) before its COMMIT bumps
 * ran.  An entry stored then would be stale in that window, but it cannot
 * be stored: its fill either read the fence before the PRE_COMMIT bump (so
 * the fence moved, or its generations are older than that bump), or after
 * it, and then found the slot in flight when reading its generation
 * (qc_gens_add_rel, qc_fence_holds) and was not stored.
 *
 * Own writes.  While a transaction has pending writes, lookups of entries
 * that depend on them are bypassed, and fills that read them are not
 * stored (qc_gens_touch_pending): nothing computed from uncommitted rows
 * reaches the shared cache.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/lsyscache.h"

#include "querycache.h"

typedef struct QcGenShared
{
	pg_atomic_uint64 global;
	pg_atomic_uint32 global_inflight;
	pg_atomic_uint64 slots[QC_GEN_SLOTS];
	pg_atomic_uint32 inflight[QC_GEN_SLOTS];	/* commits between PRE_COMMIT
												 * and COMMIT */
} QcGenShared;

/* Kinds of targets hashed onto slots. */
#define QC_TARGET_REL		0
#define QC_TARGET_DBEPOCH	1
#define QC_TARGET_DBWRITES	2

/* Written relations remembered per transaction before falling back. */
#define QC_MAX_PENDING		64

static QcGenShared *qc_gens = NULL;

/* Pending invalidations of the current transaction (backend-local). */
static uint32 pending_slots[QC_MAX_PENDING];
static int	npending = 0;
static bool pending_epoch = false;
static bool pending_global = false;
static bool pending_writes = false;
/* What PRE_COMMIT raised, lowered exactly so at COMMIT or abort. */
static bool inflight_held = false;
static int	inflight_n = 0;
static bool inflight_epoch = false;
static bool inflight_global = false;

Size
qc_gen_shmem_size(void)
{
	return sizeof(QcGenShared);
}

void
qc_gen_shmem_init(void *ptr, bool found)
{
	qc_gens = (QcGenShared *) ptr;
	if (!found)
	{
		pg_atomic_init_u64(&qc_gens->global, 1);
		pg_atomic_init_u32(&qc_gens->global_inflight, 0);
		for (int i = 0; i < QC_GEN_SLOTS; i++)
		{
			pg_atomic_init_u64(&qc_gens->slots[i], 1);
			pg_atomic_init_u32(&qc_gens->inflight[i], 0);
		}
	}
}

static inline uint32
qc_slot(Oid dbid, Oid objid, int kind)
{
	uint32		h;

	h = hash_combine(murmurhash32((uint32) dbid),
					 murmurhash32((uint32) objid * 4 + kind));
	return h % QC_GEN_SLOTS;
}

static inline uint64
qc_slot_read(uint32 slot)
{
	return pg_atomic_read_u64(&qc_gens->slots[slot]);
}

void
qc_fence_begin(QcFence *fence)
{
	fence->global = pg_atomic_read_u64(&qc_gens->global);
	fence->dbepoch = qc_slot_read(qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH));
	fence->dbwrites = qc_slot_read(qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES));
	/* the snapshot the fill then takes must not be reordered before this */
	pg_memory_barrier();
}

bool
qc_fence_holds(const QcFence *fence)
{
	/* slot reads of qc_gens_add_rel() must happen before these */
	uint32		epoch_slot = qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH);

	pg_memory_barrier();
	return fence->dbwrites == qc_slot_read(qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES)) &&
		fence->dbepoch == qc_slot_read(epoch_slot) &&
		fence->global == pg_atomic_read_u64(&qc_gens->global) &&
		pg_atomic_read_u32(&qc_gens->inflight[epoch_slot]) == 0 &&
		pg_atomic_read_u32(&qc_gens->global_inflight) == 0;
}

void
qc_gens_start(QcGens *gens, const QcFence *fence)
{
	gens->global = fence->global;
	gens->dbslot = qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH);
	gens->dbepoch = fence->dbepoch;
	gens->ndeps = 0;
	gens->unstable = false;
}

/* Read a slot for a dependency; a commit in flight on it makes it unusable. */
static uint64
qc_dep_read(QcGens *gens, uint32 slot)
{
	uint64		gen = qc_slot_read(slot);

	pg_memory_barrier();
	if (pg_atomic_read_u32(&qc_gens->inflight[slot]) > 0)
		gens->unstable = true;
	return gen;
}

static void
qc_gens_add_slot(QcGens *gens, uint32 slot)
{
	for (int i = 0; i < gens->ndeps; i++)
		if (gens->deps[i].slot == slot)
			return;

	if (gens->ndeps == QC_MAX_DEPS)
	{
		/*
		 * Too many to track: depend on the database's write counter instead,
		 * which every writing commit bumps.  Coarser, never stale.
		 */
		gens->deps[0].slot = qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES);
		gens->deps[0].gen = qc_dep_read(gens, gens->deps[0].slot);
		gens->ndeps = 1;
		return;
	}
	if (gens->ndeps == 1 &&
		gens->deps[0].slot == qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES))
		return;					/* already depends on every write */

	gens->deps[gens->ndeps].slot = slot;
	gens->deps[gens->ndeps].gen = qc_dep_read(gens, slot);
	gens->ndeps++;
}

/*
 * Add a relation read by a fill.  A partition also depends on its
 * ancestors, since a write through the parent records only the parent.
 */
void
qc_gens_add_rel(QcGens *gens, Oid relid)
{
	qc_gens_add_slot(gens, qc_slot(MyDatabaseId, relid, QC_TARGET_REL));
	if (get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			qc_gens_add_slot(gens, qc_slot(MyDatabaseId, lfirst_oid(lc), QC_TARGET_REL));
	}
}

bool
qc_gens_current(const QcGens *gens)
{
	if (gens->global != pg_atomic_read_u64(&qc_gens->global) ||
		gens->dbepoch != qc_slot_read(gens->dbslot))
		return false;
	for (int i = 0; i < gens->ndeps; i++)
		if (gens->deps[i].gen != qc_slot_read(gens->deps[i].slot))
			return false;
	return true;
}

bool
qc_gens_touch_pending(const QcGens *gens)
{
	uint32		writes_slot;

	if (!pending_writes)
		return false;
	if (pending_epoch || pending_global)
		return true;
	writes_slot = qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES);
	for (int i = 0; i < gens->ndeps; i++)
	{
		if (gens->deps[i].slot == writes_slot)
			return true;
		for (int j = 0; j < npending; j++)
			if (gens->deps[i].slot == pending_slots[j])
				return true;
	}
	return false;
}

bool
qc_pending_any(void)
{
	return pending_writes;
}

static void
qc_pending_add_slot(uint32 slot)
{
	pending_writes = true;
	for (int i = 0; i < npending; i++)
		if (pending_slots[i] == slot)
			return;
	if (npending < QC_MAX_PENDING)
		pending_slots[npending++] = slot;
	else
		pending_epoch = true;	/* too many: invalidate the whole database */
}

/*
 * Record a write to a relation, to be published at commit.  Writing a
 * partition also invalidates readers of its ancestors.
 */
void
qc_pending_add_rel(Oid relid)
{
	if (qc_gens == NULL || IsParallelWorker())
		return;
	qc_pending_add_slot(qc_slot(MyDatabaseId, relid, QC_TARGET_REL));
	if (get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			qc_pending_add_slot(qc_slot(MyDatabaseId, lfirst_oid(lc), QC_TARGET_REL));
	}
}

void
qc_pending_add_epoch(void)
{
	if (qc_gens == NULL || IsParallelWorker())
		return;
	pending_writes = true;
	pending_epoch = true;
}

void
qc_pending_add_global(void)
{
	if (qc_gens == NULL || IsParallelWorker())
		return;
	pending_writes = true;
	pending_global = true;
}

/* Bump a relation's slot at once, for querycache_invalidate_table(). */
void
qc_gen_bump_rel_now(Oid relid)
{
	pg_atomic_fetch_add_u64(&qc_gens->slots[qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES)], 1);
	pg_atomic_fetch_add_u64(&qc_gens->slots[qc_slot(MyDatabaseId, relid, QC_TARGET_REL)], 1);
}

uint64
qc_gen_rel_value(Oid relid)
{
	return qc_slot_read(qc_slot(MyDatabaseId, relid, QC_TARGET_REL));
}

uint64
qc_gen_db_epoch(void)
{
	return qc_slot_read(qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH));
}

/*
 * Add a dependency with a generation read earlier, by a cache that was
 * loaded under that generation (the rules table).
 */
void
qc_gens_add_rel_at(QcGens *gens, Oid relid, uint64 gen)
{
	uint32		slot = qc_slot(MyDatabaseId, relid, QC_TARGET_REL);

	qc_gens_add_slot(gens, slot);
	for (int i = 0; i < gens->ndeps; i++)
		if (gens->deps[i].slot == slot && gens->deps[i].gen > gen)
			gens->deps[i].gen = gen;
}

/* Raise (+1) or lower (-1) the in-flight counts of the pending set. */
static void
qc_pending_inflight(int delta)
{
	if (delta > 0)
	{
		inflight_n = npending;
		inflight_epoch = pending_epoch;
		inflight_global = pending_global;
	}
	if (inflight_global)
		pg_atomic_fetch_add_u32(&qc_gens->global_inflight, delta);
	if (inflight_epoch)
		pg_atomic_fetch_add_u32(&qc_gens->inflight[qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH)], delta);
	for (int i = 0; i < inflight_n; i++)
		pg_atomic_fetch_add_u32(&qc_gens->inflight[pending_slots[i]], delta);
	inflight_held = (delta > 0);
}

/*
 * Publish the pending set.  Allocation-free and unable to fail, as it runs
 * in XACT_EVENT_COMMIT.  The order is the one the header comment relies on.
 */
static void
qc_pending_publish(void)
{
	pg_atomic_fetch_add_u64(&qc_gens->slots[qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES)], 1);
	if (pending_global)
		pg_atomic_fetch_add_u64(&qc_gens->global, 1);
	if (pending_epoch)
		pg_atomic_fetch_add_u64(&qc_gens->slots[qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH)], 1);
	for (int i = 0; i < npending; i++)
		pg_atomic_fetch_add_u64(&qc_gens->slots[pending_slots[i]], 1);
}

/*
 * Raise the in-flight counts and bump, as PRE_COMMIT does.  Also called
 * before COMMIT PREPARED, whose rows become visible before this
 * transaction's PRE_COMMIT; the end of the transaction lowers them.
 */
void
qc_pending_publish_early(void)
{
	if (qc_gens == NULL || !pending_writes)
		return;
	if (!inflight_held)
		qc_pending_inflight(1);
	qc_pending_publish();
}

static void
qc_pending_reset(void)
{
	npending = 0;
	pending_epoch = false;
	pending_global = false;
	pending_writes = false;
}

static void
qc_xact_callback(XactEvent event, void *arg)
{
	if (!pending_writes)
		return;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* before visibility: old entries stop being served at once */
			qc_pending_publish_early();
			break;
		case XACT_EVENT_COMMIT:
			/* after visibility: closes the window for fills that raced us */
			qc_pending_publish();
			if (inflight_held)
				qc_pending_inflight(-1);
			qc_pending_reset();
			break;
		case XACT_EVENT_PREPARE:
			/* COMMIT PREPARED is seen by the utility hook (track.c) */
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (inflight_held)
				qc_pending_inflight(-1);
			qc_pending_reset();
			break;
		default:
			break;
	}
}

void
qc_gen_init(void)
{
	RegisterXactCallback(qc_xact_callback, NULL);
}
