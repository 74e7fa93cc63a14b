/*-------------------------------------------------------------------------
 *
 * gen.c
 *		Generation counters and the commit-time fence that keeps the cache
 *		from ever serving a result older than a committed write.
 *
 * Shared state: QC_GEN_SLOTS slots and one commit-finish sequence.  Each
 * slot has a generation (gen), a count of commits in flight on it
 * (inflight) and the finish sequence of the last commit that touched it
 * (stamp).  A target is hashed onto a slot:
 *		- (database, relation) for a write to a relation;
 *		- the database's epoch: DDL, privileges, anything coarse, and more
 *		  than QC_MAX_PENDING written relations;
 *		- the database's "any write" slot, bumped by every writing commit,
 *		  which entries with more than QC_MAX_DEPS dependencies depend on;
 *		- the cluster's epoch: roles, databases, tablespaces, 2PC;
 *		- (database, table, hash of a key column's value) for a row written
 *		  to a table with keyed rules (the keyed row trigger, trigger.c);
 *		- (database, table), the table's "coarse" slot: writes to a keyed
 *		  table that its row trigger does not see value by value (TRUNCATE,
 *		  more than QC_MAX_KEYS distinct values in one transaction).
 * Two targets sharing a slot only cause extra invalidations, never stale
 * reads, so the footprint is fixed whatever the number of relations.
 * Every entry depends on both epochs, plus its relations' slots (or the
 * "any write" slot); under depends = 'rules', a keyed rule's table is
 * replaced by the slot of the value its key names plus the table's coarse
 * slot (rules.c).
 *
 * Locking: none.  gen and stamp only grow, inflight goes up and down, and
 * every change is a pg_atomic read-modify-write, which is a full barrier.
 * Readers put explicit barriers between their reads.  The order of those
 * operations is the whole protocol:
 *
 * Writer W, for each slot s it owes (its "owed set"):
 *	 PRE_COMMIT, before its rows become visible:	inflight[s]++, gen[s]++
 *	 (commit record; ProcArrayEndTransaction: W becomes visible, "V")
 *	 COMMIT, after:		gen[s]++; seq = ++finish; stamp[s] = max(stamp[s],
 *						seq); and only then inflight[s]--.
 * Abort forgets the owed set, lowering what PRE_COMMIT raised.  Recording
 * a write never allocates shared memory and bumping cannot fail.
 *
 * Filler F (fill.c, and querycache_set with a fence token):
 *	 1. F0 = finish, read before the snapshot (qc_fence_begin).
 *	 2. Take the snapshot S (GetLatestSnapshot: READ COMMITTED only;
 *		REPEATABLE READ and SERIALIZABLE keep an older snapshot and never
 *		fill), run the query, learn its slots; for each, read g = gen[s]
 *		(qc_gens_add_rel).
 *	 3. For each slot, read i = inflight[s], then t = stamp[s], with
 *		barriers between (qc_fence_holds).
 *	 4. Store with the g's only if every i == 0 and every t <= F0.
 *
 * Why a commit invisible to S is never missed.  W is invisible to S, so V
 * came after S was taken, hence after F0 was read, and W's seq (taken
 * after V) is > F0.
 *	- If W's stamp was published before F read t: t >= seq > F0.  Rejected.
 *	- Otherwise W's inflight-- also comes after F's reads.  If W's
 *	  inflight++ came before F read i, then i > 0: rejected.  If not, W's
 *	  PRE_COMMIT gen++ also comes after F read g, so the stored g is older
 *	  than that bump and every lookup after it sees the entry as stale
 *	  (qc_gens_current).  Before that bump W's rows are visible to nobody,
 *	  so until then the entry is right.
 * Commits that touch none of F's slots change none of these reads, so
 * they never discard F: that is what keeps caching alive under write load.
 * A commit visible to S is in the result; at worst its second bump makes
 * the entry look stale once, which costs a miss, never a wrong answer.
 *
 * Every path that moves a slot follows the writer's order or is stricter:
 *	- DML, COPY, TRUNCATE, REFRESH, triggers, FK actions, logical
 *	  replication apply (track.c, trigger.c) only record pending targets;
 *	  utility statements record before they run, and again after;
 *	- multi-transaction commands (DETACH PARTITION CONCURRENTLY, ...)
 *	  record before the statement, so each internal commit publishes, and
 *	  after, for the final one;
 *	- PREPARE TRANSACTION raises and bumps at PRE_PREPARE and hands the
 *	  owed set to a shared table (replica.c) that bumps, stamps and lowers
 *	  once the prepared xid is no longer in progress, whoever committed
 *	  it (SQL, or a two-phase logical replication apply worker);
 *	- COMMIT PREPARED through SQL also owes the cluster epoch (a prepared
 *	  transaction may predate a restart, which empties that table): it
 *	  raises and bumps before the prepared rows become visible, and bumps,
 *	  stamps and lowers when its own transaction ends
 *	  (qc_pending_publish_early);
 *	- a subtransaction that aborts restores the pending set it started
 *	  with: a failed statement or a write rolled back to a savepoint owes
 *	  nothing (its writes were never visible);
 *	- querycache_invalidate_table() bumps and stamps at once, then owes
 *	  the table at commit like any write;
 *	- fills with more than QC_MAX_DEPS dependencies depend on the "any
 *	  write" slot, which every writing commit owes (raise, bump, stamp,
 *	  lower), so the in-flight test still covers them;
 *	- a writer with more than QC_MAX_PENDING relations owes its database's
 *	  epoch instead, which every entry depends on;
 *	- config tables (querycache_rules, querycache_ttl) are loaded with a
 *	  snapshot taken after their generation was read, and entries depend
 *	  on that generation (rules.c): the same argument with the load as S.
 *
 * Standbys, one record per commit (querycache.wal_lease = 0).  Redo of the
 * record a writer logs at PRE_COMMIT plays the writer's PRE_COMMIT half,
 * and the resolution of its xid, once replay made it committed or aborted,
 * plays its COMMIT half (replica.c): the same order against the standby's
 * visibility, so the argument above holds for fills on a standby too.
 * What replay cannot tell (a restart mid-stream, a full pending table)
 * stops fills from being stored until it is over; the end of recovery
 * bumps the cluster epoch.
 *
 * Leases (standbys).  By default a writer logs no record of its own: the
 * first writer of a slot announces a lease on it (replica.c), later ones
 * join it, and it is released after its last writer's commit record.  A
 * standby cannot tell which replayed commit wrote a leased slot, so it
 * treats every one as possibly doing so.  Redo of the announcement marks
 * the slot leased, then bumps it; redo of the release bumps, stamps, then
 * unmarks.  A filler reads each slot's mark after its generation and
 * before its stamp (qc_fence_holds); if any is marked, the entry holds only
 * while the count of completed transactions stays what F's snapshot saw
 * (gens->completion; the count moves, under ProcArrayLock, with what
 * snapshots see).  Take W, a lease writer invisible to S:
 *	- F saw the mark: W's commit, replayed after S, moves the count, and
 *	  every lookup after it finds the entry stale.
 *	- F saw no mark because the announcement came later: its bump came
 *	  after F read g, and before W's commit.
 *	- F saw no mark because the release came first: W's commit precedes
 *	  the release in WAL, so W was replayed after S was taken but before
 *	  the release's stamp, which F then reads as > F0.
 * A standby that (re)starts replays from a restartpoint and may have
 * missed the announcement: writers re-announce a lease first announced
 * before the current checkpoint's redo pointer, and one that read the
 * redo pointer just before a checkpoint moved it has an xid below that
 * checkpoint's nextXid, which the standby's restart horizon covers.
 *
 * Keyed rules.  A key slot and a coarse slot are ordinary slots: the
 * keyed row trigger (trigger.c) adds them to the pending set, like the
 * statement trigger adds its table, and it fires AFTER each row at the end
 * of the writing statement, so before PRE_COMMIT; the owed set is raised,
 * bumped, stamped and lowered as above, and the proof holds unchanged for
 * an entry that depends on them, with "W wrote one of F's slots" read as
 * "W wrote a row whose key column, before or after, is the value F's key
 * names, or W owes the table's coarse slot".  What the proof then needs
 * is that every committed write that can change such an entry's rows owes
 * one of those two slots.  Writes through the executor fire the row
 * trigger (ENABLE ALWAYS fires in replica mode and in logical replication
 * apply workers too); past QC_MAX_KEYS values per table the trigger owes
 * the coarse slot instead; TRUNCATE owes it from the utility hook and from
 * the statement trigger.  A write with the trigger disabled or dropped
 * follows ALTER TABLE or DROP TRIGGER, which owe the database's epoch, and
 * a fill looks for the trigger in pg_trigger with a snapshot taken after
 * its fence (rules.c): either that DDL is visible to it and the fill
 * depends on the table's relation slot instead, or the DDL's epoch bump
 * rejects or invalidates the entry, by the same argument with the DDL as
 * W.  (The relcache is not enough: it may not have taken in a commit that
 * finished before the fence.)  Which rows an entry shows is the user's
 * word, as with any rule: the key's capture must be the column's text
 * output for exactly the rows its query reads.
 *
 * Policies (querycache_policies) step outside this argument only where a
 * user asked for it: an entry with depends = 'rules' keeps the epochs and
 * its rules' tables as dependencies, so other tables it read are as fresh
 * as its TTL; stale_while_revalidate serves an invalidated value no older
 * than its window (store.c).  A fill the fence rejected may be kept for
 * that, marked known_stale so that it is never current, and only if the
 * epochs passed the fence (qc_fence_epochs_hold).  On a standby, an epoch
 * leased at the fill counts as moved once any transaction completes
 * (qc_gens_epochs_current).  Neither ever crosses an epoch or reaches a
 * transaction that wrote a dependency.
 *
 * Own writes.  While a transaction has pending writes, lookups of entries
 * that depend on them are bypassed, and fills that read them are not
 * stored (qc_gens_touch_pending): nothing computed from uncommitted rows
 * reaches the shared cache.  Writes to temporary tables are not recorded
 * at all: no other session can read them, and fills never store a result
 * that read one (track.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "querycache.h"

typedef struct QcSlot
{
	pg_atomic_uint64 gen;
	pg_atomic_uint64 stamp;
	pg_atomic_uint32 inflight;	/* commits between PRE_COMMIT and COMMIT */
	pg_atomic_uint32 leased;	/* standbys: any replayed commit may touch it */
} QcSlot;

typedef struct QcGenShared
{
	pg_atomic_uint64 finish;	/* commit-finish sequence */
	QcSlot		slots[QC_GEN_SLOTS];
} QcGenShared;

/* Kinds of targets hashed onto slots. */
#define QC_TARGET_REL		0
#define QC_TARGET_DBEPOCH	1
#define QC_TARGET_DBWRITES	2
#define QC_TARGET_GLOBAL	3
#define QC_TARGET_KEY		4	/* (database, table, key value hash) */
#define QC_TARGET_COARSE	5	/* (database, table): unkeyed writes */

/* Written relations remembered per transaction before falling back. */
#define QC_MAX_PENDING		(QC_MAX_OWED - 3)

static QcGenShared *qc_gens = NULL;

/* Pending invalidations of the current transaction (backend-local). */
static uint32 pending_slots[QC_MAX_PENDING];
static Oid	pending_keyrel[QC_MAX_PENDING]; /* table of a key slot, else 0 */
static int	npending = 0;
static bool pending_epoch = false;
static bool pending_global = false;
static bool pending_writes = false;

/*
 * The pending set as it was when each open subtransaction began, restored
 * when it aborts: a statement that fails (a utility statement records its
 * targets before it runs) or a write rolled back to a savepoint must not
 * invalidate anything.
 */
typedef struct QcPendingMark
{
	int			level;
	int			npending;
	bool		epoch;
	bool		global;
	bool		writes;
} QcPendingMark;

static QcPendingMark *marks = NULL;
static int	nmarks = 0;
static int	maxmarks = 0;

/* The owed set PRE_COMMIT raised, lowered exactly so at COMMIT or abort. */
static uint32 owed[QC_MAX_OWED];
static int	nowed = 0;
static int	owed_level = 0;		/* transaction nest level that raised it */

/* Test-only pause after the PRE_COMMIT bumps (querycache.debug_commit_lock). */
int			qc_debug_commit_lock = 0;

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
		pg_atomic_init_u64(&qc_gens->finish, 1);
		for (int i = 0; i < QC_GEN_SLOTS; i++)
		{
			pg_atomic_init_u64(&qc_gens->slots[i].gen, 1);
			pg_atomic_init_u64(&qc_gens->slots[i].stamp, 0);
			pg_atomic_init_u32(&qc_gens->slots[i].inflight, 0);
			pg_atomic_init_u32(&qc_gens->slots[i].leased, 0);
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

#define QC_SLOT_GLOBAL()	qc_slot(InvalidOid, 0, QC_TARGET_GLOBAL)
#define QC_SLOT_DBEPOCH()	qc_slot(MyDatabaseId, 0, QC_TARGET_DBEPOCH)
#define QC_SLOT_DBWRITES()	qc_slot(MyDatabaseId, 0, QC_TARGET_DBWRITES)
#define QC_SLOT_REL(relid)	qc_slot(MyDatabaseId, (relid), QC_TARGET_REL)

/* The slot of a keyed table's value, or of its coarse slot. */
static inline uint32
qc_slot_keyed(Oid relid, int kind, uint32 keyhash)
{
	uint32		h;

	h = hash_combine(murmurhash32((uint32) MyDatabaseId),
					 murmurhash32((uint32) relid));
	h = hash_combine(h, murmurhash32((uint32) kind));
	h = hash_combine(h, keyhash);
	return h % QC_GEN_SLOTS;
}

#define QC_SLOT_KEY(relid, keyhash)	qc_slot_keyed((relid), QC_TARGET_KEY, (keyhash))
#define QC_SLOT_COARSE(relid)	qc_slot_keyed((relid), QC_TARGET_COARSE, 0)

static inline uint64
qc_slot_read(uint32 slot)
{
	return pg_atomic_read_u64(&qc_gens->slots[slot].gen);
}

/* ---- filler side ---- */

QcFence
qc_fence_begin(void)
{
	QcFence		fence = pg_atomic_read_u64(&qc_gens->finish);

	/* the snapshot the caller then takes must not be reordered before this */
	pg_memory_barrier();
	return fence;
}

static void
qc_gens_add_slot(QcGens *gens, uint32 slot, uint64 gen)
{
	for (int i = 0; i < gens->ndeps; i++)
		if (gens->deps[i].slot == slot)
		{
			/* keep the oldest generation seen: never newer than a read */
			gens->deps[i].gen = Min(gens->deps[i].gen, gen);
			return;
		}

	if (gens->ndeps == QC_NUM_EPOCHS + QC_MAX_DEPS)
	{
		/*
		 * Too many to track: depend on the database's "any write" slot
		 * instead, which every writing commit owes.  Coarser, never stale.
		 * Its generation is read now, after every relation was read; that
		 * is no later than the fence check, which is all the proof needs.
		 */
		gens->ndeps = QC_NUM_EPOCHS;
		gens->deps[gens->ndeps].slot = QC_SLOT_DBWRITES();
		gens->deps[gens->ndeps].gen = qc_slot_read(QC_SLOT_DBWRITES());
		gens->ndeps++;
		gens->overflow = true;
		return;
	}
	if (gens->overflow)
		return;					/* already depends on every write */

	gens->deps[gens->ndeps].slot = slot;
	gens->deps[gens->ndeps].gen = gen;
	gens->ndeps++;
}

/* Start a dependency set: the two epochs every entry depends on. */
void
qc_gens_start(QcGens *gens)
{
	gens->ndeps = 0;
	gens->overflow = false;
	gens->known_stale = false;
	gens->fence = 0;
	gens->epochs_leased = false;
	gens->completion = 0;
	gens->deps[0].slot = QC_SLOT_GLOBAL();
	gens->deps[0].gen = qc_slot_read(gens->deps[0].slot);
	gens->deps[1].slot = QC_SLOT_DBEPOCH();
	gens->deps[1].gen = qc_slot_read(gens->deps[1].slot);
	gens->ndeps = QC_NUM_EPOCHS;
}

/*
 * Add a relation read by a fill.  A partition also depends on its
 * ancestors, since a write through the parent records only the parent.
 */
void
qc_gens_add_rel(QcGens *gens, Oid relid)
{
	qc_gens_add_slot(gens, QC_SLOT_REL(relid), qc_slot_read(QC_SLOT_REL(relid)));
	if (get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
		{
			uint32		slot = QC_SLOT_REL(lfirst_oid(lc));

			qc_gens_add_slot(gens, slot, qc_slot_read(slot));
		}
	}
}

/*
 * Add a keyed rule's dependency: the slot of the value a key names in
 * relid's key column, and relid's coarse slot (TRUNCATE, bulk writes).
 */
void
qc_gens_add_key(QcGens *gens, Oid relid, uint32 keyhash)
{
	uint32		slot = QC_SLOT_KEY(relid, keyhash);

	qc_gens_add_slot(gens, slot, qc_slot_read(slot));
	slot = QC_SLOT_COARSE(relid);
	qc_gens_add_slot(gens, slot, qc_slot_read(slot));
}

/*
 * Hash of a key column's value as text (value NULL: the column is NULL),
 * the same for the writer (trigger.c) and the filler (rules.c).
 */
uint32
qc_keyvalue_hash(const char *column, const char *value, int len)
{
	uint32		h = hash_bytes((const unsigned char *) column, strlen(column));

	if (value == NULL)
		return hash_combine(h, 0x6e756c6c);	/* a fixed marker for NULL */
	return hash_combine(h, hash_bytes((const unsigned char *) value, len) ^ 1);
}

/*
 * Add a dependency with a generation read earlier, before the snapshot of
 * a cached copy of the table (rules.c).
 */
void
qc_gens_add_rel_at(QcGens *gens, Oid relid, uint64 gen)
{
	qc_gens_add_slot(gens, QC_SLOT_REL(relid), gen);
}

/*
 * Step 3 and 4 of the filler: no dependency has a commit in flight or one
 * that finished after the fence was read.  The generations were read
 * before (qc_gens_add_*), which the barrier below keeps in order.  On a
 * standby, a leased dependency (see the header) makes the entry valid only
 * while no transaction completes: gens->completion is set to the
 * snapshot's completion count (0, unknown, refuses).
 */
static bool
qc_fence_holds_upto(QcGens *gens, QcFence fence, uint64 completion, int n)
{
	bool		leased = false;

	pg_memory_barrier();
	gens->epochs_leased = false;
	for (int i = 0; i < n; i++)
	{
		QcSlot	   *s = &qc_gens->slots[gens->deps[i].slot];

		if (pg_atomic_read_u32(&s->leased) != 0)
		{
			if (completion == 0)
				return false;
			leased = true;
			if (i < QC_NUM_EPOCHS)
				gens->epochs_leased = true;
		}
		pg_memory_barrier();
		if (pg_atomic_read_u32(&s->inflight) > 0)
			return false;
		pg_memory_barrier();
		if (pg_atomic_read_u64(&s->stamp) > fence)
			return false;
	}
	gens->completion = leased ? completion : 0;
	return true;
}

bool
qc_fence_holds(QcGens *gens, QcFence fence, uint64 completion)
{
	return qc_fence_holds_upto(gens, fence, completion, gens->ndeps);
}

/*
 * After qc_fence_holds failed: did the epochs hold, though?  Then the
 * result is right as of its snapshot but for some relation, and may be
 * kept as an already stale value for stale-while-revalidate (known_stale),
 * which is never served across an epoch.
 */
bool
qc_fence_epochs_hold(QcGens *gens, QcFence fence, uint64 completion)
{
	if (!qc_fence_holds_upto(gens, fence, completion, QC_NUM_EPOCHS))
		return false;
	gens->known_stale = true;
	return true;
}

/*
 * Transactions completed so far (commits and aborts with an xid; on a
 * standby, replayed ones).  It moves under ProcArrayLock together with
 * what snapshots see.
 */
static uint64
qc_completion_count(void)
{
	uint64		n;

	LWLockAcquire(ProcArrayLock, LW_SHARED);
	n = QC_TRANSAM_VARS->xactCompletionCount;
	LWLockRelease(ProcArrayLock);
	return n;
}

bool
qc_gens_current(const QcGens *gens)
{
	if (gens->known_stale)
		return false;
	for (int i = 0; i < gens->ndeps; i++)
		if (gens->deps[i].gen != qc_slot_read(gens->deps[i].slot))
			return false;
	return gens->completion == 0 || gens->completion == qc_completion_count();
}

/*
 * Did neither epoch move?  (Privileges, DDL, roles: never served stale.)
 * On a standby, an epoch leased at the fill may have moved with any
 * replayed transaction.
 */
bool
qc_gens_epochs_current(const QcGens *gens)
{
	for (int i = 0; i < QC_NUM_EPOCHS; i++)
		if (gens->deps[i].gen != qc_slot_read(gens->deps[i].slot))
			return false;
	return !gens->epochs_leased || gens->completion == qc_completion_count();
}

bool
qc_gens_touch_pending(const QcGens *gens)
{
	if (!pending_writes)
		return false;
	/* epochs are owed by everything; the overflow slot by any write */
	if (pending_epoch || pending_global || gens->overflow)
		return true;
	for (int i = QC_NUM_EPOCHS; i < gens->ndeps; i++)
		for (int j = 0; j < npending; j++)
			if (gens->deps[i].slot == pending_slots[j])
				return true;
	return false;
}

/* ---- writer side ---- */

bool
qc_pending_any(void)
{
	return pending_writes;
}

static bool
qc_pending_has(uint32 slot)
{
	for (int i = 0; i < npending; i++)
		if (pending_slots[i] == slot)
			return true;
	return false;
}

static void
qc_pending_add_tagged(uint32 slot, Oid keyrel)
{
	pending_writes = true;
	if (qc_pending_has(slot))
		return;
	if (npending < QC_MAX_PENDING)
	{
		pending_keyrel[npending] = keyrel;
		pending_slots[npending++] = slot;
	}
	else
		pending_epoch = true;	/* too many: invalidate the whole database */
}

static void
qc_pending_add_slot(uint32 slot)
{
	qc_pending_add_tagged(slot, InvalidOid);
}

static inline bool
qc_recording(void)
{
	return qc_gens != NULL && !IsParallelWorker();
}

/*
 * Record a write to a relation, to be published at commit.  Writing a
 * partition also invalidates readers of its ancestors.  Temporary tables
 * are private to this session: nothing shared depends on them.
 */
void
qc_pending_add_rel(Oid relid)
{
	char		persistence;

	if (!qc_recording())
		return;
	persistence = get_rel_persistence(relid);
	if (persistence == RELPERSISTENCE_TEMP)
		return;
	qc_pending_add_slot(QC_SLOT_REL(relid));
	if (get_rel_relispartition(relid))
	{
		ListCell   *lc;

		foreach(lc, get_partition_ancestors(relid))
			qc_pending_add_slot(QC_SLOT_REL(lfirst_oid(lc)));
	}
}

/*
 * Record a write to a keyed table's coarse slot: every entry of one of its
 * keyed rules depends on it.  TRUNCATE, and writes the row trigger cannot
 * name value by value.
 */
void
qc_pending_add_coarse(Oid relid)
{
	if (!qc_recording())
		return;
	qc_pending_add_slot(QC_SLOT_COARSE(relid));
}

/*
 * Record a row written to relid whose key column had the value of keyhash
 * (qc_keyvalue_hash), for the keyed row trigger.  Past QC_MAX_KEYS distinct
 * values of one table in this transaction, owe the table's coarse slot
 * instead, which covers them all.  The caller skips temporary tables.
 */
void
qc_pending_add_key(Oid relid, uint32 keyhash)
{
	uint32		slot;
	int			nkeys = 0;

	if (!qc_recording())
		return;
	if (qc_pending_has(QC_SLOT_COARSE(relid)))
	{
		pending_writes = true;
		return;
	}
	slot = QC_SLOT_KEY(relid, keyhash);
	if (qc_pending_has(slot))
	{
		pending_writes = true;
		return;
	}
	for (int i = 0; i < npending; i++)
		if (pending_keyrel[i] == relid)
			nkeys++;
	if (nkeys >= QC_MAX_KEYS)
		qc_pending_add_slot(QC_SLOT_COARSE(relid));
	else
		qc_pending_add_tagged(slot, relid);
}

void
qc_pending_add_epoch(void)
{
	if (!qc_recording())
		return;
	pending_writes = true;
	pending_epoch = true;
}

void
qc_pending_add_global(void)
{
	if (!qc_recording())
		return;
	pending_writes = true;
	pending_global = true;
}

/* Raise a slot's stamp to seq unless a later commit stamped it already. */
static void
qc_slot_stamp(uint32 slot, uint64 seq)
{
	QcSlot	   *s = &qc_gens->slots[slot];
	uint64		old = pg_atomic_read_u64(&s->stamp);

	while (old < seq && !pg_atomic_compare_exchange_u64(&s->stamp, &old, seq))
		;
}

/* Bump a slot now and stamp it, as a commit's second half does. */
static void
qc_slot_bump_now(uint32 slot)
{
	pg_atomic_fetch_add_u64(&qc_gens->slots[slot].gen, 1);
	qc_slot_stamp(slot, pg_atomic_add_fetch_u64(&qc_gens->finish, 1));
}

/*
 * Bump a relation's slot at once, for querycache_invalidate_table(), and
 * its coarse slot, which the entries of its keyed rules depend on.
 */
void
qc_gen_bump_rel_now(Oid relid)
{
	qc_slot_bump_now(QC_SLOT_DBWRITES());
	qc_slot_bump_now(QC_SLOT_REL(relid));
	qc_slot_bump_now(QC_SLOT_COARSE(relid));
}

uint64
qc_gen_rel_value(Oid relid)
{
	return qc_slot_read(QC_SLOT_REL(relid));
}

uint64
qc_gen_db_epoch(void)
{
	return qc_slot_read(QC_SLOT_DBEPOCH());
}

/* Build the owed set from the pending set. */
static void
qc_owed_build(void)
{
	nowed = 0;
	if (pending_global)
		owed[nowed++] = QC_SLOT_GLOBAL();
	if (pending_epoch)
		owed[nowed++] = QC_SLOT_DBEPOCH();
	if (npending > 0)
		owed[nowed++] = QC_SLOT_DBWRITES();
	for (int i = 0; i < npending; i++)
		owed[nowed++] = pending_slots[i];
}

/*
 * The writer's PRE_COMMIT half on a set of slots: raise, then bump.  Also
 * redo of a standby (replica.c).
 */
void
qc_slots_raise(const uint32 *slots, int n)
{
	for (int i = 0; i < n; i++)
		pg_atomic_fetch_add_u32(&qc_gens->slots[slots[i]].inflight, 1);
	for (int i = 0; i < n; i++)
		pg_atomic_fetch_add_u64(&qc_gens->slots[slots[i]].gen, 1);
}

static void
qc_slots_lower(const uint32 *slots, int n)
{
	for (int i = 0; i < n; i++)
		pg_atomic_fetch_sub_u32(&qc_gens->slots[slots[i]].inflight, 1);
}

/*
 * The writer's COMMIT half: bump, stamp with a new finish sequence, then
 * lower.  Allocation-free and unable to fail, as it runs in
 * XACT_EVENT_COMMIT.  Also a standby's resolution of a replayed commit.
 */
void
qc_slots_finish(const uint32 *slots, int n)
{
	uint64		seq;

	for (int i = 0; i < n; i++)
		pg_atomic_fetch_add_u64(&qc_gens->slots[slots[i]].gen, 1);
	seq = pg_atomic_add_fetch_u64(&qc_gens->finish, 1);
	for (int i = 0; i < n; i++)
		qc_slot_stamp(slots[i], seq);
	/* the stamps must be visible before the in-flight counts drop */
	qc_slots_lower(slots, n);
}

/* Bump and stamp the cluster epoch now: every entry becomes stale. */
void
qc_gen_bump_global_now(void)
{
	qc_slot_bump_now(QC_SLOT_GLOBAL());
}

/*
 * Standby redo of a lease (replica.c): from now on any replayed commit may
 * touch these slots without a record of its own.  Mark, then bump, so a
 * fill that read a generation before the bump sees the mark (see header).
 */
void
qc_slots_lease(const uint32 *slots, int n)
{
	for (int i = 0; i < n; i++)
		if (pg_atomic_exchange_u32(&qc_gens->slots[slots[i]].leased, 1) == 0)
			pg_atomic_fetch_add_u64(&qc_gens->slots[slots[i]].gen, 1);
}

/*
 * Standby redo of a release: every commit of the lease was replayed before
 * it.  Bump (entries stored under the lease go, so those after it are
 * precise), stamp, then unmark, so a fill that sees no mark and began
 * before this sees the stamp.  n < 0: every leased slot (end of recovery,
 * or the primary restarted and forgot its leases).
 */
void
qc_slots_unlease(const uint32 *slots, int n)
{
	uint64		seq = pg_atomic_add_fetch_u64(&qc_gens->finish, 1);
	int			count = n < 0 ? QC_GEN_SLOTS : n;

	for (int i = 0; i < count; i++)
	{
		uint32		slot = n < 0 ? (uint32) i : slots[i];
		QcSlot	   *s = &qc_gens->slots[slot];

		if (n < 0 && pg_atomic_read_u32(&s->leased) == 0)
			continue;
		pg_atomic_fetch_add_u64(&s->gen, 1);
		qc_slot_stamp(slot, seq);
		(void) pg_atomic_exchange_u32(&s->leased, 0);
	}
}

/* PRE_COMMIT half of this transaction's owed set. */
static void
qc_owed_raise(void)
{
	qc_owed_build();
	owed_level = GetCurrentTransactionNestLevel();
	qc_slots_raise(owed, nowed);
}

static void
qc_owed_lower(void)
{
	qc_slots_lower(owed, nowed);
	nowed = 0;
}

static void
qc_owed_finish(void)
{
	qc_slots_finish(owed, nowed);
	nowed = 0;
}

/* The cluster epoch's slot, owed by COMMIT PREPARED (track.c, replica.c). */
uint32
qc_gen_global_slot(void)
{
	return QC_SLOT_GLOBAL();
}

/*
 * Raise the in-flight counts and bump, as PRE_COMMIT does.  Also called
 * before COMMIT PREPARED, whose rows become visible before this
 * transaction's PRE_COMMIT; the end of the transaction finishes.
 */
void
qc_pending_publish_early(void)
{
	if (qc_gens == NULL || !pending_writes)
		return;
	if (nowed > 0)
	{
		/* raised already (COMMIT PREPARED): bump again, before visibility */
		for (int i = 0; i < nowed; i++)
			pg_atomic_fetch_add_u64(&qc_gens->slots[owed[i]].gen, 1);
		return;
	}
	qc_owed_raise();
}

static void
qc_pending_reset(void)
{
	npending = 0;
	pending_epoch = false;
	pending_global = false;
	pending_writes = false;
	nmarks = 0;
}

static void
qc_xact_callback(XactEvent event, void *arg)
{
	if (!pending_writes && nowed == 0)
	{
		nmarks = 0;
		return;
	}

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* before visibility: old entries stop being served at once */
			qc_pending_publish_early();
			/* and before the commit record: standbys replay it first */
			qc_replica_log_commit(owed, nowed);
			if (qc_debug_commit_lock != 0 && nowed > 0)
			{
				/* tests: wait here, visibly to isolationtester, until let go */
				DirectFunctionCall1(pg_advisory_lock_shared_int8,
									Int64GetDatum(qc_debug_commit_lock));
				DirectFunctionCall1(pg_advisory_unlock_shared_int8,
									Int64GetDatum(qc_debug_commit_lock));
			}
			break;
		case XACT_EVENT_COMMIT:
			/* after visibility: closes the window for fills that raced us */
			qc_owed_finish();
			qc_replica_commit_done();
			qc_pending_reset();
			break;
		case XACT_EVENT_PRE_PREPARE:
			/*
			 * A prepared transaction commits later, maybe in another
			 * backend or without SQL (a two-phase logical replication apply
			 * worker): raise and bump now, and hand the owed set over to the
			 * shared table that finishes it once the xid is resolved.
			 */
			if (pending_writes)
			{
				qc_owed_raise();
				qc_replica_hold_prepared(owed, nowed);
				nowed = 0;
			}
			break;
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			qc_owed_lower();
			qc_replica_commit_done();
			qc_pending_reset();
			break;
		default:
			break;
	}
}

/*
 * Subtransactions: remember the pending set at their start, restore it if
 * they abort.  Only COMMIT PREPARED raises before PRE_COMMIT, and only at
 * top level, but whatever raised in a subtransaction that aborts is
 * lowered with it, so an idle transaction can never hold a count up.
 */
static void
qc_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (nmarks == maxmarks)
			{
				maxmarks = Max(16, maxmarks * 2);
				marks = marks ? repalloc(marks, sizeof(QcPendingMark) * maxmarks)
					: MemoryContextAlloc(TopMemoryContext, sizeof(QcPendingMark) * maxmarks);
			}
			marks[nmarks].level = level;
			marks[nmarks].npending = npending;
			marks[nmarks].epoch = pending_epoch;
			marks[nmarks].global = pending_global;
			marks[nmarks].writes = pending_writes;
			nmarks++;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			while (nmarks > 0 && marks[nmarks - 1].level >= level)
				nmarks--;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			while (nmarks > 0 && marks[nmarks - 1].level > level)
				nmarks--;
			if (nmarks > 0 && marks[nmarks - 1].level == level)
			{
				QcPendingMark *m = &marks[--nmarks];

				npending = Min(npending, m->npending);
				pending_epoch = m->epoch;
				pending_global = m->global;
				pending_writes = m->writes;
			}
			if (nowed > 0 && owed_level >= level)
				qc_owed_lower();
			break;
		default:
			break;
	}
}

void
qc_gen_init(void)
{
	RegisterXactCallback(qc_xact_callback, NULL);
	RegisterSubXactCallback(qc_subxact_callback, NULL);
}
