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
 * on a standby (WAL replay bumps no generations), in REPEATABLE READ and
 * SERIALIZABLE transactions (they read their own snapshot, which may be
 * older than the latest commit: they neither read nor fill), and inside
 * another fill (its dependencies must be seen by the outer fill).  The
 * last three count as bypasses.
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
PG_FUNCTION_INFO_V1(querycache_delete);
PG_FUNCTION_INFO_V1(querycache_clear_pattern);
PG_FUNCTION_INFO_V1(querycache_clear_all);
PG_FUNCTION_INFO_V1(querycache_invalidate_table);

/* A backend-local copy of a (pattern, value) config table. */
typedef struct QcPatterns
{
	const char *relname;
	const char *sql;			/* %s is the qualified table name */
	Oid			relid;
	uint64		loaded_gen;		/* 0: not loaded */
	int			n;
	text	  **patterns;
	int64	   *values;			/* relation OID or TTL in microseconds */
	MemoryContext cxt;
} QcPatterns;

static QcPatterns qc_rules = {
	.relname = "querycache_rules",
	.sql = "SELECT pattern, table_name::oid::int8 FROM %s",
};
static QcPatterns qc_ttls = {
	.relname = "querycache_ttl",
	.sql = "SELECT pattern, (extract(epoch FROM ttl) * 1000000)::int8 FROM %s ORDER BY length(pattern) DESC, pattern",
};
static uint64 qc_config_epoch = 0;

/* The schema querycache is installed in, or InvalidOid. */
static Oid
qc_extension_schema(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("querycache"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/* Find the config tables again after the database's epoch moved. */
static void
qc_config_resolve(void)
{
	uint64		epoch = qc_gen_db_epoch();
	Oid			nsp;

	if (epoch == qc_config_epoch)
		return;
	nsp = qc_extension_schema();
	qc_rules.relid = OidIsValid(nsp) ? get_relname_relid(qc_rules.relname, nsp) : InvalidOid;
	qc_ttls.relid = OidIsValid(nsp) ? get_relname_relid(qc_ttls.relname, nsp) : InvalidOid;
	qc_rules.loaded_gen = qc_ttls.loaded_gen = 0;
	qc_config_epoch = epoch;
}

static void
qc_patterns_load(QcPatterns *pc)
{
	uint64		gen;
	char	   *sql;

	qc_config_resolve();
	if (!OidIsValid(pc->relid))
	{
		pc->n = 0;
		return;
	}
	/* read before loading: a write after it makes the copy look stale */
	gen = qc_gen_rel_value(pc->relid);
	if (gen == pc->loaded_gen)
		return;

	if (pc->cxt == NULL)
		pc->cxt = AllocSetContextCreate(CacheMemoryContext, "querycache config",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(pc->cxt);
	pc->n = 0;
	pc->loaded_gen = 0;

	sql = psprintf(pc->sql, quote_qualified_identifier(get_namespace_name(get_rel_namespace(pc->relid)),
													   pc->relname));
	SPI_connect();
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", pc->relname);
	pc->patterns = MemoryContextAlloc(pc->cxt, sizeof(text *) * Max(SPI_processed, 1));
	pc->values = MemoryContextAlloc(pc->cxt, sizeof(int64) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull1;
		bool		isnull2;
		Datum		pat = SPI_getbinval(tup, desc, 1, &isnull1);
		Datum		val = SPI_getbinval(tup, desc, 2, &isnull2);

		if (isnull1 || isnull2)
			continue;
		pc->patterns[pc->n] = (text *) MemoryContextAlloc(pc->cxt, VARSIZE_ANY(DatumGetPointer(pat)));
		memcpy(pc->patterns[pc->n], DatumGetPointer(pat), VARSIZE_ANY(DatumGetPointer(pat)));
		pc->values[pc->n] = DatumGetInt64(val);
		pc->n++;
	}
	SPI_finish();
	pc->loaded_gen = gen;
}

static bool
qc_pattern_matches(text *pattern, const char *key, int keylen)
{
	return RE_compile_and_execute(pattern, (char *) key, keylen, REG_ADVANCED,
								  C_COLLATION_OID, 0, NULL);
}

/*
 * Entries whose key matches a rule depend on the rule's table, and every
 * entry depends on the rules table itself, so a new rule cannot miss
 * entries filled before it.
 */
void
qc_rules_add_deps(QcGens *gens, const char *key, int keylen)
{
	qc_patterns_load(&qc_rules);
	if (!OidIsValid(qc_rules.relid))
		return;
	qc_gens_add_rel_at(gens, qc_rules.relid, qc_rules.loaded_gen);
	for (int i = 0; i < qc_rules.n; i++)
		if (qc_pattern_matches(qc_rules.patterns[i], key, keylen))
			qc_gens_add_rel(gens, (Oid) qc_rules.values[i]);
}

/* TTL of the longest querycache_ttl pattern matching key, else the default. */
static int64
qc_ttl_for_key(const char *key, int keylen)
{
	qc_patterns_load(&qc_ttls);
	for (int i = 0; i < qc_ttls.n; i++)
		if (qc_pattern_matches(qc_ttls.patterns[i], key, keylen))
			return qc_ttls.values[i];
	return (int64) qc_default_ttl * USECS_PER_SEC;
}

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
	Interval   *iv;
	int64		usecs;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return -1;
	iv = PG_GETARG_INTERVAL_P(argno);
	usecs = iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("querycache ttl must be positive"),
				 errhint("Pass NULL to use the TTL from querycache_ttl or querycache.default_ttl.")));
	return usecs;
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
	return !RecoveryInProgress() && !IsolationUsesXactSnapshot() && !qc_tracking();
}

static TimestampTz
qc_expiry(int64 ttl_usecs, const QcKey *k)
{
	if (ttl_usecs < 0)
		ttl_usecs = qc_ttl_for_key(k->key, k->keylen);
	return GetCurrentTimestamp() + ttl_usecs;
}

/* Store a result unless it is too large; counts too_large. */
static bool
qc_store_result(const QcKey *k, uint64 query_hash, int64 ttl_usecs,
				const QcGens *gens, Jsonb *value)
{
	char	   *valtext = NULL;
	bool		stored = false;

	if (VARSIZE(value) <= (Size) qc_max_entry_size)
	{
		/* what jsonb_out prints, sent as is on hits (output.c) */
		if (qc_store_text)
			valtext = JsonbToCString(NULL, &value->root, VARSIZE(value));
		stored = qc_store_insert(k, query_hash, qc_expiry(ttl_usecs, k), gens,
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
	bool		cacheable;
	bool		stored;
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
									   NULL, 0, false, NULL, NULL));
	if (!qc_cache_usable())
	{
		pg_atomic_fetch_add_u64(&c->bypasses, 1);
		PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
									   NULL, 0, false, NULL, NULL));
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
		if (status == QC_OWN_WRITES)
		{
			pg_atomic_fetch_add_u64(&c->bypasses, 1);
			ereport(DEBUG1, (errmsg_internal("querycache bypass (own writes): %s", k.key)));
			PG_RETURN_JSONB_P(qc_run_query(query, nargs, types, values, nulls,
										   NULL, 0, false, NULL, NULL));
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
										   NULL, 0, false, NULL, NULL));
		}
		waited = true;			/* QC_FLIGHT_DONE: look up again */
	}

	result = qc_run_query(query, nargs, types, values, nulls, k.key, k.keylen,
						  true, &gens, &cacheable);
	pg_atomic_fetch_add_u64(&c->fills, 1);
	stored = cacheable && qc_store_result(&k, qh, ttl, &gens, result);
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
 * querycache_set(key text, value jsonb, ttl interval DEFAULT NULL)
 *
 * The value comes from the client, so its only dependencies are the rules
 * matching its key.  Not stored while this transaction has written one of
 * those tables: the value may reflect uncommitted rows.
 */
Datum
querycache_set(PG_FUNCTION_ARGS)
{
	QcKey		k;
	Jsonb	   *value;
	int64		ttl;
	QcFence		fence;
	QcGens		gens;

	qc_require_loaded();
	qc_make_key(&k, qc_arg_key(fcinfo, 0));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache_set value must not be null"),
				 errhint("Use querycache_delete to remove a key.")));
	value = PG_GETARG_JSONB_P(1);
	ttl = qc_arg_ttl(fcinfo, 2);
	if (!qc_enabled || !qc_cache_usable())
		PG_RETURN_VOID();

	qc_fence_begin(&fence);
	qc_gens_start(&gens, &fence);
	qc_rules_add_deps(&gens, k.key, k.keylen);
	if (!gens.unstable && !qc_gens_touch_pending(&gens))
		qc_store_result(&k, 0, ttl, &gens, value);
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
	PG_RETURN_VOID();
}
