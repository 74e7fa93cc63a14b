/*-------------------------------------------------------------------------
 *
 * track.c
 *		Executor, utility and object-access hooks: what a fill reads and
 *		whether its result may be cached, and what the current transaction
 *		writes or alters.
 *
 * Reads.  While a fill runs (qc_track_begin .. qc_track_end) every
 * ExecutorStart, including the nested ones of views, SQL and PL functions
 * and triggers, adds the relations of its range table, and every function
 * call expression that is set up for execution passes the object-access
 * hook (InvokeFunctionExecuteHook), PL/pgSQL's simple expressions
 * included.  A result is not cached (the fill says why, at DEBUG1) when
 * the key cannot capture what it depends on:
 *		- it reads a system catalog: catalogs change in place (VACUUM,
 *		  ANALYZE) and through shared catalogs of other databases;
 *		- it reads a sequence, a temporary relation, or a table with
 *		  row-level security (unless querycache.cache_rls);
 *		- it calls a built-in pg_stat_* function: statistics change without
 *		  any write;
 *		- it calls a VOLATILE function (pg_sleep aside, and querycache's own
 *		  wrap and get, which run uncached inside a fill), or a function
 *		  whose result depends on the session rather than on the data and
 *		  the settings in the key (current_setting, pg_backend_pid, ...).
 * Settings that change how values print or literals parse are part of the
 * key instead (fill.c, qc_settings_hash).
 *
 * Writes.  Every ExecutorStart of a plan that modifies tables (INSERT,
 * UPDATE, DELETE, MERGE, data-modifying CTEs, foreign-key actions run
 * through SPI) records its result relations as pending (gen.c).  The utility
 * hook records COPY FROM, TRUNCATE and REFRESH MATERIALIZED VIEW the same
 * way, before the statement runs (a trigger inside it may fill) and again
 * after (a multi-transaction command commits inside); TRUNCATE also owes
 * each table's coarse slot, for the entries of its keyed rules (gen.c).
 * Other utility statements that can change what a query returns or who may
 * read it bump the database's epoch, or the cluster's when they change
 * shared objects (roles, databases, tablespaces) or commit a prepared
 * transaction.  What only this session can see (temporary objects,
 * DISCARD) moves this session's temporary generation, which is in its
 * keys, and nothing shared; so do statements that change no result at all
 * (a password).
 *
 * All state here is backend-local; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "commands/defrem.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "querycache.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

/*
 * Tracking state of the fill in progress.  The list lives in the context
 * that was current at qc_track_begin, since nested executions run in
 * shorter-lived ones.  An error inside the fill ends tracking through the
 * (sub)transaction abort callbacks, unless it is caught at a deeper
 * subtransaction level, inside the fill, which goes on tracking.
 */
static bool tracking = false;
static const char *tracked_reason = NULL;	/* why not cacheable, or NULL */
static List *tracked_relids = NIL;
static MemoryContext tracked_cxt = NULL;
static int	tracked_level = 0;

/* Changes to this session's temporary objects (part of its keys). */
static uint64 temp_generation = 0;

void
qc_track_begin(void)
{
	tracking = true;
	tracked_reason = NULL;
	tracked_relids = NIL;
	tracked_cxt = CurrentMemoryContext;
	tracked_level = GetCurrentTransactionNestLevel();
}

/* Stop tracking; returns why the result is not cacheable, or NULL. */
const char *
qc_track_end(List **relids)
{
	*relids = tracked_relids;
	tracking = false;
	tracked_relids = NIL;
	tracked_cxt = NULL;
	return tracked_reason;
}

static void
qc_track_abort(void)
{
	tracking = false;
	tracked_relids = NIL;
	tracked_cxt = NULL;
}

static void
qc_track_xact_callback(XactEvent event, void *arg)
{
	if (tracking && (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT))
		qc_track_abort();
}

static void
qc_track_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (tracking && event == SUBXACT_EVENT_ABORT_SUB &&
		GetCurrentTransactionNestLevel() <= tracked_level)
		qc_track_abort();
}

bool
qc_tracking(void)
{
	return tracking;
}

uint64
qc_temp_generation(void)
{
	return temp_generation;
}

/* Not cacheable: remember the first reason, in a context that outlives it. */
static void
qc_uncacheable(const char *fmt, const char *name)
{
	MemoryContext old;

	if (tracked_reason != NULL)
		return;
	old = MemoryContextSwitchTo(tracked_cxt);
	tracked_reason = psprintf(fmt, name);
	MemoryContextSwitchTo(old);
}

static void
qc_track_read(Oid relid)
{
	HeapTuple	tup;
	MemoryContext old = MemoryContextSwitchTo(tracked_cxt);

	tracked_relids = list_append_unique_oid(tracked_relids, relid);
	MemoryContextSwitchTo(old);

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_class cls = (Form_pg_class) GETSTRUCT(tup);

		if (relid < FirstNormalObjectId)
			qc_uncacheable("reads system catalog %s", NameStr(cls->relname));
		else if (cls->relkind == RELKIND_SEQUENCE)
			qc_uncacheable("reads sequence %s", NameStr(cls->relname));
		/* another session's same-named relation is another relation */
		else if (cls->relpersistence == RELPERSISTENCE_TEMP)
			qc_uncacheable("reads temporary relation %s", NameStr(cls->relname));
		/* policies may depend on session state the key does not hold */
		else if (cls->relrowsecurity && !qc_cache_rls)
			qc_uncacheable("reads %s, which has row-level security", NameStr(cls->relname));
		ReleaseSysCache(tup);
	}
}

/* Built-in functions whose result depends on the session, not the data. */
static bool
qc_session_function(Oid funcid)
{
	switch (funcid)
	{
		case F_CURRENT_SETTING_TEXT:
		case F_CURRENT_SETTING_TEXT_BOOL:
		case F_PG_BACKEND_PID:
		case F_INET_CLIENT_ADDR:
		case F_INET_CLIENT_PORT:
		case F_INET_SERVER_ADDR:
		case F_INET_SERVER_PORT:
		case F_PG_MY_TEMP_SCHEMA:
		case F_PG_IS_OTHER_TEMP_SCHEMA:
		case F_PG_LISTENING_CHANNELS:
		case F_PG_TRIGGER_DEPTH:
		case F_TXID_CURRENT_IF_ASSIGNED:
		case F_PG_CURRENT_XACT_ID_IF_ASSIGNED:
			return true;
		default:
			return false;
	}
}

/*
 * Volatile functions that are fine in a cached result: pg_sleep only
 * takes time, and querycache's wrap and get run uncached inside a fill,
 * their reads counted as the outer fill's.
 */
static bool
qc_volatile_allowed(Oid funcid)
{
	HeapTuple	tup;
	bool		ok = false;

	if (funcid == F_PG_SLEEP || funcid == F_PG_SLEEP_FOR || funcid == F_PG_SLEEP_UNTIL)
		return true;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);

		if (proc->prolang == ClanguageId)
		{
			bool		isnull;
			Datum		bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &isnull);
			Datum		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &isnull);
			char	   *binstr = TextDatumGetCString(bin);
			char	   *srcstr = TextDatumGetCString(src);

			ok = strcmp(binstr, "$libdir/querycache") == 0 &&
				(strcmp(srcstr, "querycache_wrap") == 0 ||
				 strcmp(srcstr, "querycache_get") == 0);
			pfree(binstr);
			pfree(srcstr);
		}
		ReleaseSysCache(tup);
	}
	return ok;
}

/*
 * Every function call expression initialized for execution comes here
 * (ExecInitFunc and friends), wherever it runs: plans, PL/pgSQL simple
 * expressions, SQL function bodies, domain checks.
 */
static void
qc_object_access(ObjectAccessType access, Oid classId, Oid objectId,
				 int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);

	if (!tracking || access != OAT_FUNCTION_EXECUTE || tracked_reason != NULL)
		return;
	if (objectId < FirstNormalObjectId)
	{
		char	   *name = get_func_name(objectId);

		/* statistics are not transactional: no write invalidates them */
		if (name != NULL && strncmp(name, "pg_stat_", 8) == 0)
		{
			qc_uncacheable("calls %s, which reads statistics", name);
			return;
		}
	}
	if (qc_session_function(objectId))
		qc_uncacheable("calls %s, which depends on the session", get_func_name(objectId));
	else if (func_volatile(objectId) == PROVOLATILE_VOLATILE &&
			 !qc_volatile_allowed(objectId))
		qc_uncacheable("calls volatile function %s", get_func_name(objectId));
}

static void
qc_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	PlannedStmt *ps = queryDesc->plannedstmt;

	if (!IsParallelWorker())
	{
		ListCell   *lc;

		if ((ps->commandType != CMD_SELECT || ps->hasModifyingCTE) &&
			!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		{
			foreach(lc, ps->resultRelations)
				qc_pending_add_rel(rt_fetch(lfirst_int(lc), ps->rtable)->relid);
		}
		if (tracking)
		{
			foreach(lc, ps->rtable)
			{
				RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

				if (rte->rtekind == RTE_RELATION)
					qc_track_read(rte->relid);
			}
		}
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/* ---- utility statements ---- */

/* What a utility statement changes, for the cache. */
typedef enum QcEffect
{
	QC_EFFECT_NONE,				/* no result of anyone's can change */
	QC_EFFECT_RELS,				/* rows of the relations it names */
	QC_EFFECT_TEMP,				/* this session's temporary objects only */
	QC_EFFECT_EPOCH,			/* definitions or rights in this database */
	QC_EFFECT_GLOBAL			/* shared objects: every database */
} QcEffect;

static Oid
qc_rangevar_relid(RangeVar *rv)
{
	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

static bool
qc_rangevar_is_temp(RangeVar *rv)
{
	Oid			relid;

	if (rv == NULL)
		return false;
	if (rv->relpersistence == RELPERSISTENCE_TEMP)
		return true;
	relid = qc_rangevar_relid(rv);
	return OidIsValid(relid) && get_rel_persistence(relid) == RELPERSISTENCE_TEMP;
}

/* A name qualified with pg_temp: this session's temporary schema. */
static bool
qc_name_is_temp(List *names)
{
	return list_length(names) >= 2 &&
		strcmp(strVal(linitial(names)), "pg_temp") == 0;
}

/* Is everything a DROP names temporary? */
static bool
qc_drop_is_temp(DropStmt *drop)
{
	ListCell   *lc;

	switch (drop->removeType)
	{
		case OBJECT_FUNCTION:
		case OBJECT_PROCEDURE:
		case OBJECT_ROUTINE:
			foreach(lc, drop->objects)
				if (!qc_name_is_temp(lfirst_node(ObjectWithArgs, lc)->objname))
					return false;
			return drop->objects != NIL;
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_SEQUENCE:
		case OBJECT_INDEX:
			break;
		default:
			return false;
	}
	foreach(lc, drop->objects)
	{
		RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));

		if (!qc_rangevar_is_temp(rv))
			return false;
	}
	return drop->objects != NIL;
}

/* ALTER ROLE that changes no privilege: password, expiry, connections. */
static bool
qc_alter_role_harmless(AlterRoleStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "password") != 0 &&
			strcmp(def->defname, "validUntil") != 0 &&
			strcmp(def->defname, "connectionlimit") != 0)
			return false;
	}
	return true;
}

static bool
qc_is_shared_objtype(ObjectType type)
{
	return type == OBJECT_DATABASE || type == OBJECT_TABLESPACE ||
		type == OBJECT_ROLE || type == OBJECT_PARAMETER_ACL;
}

/*
 * Classify a utility statement, before it runs.  The relations a statement
 * names are looked up without a lock: a name that does not resolve yet is
 * looked up again after the statement.
 */
static QcEffect
qc_utility_effect(Node *stmt)
{
	switch (nodeTag(stmt))
	{
			/* statements that change neither data, definitions nor rights */
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_ExplainStmt:		/* EXPLAIN ANALYZE runs through the executor */
		case T_PrepareStmt:
		case T_ExecuteStmt:
		case T_DeallocateStmt:
		case T_DeclareCursorStmt:
		case T_FetchStmt:
		case T_ClosePortalStmt:
		case T_NotifyStmt:
		case T_ListenStmt:
		case T_UnlistenStmt:
		case T_CheckPointStmt:
		case T_VacuumStmt:		/* in-place catalog updates: catalog reads are
								 * never cached */
		case T_LockStmt:
		case T_CallStmt:		/* its statements are tracked one by one */
		case T_DoStmt:
		case T_LoadStmt:
		case T_ConstraintsSetStmt:
		case T_ReindexStmt:
		case T_ClusterStmt:
		case T_AlterRoleSetStmt:	/* defaults of future sessions; settings
									 * that matter are in the key */
		case T_TransactionStmt:	/* COMMIT PREPARED: see qc_ProcessUtility */
			return QC_EFFECT_NONE;

		case T_DiscardStmt:
			return QC_EFFECT_TEMP;

		case T_CopyStmt:
			return ((CopyStmt *) stmt)->is_from ? QC_EFFECT_RELS : QC_EFFECT_NONE;
		case T_TruncateStmt:
			return ((TruncateStmt *) stmt)->behavior == DROP_CASCADE ?
				QC_EFFECT_EPOCH : QC_EFFECT_RELS;
		case T_RefreshMatViewStmt:
			return QC_EFFECT_RELS;

			/* temporary objects are visible to this session only */
		case T_CreateStmt:
			return qc_rangevar_is_temp(((CreateStmt *) stmt)->relation) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_ViewStmt:
			return qc_rangevar_is_temp(((ViewStmt *) stmt)->view) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_CreateTableAsStmt:
			return qc_rangevar_is_temp(((CreateTableAsStmt *) stmt)->into->rel) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_CreateSeqStmt:
			return qc_rangevar_is_temp(((CreateSeqStmt *) stmt)->sequence) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_IndexStmt:
			return qc_rangevar_is_temp(((IndexStmt *) stmt)->relation) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_AlterTableStmt:
			return qc_rangevar_is_temp(((AlterTableStmt *) stmt)->relation) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_CreateTrigStmt:
			return qc_rangevar_is_temp(((CreateTrigStmt *) stmt)->relation) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_CreateFunctionStmt:
			return qc_name_is_temp(((CreateFunctionStmt *) stmt)->funcname) ?
				QC_EFFECT_TEMP : QC_EFFECT_EPOCH;
		case T_DropStmt:
			return qc_drop_is_temp((DropStmt *) stmt) ? QC_EFFECT_TEMP : QC_EFFECT_EPOCH;

			/* roles, databases and tablespaces are cluster-wide */
		case T_AlterRoleStmt:
			return qc_alter_role_harmless((AlterRoleStmt *) stmt) ?
				QC_EFFECT_NONE : QC_EFFECT_GLOBAL;
		case T_CreateRoleStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_AlterDatabaseStmt:
		case T_AlterDatabaseSetStmt:
		case T_AlterDatabaseRefreshCollStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterTableSpaceOptionsStmt:
		case T_AlterSystemStmt:
			return QC_EFFECT_GLOBAL;
		case T_RenameStmt:
			return qc_is_shared_objtype(((RenameStmt *) stmt)->renameType) ?
				QC_EFFECT_GLOBAL : QC_EFFECT_EPOCH;
		case T_AlterOwnerStmt:
			return qc_is_shared_objtype(((AlterOwnerStmt *) stmt)->objectType) ?
				QC_EFFECT_GLOBAL : QC_EFFECT_EPOCH;
		case T_GrantStmt:
			return qc_is_shared_objtype(((GrantStmt *) stmt)->objtype) ?
				QC_EFFECT_GLOBAL : QC_EFFECT_EPOCH;

		default:
			/* DDL, GRANT/REVOKE, policies, ...: coarse but never stale */
			return QC_EFFECT_EPOCH;
	}
}

/*
 * Record a write to the relation rv names (and its children).  A TRUNCATE
 * also owes each table's coarse slot: its rows go without a row trigger,
 * and entries of its keyed rules depend on that slot (gen.c).
 */
static void
qc_pending_add_rangevar(RangeVar *rv, bool with_children, bool truncate)
{
	Oid			relid = qc_rangevar_relid(rv);
	List	   *rels;
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	rels = with_children ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	foreach(lc, rels)
	{
		Oid			rel = lfirst_oid(lc);

		qc_pending_add_rel(rel);
		if (truncate && get_rel_persistence(rel) != RELPERSISTENCE_TEMP)
			qc_pending_add_coarse(rel);
	}
}

/* Record what a utility statement changes; see the header comment. */
static void
qc_track_utility(Node *stmt, QcEffect effect)
{
	switch (effect)
	{
		case QC_EFFECT_NONE:
			break;
		case QC_EFFECT_TEMP:
			temp_generation++;
			break;
		case QC_EFFECT_EPOCH:
			qc_pending_add_epoch();
			break;
		case QC_EFFECT_GLOBAL:
			qc_pending_add_global();
			break;
		case QC_EFFECT_RELS:
			if (IsA(stmt, CopyStmt))
				qc_pending_add_rangevar(((CopyStmt *) stmt)->relation, false, false);
			else if (IsA(stmt, RefreshMatViewStmt))
				qc_pending_add_rangevar(((RefreshMatViewStmt *) stmt)->relation, false, false);
			else if (IsA(stmt, TruncateStmt))
			{
				ListCell   *lc;

				foreach(lc, ((TruncateStmt *) stmt)->relations)
				{
					RangeVar   *rv = lfirst_node(RangeVar, lc);

					qc_pending_add_rangevar(rv, rv->inh, true);
				}
			}
			break;
	}
}

/* The xid of a prepared transaction, or InvalidTransactionId. */
static TransactionId
qc_prepared_xid(const char *gid)
{
	TransactionId xid = InvalidTransactionId;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	if (gid == NULL)
		return InvalidTransactionId;
	args[0] = CStringGetTextDatum(gid);
	SPI_connect();
	if (SPI_execute_with_args("SELECT transaction::pg_catalog.text FROM pg_catalog.pg_prepared_xacts"
							  " WHERE gid OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *val = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (val != NULL)
			xid = (TransactionId) strtoul(val, NULL, 10);
	}
	SPI_finish();
	return xid;
}

static void
qc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	QcEffect	effect = QC_EFFECT_NONE;

	if (!IsParallelWorker() && qc_store_ready())
	{
		/*
		 * COMMIT PREPARED makes the prepared rows visible inside the
		 * statement, and the backend that wrote them is gone, so what it
		 * changed is unknown: owe the cluster epoch, raised and bumped
		 * before, finished when this transaction ends.  Only when the
		 * statement can proceed (it refuses to run in a transaction
		 * block), so that nothing stays raised while a session idles.
		 */
		if (IsA(stmt, TransactionStmt) &&
			((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED &&
			context == PROCESS_UTILITY_TOPLEVEL && !IsTransactionBlock())
		{
			uint32		global = qc_gen_global_slot();

			qc_pending_add_global();
			qc_pending_publish_early();
			/* standbys: the prepared xid owes the cluster epoch */
			qc_replica_log_prepared(qc_prepared_xid(((TransactionStmt *) stmt)->gid),
									&global, 1);
		}

		/* before: a trigger inside the statement may fill the cache */
		effect = qc_utility_effect(stmt);
		if (effect != QC_EFFECT_TEMP)
			qc_track_utility(stmt, effect);
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/* after: names resolve now, and multi-transaction commands end here */
	if (effect != QC_EFFECT_NONE)
		qc_track_utility(stmt, effect);
}

void
qc_track_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = qc_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = qc_ProcessUtility;
	prev_object_access = object_access_hook;
	object_access_hook = qc_object_access;
	RegisterXactCallback(qc_track_xact_callback, NULL);
	RegisterSubXactCallback(qc_track_subxact_callback, NULL);
}
