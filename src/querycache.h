/*-------------------------------------------------------------------------
 *
 * querycache.h
 *		Declarations shared by the files of the querycache extension.
 *
 * Files and what they own:
 *		querycache.c	module init, GUCs, the shmem hooks
 *		store.c			the shared entry table, entry memory, CLOCK eviction
 *		gen.c			generation counters, pending invalidations, xact
 *						callbacks (the freshness fence)
 *		track.c			executor and utility hooks: what a fill reads, what
 *						a transaction writes
 *		fill.c			running a wrapped query through SPI, plan cache
 *		flight.c		single-flight misses (one fill, the others wait)
 *		api.c			SQL-callable cache functions
 *		rules.c			the config tables: rules and TTLs of a key
 *		schema.c		querycache_apply_schema: the seed's migration, run
 *						as each table's owner; rule writes for owners
 *		output.c		sending a hit to the client as its stored text
 *		replica.c		invalidations in WAL, replayed by hot standbys
 *		trigger.c		the invalidation trigger
 *		sweeper.c		background worker reclaiming dead entries
 *		stats.c			querycache_stats() and querycache_entries()
 *
 *-------------------------------------------------------------------------
 */
#ifndef QUERYCACHE_H
#define QUERYCACHE_H

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

#include "compat.h"

/* Longest key, in bytes.  Keys live inline in shared memory. */
#define QC_MAX_KEY_LEN		256

/* Dependencies kept per entry; more than that falls back to "any write". */
#define QC_MAX_DEPS			16

/* Number of generation counters relations are hashed onto. */
#define QC_GEN_SLOTS		16384

/*
 * Slots a commit owes at most: 128 relations, keyed values and coarse
 * slots, the "any write" slot, two epochs.
 */
#define QC_MAX_OWED			131

/* Distinct key values one transaction owes per table before its coarse slot. */
#define QC_MAX_KEYS			32

/* Entry memory is carved into blocks of this size (no fragmentation). */
#define QC_BLOCK_SIZE		512

/* Partitions of the entry table, each with its own LWLock. */
#define QC_NUM_PARTITIONS	32

/* ---- GUCs (querycache.c) ---- */
extern bool qc_enabled;
extern int	qc_max_entries;
extern int	qc_max_memory_kb;
extern int	qc_max_entry_size;
extern int	qc_default_ttl;
extern int	qc_sweep_interval;
extern bool qc_cache_rls;
extern int	qc_lock_timeout;
extern bool qc_store_text;
extern int	qc_wal_lease;

/* Raise the standard "not preloaded" error unless shared memory is ours. */
extern void qc_require_loaded(void);

/* ---- generations (gen.c) ---- */

/* One dependency of an entry: a generation slot and the value it had. */
typedef struct QcDep
{
	uint32		slot;
	uint64		gen;
} QcDep;

/* Every entry depends on the cluster's and its database's epochs. */
#define QC_NUM_EPOCHS		2

/*
 * What an entry's freshness is checked against: the two epochs first, then
 * the slots of the relations it read (or its database's "any write" slot,
 * with overflow set, when there were more than QC_MAX_DEPS).
 */
/* The commit-finish sequence, read before a fill's snapshot (see gen.c). */
typedef uint64 QcFence;

typedef struct QcGens
{
	int			ndeps;
	bool		overflow;
	bool		known_stale;	/* a dependency committed during the fill */
	QcFence		fence;			/* the fill's fence (0: none) */
	bool		epochs_leased;	/* standby: an epoch was leased at the fill */
	uint64		completion;		/* standby lease: valid while this many
								 * transactions have completed (0: always) */
	QcDep		deps[QC_NUM_EPOCHS + QC_MAX_DEPS];
} QcGens;


extern int	qc_debug_commit_lock;

extern Size qc_gen_shmem_size(void);
extern void qc_gen_shmem_init(void *ptr, bool found);
extern void qc_gen_init(void);
extern QcFence qc_fence_begin(void);
extern void qc_gens_start(QcGens *gens);
extern void qc_gens_add_rel(QcGens *gens, Oid relid);
extern void qc_gens_add_rel_at(QcGens *gens, Oid relid, uint64 gen);
extern void qc_gens_add_key(QcGens *gens, Oid relid, uint32 keyhash);
extern uint32 qc_keyvalue_hash(const char *column, const char *value, int len);
extern bool qc_fence_holds(QcGens *gens, QcFence fence, uint64 completion);
extern bool qc_fence_epochs_hold(QcGens *gens, QcFence fence, uint64 completion);
extern bool qc_gens_current(const QcGens *gens);
extern bool qc_gens_epochs_current(const QcGens *gens);
extern bool qc_gens_touch_pending(const QcGens *gens);
extern void qc_pending_add_rel(Oid relid);
extern void qc_pending_add_coarse(Oid relid);
extern void qc_pending_add_key(Oid relid, uint32 keyhash);
extern void qc_pending_add_epoch(void);
extern void qc_pending_add_global(void);
extern void qc_pending_publish_early(void);
extern bool qc_pending_any(void);
extern void qc_gen_bump_rel_now(Oid relid);
extern uint64 qc_gen_rel_value(Oid relid);
extern uint64 qc_gen_db_epoch(void);
extern void qc_slots_raise(const uint32 *slots, int n);
extern void qc_slots_finish(const uint32 *slots, int n);
extern void qc_slots_lease(const uint32 *slots, int n);
extern void qc_slots_unlease(const uint32 *slots, int n);
extern void qc_gen_bump_global_now(void);
extern uint32 qc_gen_global_slot(void);

/* ---- replicas (replica.c) ---- */
extern Size qc_replica_shmem_size(void);
extern void qc_replica_shmem_init(void);
extern void qc_replica_init(void);
extern void qc_replica_log_commit(const uint32 *slots, int nslots);
extern void qc_replica_commit_done(void);
extern bool qc_replica_lease_tick(void);
extern void qc_replica_set_sweeper_latch(Latch *latch);
extern void qc_replica_log_prepared(TransactionId xid, const uint32 *slots, int nslots);
extern void qc_replica_hold_prepared(const uint32 *slots, int nslots);
extern void qc_replica_resolve(void);
extern uint64 qc_replica_fill_begin(void);
extern bool qc_replica_fill_ok(Snapshot snap, uint64 ticket);

/* ---- store (store.c) ---- */

/* The identity of an entry: database, role and key. */
typedef struct QcKey
{
	Oid			dbid;
	Oid			roleid;
	uint16		keylen;
	char		key[QC_MAX_KEY_LEN + 1];
} QcKey;

typedef enum QcLookupStatus
{
	QC_MISS,					/* no entry */
	QC_HIT,						/* fresh, value returned */
	QC_EXPIRED,					/* past its TTL */
	QC_STALE,					/* a dependency changed */
	QC_OTHER_QUERY,				/* same key, other query or params */
	QC_OWN_WRITES,				/* depends on what this transaction wrote */
	QC_STALE_USABLE,			/* expired or stale, value returned: within
								 * its stale-while-revalidate window, due
								 * for a refresh */
	QC_STALE_YOUNG				/* stale, value returned: less than half
								 * its window old, not refreshed yet */
} QcLookupStatus;

/* Why an entry left the cache; each reason has its counter. */
typedef enum QcRemoveReason
{
	QC_RM_EVICTED,
	QC_RM_EXPIRED,
	QC_RM_INVALIDATED,
	QC_RM_DELETED
} QcRemoveReason;

/* Shared counters, all atomics: updated without locks. */
typedef struct QcCounters
{
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 fills;
	pg_atomic_uint64 bypasses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 expirations;
	pg_atomic_uint64 invalidations;
	pg_atomic_uint64 too_large;
	pg_atomic_uint64 coalesced;
	pg_atomic_uint64 discarded;
	pg_atomic_uint64 stale_hits;
	pg_atomic_uint64 stats_reset;	/* TimestampTz */
} QcCounters;

/* A copy of one entry's visible fields, for querycache_entries. */
typedef struct QcEntryInfo
{
	Oid			dbid;
	Oid			roleid;
	char		key[QC_MAX_KEY_LEN + 1];
	uint32		bytes;
	TimestampTz created_at;
	TimestampTz expires_at;
	uint64		hits;
	TimestampTz last_hit_at;
	bool		valid;
	bool		stale;			/* invalid or expired, still served */
} QcEntryInfo;

extern Size qc_store_shmem_size(void);
extern void qc_store_shmem_init(void);
extern bool qc_store_ready(void);
extern QcCounters *qc_counters(void);
extern void qc_make_key(QcKey *k, text *keytext);
extern Jsonb *qc_store_lookup(const QcKey *k, uint64 query_hash, bool match_query,
							  QcLookupStatus *status, char **text, uint32 *textlen);
extern bool qc_store_insert(const QcKey *k, uint64 query_hash, TimestampTz expires_at,
							int64 swr, const QcGens *gens, const Jsonb *value,
							const char *text, uint32 textlen);
extern bool qc_store_delete(const QcKey *k);
extern int64 qc_store_clear(Oid dbid, Oid roleid, text *pattern, Oid collation);
extern int	qc_store_sweep(void);
extern void qc_store_usage(int64 *entries, int64 *memory_bytes);
extern int64 qc_store_max_memory(void);
extern QcEntryInfo *qc_store_snapshot(int *count);

/* ---- single flight (flight.c) ---- */
typedef enum QcFlightResult
{
	QC_FLIGHT_LEAD,				/* no flight: we lead one, fill, then end it */
	QC_FLIGHT_DONE,				/* the flight ended: look up again */
	QC_FLIGHT_ALONE,			/* it ran but stored nothing: fill on our own */
	QC_FLIGHT_TIMEOUT,			/* querycache.lock_timeout passed: run uncached */
	QC_FLIGHT_FULL				/* no free slot: fill without coordination */
} QcFlightResult;

typedef enum QcFlightOutcome
{
	QC_OUTCOME_STORED,			/* the result is in the cache */
	QC_OUTCOME_NOT_STORED,		/* the query ran; its result was not stored */
	QC_OUTCOME_FAILED			/* the fill errored or was cancelled */
} QcFlightOutcome;

extern Size qc_flight_shmem_size(void);
extern void qc_flight_shmem_init(void);
extern void qc_flight_init(void);
extern uint64 qc_flight_hash(const QcKey *k, uint64 query_hash);
extern bool qc_flight_try_lead(uint64 hash);
extern QcFlightResult qc_flight_join(uint64 hash);
extern void qc_flight_end(QcFlightOutcome outcome);

/* ---- track (track.c) ---- */
extern void qc_track_init(void);
extern void qc_track_begin(void);
extern const char *qc_track_end(List **relids);
extern bool qc_tracking(void);
extern uint64 qc_temp_generation(void);

/* ---- output (output.c) ---- */
extern void qc_output_init(void);
extern void qc_output_offer(FunctionCallInfo fcinfo, const Jsonb *value,
							const char *text, uint32 len);

/* ---- config tables (rules.c) ---- */

/* Longest TTL accepted: 100 years, months counted as 30 days. */
#define QC_MAX_TTL	((int64) 1200 * DAYS_PER_MONTH * USECS_PER_DAY)

/* Longest stale-while-revalidate window: one day. */
#define QC_MAX_SWR	((int64) USECS_PER_DAY)

/* What querycache_policies says about a key. */
typedef struct QcPolicy
{
	int64		ttl;			/* microseconds */
	bool		rules_only;		/* depends = 'rules' */
	int64		swr;			/* stale_while_revalidate, microseconds */
} QcPolicy;

extern void qc_extension_info(Oid *nsp, Oid *owner);
extern int64 qc_interval_ttl(const Interval *iv);
extern void qc_rules_add_deps(QcGens *gens, const char *key, int keylen,
							  bool keyed);
extern QcPolicy qc_policy_for_key(const char *key, int keylen);

/* ---- fill (fill.c) ---- */

/* What a fill found out about its result. */
typedef enum QcFillStatus
{
	QC_FILL_STORABLE,			/* store it */
	QC_FILL_UNCACHEABLE,		/* depends on what the key cannot capture */
	QC_FILL_OWN_WRITES,			/* depends on what this transaction wrote */
	QC_FILL_DISCARDED			/* a dependency committed meanwhile */
} QcFillStatus;

extern Jsonb *qc_run_query(text *query, int nargs, Oid *argtypes,
						   Datum *args, bool *argnulls, const char *key,
						   int keylen, const QcPolicy *policy, QcGens *gens,
						   QcFillStatus *status);
extern uint64 qc_query_hash(text *query, int nargs, Oid *argtypes,
							Datum *args, bool *argnulls);

/* ---- sweeper (sweeper.c) ---- */
extern void qc_sweeper_init(void);

#endif							/* QUERYCACHE_H */
