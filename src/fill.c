/*-------------------------------------------------------------------------
 *
 * fill.c
 *		Running a wrapped query through SPI: validation, parameter typing,
 *		the per-backend plan cache, and the fenced execution of a fill.
 *
 * A query is run as
 *		SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM (query) t
 * so the result is exactly what that SQL gives.  It must be a single
 * read-only SELECT; this is checked on the raw parse tree (before anything
 * runs) and on the analyzed tree (locking clauses and data-modifying CTEs
 * at any depth).
 *
 * Parameters of type text or unknown (string literals, and the untyped
 * parameters of drivers such as node-postgres) get their type from the
 * query, as the extended protocol does for untyped parameters; others are
 * bound with their own type.
 *
 * Plans are prepared once per backend and per (query text, argument
 * types, settings hash: a literal parses differently under another
 * TimeZone, DateStyle or standard_conforming_strings)
 * and kept (SPI_keepplan) in a backend-local hash of at most QC_MAX_PLANS;
 * SPI revalidates them after DDL.  A plan is busy while it runs, and a
 * wrapped query can call a function that wraps again, so a full hash drops
 * only plans that are not busy: the outer fill's plan, its query string
 * and its snapshot stay valid however many plans the inner ones prepare.
 *
 * A fill runs with parallel workers off (max_parallel_workers = 0 and
 * max_parallel_workers_per_gather = 0 for its duration): what a worker
 * reads through functions is invisible to the leader's tracking, and
 * Gather runs the plan in the leader when no worker starts.
 *
 * All state is backend-local; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/gin.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_param.h"
#include "parser/parse_expr.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "pgtime.h"
#include "tsearch/ts_cache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_locale.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/xml.h"

#include "querycache.h"

typedef struct QcPlan
{
	uint64		hash;			/* hash key: query text and given types */
	char	   *query;
	int			nargs;
	Oid		   *given;			/* argument types as passed */
	Oid		   *types;			/* parameter types the plan uses */
	SPIPlanPtr	plan;
	uint64		settings;		/* qc_settings_hash() it was parsed under */
	int			busy;			/* runs in progress (nested wraps) */
	bool		transient;		/* not in the hash: free after the run */
} QcPlan;

typedef struct QcInfer
{
	Oid		   *types;
	int			ntypes;
} QcInfer;

/* Plans kept per backend; past this, all are dropped and prepared anew. */
#define QC_MAX_PLANS	256

static HTAB *qc_plans = NULL;
static MemoryContext qc_plan_cxt = NULL;

static void
qc_plan_free(QcPlan *p)
{
	SPI_freeplan(p->plan);
	pfree(p->query);
	pfree(p->given);
	pfree(p->types);
}

/*
 * Free every kept plan that is not running, so that distinct query texts
 * cannot grow a backend.  A busy plan belongs to a fill further up the
 * stack (this one's caller wrapped a query that wraps again): freeing it
 * would pull the plan, its query string and its snapshot from under it.
 */
static void
qc_plans_reset(void)
{
	HASH_SEQ_STATUS status;
	QcPlan	   *p;

	hash_seq_init(&status, qc_plans);
	while ((p = hash_seq_search(&status)) != NULL)
	{
		if (p->busy > 0)
			continue;
		qc_plan_free(p);
		hash_search(qc_plans, &p->hash, HASH_REMOVE, NULL);
	}
}

static inline bool
qc_infers_type(Oid type)
{
	return type == UNKNOWNOID || type == TEXTOID;
}

static inline uint64
qc_hash_string(const char *str, uint64 seed)
{
	return hash_bytes_extended((const unsigned char *) str, strlen(str ? str : ""),
							   seed);
}

/*
 * Hash of the session state a result may depend on that is not data: the
 * settings that change how a query text resolves names, parses literals or
 * prints values, the session user, and this session's temporary objects.
 * Part of every entry's query hash, so a session whose state differs never
 * sees the entry (README, "What is cached").  Read from the variables the
 * settings assign, so it costs no GUC lookups on a hit.
 */
static uint64
qc_settings_hash(void)
{
	uint64		h;
	Oid			tempnsp;
	Oid			temptoast;

	h = qc_hash_string(namespace_search_path, 1);
	h = hash_combine64(h, qc_hash_string(pg_get_timezone_name(session_timezone), 2));
	h = hash_combine64(h, ((uint64) DateStyle << 48) ^ ((uint64) DateOrder << 32) ^
					   ((uint64) IntervalStyle << 16) ^ (uint64) (extra_float_digits + 100));
	h = hash_combine64(h, qc_hash_string(locale_monetary, 3));
	h = hash_combine64(h, qc_hash_string(locale_numeric, 4));
	h = hash_combine64(h, qc_hash_string(locale_time, 5));
	h = hash_combine64(h, qc_hash_string(TSCurrentConfig, 6));
	h = hash_combine64(h, ((uint64) bytea_output << 40) ^ ((uint64) xmlbinary << 32) ^
					   ((uint64) xmloption << 24) ^ ((uint64) standard_conforming_strings << 3) ^
					   ((uint64) quote_all_identifiers << 2) ^
					   ((uint64) Transform_null_equals << 1) ^ (uint64) Array_nulls);
	h = hash_combine64(h, ((uint64) GinFuzzySearchLimit << 32) ^ GetSessionUserId());

	/*
	 * Temporary objects shadow permanent ones for this session only: once
	 * it has a temporary schema, its entries are its own, and each change
	 * to its temporary objects starts a new key space (track.c).
	 */
	GetTempNamespaceState(&tempnsp, &temptoast);
	if (OidIsValid(tempnsp))
		h = hash_combine64(hash_combine64(h, (uint64) MyProcPid ^ ((uint64) MyStartTimestamp << 20)),
						   qc_temp_generation());
	return h;
}

/*
 * Hash of what an entry's result depends on besides the tables: the query
 * text, the parameters, and the settings that change how the same text
 * resolves names or prints values.
 */
uint64
qc_query_hash(text *query, int nargs, Oid *argtypes, Datum *args,
			  bool *argnulls)
{
	uint64		h;

	h = hash_bytes_extended((const unsigned char *) VARDATA_ANY(query),
							VARSIZE_ANY_EXHDR(query), 0);
	h = hash_combine64(h, qc_settings_hash());
	for (int i = 0; i < nargs; i++)
	{
		int16		typlen;
		bool		byval;
		const char *data;
		Size		len;

		h = hash_combine64(h, argtypes[i] * 2 + (argnulls[i] ? 1 : 0));
		if (argnulls[i])
			continue;
		get_typlenbyval(argtypes[i], &typlen, &byval);
		if (byval)
		{
			Datum		d = args[i];

			data = (const char *) &d;
			len = sizeof(Datum);
			h = hash_combine64(h, hash_bytes_extended((const unsigned char *) data, len, i));
			continue;
		}
		if (typlen == -1)
		{
			struct varlena *v = PG_DETOAST_DATUM_PACKED(args[i]);

			data = VARDATA_ANY(v);
			len = VARSIZE_ANY_EXHDR(v);
		}
		else if (typlen == -2)
		{
			data = DatumGetCString(args[i]);
			len = strlen(data);
		}
		else
		{
			data = DatumGetPointer(args[i]);
			len = typlen;
		}
		h = hash_combine64(h, hash_bytes_extended((const unsigned char *) data, len, i));
	}
	return h;
}

static void
qc_reject(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("querycache_wrap accepts only a single read-only SELECT"),
			 errdetail("The query contains %s.", what),
			 errhint("Run statements that write or lock rows outside the cache.")));
}

/* Any locking clause or data-modifying CTE, at any depth? */
static bool
qc_readonly_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;

		if (q->commandType != CMD_SELECT || q->utilityStmt != NULL)
			qc_reject("a statement other than SELECT");
		if (q->rowMarks != NIL)
			qc_reject("a locking clause such as FOR UPDATE or FOR SHARE");
		if (q->hasModifyingCTE)
			qc_reject("a data-modifying WITH query");
		return query_tree_walker(q, qc_readonly_walker, context, 0);
	}
	return expression_tree_walker(node, qc_readonly_walker, context);
}

/*
 * Check the raw statement and return the query text without trailing
 * semicolons, ready to be wrapped.
 */
/* Report syntax error positions inside the wrapped query, as SPI does. */
static void
qc_parse_error_callback(void *arg)
{
	int			pos = geterrposition();

	if (pos > 0)
	{
		errposition(0);
		internalerrposition(pos);
		internalerrquery((const char *) arg);
	}
}

static char *
qc_check_raw(const char *query)
{
	List	   *raw;
	SelectStmt *sel;
	char	   *text;
	int			len;
	ErrorContextCallback errcb;

	errcb.callback = qc_parse_error_callback;
	errcb.arg = (void *) query;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	raw = raw_parser(query, RAW_PARSE_DEFAULT);
	error_context_stack = errcb.previous;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("querycache_wrap accepts exactly one statement, got %d",
						list_length(raw)),
				 errhint("Pass a single SELECT without other statements.")));
	if (!IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
		qc_reject("a statement other than SELECT");
	sel = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
	if (sel->intoClause != NULL)
		qc_reject("SELECT INTO");
	if (sel->lockingClause != NIL)
		qc_reject("a locking clause such as FOR UPDATE or FOR SHARE");
	if (sel->withClause != NULL)
	{
		ListCell   *lc;

		foreach(lc, sel->withClause->ctes)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

			if (!IsA(cte->ctequery, SelectStmt))
				qc_reject("a data-modifying WITH query");
		}
	}

	text = pstrdup(query);
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ';' || scanner_isspace(text[len - 1])))
		text[--len] = '\0';
	return text;
}

/* Highest $n the query refers to. */
static bool
qc_max_param_walker(Node *node, int *max)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
		*max = Max(*max, ((Param *) node)->paramid);
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, qc_max_param_walker, max, 0);
	return expression_tree_walker(node, qc_max_param_walker, max);
}

static void
qc_infer_setup(ParseState *pstate, void *arg)
{
	QcInfer    *inf = (QcInfer *) arg;

	setup_parse_variable_parameters(pstate, &inf->types, &inf->ntypes);
}

static uint64
qc_plan_hash(const char *query, int nargs, const Oid *given, uint64 settings)
{
	uint64		h = hash_bytes_extended((const unsigned char *) query, strlen(query), settings);

	return hash_combine64(h, hash_bytes_extended((const unsigned char *) given,
												 nargs * sizeof(Oid), nargs));
}

/*
 * Prepare (or find) the plan for a query text and argument types.  Caller
 * is connected to SPI.
 */
static QcPlan *
qc_get_plan(const char *query, int nargs, Oid *given, uint64 settings)
{
	uint64		hash = qc_plan_hash(query, nargs, given, settings);
	QcPlan	   *p;
	bool		found;
	char	   *wrapped;
	Oid		   *types;
	SPIPlanPtr	plan;
	CachedPlanSource *src;
	bool		infer = false;
	int			maxparam = 0;

	if (qc_plans == NULL)
	{
		HASHCTL		ctl;

		qc_plan_cxt = AllocSetContextCreate(CacheMemoryContext, "querycache plans",
											ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(QcPlan);
		ctl.hcxt = qc_plan_cxt;
		qc_plans = hash_create("querycache plans", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	p = hash_search(qc_plans, &hash, HASH_FIND, NULL);
	if (p != NULL && p->nargs == nargs && p->settings == settings &&
		strcmp(p->query, query) == 0 &&
		memcmp(p->given, given, nargs * sizeof(Oid)) == 0)
		return p;

	wrapped = psprintf("SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t.*)), '[]'::pg_catalog.jsonb) FROM (%s\n) t",
					   qc_check_raw(query));

	/* Types of text and unknown arguments come from the query. */
	types = palloc(sizeof(Oid) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
	{
		types[i] = qc_infers_type(given[i]) ? UNKNOWNOID : given[i];
		infer |= qc_infers_type(given[i]);
	}
	if (infer)
	{
		SPIPrepareOptions opts = {0};
		QcInfer		inf = {types, nargs};

		opts.parserSetup = qc_infer_setup;
		opts.parserSetupArg = &inf;
		opts.parseMode = RAW_PARSE_DEFAULT;
		plan = SPI_prepare_extended(wrapped, &opts);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_freeplan(plan);
		if (inf.ntypes > nargs)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_PARAMETER),
					 errmsg_plural("query uses parameter $%d but only %d parameter was given",
								   "query uses parameter $%d but only %d parameters were given",
								   nargs, inf.ntypes, nargs)));
		types = inf.types;
		for (int i = 0; i < nargs; i++)
			if (types[i] == UNKNOWNOID)
				types[i] = TEXTOID; /* unused, or used where any type fits */
	}

	plan = SPI_prepare(wrapped, nargs, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (list_length(SPI_plan_get_plan_sources(plan)) != 1)
		qc_reject("more than one statement");
	src = linitial(SPI_plan_get_plan_sources(plan));
	(void) qc_readonly_walker((Node *) src->query_list, NULL);
	(void) qc_max_param_walker((Node *) src->query_list, &maxparam);
	if (maxparam < nargs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("querycache_wrap got %d parameter but the query uses only %d",
							   "querycache_wrap got %d parameters but the query uses only %d",
							   nargs, nargs, maxparam),
				 errhint("Pass exactly the parameters $1 to $n that the query refers to.")));

	SPI_keepplan(plan);
	if (p != NULL && p->busy > 0)
	{
		/* a 64-bit collision with a running plan: keep this one aside */
		p = palloc0(sizeof(QcPlan));
		p->transient = true;
	}
	else
	{
		if (p != NULL)
			qc_plan_free(p);	/* hash collision with another text */
		else if (hash_get_num_entries(qc_plans) >= QC_MAX_PLANS)
			qc_plans_reset();
		p = hash_search(qc_plans, &hash, HASH_ENTER, &found);
		p->transient = false;
	}
	p->busy = 0;
	p->settings = settings;
	p->query = MemoryContextStrdup(qc_plan_cxt, query);
	p->nargs = nargs;
	p->given = MemoryContextAlloc(qc_plan_cxt, sizeof(Oid) * Max(nargs, 1));
	p->types = MemoryContextAlloc(qc_plan_cxt, sizeof(Oid) * Max(nargs, 1));
	memcpy(p->given, given, sizeof(Oid) * nargs);
	memcpy(p->types, types, sizeof(Oid) * nargs);
	p->plan = plan;
	return p;
}

/* Convert text and unknown arguments to the types the plan uses. */
static void
qc_bind(QcPlan *p, Datum *args, bool *argnulls, Datum *values, char *nulls)
{
	for (int i = 0; i < p->nargs; i++)
	{
		nulls[i] = argnulls[i] ? 'n' : ' ';
		values[i] = args[i];
		if (argnulls[i] || !qc_infers_type(p->given[i]) || p->types[i] == p->given[i])
			continue;
		else
		{
			Oid			typinput;
			Oid			typioparam;
			char	   *str;

			str = (p->given[i] == UNKNOWNOID) ? DatumGetCString(args[i])
				: TextDatumGetCString(args[i]);
			getTypeInputInfo(p->types[i], &typinput, &typioparam);
			values[i] = OidInputFunctionCall(typinput, str, typioparam, -1);
		}
	}
}

/* Turn parallel query off for a fill; the caller pops the GUC nest level. */
static int
qc_fill_guc_enter(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("max_parallel_workers", "0", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("max_parallel_workers_per_gather", "0", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Run a query and return its rows as jsonb, allocated in the caller's
 * memory context.
 *
 * With a policy, this is a fill: the fence is read before the snapshot,
 * the relations read are tracked, and *gens receives the dependencies:
 * the relations read (unless the policy says depends = 'rules') and the
 * tables of the rules matching key.  *status says whether the result may
 * be stored (see gen.c for the argument).  Without, the query runs with
 * the caller's snapshot and nothing is tracked.
 */
Jsonb *
qc_run_query(text *query, int nargs, Oid *argtypes, Datum *args,
			 bool *argnulls, const char *key, int keylen, const QcPolicy *policy,
			 QcGens *gens, QcFillStatus *status)
{
	MemoryContext caller = CurrentMemoryContext;
	bool		for_cache = (policy != NULL);
	QcPlan	   *volatile p;
	Datum	   *values;
	char	   *nulls;
	volatile int rc = 0;
	Jsonb	   *result;
	bool		isnull;
	Datum		d;
	volatile QcFence fence = 0;
	List	   *volatile relids = NIL;
	const char *volatile reason = NULL;
	volatile bool standby_unsure = false;
	volatile uint64 completion = 0;

	SPI_connect();
	/* literals and names parse differently under other settings */
	p = qc_get_plan(text_to_cstring(query), nargs, argtypes, qc_settings_hash());
	values = palloc(sizeof(Datum) * Max(nargs, 1));
	nulls = palloc(sizeof(char) * Max(nargs, 1));
	qc_bind(p, args, argnulls, values, nulls);

	/* busy until it returns: a nested wrap must not free it (see header) */
	p->busy++;
	PG_TRY();
	{
		if (for_cache)
		{
			int			nestlevel = qc_fill_guc_enter();
			List	   *read = NIL;

			Snapshot	snap;
			uint64		ticket = PG_UINT64_MAX;

			/* first finish the commits replay or 2PC made visible */
			qc_replica_resolve();
			if (RecoveryInProgress())
				ticket = qc_replica_fill_begin();
			fence = qc_fence_begin();
			qc_track_begin();
			/* a snapshot taken after the fence, as the argument requires */
			snap = GetLatestSnapshot();
			completion = snap->snapXactCompletionCount;
			standby_unsure = RecoveryInProgress() && !qc_replica_fill_ok(snap, ticket);
			rc = SPI_execute_snapshot(p->plan, values, nulls, snap,
									  InvalidSnapshot, true, true, 0);
			reason = qc_track_end(&read);
			relids = read;
			AtEOXact_GUC(true, nestlevel);
		}
		else
			rc = SPI_execute_plan(p->plan, values, nulls, true, 0);
	}
	PG_FINALLY();
	{
		p->busy--;
	}
	PG_END_TRY();

	if (for_cache)
	{
		ListCell   *lc;

		bool		own_writes;

		qc_gens_start(gens);
		foreach(lc, relids)
			qc_gens_add_rel(gens, lfirst_oid(lc));
		/* whatever the policy, nothing computed from our writes is shared */
		own_writes = qc_gens_touch_pending(gens);
		if (policy->rules_only)
			qc_gens_start(gens);	/* TTL-bounded for what no rule covers */
		qc_rules_add_deps(gens, key, keylen, policy->rules_only);
		gens->fence = fence;
		if (reason != NULL)
		{
			*status = QC_FILL_UNCACHEABLE;
			ereport(DEBUG1,
					(errmsg_internal("querycache not storing %.*s: the query %s",
									 keylen, key, reason)));
		}
		else if (own_writes || qc_gens_touch_pending(gens))
			*status = QC_FILL_OWN_WRITES;
		else if (standby_unsure || !qc_fence_holds(gens, fence, completion))
		{
			*status = QC_FILL_DISCARDED;
			/* right as of its snapshot: may serve as a stale value */
			if (!standby_unsure && policy->swr > 0)
				(void) qc_fence_epochs_hold(gens, fence, completion);
		}
		else
			*status = QC_FILL_STORABLE;
	}

	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "unexpected result from wrapped query: %s",
			 SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	MemoryContextSwitchTo(caller);
	result = DatumGetJsonbPCopy(d);
	if (p->transient)
	{
		qc_plan_free(p);
		pfree(p);
	}
	SPI_finish();
	return result;
}
