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
 *		output.c		sending a hit to the client as its stored text
 *		trigger.c		the statement-level invalidation trigger
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
#include "storage/lwlock.h"
#include "utils/jsonb.h"

#include "compat.h"

/* Longest key, in bytes.  Keys live inline in shared memory. */
#define QC_MAX_KEY_LEN		256

/* Dependencies kept per entry; more than that falls back to "any write". */
#define QC_MAX_DEPS			16

/* Number of generation counters relations are hashed onto. */
#define QC_GEN_SLOTS		16384

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

/* Raise the standard "not preloaded" error unless shared memory is ours. */
extern void qc_require_loaded(void);

/* ---- generations (gen.c) ---- */

/* One dependency of an entry: a generation slot and the value it had. */
typedef struct QcDep
{
	uint32		slot;
	uint64		gen;
} QcDep;

/*
 * What an entry's freshness is checked against: the cluster-wide epoch,
 * its database's epoch, and the slots of the relations it read.
 */
typedef struct QcGens
{
	uint64		global;
	uint32		dbslot;
	uint64		dbepoch;
	int			ndeps;
	bool		unstable;		/* a commit on a dependency was in flight */
	QcDep		deps[QC_MAX_DEPS];
} QcGens;

/* Fence taken before a fill's snapshot (see gen.c). */
typedef struct QcFence
{
	uint64		global;
	uint64		dbepoch;
	uint64		dbwrites;
} QcFence;

extern Size qc_gen_shmem_size(void);
extern void qc_gen_shmem_init(void *ptr, bool found);
extern void qc_gen_init(void);
extern void qc_fence_begin(QcFence *fence);
extern void qc_gens_start(QcGens *gens, const QcFence *fence);
extern void qc_gens_add_rel(QcGens *gens, Oid relid);
extern bool qc_fence_holds(const QcFence *fence);
extern bool qc_gens_current(const QcGens *gens);
extern bool qc_gens_touch_pending(const QcGens *gens);
extern void qc_pending_add_rel(Oid relid);
extern void qc_pending_add_epoch(void);
extern void qc_pending_add_global(void);
extern void qc_pending_publish_early(void);
extern bool qc_pending_any(void);
extern void qc_gen_bump_rel_now(Oid relid);
extern uint64 qc_gen_rel_value(Oid relid);
extern uint64 qc_gen_db_epoch(void);
extern void qc_gens_add_rel_at(QcGens *gens, Oid relid, uint64 gen);

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
	QC_OWN_WRITES				/* depends on what this transaction wrote */
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
} QcEntryInfo;

extern Size qc_store_shmem_size(void);
extern void qc_store_shmem_init(void);
extern bool qc_store_ready(void);
extern QcCounters *qc_counters(void);
extern void qc_make_key(QcKey *k, text *keytext);
extern Jsonb *qc_store_lookup(const QcKey *k, uint64 query_hash, bool match_query,
							  QcLookupStatus *status, char **text, uint32 *textlen);
extern bool qc_store_insert(const QcKey *k, uint64 query_hash, TimestampTz expires_at,
							const QcGens *gens, const Jsonb *value,
							const char *text, uint32 textlen);
extern bool qc_store_delete(const QcKey *k);
extern int64 qc_store_clear(Oid dbid, Oid roleid, text *pattern, Oid collation);
extern int	qc_store_sweep(void);
extern void qc_store_usage(int64 *entries, int64 *memory_bytes);
extern int64 qc_store_max_memory(void);
extern QcEntryInfo *qc_store_snapshot(int *count);

/* ---- fill (fill.c) ---- */
extern Jsonb *qc_run_query(text *query, int nargs, Oid *argtypes,
						   Datum *args, bool *argnulls, const char *key,
						   int keylen, bool for_cache, QcGens *gens,
						   bool *cacheable);
extern uint64 qc_query_hash(text *query, int nargs, Oid *argtypes,
							Datum *args, bool *argnulls);

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
extern QcFlightResult qc_flight_join(uint64 hash);
extern void qc_flight_end(QcFlightOutcome outcome);

/* ---- track (track.c) ---- */
extern void qc_track_init(void);
extern void qc_track_begin(void);
extern List *qc_track_end(bool *trackable);
extern bool qc_tracking(void);

/* ---- output (output.c) ---- */
extern void qc_output_init(void);
extern void qc_output_offer(FunctionCallInfo fcinfo, const Jsonb *value,
							const char *text, uint32 len);

/* ---- rules from the config table (api.c) ---- */
extern void qc_rules_add_deps(QcGens *gens, const char *key, int keylen);

/* ---- sweeper (sweeper.c) ---- */
extern void qc_sweeper_init(void);

#endif							/* QUERYCACHE_H */
