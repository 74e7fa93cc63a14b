/*-------------------------------------------------------------------------
 *
 * api.c
 *		SQL-callable cache functions, and the per-backend copies of the
 *		querycache_rules and querycache_ttl tables they consult on a miss.
 *
 * Identity: an entry belongs to (database, current role, key); the current
 * role is GetUserId(), so SET ROLE and security definer functions see the
 * entries of the role they run as.
 *
 * Misses are single-flight (flight.c): one backend fills, concurrent
 * wraps of the same entry wait and count as coalesced when they get its
 * result.
 *
 * When the cache is not consulted: querycache.enabled off (no counters),
 * in REPEATABLE READ and SERIALIZABLE transactions (they read their own snapshot, which may be
 * older than the latest commit: they neither read nor fill), and inside
 * another fill (its dependencies must be seen by the outer fill).  The
 * last two count as bypasses.  Hot standbys cache too (replica.c).
 *
 * The table copies are reloaded when the table's generation moves, that is
 * after a committed write to it, and their relation OIDs when the
 * database's epoch moves (CREATE/DROP EXTENSION).  Backend-local; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "querycache.h"

PG_FUNCTION_INFO_V1(querycache_wrap);
PG_FUNCTION_INFO_V1(querycache_get);
PG_FUNCTION_INFO_V1(querycache_set);
PG_FUNCTION_INFO_V1(querycache_fence);
PG_FUNCTION_INFO_V1(querycache_delete);
PG_FUNCTION_INFO_V1(querycache_clear_pattern);
PG_FUNCTION_INFO_V1(querycache_clear_all);
PG_FUNCTION_INFO_V1(querycache_invalidate_table);

/* ---- argument helpers ---- */

static text *
qc_arg_key(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache key must not be null")));
	return PG_GETARG_TEXT_PP(argno);
}

/* TTL argument in microseconds, or -1 if null (use the configured TTL). */
static int64
qc_arg_ttl(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return -1;
	return qc_interval_ttl(PG_GETARG_INTERVAL_P(argno));
}

/*
 * Collect the VARIADIC "any" / text[] parameters starting at argno.  With
 * an explicit VARIADIC array the elements are the parameters.
 */
static int
qc_collect_params(FunctionCallInfo fcinfo, int argno, Oid **types,
				  Datum **values, bool **nulls)
{
	int			n;

	if (PG_NARGS() <= argno)
	{
		*types = NULL;
		*values = NULL;
		*nulls = NULL;
		return 0;
	}
	if (get_fn_expr_variadic(fcinfo->flinfo))
	{
		ArrayType  *arr;
		Oid			elemtype;
		int16		typlen;
		bool		byval;
		char		align;

		if (PG_ARGISNULL(argno))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("VARIADIC parameter array must not be null")));
		arr = PG_GETARG_ARRAYTYPE_P(argno);
		elemtype = ARR_ELEMTYPE(arr);
		get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
		deconstruct_array(arr, elemtype, typlen, byval, align, values, nulls, &n);
		*types = palloc(sizeof(Oid) * Max(n, 1));
		for (int i = 0; i < n; i++)
			(*types)[i] = elemtype;
		return n;
	}

	n = PG_NARGS() - argno;
	*types = palloc(sizeof(Oid) * n);
	*values = palloc(sizeof(Datum) * n);
	*nulls = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		(*types)[i] = get_fn_expr_argtype(fcinfo->flinfo, argno + i);
		if (!OidIsValid((*types)[i]))
			elog(ERROR, "could not determine the type of parameter $%d", i + 1);
		(*nulls)[i] = PG_ARGISNULL(argno + i);
		(*values)[i] = (*nulls)[i] ? (Datum) 0 : PG_GETARG_DATUM(argno + i);
	}
	return n;
}

/* Can this call use the shared cache at all?  See the header comment. */
static bool
qc_cache_usable(void)
{
	return !IsolationUsesXactSnapshot() && !qc_tracking();
}

/*
 * Store a result unless it is too large; counts too_large.  ttl_usecs < 0
 * takes the TTL of the key's policy.
 */
static bool
qc_store_result(const QcKey *k, uint64 query_hash, int64 ttl_usecs,
				const QcPolicy *policy, const QcGens *gens, Jsonb *value)
{
	TimestampTz expires = GetCurrentTimestamp() +
		(ttl_usecs >= 0 ? ttl_usecs : policy->ttl);

	char	   *valtext = NULL;
	bool		stored = false;

	if (VARSIZE(value) <= (Size) qc_max_entry_size)
	{
		/* what jsonb_out prints, sent as is on hits (output.c) */
		if (qc_store_text)
			valtext = JsonbToCString(NULL, &value->root, VARSIZE(value));
		stored = qc_store_insert(k, query_hash, expires, policy->swr, gens,
								 value, valtext, valtext ? strlen(valtext) : 0);
		if (valtext)
			pfree(valtext);
	}
	if (!stored)
	{
		pg_atomic_fetch_add_u64(&qc_counters()->too_large, 1);
		ereport(DEBUG1,
				(errmsg_internal("querycache not storing %s: %u bytes",
								 k->key, (unsigned) VARSIZE(value))));
		return false;
	}
	return true;
}

/*
 * querycache_wrap(key text, query text [, ttl interval [, VARIADIC params]])
 */
Datum
querycache_wrap(PG_FUNCTION_ARGS)
{
	text	   *keytext;
	text	   *query;
	int64		ttl;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	bool	   *nulls;
	QcKey		k;
	uint64		qh;
	Jsonb	   *result;
	QcLookupStatus status;
	QcGens		gens;
	QcPolicy	policy;
	QcFillStatus fill;
	bool		stored = false;
	bool		waited = false;
	QcFlightResult flight;
	QcCounters *c;
	char	   *valtext;
	uint32		textlen;

	qc_require_loaded();
	keytext = qc_arg_key(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache_wrap query must not be null")));
	query = PG_GETARG_TEXT_PP(1);
	ttl = qc_arg_ttl(fcinfo, 2);
	nargs = qc_collect_params(fcinfo, 3, &types, &values, &nulls);
	qc_make_key(&k, keytext);
	c = qc_counters();

	if (!qc_enabled)
		PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
									   NULL, 0, NULL, NULL, NULL));
	if (!qc_cache_usable())
	{
		pg_atomic_fetch_add_u64(&c->bypasses, 1);
		PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
									   NULL, 0, NULL, NULL, NULL));
	}

	qh = qc_query_hash(query, nargs, types, values, nulls);
	for (;;)
	{
		result = qc_store_lookup(&k, qh, true, &status, &valtext, &textlen);
		if (status == QC_HIT)
		{
			pg_atomic_fetch_add_u64(waited ? &c->coalesced : &c->hits, 1);
			ereport(DEBUG1, (errmsg_internal("querycache hit: %s", k.key)));
			qc_output_offer(fcinfo, result, valtext, textlen);
			PG_RETURN_JSONB_P(result);
		}
		if (status == QC_STALE_USABLE || status == QC_STALE_YOUNG)
		{
			/* one backend refreshes, when due; the others take the last value */
			if (status == QC_STALE_YOUNG || !qc_flight_try_lead(qc_flight_hash(&k, qh)))
			{
				pg_atomic_fetch_add_u64(&c->stale_hits, 1);
				ereport(DEBUG1, (errmsg_internal("querycache stale hit: %s", k.key)));
				qc_output_offer(fcinfo, result, valtext, textlen);
				PG_RETURN_JSONB_P(result);
			}
			if (!waited)
				pg_atomic_fetch_add_u64(&c->misses, 1);
			ereport(DEBUG1, (errmsg_internal("querycache refresh: %s", k.key)));
			break;
		}
		if (status == QC_OWN_WRITES)
		{
			pg_atomic_fetch_add_u64(&c->bypasses, 1);
			ereport(DEBUG1, (errmsg_internal("querycache bypass (own writes): %s", k.key)));
			PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
										   NULL, 0, NULL, NULL, NULL));
		}
		if (!waited)
		{
			pg_atomic_fetch_add_u64(&c->misses, 1);
			ereport(DEBUG1, (errmsg_internal("querycache miss: %s", k.key)));
		}

		/*
		 * A transaction with pending writes must not take another backend's
		 * result for entries it wrote, and cannot store its own: it fills
		 * alone.
		 */
		if (qc_pending_any())
			break;
		flight = qc_flight_join(qc_flight_hash(&k, qh));
		if (flight == QC_FLIGHT_LEAD || flight == QC_FLIGHT_FULL ||
			flight == QC_FLIGHT_ALONE)
			break;
		if (flight == QC_FLIGHT_TIMEOUT)
		{
			pg_atomic_fetch_add_u64(&c->bypasses, 1);
			ereport(DEBUG1, (errmsg_internal("querycache gave up waiting for %s", k.key)));
			PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
										   NULL, 0, NULL, NULL, NULL));
		}
		waited = true;			/* QC_FLIGHT_DONE: look up again */
	}

	policy = qc_policy_for_key(k.key, k.keylen);
	result = qc_run_query(query, nargs, types, values, nulls, k.key, k.keylen,
						  &policy, &gens, &fill);
	switch (fill)
	{
		case QC_FILL_STORABLE:
			pg_atomic_fetch_add_u64(&c->fills, 1);
			stored = qc_store_result(&k, qh, ttl, &policy, &gens, result);
			break;
		case QC_FILL_DISCARDED:
			pg_atomic_fetch_add_u64(&c->fills, 1);
			pg_atomic_fetch_add_u64(&c->discarded, 1);
			ereport(DEBUG1,
					(errmsg_internal("querycache not storing %s: a dependency committed meanwhile",
									 k.key)));
			/* newer than the last value: keep it as the stale value */
			if (gens.known_stale)
				stored = qc_store_result(&k, qh, ttl, &policy, &gens, result);
			break;
		case QC_FILL_OWN_WRITES:
			pg_atomic_fetch_add_u64(&c->fills, 1);
			break;
		case QC_FILL_UNCACHEABLE:
			/* the reason went to DEBUG1 already */
			pg_atomic_fetch_add_u64(&c->bypasses, 1);
			break;
	}
	qc_flight_end(stored ? QC_OUTCOME_STORED : QC_OUTCOME_NOT_STORED);
	PG_RETURN_JSONB_P(result);
}

/* querycache_get(key text) returns jsonb, NULL on a miss */
Datum
querycache_get(PG_FUNCTION_ARGS)
{
	QcKey		k;
	Jsonb	   *result;
	QcLookupStatus status;
	char	   *valtext;
	uint32		textlen;

	qc_require_loaded();
	qc_make_key(&k, qc_arg_key(fcinfo, 0));
	if (!qc_enabled)
		PG_RETURN_NULL();
	if (!qc_cache_usable())
	{
		pg_atomic_fetch_add_u64(&qc_counters()->bypasses, 1);
		PG_RETURN_NULL();
	}
	result = qc_store_lookup(&k, 0, false, &status, &valtext, &textlen);
	if (status == QC_HIT)
	{
		pg_atomic_fetch_add_u64(&qc_counters()->hits, 1);
		ereport(DEBUG1, (errmsg_internal("querycache hit: %s", k.key)));
		qc_output_offer(fcinfo, result, valtext, textlen);
		PG_RETURN_JSONB_P(result);
	}
	pg_atomic_fetch_add_u64(status == QC_OWN_WRITES ? &qc_counters()->bypasses
							: &qc_counters()->misses, 1);
	ereport(DEBUG1, (errmsg_internal("querycache miss: %s", k.key)));
	PG_RETURN_NULL();
}

/*
 * querycache_fence() returns bigint: a token to pass to querycache_set,
 * taken before the snapshot the client computes its value with.
 */
Datum
querycache_fence(PG_FUNCTION_ARGS)
{
	qc_require_loaded();
	PG_RETURN_INT64((int64) qc_fence_begin());
}

/*
 * querycache_set(key text, value jsonb, ttl interval DEFAULT NULL
 *				  [, fence bigint])
 *
 * The value comes from the client, so its only dependencies are the rules
 * matching its key.  Not stored while this transaction has written one of
 * those tables: the value may reflect uncommitted rows.  With a fence
 * token, not stored either if one of them had a commit finish since the
 * token was taken, or has one in flight: the fill argument of gen.c, with
 * the client's query as the fill.
 */
Datum
querycache_set(PG_FUNCTION_ARGS)
{
	QcKey		k;
	Jsonb	   *value;
	int64		ttl;
	QcGens		gens;
	QcPolicy	policy;
	bool		fenced = PG_NARGS() > 3;
	QcFence		fence = 0;

	qc_require_loaded();
	qc_make_key(&k, qc_arg_key(fcinfo, 0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache_set value must not be null"),
				 errhint("Use querycache_delete to remove a key.")));
	value = PG_GETARG_JSONB_P(1);
	ttl = qc_arg_ttl(fcinfo, 2);
	if (fenced)
	{
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("querycache_set fence must not be null"),
					 errhint("Pass the value of querycache_fence() taken before computing the value, or call the three-argument form.")));
		fence = (QcFence) PG_GETARG_INT64(3);
	}
	if (!qc_enabled || !qc_cache_usable())
		PG_RETURN_VOID();

	if (!fenced)
		fence = qc_fence_begin();
	policy = qc_policy_for_key(k.key, k.keylen);
	qc_gens_start(&gens);
	/* keyed rules name one value of their table under depends = 'rules' */
	qc_rules_add_deps(&gens, k.key, k.keylen, policy.rules_only);
	if (qc_gens_touch_pending(&gens))
		PG_RETURN_VOID();
	if (!qc_fence_holds(&gens, fence, 0))
	{
		pg_atomic_fetch_add_u64(&qc_counters()->discarded, 1);
		PG_RETURN_VOID();
	}
	qc_store_result(&k, 0, ttl, &policy, &gens, value);
	PG_RETURN_VOID();
}

/* querycache_delete(key text) returns whether the key was cached */
Datum
querycache_delete(PG_FUNCTION_ARGS)
{
	QcKey		k;

	qc_require_loaded();
	qc_make_key(&k, qc_arg_key(fcinfo, 0));
	PG_RETURN_BOOL(qc_store_delete(&k));
}

/* querycache_clear_pattern(pattern text): this database's and role's keys */
Datum
querycache_clear_pattern(PG_FUNCTION_ARGS)
{
	text	   *pattern;

	qc_require_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache pattern must not be null")));
	pattern = PG_GETARG_TEXT_PP(0);
	/* compile now, so an invalid regex fails before anything is removed */
	(void) RE_compile_and_cache(pattern, REG_ADVANCED, C_COLLATION_OID);
	PG_RETURN_INT64(qc_store_clear(MyDatabaseId, GetUserId(), pattern, C_COLLATION_OID));
}

/* querycache_clear_all(): every entry of every database and role */
Datum
querycache_clear_all(PG_FUNCTION_ARGS)
{
	qc_require_loaded();
	PG_RETURN_INT64(qc_store_clear(InvalidOid, InvalidOid, NULL, InvalidOid));
}

/*
 * querycache_invalidate_table(tbl regclass): the seed's invalidateTable.
 * Every entry that read the table or whose key matches one of its rules
 * becomes stale now, and again when this transaction commits.
 */
Datum
querycache_invalidate_table(PG_FUNCTION_ARGS)
{
	Oid			relid;

	qc_require_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache_invalidate_table table must not be null")));
	relid = PG_GETARG_OID(0);
	/* whoever may write the table may invalidate it */
	if (pg_class_aclmask(relid, GetUserId(),
						 ACL_INSERT | ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE,
						 ACLMASK_ANY) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to invalidate table %s", get_rel_name(relid)),
				 errhint("Invalidating requires INSERT, UPDATE, DELETE or TRUNCATE privilege on the table.")));
	qc_gen_bump_rel_now(relid);
	qc_pending_add_rel(relid);
	qc_pending_add_coarse(relid);
	PG_RETURN_VOID();
}
