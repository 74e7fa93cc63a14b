/*-------------------------------------------------------------------------
 *
 * track.c
 *		Executor and utility hooks: which relations a fill reads, and what
 *		the current transaction writes or alters.
 *
 * Reads.  While a fill runs (qc_track_begin .. qc_track_end) every
 * ExecutorStart, including the nested ones of views, SQL and PL functions
 * and triggers, adds the relations of its range table.  A relation with
 * row-level security (unless querycache.cache_rls) or a temporary one makes
 * the fill uncacheable.
 *
 * Writes.  Every ExecutorStart of a plan that modifies tables (INSERT,
 * UPDATE, DELETE, MERGE, data-modifying CTEs, foreign-key actions run
 * through SPI) records its result relations as pending (gen.c).  The utility
 * hook records COPY FROM, TRUNCATE and REFRESH MATERIALIZED VIEW the same
 * way.  Every other utility statement that can change what a query returns
 * or who may read it (DDL, GRANT, REVOKE, policies, ...) bumps the
 * database's epoch at commit; role changes bump the global epoch.
 * COMMIT PREPARED bumps the epoch around the moment the prepared
 * transaction becomes visible, since the backend that wrote the rows is
 * gone by then.
 *
 * All state here is backend-local; no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "parser/parsetree.h"
#include "tcop/utility.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "querycache.h"

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/*
 * Tracking state of the fill in progress.  The list lives in the context
 * that was current at qc_track_begin, since nested executions run in
 * shorter-lived ones.  An error inside the fill ends tracking through the
 * (sub)transaction abort callbacks, unless it is caught at a deeper
 * subtransaction level, inside the fill, which goes on tracking.
 */
static bool tracking = false;
static bool tracked_uncacheable = false;
static List *tracked_relids = NIL;
static MemoryContext tracked_cxt = NULL;
static int	tracked_level = 0;

void
qc_track_begin(void)
{
	tracking = true;
	tracked_uncacheable = false;
	tracked_relids = NIL;
	tracked_cxt = CurrentMemoryContext;
	tracked_level = GetCurrentTransactionNestLevel();
}

/* Stop tracking; returns the relations read. */
List *
qc_track_end(bool *trackable)
{
	List	   *relids = tracked_relids;

	*trackable = !tracked_uncacheable;
	tracking = false;
	tracked_relids = NIL;
	tracked_cxt = NULL;
	return relids;
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

		/* policies may depend on session state the key does not hold */
		if (cls->relrowsecurity && !qc_cache_rls)
			tracked_uncacheable = true;
		/* another session's same-named relation is another relation */
		if (cls->relpersistence == RELPERSISTENCE_TEMP)
			tracked_uncacheable = true;
		ReleaseSysCache(tup);
	}
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

static void
qc_pending_add_rangevar(RangeVar *rv, bool with_children)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);

	if (!OidIsValid(relid))
		return;
	if (with_children)
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(relid, NoLock, NULL))
			qc_pending_add_rel(lfirst_oid(lc));
	}
	else
		qc_pending_add_rel(relid);
}

/*
 * Record what a finished utility statement changed.  Runs after the
 * statement succeeded, so the relations it names exist and are locked.
 */
static void
qc_track_utility(Node *stmt)
{
	switch (nodeTag(stmt))
	{
			/* statements that change neither data, definitions nor rights */
		case T_VariableSetStmt:
		case T_VariableShowStmt:
		case T_ExplainStmt:
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
		case T_VacuumStmt:
		case T_LockStmt:
		case T_DiscardStmt:
		case T_CallStmt:		/* its statements are tracked one by one */
		case T_DoStmt:
		case T_LoadStmt:
		case T_ConstraintsSetStmt:
		case T_ReindexStmt:
		case T_ClusterStmt:
			break;

		case T_TransactionStmt:
			break;				/* COMMIT PREPARED: see qc_ProcessUtility */

		case T_CopyStmt:
			{
				CopyStmt   *copy = (CopyStmt *) stmt;

				if (copy->is_from && copy->relation)
					qc_pending_add_rangevar(copy->relation, false);
				break;
			}

		case T_TruncateStmt:
			{
				TruncateStmt *trunc = (TruncateStmt *) stmt;
				ListCell   *lc;

				if (trunc->behavior == DROP_CASCADE)
					qc_pending_add_epoch();
				foreach(lc, trunc->relations)
				{
					RangeVar   *rv = lfirst_node(RangeVar, lc);

					qc_pending_add_rangevar(rv, rv->inh);
				}
				break;
			}

		case T_RefreshMatViewStmt:
			qc_pending_add_rangevar(((RefreshMatViewStmt *) stmt)->relation, false);
			break;

		case T_CreateStmt:
			/* a temporary table is visible to this session only */
			if (((CreateStmt *) stmt)->relation->relpersistence != RELPERSISTENCE_TEMP)
				qc_pending_add_epoch();
			break;

			/* roles are cluster-wide */
		case T_CreateRoleStmt:
		case T_AlterRoleStmt:
		case T_AlterRoleSetStmt:
		case T_DropRoleStmt:
		case T_GrantRoleStmt:
		case T_ReassignOwnedStmt:
		case T_DropOwnedStmt:
			qc_pending_add_global();
			break;

		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_ROLE)
				qc_pending_add_global();
			else
				qc_pending_add_epoch();
			break;

		default:
			/* DDL, GRANT/REVOKE, policies, ...: coarse but never stale */
			qc_pending_add_epoch();
			break;
	}
}

static void
qc_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				  bool readOnlyTree, ProcessUtilityContext context,
				  ParamListInfo params, QueryEnvironment *queryEnv,
				  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	/*
	 * COMMIT PREPARED makes the prepared rows visible inside the statement,
	 * and the backend that wrote them is gone: bump the epoch before, with
	 * the slot in flight, and again when this transaction ends.
	 */
	if (IsA(stmt, TransactionStmt) &&
		((TransactionStmt *) stmt)->kind == TRANS_STMT_COMMIT_PREPARED &&
		!IsParallelWorker())
	{
		qc_pending_add_epoch();
		qc_pending_publish_early();
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (!IsParallelWorker())
		qc_track_utility(stmt);
}

void
qc_track_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = qc_ExecutorStart;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = qc_ProcessUtility;
	RegisterXactCallback(qc_track_xact_callback, NULL);
	RegisterSubXactCallback(qc_track_subxact_callback, NULL);
}
