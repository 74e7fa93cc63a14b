/*-------------------------------------------------------------------------
 *
 * schema.c
 *		What querycache does to user tables and to its rules table on a
 *		role's behalf: the seed app's migration 047 and indexes
 *		(querycache_apply_schema), its default rules
 *		(querycache_watch_defaults), and adding or removing a rule
 *		(querycache_rule_set, called by querycache_watch/unwatch).
 *
 * Security rules, the reason this file exists:
 * - User tables are touched only with their owner's rights, inside a
 *   security-restricted operation with a pinned search_path, as VACUUM and
 *   REFRESH MATERIALIZED VIEW do since CVE-2022-1552 (qc_call_as_owner):
 *   a trigger, a planted operator or a planted table controlled by the
 *   owner never runs with more than the owner's rights, whoever called.
 * - The caller must have the privileges of each table's owner, or the
 *   switch would hand the owner's rights to someone else.
 * - The seed's tables are found through the caller's search_path; that is
 *   a catalog lookup only, no SQL runs with it.  Everything else runs in
 *   the extension's own PL/pgSQL functions, whose search_path is pinned.
 * - Objects created on the owner's behalf during CREATE EXTENSION are
 *   user data, not extension members: creating_extension is off while the
 *   owner's code runs.
 * - The rules table belongs to the extension's owner; a table's owner may
 *   add and remove the rules of that table only.  The write runs as the
 *   extension's owner in a security-restricted operation, and touches no
 *   user object.
 * - A keyed rule also needs the keyed row trigger on its table
 *   (querycache_invalidate_keyed, one per table, the key columns of its
 *   rules as arguments).  It is created as the table's owner, in a
 *   security-restricted operation with a pinned search_path, like the
 *   seed's migration.
 *
 * No shared memory; no locks beyond those of the statements run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "querycache.h"

PG_FUNCTION_INFO_V1(querycache_apply_schema);
PG_FUNCTION_INFO_V1(querycache_watch_defaults);
PG_FUNCTION_INFO_V1(querycache_rule_set);

/* The seed app's tables: index on user_id, and the pattern of its rule. */
static const struct
{
	const char *table;
	const char *index;
	const char *pattern;
}			qc_seed[] =
{
	{"agents", "idx_agents_user_id", "^agents:"},
	{"contacts", "idx_contacts_user_id", "^contacts:"},
	{"call_campaigns", "idx_campaigns_user_id", "^campaigns:"},
	{"call_queue", NULL, "^campaigns:"},
};

/* An extension function by name and argument types. */
static Oid
qc_ext_function(const char *name, int nargs, Oid *argtypes)
{
	Oid			nsp;
	Oid			owner;

	qc_extension_info(&nsp, &owner);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"querycache\" is not installed in this database")));
	return LookupFuncName(list_make2(makeString(get_namespace_name(nsp)),
									 makeString(pstrdup(name))),
						  nargs, argtypes, false);
}

static void
qc_require_owner(Oid relid)
{
	if (!qc_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/* Call fnoid(args) and ignore its (void) result. */
static void
qc_call(Oid fnoid, int nargs, Datum *args)
{
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);

	fmgr_info(fnoid, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	(void) FunctionCallInvoke(fcinfo);
}

/* Who we were before qc_become. */
typedef struct QcSavedUser
{
	Oid			userid;
	int			sec;
	int			nestlevel;
} QcSavedUser;

/*
 * Become userid inside a security-restricted operation with a pinned
 * search_path.  An error unwinds both through transaction abort; else
 * qc_unbecome restores them.
 */
static void
qc_become(Oid userid, QcSavedUser *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec);
	SetUserIdAndSecContext(userid, save->sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	save->nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

static void
qc_unbecome(const QcSavedUser *save)
{
	AtEOXact_GUC(false, save->nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec);
}

/*
 * Run fnoid(args) as userid (qc_become), outside of any extension being
 * created; an error restores creating_extension through the PG_FINALLY.
 */
static void
qc_call_as(Oid userid, Oid fnoid, int nargs, Datum *args)
{
	QcSavedUser save;
	bool		save_creating = creating_extension;

	qc_become(userid, &save);
	creating_extension = false;
	PG_TRY();
	{
		qc_call(fnoid, nargs, args);
	}
	PG_FINALLY();
	{
		creating_extension = save_creating;
	}
	PG_END_TRY();
	qc_unbecome(&save);
}

/* Run fnoid(relid, ...) as relid's owner, once the caller proved it may. */
static void
qc_call_as_owner(Oid relid, Oid fnoid, int nargs, Datum *args)
{
	HeapTuple	tup;
	Oid			owner;

	qc_require_owner(relid);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	qc_call_as(owner, fnoid, nargs, args);
}

/* A table of the caller's search_path, or InvalidOid. */
static Oid
qc_seed_table(const char *name)
{
	Oid			relid = RelnameGetRelid(name);
	char		kind;

	if (!OidIsValid(relid))
		return InvalidOid;
	kind = get_rel_relkind(relid);
	return (kind == RELKIND_RELATION || kind == RELKIND_PARTITIONED_TABLE) ? relid : InvalidOid;
}

static void
qc_watch_defaults(void)
{
	Oid			argtypes[2] = {REGCLASSOID, TEXTOID};
	Oid			watch = qc_ext_function("querycache_watch", 2, argtypes);

	for (int i = 0; i < (int) lengthof(qc_seed); i++)
	{
		Oid			relid = qc_seed_table(qc_seed[i].table);
		Datum		args[2];

		if (!OidIsValid(relid))
			continue;
		/* watch checks ownership itself and runs no user code */
		args[0] = ObjectIdGetDatum(relid);
		args[1] = CStringGetTextDatum(qc_seed[i].pattern);
		qc_call(watch, 2, args);
	}
}

/* querycache_watch_defaults(): the seed's rules for its tables that exist. */
Datum
querycache_watch_defaults(PG_FUNCTION_ARGS)
{
	qc_watch_defaults();
	PG_RETURN_VOID();
}

/*
 * querycache_apply_schema(): migration 047 on call_queue, the seed's
 * indexes and its rules, on the tables found in the caller's search_path.
 */
Datum
querycache_apply_schema(PG_FUNCTION_ARGS)
{
	Oid			regclass_arg[1] = {REGCLASSOID};
	Oid			index_args[2] = {REGCLASSOID, TEXTOID};
	Oid			migrate = qc_ext_function("querycache_migrate_047", 1, regclass_arg);
	Oid			seed_index = qc_ext_function("querycache_seed_index", 2, index_args);
	Oid			queue = RelnameGetRelid("call_queue");
	Datum		args[2];

	if (!OidIsValid(queue))
		ereport(NOTICE,
				(errmsg("querycache: table call_queue not found in search_path (%s), skipping migration 047",
						namespace_search_path),
				 errhint("Once call_queue exists, run SELECT querycache_apply_schema().")));
	else if (!OidIsValid(qc_seed_table("call_queue")))
		ereport(NOTICE,
				(errmsg("querycache: %s is not a table, skipping migration 047",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(queue)),
												   "call_queue"))));
	else
	{
		args[0] = ObjectIdGetDatum(queue);
		qc_call_as_owner(queue, migrate, 1, args);
	}

	for (int i = 0; i < (int) lengthof(qc_seed); i++)
	{
		Oid			relid;

		if (qc_seed[i].index == NULL || !OidIsValid(relid = qc_seed_table(qc_seed[i].table)))
			continue;
		args[0] = ObjectIdGetDatum(relid);
		args[1] = CStringGetTextDatum(qc_seed[i].index);
		qc_call_as_owner(relid, seed_index, 2, args);
	}

	qc_watch_defaults();
	PG_RETURN_VOID();
}

/*
 * Make relid's keyed trigger match the key columns of its rules, as the
 * table's owner: created (again, ENABLE ALWAYS) with the columns as
 * arguments, or dropped when no keyed rule is left.  Only plain tables
 * get one; other relations' keyed rules depend on the whole relation.
 */
static void
qc_sync_keyed_trigger(Oid relid, const char *rules, const char *extnsp)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	StringInfoData args;
	char	   *tbl;
	HeapTuple	tup;
	Oid			owner;
	QcSavedUser save;
	int			rc;
	int			ncols;

	/* allocated here, not in SPI's context, which SPI_finish frees */
	initStringInfo(&args);
	/* the rules table is readable by every role */
	SPI_connect();
	rc = SPI_execute_with_args(psprintf("SELECT DISTINCT key_column::pg_catalog.text FROM %s"
										" WHERE table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
										" AND key_column IS NOT NULL ORDER BY 1", rules),
							   1, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", rules, SPI_result_code_string(rc));
	ncols = (int) SPI_processed;
	for (uint64 i = 0; i < SPI_processed; i++)
		appendStringInfo(&args, "%s%s", i > 0 ? ", " : "",
						 quote_literal_cstr(SPI_getvalue(SPI_tuptable->vals[i],
														 SPI_tuptable->tupdesc, 1)));
	SPI_finish();

	if (ncols > 0 && get_rel_relkind(relid) != RELKIND_RELATION)
	{
		ereport(NOTICE,
				(errmsg("querycache: %s is not a plain table, its keyed rules depend on all of it",
						get_rel_name(relid))));
		return;
	}

	tbl = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									 get_rel_name(relid));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	qc_become(owner, &save);
	/* no NOTICE for a trigger that is not there yet */
	(void) set_config_option("client_min_messages", "warning", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	rc = SPI_execute(psprintf("DROP TRIGGER IF EXISTS querycache_invalidate_keyed ON %s", tbl),
					 false, 0);
	if (rc >= 0 && ncols > 0)
		rc = SPI_execute(psprintf("CREATE TRIGGER querycache_invalidate_keyed"
								  " AFTER INSERT OR UPDATE OR DELETE ON %s"
								  " FOR EACH ROW EXECUTE FUNCTION %s.querycache_invalidate_keyed(%s)",
								  tbl, quote_identifier(extnsp), args.data),
						 false, 0);
	if (rc >= 0 && ncols > 0)
		rc = SPI_execute(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER querycache_invalidate_keyed", tbl),
						 false, 0);
	if (rc < 0)
		elog(ERROR, "could not install the keyed trigger on %s: %s", tbl,
			 SPI_result_code_string(rc));
	SPI_finish();
	qc_unbecome(&save);
}

/*
 * querycache_rule_set(tbl regclass, pattern text, present bool
 *					   [, key_column name]): add the rule (tbl, pattern), or
 * remove it (all of tbl's with a NULL pattern).  With a key column (the
 * four-argument form), the rule is keyed on it (NULL: not keyed; an
 * existing rule of the same pattern changes), and tbl's keyed trigger is
 * made to match its rules.  For the table's owner; see the header for how
 * the writes run.
 */
Datum
querycache_rule_set(PG_FUNCTION_ARGS)
{
	Oid			relid;
	text	   *pattern = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	bool		present;
	bool		keyed_form = PG_NARGS() > 3;
	char	   *keycol = NULL;
	Oid			nsp;
	Oid			extowner;
	QcSavedUser save;
	char	   *rules;
	Datum		values[3];
	Oid			types[3] = {OIDOID, TEXTOID, NAMEOID};
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache_rule_set table and present must not be null")));
	relid = PG_GETARG_OID(0);
	present = PG_GETARG_BOOL(2);
	if (keyed_form && !PG_ARGISNULL(3))
		keycol = pstrdup(NameStr(*PG_GETARG_NAME(3)));
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (present && pattern == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("querycache rule pattern must not be null")));
	qc_require_owner(relid);
	if (present && keycol != NULL)
	{
		AttrNumber	attnum = get_attnum(relid, keycol);

		if (attnum == InvalidAttrNumber || attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							keycol, get_rel_name(relid)),
					 errhint("The key column of a keyed rule is the column of %s whose value the pattern's first capture group names.",
							 get_rel_name(relid))));
	}

	qc_extension_info(&nsp, &extowner);
	rules = quote_qualified_identifier(get_namespace_name(nsp), "querycache_rules");
	values[0] = ObjectIdGetDatum(relid);
	values[1] = pattern ? PointerGetDatum(pattern) : (Datum) 0;
	values[2] = keycol ? DirectFunctionCall1(namein, CStringGetDatum(keycol)) : (Datum) 0;

	qc_become(extowner, &save);
	SPI_connect();
	if (present && keyed_form)
		rc = SPI_execute_with_args(psprintf("INSERT INTO %s AS r (table_name, pattern, key_column) VALUES ($1, $2, $3)"
											" ON CONFLICT (table_name, pattern) DO UPDATE SET key_column = EXCLUDED.key_column", rules),
								   3, types, values, keycol ? NULL : "  n", false, 0);
	else if (present)
		rc = SPI_execute_with_args(psprintf("INSERT INTO %s (table_name, pattern) VALUES ($1, $2) ON CONFLICT DO NOTHING", rules),
								   2, types, values, NULL, false, 0);
	else if (pattern == NULL)
		rc = SPI_execute_with_args(psprintf("DELETE FROM %s WHERE table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1", rules),
								   1, types, values, NULL, false, 0);
	else
		rc = SPI_execute_with_args(psprintf("DELETE FROM %s WHERE table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1 AND pattern OPERATOR(pg_catalog.=) $2", rules),
								   2, types, values, NULL, false, 0);
	if (rc < 0)
		elog(ERROR, "could not update %s: %s", rules, SPI_result_code_string(rc));
	SPI_finish();
	qc_unbecome(&save);

	if (keyed_form)
		qc_sync_keyed_trigger(relid, rules, get_namespace_name(nsp));
	PG_RETURN_VOID();
}
