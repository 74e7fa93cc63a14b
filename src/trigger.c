/*-------------------------------------------------------------------------
 *
 * trigger.c
 *		The AFTER ... FOR EACH STATEMENT trigger that invalidates a table's
 *		entries when the writing transaction commits.
 *
 * The executor hook already records DML, but the trigger is what catches
 * writes that bypass the executor hooks of this backend, and it is what
 * querycache_watch() and the rules install.  It only records the table as
 * pending (gen.c); the generations move at commit, never here: clearing at
 * trigger time would let a concurrent miss refill the old rows before the
 * commit became visible.  One call per statement, whatever the row count.
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
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("querycache_invalidate_trigger must be fired AFTER ... FOR EACH STATEMENT"),
				 errhint("Use querycache_watch() to install it.")));

	/* Without the preloaded library there is no cache to keep fresh. */
	if (qc_store_ready())
		qc_pending_add_rel(RelationGetRelid(trigdata->tg_relation));

	return PointerGetDatum(NULL);
}
