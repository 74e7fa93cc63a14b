/*-------------------------------------------------------------------------
 *
 * stats.c
 *		querycache_stats(), querycache_stats_reset() and querycache_entries().
 *
 * Counters are atomics (store.c) read without locks, so a row is not an
 * atomic snapshot of all of them.  Entries are copied out one partition at
 * a time under its shared lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "querycache.h"

PG_FUNCTION_INFO_V1(querycache_stats);
PG_FUNCTION_INFO_V1(querycache_stats_reset);
PG_FUNCTION_INFO_V1(querycache_entries);

#define QC_STATS_COLS	18

Datum
querycache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[QC_STATS_COLS];
	bool		nulls[QC_STATS_COLS] = {0};
	QcCounters *c;
	int64		entries;
	int64		memory;
	uint64		hits;
	uint64		misses;
	int			i = 0;

	qc_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	c = qc_counters();
	qc_store_usage(&entries, &memory);
	hits = pg_atomic_read_u64(&c->hits);
	misses = pg_atomic_read_u64(&c->misses);

	values[i++] = Int64GetDatum(entries);
	values[i++] = Int64GetDatum(qc_max_entries);
	values[i++] = Int64GetDatum(memory);
	values[i++] = Int64GetDatum(qc_store_max_memory());
	values[i++] = Int64GetDatum((int64) hits);
	values[i++] = Int64GetDatum((int64) misses);
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->fills));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->bypasses));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->evictions));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->expirations));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->invalidations));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->too_large));
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->coalesced));
	if (hits + misses > 0)
		values[i] = Float8GetDatum((double) hits / (double) (hits + misses));
	else
		nulls[i] = true;
	i++;
	values[i++] = Int64GetDatum(qc_max_entry_size);
	values[i++] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&c->stats_reset));
	/* 1.1 added these columns; the 1.0 function ends before them */
	if (tupdesc->natts >= QC_STATS_COLS)
	{
		values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->discarded));
		values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&c->stale_hits));
	}
	Assert(i == tupdesc->natts);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

Datum
querycache_stats_reset(PG_FUNCTION_ARGS)
{
	QcCounters *c;

	qc_require_loaded();
	c = qc_counters();
	pg_atomic_write_u64(&c->hits, 0);
	pg_atomic_write_u64(&c->misses, 0);
	pg_atomic_write_u64(&c->fills, 0);
	pg_atomic_write_u64(&c->bypasses, 0);
	pg_atomic_write_u64(&c->evictions, 0);
	pg_atomic_write_u64(&c->expirations, 0);
	pg_atomic_write_u64(&c->invalidations, 0);
	pg_atomic_write_u64(&c->too_large, 0);
	pg_atomic_write_u64(&c->coalesced, 0);
	pg_atomic_write_u64(&c->discarded, 0);
	pg_atomic_write_u64(&c->stale_hits, 0);
	pg_atomic_write_u64(&c->stats_reset, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}

#define QC_ENTRIES_COLS	10

/* A role sees its own entries, or all of them with pg_read_all_stats. */
Datum
querycache_entries(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	QcEntryInfo *infos;
	int			n;
	Oid			userid = GetUserId();
	bool		all = has_privs_of_role(userid, ROLE_PG_READ_ALL_STATS);

	qc_require_loaded();
	InitMaterializedSRF(fcinfo, 0);
	infos = qc_store_snapshot(&n);
	for (int j = 0; j < n; j++)
	{
		QcEntryInfo *e = &infos[j];
		Datum		values[QC_ENTRIES_COLS];
		bool		nulls[QC_ENTRIES_COLS] = {0};
		int			i = 0;

		if (!all && e->roleid != userid)
			continue;
		values[i++] = CStringGetTextDatum(e->key);
		values[i++] = Int64GetDatum(e->bytes);
		values[i++] = TimestampTzGetDatum(e->created_at);
		values[i++] = TimestampTzGetDatum(e->expires_at);
		values[i++] = Int64GetDatum((int64) e->hits);
		if (e->last_hit_at == 0)
			nulls[i] = true;
		values[i++] = TimestampTzGetDatum(e->last_hit_at);
		values[i++] = BoolGetDatum(e->valid);
		values[i++] = ObjectIdGetDatum(e->roleid);
		values[i++] = ObjectIdGetDatum(e->dbid);
		/* 1.1 added "stale"; the 1.0 function ends before it */
		if (rsinfo->setDesc->natts >= QC_ENTRIES_COLS)
			values[i++] = BoolGetDatum(e->stale);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
