/*-------------------------------------------------------------------------
 *
 * trigger.c
 *		The AFTER trigger that invalidates a table's entries when the
 *		writing transaction commits.
 *
 * The executor hook already records DML, but the trigger is what catches
 * writes that bypass the executor hooks of this backend, and it is what
 * querycache_watch() and the rules install, twice:
 *		- FOR EACH STATEMENT, ENABLE ALWAYS: one call per statement, in
 *		  every session, replica mode included;
 *		- FOR EACH ROW, ENABLE REPLICA: fires only with
 *		  session_replication_role = replica, which is how logical
 *		  replication apply workers run, and they fire row-level triggers
 *		  only (TRUNCATE aside).  Costs nothing in ordinary sessions.
 * It only records the table as pending (gen.c), once per transaction
 * however often it fires; the generations move at commit, never here:
 * clearing at trigger time would let a concurrent miss refill the old rows
 * before the commit became visible.
 *
 * No shared state is touched here, so no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "querycache.h"

PG_FUNCTION_INFO_V1(querycache_invalidate_trigger);

Datum
querycache_invalidate_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("querycache_invalidate_trigger must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("querycache_invalidate_trigger must be fired AFTER"),
				 errhint("Use querycache_watch() to install it.")));

	/* Without the preloaded library there is no cache to keep fresh. */
	if (qc_store_ready())
		qc_pending_add_rel(RelationGetRelid(trigdata->tg_relation));

	return PointerGetDatum(NULL);
}
