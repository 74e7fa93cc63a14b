/*-------------------------------------------------------------------------
 *
 * output.c
 *		Sending a hit to the client as stored text, without jsonb_out.
 *
 * Printing a jsonb value walks the whole document and escapes every string;
 * for a hit that costs more than finding and copying the value.  Each entry
 * therefore also stores the text jsonb_out prints (store.c), and a hit that
 * is the whole row sent to the client goes out as that text:
 *
 * - The ExecutorRun hook marks the "direct" expression of a run: a SELECT
 *   whose top plan node projects a single column, a function call of type
 *   jsonb, sent to the client (DestRemote or DestRemoteExecute) in text
 *   format.  For such a run it wraps the receiver.
 * - A querycache_wrap or querycache_get that hits, and whose call node
 *   (flinfo->fn_expr) is the direct expression, offers its value and text.
 *   The top node's projection puts exactly that datum in the row.
 * - The wrapped receiver takes the offer for the row it receives, and
 *   drops it either way.  If the row's column is the offered datum (same
 *   pointer), it sends the DataRow message itself, converting to the client
 *   encoding as printtup does; otherwise printtup sends the row.
 *
 * The function always returns the real jsonb value, so whatever else looks
 * at the row sees a correct datum, and the text sent is jsonb_out of those
 * very bytes.  The result format comes from ActivePortal, which must have
 * one column and text format.  For a FETCH or an SQL EXECUTE, ActivePortal
 * is not the portal printtup prints for, but such portals (and multi-query
 * ones) have no formats, so those runs are never wrapped.
 *
 * Backend-local state only; no locks.  The direct expression is saved and
 * restored around each run, since a fill runs queries of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "libpq/pqformat.h"
#include "tcop/pquery.h"

#include "querycache.h"

typedef struct QcReceiver
{
	DestReceiver pub;
	DestReceiver *inner;		/* printtup */
	StringInfoData buf;
} QcReceiver;

static ExecutorRun_hook_type prev_ExecutorRun = NULL;

/* The function call node whose value is the whole row, or NULL. */
static Node *qc_direct_expr = NULL;

/* What a hit offered for the next row: the datum and its text. */
static const Jsonb *qc_offer_value = NULL;
static const char *qc_offer_text;
static uint32 qc_offer_len;

/* Called on a hit with the value returned and its stored text. */
void
qc_output_offer(FunctionCallInfo fcinfo, const Jsonb *value, const char *text,
				uint32 len)
{
	if (text == NULL || qc_direct_expr == NULL ||
		fcinfo->flinfo->fn_expr != qc_direct_expr)
		return;
	qc_offer_value = value;
	qc_offer_text = text;
	qc_offer_len = len;
}

static bool
qc_receive_slot(TupleTableSlot *slot, DestReceiver *self)
{
	QcReceiver *r = (QcReceiver *) self;
	const Jsonb *value = qc_offer_value;

	qc_offer_value = NULL;
	if (value != NULL)
	{
		slot_getsomeattrs(slot, 1);
		if (!slot->tts_isnull[0] &&
			DatumGetPointer(slot->tts_values[0]) == (const char *) value)
		{
			pq_beginmessage_reuse(&r->buf, 'D');
			pq_sendint16(&r->buf, 1);
			qc_sendcountedtext(&r->buf, qc_offer_text, qc_offer_len);
			pq_endmessage_reuse(&r->buf);
			ereport(DEBUG2, (errmsg_internal("querycache sent the stored text")));
			return true;
		}
	}
	return r->inner->receiveSlot(slot, r->inner);
}

static void
qc_receive_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	QcReceiver *r = (QcReceiver *) self;

	r->inner->rStartup(r->inner, operation, typeinfo);
}

static void
qc_receive_shutdown(DestReceiver *self)
{
	QcReceiver *r = (QcReceiver *) self;

	r->inner->rShutdown(r->inner);
}

static void
qc_receive_destroy(DestReceiver *self)
{
	QcReceiver *r = (QcReceiver *) self;

	r->inner->rDestroy(r->inner);
}

/* The direct expression of this run (see the header), or NULL. */
static Node *
qc_find_direct_expr(QueryDesc *queryDesc)
{
	Plan	   *plan = queryDesc->plannedstmt->planTree;
	CommandDest dest = queryDesc->dest->mydest;
	TargetEntry *tle;

	if (queryDesc->operation != CMD_SELECT ||
		(dest != DestRemote && dest != DestRemoteExecute) ||
		list_length(plan->targetlist) != 1 ||
		ActivePortal == NULL || ActivePortal->formats == NULL ||
		ActivePortal->tupDesc == NULL || ActivePortal->tupDesc->natts != 1 ||
		ActivePortal->formats[0] != 0)
		return NULL;
	tle = linitial_node(TargetEntry, plan->targetlist);
	if (tle->resjunk || !IsA(tle->expr, FuncExpr) ||
		((FuncExpr *) tle->expr)->funcresulttype != JSONBOID)
		return NULL;
	return (Node *) tle->expr;
}

static void
qc_run_next(QC_EXECUTOR_RUN_ARGS)
{
	if (prev_ExecutorRun)
		prev_ExecutorRun(QC_EXECUTOR_RUN_PASS);
	else
		standard_ExecutorRun(QC_EXECUTOR_RUN_PASS);
}

static void
qc_ExecutorRun(QC_EXECUTOR_RUN_ARGS)
{
	Node	   *save_expr = qc_direct_expr;
	DestReceiver *save_dest = queryDesc->dest;
	QcReceiver *volatile r = NULL;

	qc_offer_value = NULL;
	qc_direct_expr = qc_find_direct_expr(queryDesc);

	/* most runs: nothing to wrap, nothing to restore */
	if (qc_direct_expr == NULL && save_expr == NULL)
	{
		qc_run_next(QC_EXECUTOR_RUN_PASS);
		return;
	}

	if (qc_direct_expr != NULL)
	{
		QcReceiver *nr = palloc0(sizeof(QcReceiver));

		nr->pub.receiveSlot = qc_receive_slot;
		nr->pub.rStartup = qc_receive_startup;
		nr->pub.rShutdown = qc_receive_shutdown;
		nr->pub.rDestroy = qc_receive_destroy;
		nr->pub.mydest = save_dest->mydest;
		nr->inner = save_dest;
		initStringInfo(&nr->buf);
		queryDesc->dest = &nr->pub;
		r = nr;
	}
	PG_TRY();
	{
		qc_run_next(QC_EXECUTOR_RUN_PASS);
	}
	PG_FINALLY();
	{
		queryDesc->dest = save_dest;
		qc_direct_expr = save_expr;
		qc_offer_value = NULL;
	}
	PG_END_TRY();
	if (r != NULL)
	{
		pfree(r->buf.data);
		pfree(r);
	}
}

void
qc_output_init(void)
{
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = qc_ExecutorRun;
}
