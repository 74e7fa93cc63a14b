/*-------------------------------------------------------------------------
 *
 * store.c
 *		The shared entry table: hash buckets, entry slots, entry memory and
 *		CLOCK eviction.
 *
 * Layout, all sized at postmaster start:
 *		QcStore header (counters, clock hand, free lists)
 *		buckets[nbuckets]		head entry index of each hash chain
 *		entries[max_entries]	entry slots
 *		block_next[nblocks]		next block of a value's chain, or free list
 *		blocks[nblocks]			QC_BLOCK_SIZE bytes each
 *
 * A value is stored in a chain of fixed-size blocks, so any free blocks
 * serve any entry and churn cannot fragment the memory: an entry of
 * max_entry_size fits whenever that many bytes are free or evictable.
 * The chain holds the jsonb value followed by its text form (what jsonb_out
 * prints), so that a hit sent to a client skips jsonb_out (see output.c).
 *
 * Locking rules:
 * - Bucket b belongs to partition b % QC_NUM_PARTITIONS (nbuckets is a
 *   multiple of it, so that is hashcode % QC_NUM_PARTITIONS).  The
 *   partition's LWLock guards its chains and every field of the entries
 *   linked in them, except the atomics.  Lookups take it shared, linking
 *   and unlinking take it exclusive.  Hits on keys of different partitions
 *   never meet on a lock, and hits on one key share it.
 * - usage, hits and last_hit are atomics, updated under a shared lock.
 * - The allocator lock guards both free lists and the free counts.  It is
 *   never held together with a partition lock: entries and blocks are
 *   reserved first, filled while private, then linked; unlinked entries are
 *   freed after the partition lock is released.  No backend holds two
 *   partition locks at once, so there is no lock ordering to get wrong.
 * - An unlinked, reserved slot is private to the backend that holds it.
 *   Nothing between reserving and linking can fail, so no slot leaks.
 * - Scans that do not hold a partition lock (the clock hand) only pick
 *   candidates; the choice is re-checked under the partition lock.
 *
 * Counters are atomics in QcCounters, bumped without locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "querycache.h"

#define QC_INVALID		PG_UINT32_MAX
#define QC_USAGE_MAX	3

/*
 * An entry slot.  What a chain walk and a hit read comes first, so that a
 * lookup touches as few cache lines as it can; the inline key comes last.
 */
typedef struct QcEntry
{
	uint32		hashcode;
	uint32		next;			/* bucket chain or entry free list */
	bool		in_use;			/* linked in a bucket chain */
	uint32		nbytes;			/* jsonb value, then ntext bytes of text */
	uint32		ntext;
	uint32		first_block;
	uint32		nblocks;
	uint64		query_hash;
	TimestampTz expires_at;
	int64		swr;			/* stale-while-revalidate window, usecs */
	pg_atomic_uint32 usage;		/* CLOCK reference count */
	pg_atomic_uint64 hits;
	pg_atomic_uint64 last_hit;	/* TimestampTz */
	uint64		stamp;			/* unique per linking, to re-find an entry */
	TimestampTz created_at;
	QcGens		gens;
	QcKey		key;
} QcEntry;

typedef struct QcStore
{
	QcCounters	counters;
	pg_atomic_uint32 clock_hand;
	pg_atomic_uint64 next_stamp;
	uint32		max_entries;
	uint32		nbuckets;
	uint32		nblocks;
	/* guarded by the allocator lock */
	uint32		free_entry;
	uint32		nfree_entries;
	uint32		free_block;
	uint32		nfree_blocks;
} QcStore;

static QcStore *qc_store = NULL;
static LWLockPadded *qc_locks = NULL;
static uint32 *qc_buckets;
static QcEntry *qc_entries;
static uint32 *qc_block_next;
static char *qc_blocks;

#define PartitionLock(hashcode) \
	(&qc_locks[(hashcode) % QC_NUM_PARTITIONS].lock)
#define AllocLock() (&qc_locks[QC_NUM_PARTITIONS].lock)
#define BlockData(b) (qc_blocks + (Size) (b) * QC_BLOCK_SIZE)

static uint32
qc_nbuckets(void)
{
	uint32		n = QC_NUM_PARTITIONS;

	while (n < (uint32) qc_max_entries)
		n <<= 1;
	return n;
}

static uint32
qc_nblocks(void)
{
	return (uint32) (((Size) qc_max_memory_kb * 1024) / QC_BLOCK_SIZE);
}

Size
qc_store_shmem_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(QcStore));
	size = add_size(size, MAXALIGN(mul_size(qc_nbuckets(), sizeof(uint32))));
	size = add_size(size, MAXALIGN(mul_size(qc_max_entries, sizeof(QcEntry))));
	size = add_size(size, MAXALIGN(mul_size(qc_nblocks(), sizeof(uint32))));
	size = add_size(size, mul_size(qc_nblocks(), QC_BLOCK_SIZE));
	return size;
}

/* Called with AddinShmemInitLock held. */
void
qc_store_shmem_init(void)
{
	bool		found;
	char	   *ptr;
	QcStore    *st;

	ptr = ShmemInitStruct("querycache store", qc_store_shmem_size(), &found);
	st = (QcStore *) ptr;
	ptr += MAXALIGN(sizeof(QcStore));
	qc_buckets = (uint32 *) ptr;
	ptr += MAXALIGN(mul_size(qc_nbuckets(), sizeof(uint32)));
	qc_entries = (QcEntry *) ptr;
	ptr += MAXALIGN(mul_size(qc_max_entries, sizeof(QcEntry)));
	qc_block_next = (uint32 *) ptr;
	ptr += MAXALIGN(mul_size(qc_nblocks(), sizeof(uint32)));
	qc_blocks = ptr;
	qc_locks = GetNamedLWLockTranche("querycache");

	if (!found)
	{
		QcCounters *c = &st->counters;

		pg_atomic_init_u64(&c->hits, 0);
		pg_atomic_init_u64(&c->misses, 0);
		pg_atomic_init_u64(&c->fills, 0);
		pg_atomic_init_u64(&c->bypasses, 0);
		pg_atomic_init_u64(&c->evictions, 0);
		pg_atomic_init_u64(&c->expirations, 0);
		pg_atomic_init_u64(&c->invalidations, 0);
		pg_atomic_init_u64(&c->too_large, 0);
		pg_atomic_init_u64(&c->coalesced, 0);
		pg_atomic_init_u64(&c->discarded, 0);
		pg_atomic_init_u64(&c->stale_hits, 0);
		pg_atomic_init_u64(&c->stats_reset, (uint64) GetCurrentTimestamp());
		pg_atomic_init_u32(&st->clock_hand, 0);
		pg_atomic_init_u64(&st->next_stamp, 1);
		st->max_entries = qc_max_entries;
		st->nbuckets = qc_nbuckets();
		st->nblocks = qc_nblocks();

		for (uint32 i = 0; i < st->nbuckets; i++)
			qc_buckets[i] = QC_INVALID;
		for (uint32 i = 0; i < st->max_entries; i++)
		{
			QcEntry    *e = &qc_entries[i];

			memset(e, 0, sizeof(QcEntry));
			e->next = (i + 1 < st->max_entries) ? i + 1 : QC_INVALID;
			pg_atomic_init_u32(&e->usage, 0);
			pg_atomic_init_u64(&e->hits, 0);
			pg_atomic_init_u64(&e->last_hit, 0);
		}
		st->free_entry = 0;
		st->nfree_entries = st->max_entries;
		for (uint32 i = 0; i < st->nblocks; i++)
			qc_block_next[i] = (i + 1 < st->nblocks) ? i + 1 : QC_INVALID;
		st->free_block = 0;
		st->nfree_blocks = st->nblocks;
	}
	qc_store = st;
}

bool
qc_store_ready(void)
{
	return qc_store != NULL;
}

QcCounters *
qc_counters(void)
{
	return &qc_store->counters;
}

/* Build the identity of a key for the current database and role. */
void
qc_make_key(QcKey *k, text *keytext)
{
	int			len = VARSIZE_ANY_EXHDR(keytext);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("querycache key must not be empty")));
	if (len > QC_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("querycache key is too long"),
				 errdetail("The key is %d bytes long; the maximum is %d bytes.",
						   len, QC_MAX_KEY_LEN)));
	memset(k, 0, sizeof(QcKey));	/* whole: it is copied to shared memory */
	k->dbid = MyDatabaseId;
	k->roleid = GetUserId();
	k->keylen = (uint16) len;
	memcpy(k->key, VARDATA_ANY(keytext), len);
	k->key[len] = '\0';
}

static inline uint32
qc_key_hash(const QcKey *k)
{
	return hash_combine(hash_combine(murmurhash32(k->dbid), murmurhash32(k->roleid)),
						hash_bytes((const unsigned char *) k->key, k->keylen));
}

static inline bool
qc_key_equal(const QcKey *a, const QcKey *b)
{
	return a->dbid == b->dbid && a->roleid == b->roleid &&
		a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0;
}

static inline uint32 *
qc_bucket(uint32 hashcode)
{
	return &qc_buckets[hashcode & (qc_store->nbuckets - 1)];
}

/* Find a key in its chain.  Caller holds the partition lock. */
static uint32
qc_find(const QcKey *k, uint32 hashcode)
{
	for (uint32 i = *qc_bucket(hashcode); i != QC_INVALID; i = qc_entries[i].next)
	{
		QcEntry    *e = &qc_entries[i];

		if (e->hashcode == hashcode && qc_key_equal(&e->key, k))
			return i;
	}
	return QC_INVALID;
}

/* Unlink an entry from its chain.  Caller holds its partition exclusively. */
static void
qc_unlink(uint32 idx)
{
	uint32	   *link = qc_bucket(qc_entries[idx].hashcode);

	while (*link != idx)
	{
		Assert(*link != QC_INVALID);
		link = &qc_entries[*link].next;
	}
	*link = qc_entries[idx].next;
	qc_entries[idx].in_use = false;
}

/* Return an unlinked entry's slot and blocks to the free lists. */
static void
qc_release(uint32 idx)
{
	QcEntry    *e = &qc_entries[idx];
	uint32		last = e->first_block;

	LWLockAcquire(AllocLock(), LW_EXCLUSIVE);
	if (e->nblocks > 0)
	{
		while (qc_block_next[last] != QC_INVALID)
			last = qc_block_next[last];
		qc_block_next[last] = qc_store->free_block;
		qc_store->free_block = e->first_block;
		qc_store->nfree_blocks += e->nblocks;
	}
	e->nblocks = 0;
	e->next = qc_store->free_entry;
	qc_store->free_entry = idx;
	qc_store->nfree_entries++;
	LWLockRelease(AllocLock());
}

static void
qc_count_removal(QcRemoveReason reason)
{
	QcCounters *c = &qc_store->counters;

	switch (reason)
	{
		case QC_RM_EVICTED:
			pg_atomic_fetch_add_u64(&c->evictions, 1);
			break;
		case QC_RM_EXPIRED:
			pg_atomic_fetch_add_u64(&c->expirations, 1);
			break;
		case QC_RM_INVALIDATED:
			pg_atomic_fetch_add_u64(&c->invalidations, 1);
			break;
		case QC_RM_DELETED:
			break;
	}
}

static bool qc_entry_stale_usable(QcEntry *e, TimestampTz now);

/*
 * Is this entry dead (expired or stale, and not servable under
 * stale-while-revalidate)?  Caller holds its partition.
 */
static bool
qc_entry_dead(QcEntry *e, TimestampTz now, QcRemoveReason *reason)
{
	if (qc_entry_stale_usable(e, now))
		return false;
	if (e->expires_at <= now)
	{
		*reason = QC_RM_EXPIRED;
		return true;
	}
	if (!qc_gens_current(&e->gens))
	{
		*reason = QC_RM_INVALIDATED;
		return true;
	}
	return false;
}

/*
 * Advance the clock hand until one entry is evicted.  Dead entries go first
 * whatever their usage.  Returns false if a full sweep found nothing.
 */
static bool
qc_evict_one(void)
{
	uint32		limit = qc_store->max_entries * (QC_USAGE_MAX + 1) + 1;
	TimestampTz now = GetCurrentTimestamp();

	for (uint32 step = 0; step < limit; step++)
	{
		uint32		idx = pg_atomic_fetch_add_u32(&qc_store->clock_hand, 1) % qc_store->max_entries;
		QcEntry    *e = &qc_entries[idx];
		uint32		usage;
		uint32		hashcode;
		LWLock	   *lock;
		QcRemoveReason reason = QC_RM_EVICTED;

		if (!e->in_use)
			continue;
		usage = pg_atomic_read_u32(&e->usage);
		if (usage > 0 && e->expires_at > now)
		{
			/* second chance; losing a race here only delays eviction */
			pg_atomic_compare_exchange_u32(&e->usage, &usage, usage - 1);
			continue;
		}

		hashcode = e->hashcode;
		lock = PartitionLock(hashcode);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (!e->in_use || e->hashcode % QC_NUM_PARTITIONS != hashcode % QC_NUM_PARTITIONS ||
			(!qc_entry_dead(e, now, &reason) && pg_atomic_read_u32(&e->usage) > 0))
		{
			LWLockRelease(lock);
			continue;
		}
		qc_unlink(idx);
		LWLockRelease(lock);
		qc_release(idx);
		qc_count_removal(reason);
		return true;
	}
	return false;
}

/*
 * Reserve a free slot and nblocks blocks, evicting as needed.  The slot is
 * private to the caller until qc_store_insert links it.
 */
static bool
qc_reserve(uint32 nblocks, uint32 *idx_out)
{
	if (nblocks > qc_store->nblocks)
		return false;

	for (;;)
	{
		LWLockAcquire(AllocLock(), LW_EXCLUSIVE);
		if (qc_store->nfree_entries > 0 && qc_store->nfree_blocks >= nblocks)
		{
			uint32		idx = qc_store->free_entry;
			QcEntry    *e = &qc_entries[idx];
			uint32		last = QC_INVALID;

			qc_store->free_entry = e->next;
			qc_store->nfree_entries--;
			e->first_block = (nblocks > 0) ? qc_store->free_block : QC_INVALID;
			for (uint32 i = 0; i < nblocks; i++)
			{
				last = (last == QC_INVALID) ? qc_store->free_block : qc_block_next[last];
			}
			if (nblocks > 0)
			{
				qc_store->free_block = qc_block_next[last];
				qc_block_next[last] = QC_INVALID;
			}
			qc_store->nfree_blocks -= nblocks;
			e->nblocks = nblocks;
			LWLockRelease(AllocLock());
			*idx_out = idx;
			return true;
		}
		LWLockRelease(AllocLock());
		if (!qc_evict_one())
			return false;
	}
}

/*
 * May an expired or invalidated entry still be served while one backend
 * refreshes it?  Within its stale-while-revalidate window: after expiry if
 * nothing it depends on changed, else counted from when it was filled, so
 * a stale value is never older than the window (plus the refresh that
 * replaces it).  Never when an epoch moved: privileges, DDL and roles are
 * never served stale.  Caller holds the partition lock.
 */
static bool
qc_entry_stale_usable(QcEntry *e, TimestampTz now)
{
	if (e->swr <= 0 || !qc_gens_epochs_current(&e->gens))
		return false;
	if (qc_gens_current(&e->gens))
		return now < e->expires_at + e->swr;
	return now < e->created_at + e->swr;
}

/*
 * Look up an entry.  On a hit (or QC_STALE_USABLE, QC_STALE_YOUNG), returns a palloc'd copy of the value and,
 * in *text and *textlen, its text form, which follows the value in the same
 * allocation and is NUL-terminated (NULL if the entry has none).
 */
Jsonb *
qc_store_lookup(const QcKey *k, uint64 query_hash, bool match_query,
				QcLookupStatus *status, char **text, uint32 *textlen)
{
	uint32		hashcode = qc_key_hash(k);
	LWLock	   *lock = PartitionLock(hashcode);
	uint32		idx;
	QcEntry    *e;
	char	   *result = NULL;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(lock, LW_SHARED);
	idx = qc_find(k, hashcode);
	if (idx == QC_INVALID)
	{
		LWLockRelease(lock);
		*status = QC_MISS;
		return NULL;
	}
	e = &qc_entries[idx];
	if (e->expires_at <= now)
		*status = QC_EXPIRED;
	else if (match_query && e->query_hash != query_hash)
		*status = QC_OTHER_QUERY;
	else if (!qc_gens_current(&e->gens))
		*status = QC_STALE;
	else if (qc_gens_touch_pending(&e->gens))
		*status = QC_OWN_WRITES;
	else
		*status = QC_HIT;

	if ((*status == QC_EXPIRED || *status == QC_STALE) &&
		qc_entry_stale_usable(e, now) &&
		(!match_query || e->query_hash == query_hash) &&
		!qc_gens_touch_pending(&e->gens))
	{
		/*
		 * An invalidated value is refreshed once it is half its window old,
		 * not at every invalidation: under steady writes that would make
		 * nearly every call a refresh.  Its age stays within the window.
		 */
		if (*status == QC_STALE && now < e->created_at + e->swr / 2)
			*status = QC_STALE_YOUNG;
		else
			*status = QC_STALE_USABLE;
	}

	if (*status == QC_HIT || *status == QC_STALE_USABLE ||
		*status == QC_STALE_YOUNG)
	{
		uint32		b = e->first_block;
		uint32		left = e->nbytes + e->ntext;
		char	   *dst;

		/* palloc may fail here; the lock is released by error cleanup */
		result = dst = palloc(left + 1);
		while (left > 0)
		{
			uint32		n = Min(left, QC_BLOCK_SIZE);

			memcpy(dst, BlockData(b), n);
			dst += n;
			left -= n;
			b = qc_block_next[b];
		}
		*dst = '\0';
		/* no text when stored with querycache.store_text off */
		*text = (e->ntext > 0) ? result + e->nbytes : NULL;
		*textlen = e->ntext;
		if (pg_atomic_read_u32(&e->usage) < QC_USAGE_MAX)
			pg_atomic_fetch_add_u32(&e->usage, 1);
		pg_atomic_fetch_add_u64(&e->hits, 1);
		pg_atomic_write_u64(&e->last_hit, (uint64) now);
	}
	LWLockRelease(lock);
	return (Jsonb *) result;
}

/* Store value and its text form (textlen bytes of jsonb_out's output, or none). */
bool
qc_store_insert(const QcKey *k, uint64 query_hash, TimestampTz expires_at,
				int64 swr, const QcGens *gens, const Jsonb *value,
				const char *text, uint32 textlen)
{
	uint32		nbytes = VARSIZE(value);
	uint32		nblocks = (nbytes + textlen + QC_BLOCK_SIZE - 1) / QC_BLOCK_SIZE;
	uint32		hashcode = qc_key_hash(k);
	LWLock	   *lock = PartitionLock(hashcode);
	uint32		idx;
	uint32		old;
	QcEntry    *e;
	uint32		b;
	uint32		off = 0;
	QcRemoveReason reason = QC_RM_DELETED;

	if (!qc_reserve(nblocks, &idx))
		return false;

	/* The slot and its blocks are private until linked: fill them. */
	e = &qc_entries[idx];
	for (b = e->first_block; off < nbytes + textlen; b = qc_block_next[b])
	{
		char	   *dst = BlockData(b);
		uint32		room = QC_BLOCK_SIZE;

		/* the value, then the text, packed across block boundaries */
		if (off < nbytes)
		{
			uint32		n = Min(room, nbytes - off);

			memcpy(dst, (const char *) value + off, n);
			dst += n;
			room -= n;
			off += n;
		}
		if (off >= nbytes && off < nbytes + textlen && room > 0)
		{
			uint32		n = Min(room, nbytes + textlen - off);

			memcpy(dst, text + (off - nbytes), n);
			off += n;
		}
	}
	e->key = *k;
	e->hashcode = hashcode;
	e->stamp = pg_atomic_fetch_add_u64(&qc_store->next_stamp, 1);
	e->query_hash = query_hash;
	e->created_at = GetCurrentTimestamp();
	e->expires_at = expires_at;
	e->swr = swr;
	e->nbytes = nbytes;
	e->ntext = textlen;
	e->gens = *gens;
	pg_atomic_write_u32(&e->usage, 1);
	pg_atomic_write_u64(&e->hits, 0);
	pg_atomic_write_u64(&e->last_hit, 0);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	old = qc_find(k, hashcode);
	/*
	 * A value known stale (a refresh the fence rejected) only replaces an
	 * older stale one: never a valid entry, nor one filled from a newer
	 * snapshot, or the cache would go back in time.
	 */
	if (old != QC_INVALID && gens->known_stale &&
		(qc_gens_current(&qc_entries[old].gens) ||
		 qc_entries[old].gens.fence > gens->fence))
	{
		LWLockRelease(lock);
		qc_release(idx);
		return true;			/* what is there is better */
	}
	if (old != QC_INVALID)
	{
		qc_unlink(old);
		qc_entry_dead(&qc_entries[old], e->created_at, &reason);
	}
	e->next = *qc_bucket(hashcode);
	*qc_bucket(hashcode) = idx;
	e->in_use = true;
	LWLockRelease(lock);

	if (old != QC_INVALID)
	{
		qc_release(old);
		qc_count_removal(reason);
	}
	return true;
}

bool
qc_store_delete(const QcKey *k)
{
	uint32		hashcode = qc_key_hash(k);
	LWLock	   *lock = PartitionLock(hashcode);
	uint32		idx;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	idx = qc_find(k, hashcode);
	if (idx != QC_INVALID)
		qc_unlink(idx);
	LWLockRelease(lock);
	if (idx == QC_INVALID)
		return false;
	qc_release(idx);
	return true;
}

/* Unlink the entry at idx if it is still the one stamped 'stamp'. */
static bool
qc_remove_stamped(uint32 idx, uint64 stamp)
{
	QcEntry    *e = &qc_entries[idx];
	uint32		hashcode = e->hashcode;
	LWLock	   *lock = PartitionLock(hashcode);
	bool		found;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	found = e->in_use && e->stamp == stamp &&
		e->hashcode % QC_NUM_PARTITIONS == hashcode % QC_NUM_PARTITIONS;
	if (found)
		qc_unlink(idx);
	LWLockRelease(lock);
	if (found)
		qc_release(idx);
	return found;
}

/*
 * A candidate for removal found under a shared partition lock, removed
 * later under the exclusive one if its stamp still matches.
 */
typedef struct QcVictim
{
	uint32		idx;
	uint64		stamp;
	QcRemoveReason reason;
	char		key[QC_MAX_KEY_LEN + 1];
	uint16		keylen;
} QcVictim;

/*
 * Collect entries of one partition into victims (palloc'd, grown as
 * needed).  Filters by database and role unless they are InvalidOid; with
 * dead_only, keeps only expired or stale entries.
 */
static void
qc_collect(int part, Oid dbid, Oid roleid, bool dead_only,
		   QcVictim **victims, int *n, int *cap)
{
	LWLock	   *lock = &qc_locks[part].lock;
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(lock, LW_SHARED);
	for (uint32 b = part; b < qc_store->nbuckets; b += QC_NUM_PARTITIONS)
	{
		for (uint32 i = qc_buckets[b]; i != QC_INVALID; i = qc_entries[i].next)
		{
			QcEntry    *e = &qc_entries[i];
			QcVictim   *v;
			QcRemoveReason reason = QC_RM_DELETED;

			if ((OidIsValid(dbid) && e->key.dbid != dbid) ||
				(OidIsValid(roleid) && e->key.roleid != roleid))
				continue;
			if (dead_only && !qc_entry_dead(e, now, &reason))
				continue;
			if (*n == *cap)
			{
				/* may fail; the shared lock is released by error cleanup */
				*cap *= 2;
				*victims = repalloc(*victims, sizeof(QcVictim) * *cap);
			}
			v = &(*victims)[(*n)++];
			v->idx = i;
			v->stamp = e->stamp;
			v->reason = reason;
			v->keylen = e->key.keylen;
			memcpy(v->key, e->key.key, e->key.keylen + 1);
		}
	}
	LWLockRelease(lock);
}

/*
 * Remove the entries of a database and role (InvalidOid: any) that are
 * dead (with dead_only) or whose key matches a POSIX regex (NULL: any).
 * The regex runs outside the partition locks: it can fail, and it can be
 * slow.
 */
static int64
qc_store_remove(Oid dbid, Oid roleid, bool dead_only, text *pattern, Oid collation)
{
	int			cap = 64;
	QcVictim   *victims = palloc(sizeof(QcVictim) * cap);
	int64		removed = 0;

	for (int part = 0; part < QC_NUM_PARTITIONS; part++)
	{
		int			n = 0;

		qc_collect(part, dbid, roleid, dead_only, &victims, &n, &cap);
		for (int i = 0; i < n; i++)
		{
			QcVictim   *v = &victims[i];

			if (pattern != NULL &&
				!RE_compile_and_execute(pattern, v->key, v->keylen,
										REG_ADVANCED, collation, 0, NULL))
				continue;
			if (qc_remove_stamped(v->idx, v->stamp))
			{
				qc_count_removal(dead_only ? v->reason : QC_RM_INVALIDATED);
				removed++;
			}
		}
	}
	pfree(victims);
	return removed;
}

/* Clear by pattern (or everything); counted as invalidations. */
int64
qc_store_clear(Oid dbid, Oid roleid, text *pattern, Oid collation)
{
	return qc_store_remove(dbid, roleid, false, pattern, collation);
}

/* Reclaim expired and invalidated entries; returns how many. */
int
qc_store_sweep(void)
{
	return (int) qc_store_remove(InvalidOid, InvalidOid, true, NULL, InvalidOid);
}

void
qc_store_usage(int64 *entries, int64 *memory_bytes)
{
	LWLockAcquire(AllocLock(), LW_SHARED);
	*entries = qc_store->max_entries - qc_store->nfree_entries;
	*memory_bytes = (int64) (qc_store->nblocks - qc_store->nfree_blocks) * QC_BLOCK_SIZE;
	LWLockRelease(AllocLock());
}

int64
qc_store_max_memory(void)
{
	return (int64) qc_store->nblocks * QC_BLOCK_SIZE;
}

/* Copy out every linked entry, for querycache_entries. */
QcEntryInfo *
qc_store_snapshot(int *count)
{
	int			cap = 64;
	int			n = 0;
	QcEntryInfo *out = palloc(sizeof(QcEntryInfo) * cap);
	TimestampTz now = GetCurrentTimestamp();

	for (int part = 0; part < QC_NUM_PARTITIONS; part++)
	{
		LWLock	   *lock = &qc_locks[part].lock;

		LWLockAcquire(lock, LW_SHARED);
		for (uint32 b = part; b < qc_store->nbuckets; b += QC_NUM_PARTITIONS)
		{
			for (uint32 i = qc_buckets[b]; i != QC_INVALID; i = qc_entries[i].next)
			{
				QcEntry    *e = &qc_entries[i];
				QcEntryInfo *info;

				if (n == cap)
				{
					cap *= 2;
					out = repalloc(out, sizeof(QcEntryInfo) * cap);
				}
				info = &out[n++];
				info->dbid = e->key.dbid;
				info->roleid = e->key.roleid;
				memcpy(info->key, e->key.key, e->key.keylen + 1);
				info->bytes = e->nbytes;
				info->created_at = e->created_at;
				info->expires_at = e->expires_at;
				info->hits = pg_atomic_read_u64(&e->hits);
				info->last_hit_at = (TimestampTz) pg_atomic_read_u64(&e->last_hit);
				info->valid = qc_gens_current(&e->gens);
				info->stale = (!info->valid || e->expires_at <= now) &&
					qc_entry_stale_usable(e, now);
			}
		}
		LWLockRelease(lock);
	}
	*count = n;
	return out;
}
