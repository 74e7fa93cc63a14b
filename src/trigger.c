/*-------------------------------------------------------------------------
 *
 * trigger.c
 *		The AFTER triggers that invalidate a table's entries when the
 *		writing transaction commits: querycache_invalidate_trigger for the
 *		whole table, querycache_invalidate_keyed for keyed rules.
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
 * A TRUNCATE also owes the table's coarse slot, which every entry of a
 * keyed rule of the table depends on (logical replication apply workers
 * fire the statement trigger for TRUNCATE but pass no utility hook).
 *
 * The keyed trigger (querycache_invalidate_keyed, installed by
 * querycache_rule_set for the key columns of a table's keyed rules, as
 * its arguments): FOR EACH ROW, AFTER INSERT OR UPDATE OR DELETE, ENABLE
 * ALWAYS.  For each row it owes the slot of the text output of each key
 * column, of the old row and of the new one (gen.c, qc_pending_add_key),
 * so that an entry whose key names one value is invalidated only by rows
 * that had or have that value.  It never fails a write: a key column that
 * is gone owes the table's coarse slot.  Entries depend on these slots
 * only while the trigger is there and enabled ALWAYS (rules.c).
 *
 * No shared state is touched here, so no locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_class.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "querycache.h"

PG_FUNCTION_INFO_V1(querycache_invalidate_trigger);
PG_FUNCTION_INFO_V1(querycache_invalidate_keyed);

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
	{
		Relation	rel = trigdata->tg_relation;

		qc_pending_add_rel(RelationGetRelid(rel));
		if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) &&
			rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP)
			qc_pending_add_coarse(RelationGetRelid(rel));
	}

	return PointerGetDatum(NULL);
}

/* A key column of the keyed trigger: where it is, how it prints. */
typedef struct QcKeyedCol
{
	AttrNumber	attnum;			/* 0: no such column */
	FmgrInfo	out;			/* its type's output function */
} QcKeyedCol;

/* What the keyed trigger looks up once per statement (fn_extra). */
typedef struct QcKeyedCols
{
	Oid			tgoid;
	Oid			relid;
	int			ncols;
	QcKeyedCol	cols[FLEXIBLE_ARRAY_MEMBER];
} QcKeyedCols;

/* Owe the slot of one key column's value in one row. */
static void
qc_keyed_row(Oid relid, const char *column, HeapTuple tuple, TupleDesc desc,
			 QcKeyedCol *col)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, col->attnum, desc, &isnull);
	char	   *out;

	if (isnull)
	{
		qc_pending_add_key(relid, qc_keyvalue_hash(column, NULL, 0));
		return;
	}
	out = OutputFunctionCall(&col->out, d);
	qc_pending_add_key(relid, qc_keyvalue_hash(column, out, strlen(out)));
	pfree(out);
}

Datum
querycache_invalidate_keyed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Trigger    *trigger;
	Relation	rel;
	TupleDesc	desc;
	QcKeyedCols *cols;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("querycache_invalidate_keyed must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("querycache_invalidate_keyed must be fired AFTER, FOR EACH ROW"),
				 errhint("Use querycache_watch() with a key column to install it.")));

	if (!qc_store_ready())
		return PointerGetDatum(NULL);

	trigger = trigdata->tg_trigger;
	rel = trigdata->tg_relation;
	relid = RelationGetRelid(rel);
	desc = RelationGetDescr(rel);
	/* other sessions never see this session's temporary rows */
	if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return PointerGetDatum(NULL);

	cols = (QcKeyedCols *) fcinfo->flinfo->fn_extra;
	if (cols == NULL || cols->tgoid != trigger->tgoid || cols->relid != relid)
	{
		cols = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									  offsetof(QcKeyedCols, cols) +
									  sizeof(QcKeyedCol) * Max(trigger->tgnargs, 1));
		cols->tgoid = trigger->tgoid;
		cols->relid = relid;
		cols->ncols = trigger->tgnargs;
		for (int i = 0; i < trigger->tgnargs; i++)
		{
			for (int a = 0; a < desc->natts; a++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, a);
				Oid			typoutput;
				bool		varlena;

				if (att->attisdropped ||
					strcmp(NameStr(att->attname), trigger->tgargs[i]) != 0)
					continue;
				cols->cols[i].attnum = att->attnum;
				getTypeOutputInfo(att->atttypid, &typoutput, &varlena);
				fmgr_info_cxt(typoutput, &cols->cols[i].out, fcinfo->flinfo->fn_mcxt);
				break;
			}
		}
		fcinfo->flinfo->fn_extra = cols;
	}

	for (int i = 0; i < cols->ncols; i++)
	{
		const char *column = trigger->tgargs[i];

		if (cols->cols[i].attnum == 0)
		{
			/* the column is gone (renamed, dropped): never stale */
			qc_pending_add_coarse(relid);
			continue;
		}
		/* the new row of an INSERT, the old row of an UPDATE or DELETE */
		qc_keyed_row(relid, column, trigdata->tg_trigtuple, desc, &cols->cols[i]);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			qc_keyed_row(relid, column, trigdata->tg_newtuple, desc, &cols->cols[i]);
	}

	return PointerGetDatum(NULL);
}
