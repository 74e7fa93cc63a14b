/*-------------------------------------------------------------------------
 *
 * rules.c
 *		The extension's configuration tables, querycache_rules and
 *		querycache_policies (querycache_ttl is a view of the latter), and
 *		what they say about a key: which tables it depends on, and its
 *		policy (TTL, dependency policy, stale-while-revalidate window).
 *
 * Each backend keeps a copy of each table, reloaded when the table's
 * generation moves (after a committed write to it); the tables' OIDs are
 * found again when the database's epoch moves (CREATE/DROP EXTENSION).
 *
 * The copies are read here, in C, with a heap scan: no SQL, no operator
 * or function the caller's search_path could resolve to something else,
 * and no privilege of the caller is needed.  The generation is read
 * before the snapshot the scan uses, and entries that use a copy depend on
 * that generation (qc_gens_add_rel_at): the freshness argument of gen.c
 * then holds with the load as the snapshot.
 *
 * Keyed rules (a key_column in querycache_rules): under depends = 'rules'
 * an entry whose key matches the rule's pattern depends on the slot of the
 * value the pattern's first capture group names in that column, and on the
 * table's coarse slot, instead of the whole table (gen.c), provided the
 * table is a plain table whose keyed trigger (trigger.c) is there, enabled
 * ALWAYS and covers the column, as pg_trigger says in a snapshot taken
 * now, after the caller's fence.  Anything else (no capture group, a
 * capture that did not take part in the match, another kind of relation,
 * no such column, no trigger) depends on the whole table: when in doubt,
 * depend on more.
 *
 * Backend-local state; no locks beyond the AccessShareLock of the scans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "regex/regex.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "querycache.h"

/* One row of a config table. */
typedef struct QcPattern
{
	text	   *pattern;
	int64		value;			/* relation OID, or TTL in microseconds (-1:
								 * querycache.default_ttl) */
	QcPolicy	policy;			/* querycache_policies only */
	char	   *keycol;			/* querycache_rules: key column, or NULL */
} QcPattern;

/* A backend-local copy of a (pattern, value) config table. */
typedef struct QcPatterns
{
	const char *relname;
	const char *valcol;			/* column holding the value */
	Oid			relid;
	uint64		loaded_gen;		/* 0: not loaded */
	int			n;
	QcPattern  *rows;
	MemoryContext cxt;
} QcPatterns;

static QcPatterns qc_rules = {.relname = "querycache_rules",.valcol = "table_name"};
static QcPatterns qc_policies = {.relname = "querycache_policies",.valcol = "ttl"};
static uint64 qc_config_epoch = 0;
static Oid	qc_keyed_fn = InvalidOid;	/* querycache_invalidate_keyed() */

/* The schema querycache is installed in and its owner, or InvalidOid. */
void
qc_extension_info(Oid *nsp, Oid *owner)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	*nsp = *owner = InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("querycache"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * An interval as a TTL in microseconds, months counted as 30 days as
 * interval comparison does.  Out of (0, QC_MAX_TTL] is an error.
 */
int64
qc_interval_ttl(const Interval *iv)
{
	int64		usecs;

	/* bound each part first, so that the sum cannot overflow */
	if (iv->month > 12 * 1000 || iv->month < -12 * 1000 ||
		iv->day > 1000 * 366 || iv->day < -1000 * 366 ||
		iv->time > 1000 * 366 * USECS_PER_DAY || iv->time < -1000 * 366 * USECS_PER_DAY)
		usecs = (iv->month > 0 || iv->day > 0 || iv->time > 0) ? QC_MAX_TTL + 1 : 0;
	else
		usecs = (int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY +
			(int64) iv->day * USECS_PER_DAY + iv->time;
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("querycache ttl must be positive"),
				 errhint("Pass NULL to use the TTL from querycache_ttl or querycache.default_ttl.")));
	if (usecs > QC_MAX_TTL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("querycache ttl must be at most 100 years")));
	return usecs;
}

/*
 * A TTL row as microseconds.  Rows stored before 1.1's CHECK may be out of
 * range: clamp them, a miss must not fail on a config row.
 */
static int64
qc_ttl_clamped(const Interval *iv)
{
	int64		usecs;

	if (iv->month > 12 * 1000 || iv->day > 1000 * 366 ||
		iv->time > 1000 * 366 * USECS_PER_DAY)
		return QC_MAX_TTL;
	if (iv->month < -12 * 1000 || iv->day < -1000 * 366 ||
		iv->time < -1000 * 366 * USECS_PER_DAY)
		return 1;
	usecs = (int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY +
		(int64) iv->day * USECS_PER_DAY + iv->time;
	return Min(Max(usecs, 1), QC_MAX_TTL);
}

/* Find the config tables again after the database's epoch moved. */
static void
qc_config_resolve(void)
{
	uint64		epoch = qc_gen_db_epoch();
	Oid			nsp;
	Oid			owner;

	if (epoch == qc_config_epoch)
		return;
	qc_extension_info(&nsp, &owner);
	qc_rules.relid = OidIsValid(nsp) ? get_relname_relid(qc_rules.relname, nsp) : InvalidOid;
	qc_policies.relid = OidIsValid(nsp) ? get_relname_relid(qc_policies.relname, nsp) : InvalidOid;
	/* 1.0 had no policies table, only querycache_ttl */
	if (!OidIsValid(qc_policies.relid) && OidIsValid(nsp))
		qc_policies.relid = get_relname_relid("querycache_ttl", nsp);
	/* 1.0 had no keyed trigger: keyed rules then depend on whole tables */
	qc_keyed_fn = OidIsValid(nsp) ?
		LookupFuncName(list_make2(makeString(get_namespace_name(nsp)),
								  makeString("querycache_invalidate_keyed")),
					   0, NULL, true) : InvalidOid;
	qc_rules.loaded_gen = qc_policies.loaded_gen = 0;
	qc_config_epoch = epoch;
}

/*
 * A column of a config table, checked to have the type the loader reads
 * (a superuser may have altered the table).  InvalidAttrNumber if it is
 * missing and optional (querycache_ttl of 1.0 has no policy columns).
 */
static AttrNumber
qc_config_column(Relation rel, const char *name, Oid type, bool required)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("querycache table %s has no column \"%s\"",
							RelationGetRelationName(rel), name),
					 errhint("Recreate the extension, or restore the column.")));
		return InvalidAttrNumber;
	}
	if (TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("querycache table %s column \"%s\" must be of type %s",
						RelationGetRelationName(rel), name, format_type_be(type)),
				 errhint("Recreate the extension, or restore the column's type.")));
	return attnum;
}

/* Longest pattern first, so that the first match is the longest one. */
static int
qc_pattern_cmp(const void *a, const void *b, void *arg)
{
	const text *pa = ((const QcPattern *) a)->pattern;
	const text *pb = ((const QcPattern *) b)->pattern;
	int			la = VARSIZE_ANY_EXHDR(pa);
	int			lb = VARSIZE_ANY_EXHDR(pb);

	if (la != lb)
		return lb - la;
	return memcmp(VARDATA_ANY(pa), VARDATA_ANY(pb), la);
}

static void
qc_patterns_load(QcPatterns *pc)
{
	uint64		gen;
	Relation	rel;
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	patatt;
	AttrNumber	valatt;
	AttrNumber	depatt = InvalidAttrNumber;
	AttrNumber	swratt = InvalidAttrNumber;
	AttrNumber	keyatt = InvalidAttrNumber;
	int			cap = 16;

	qc_config_resolve();
	if (!OidIsValid(pc->relid))
	{
		pc->n = 0;
		return;
	}
	/* read before the snapshot: a write after it makes the copy look stale */
	gen = qc_gen_rel_value(pc->relid);
	if (gen == pc->loaded_gen)
		return;
	pg_memory_barrier();

	if (pc->cxt == NULL)
		pc->cxt = AllocSetContextCreate(CacheMemoryContext, "querycache config",
										ALLOCSET_SMALL_SIZES);
	MemoryContextReset(pc->cxt);
	pc->n = 0;
	pc->loaded_gen = 0;
	pc->rows = MemoryContextAlloc(pc->cxt, sizeof(QcPattern) * cap);

	/* DROP EXTENSION may have dropped it since it was looked up */
	rel = try_table_open(pc->relid, AccessShareLock);
	if (rel == NULL)
	{
		qc_config_epoch = 0;	/* look it up again next time */
		pc->relid = InvalidOid;
		return;
	}
	patatt = qc_config_column(rel, "pattern", TEXTOID, true);
	valatt = qc_config_column(rel, pc->valcol,
							  pc == &qc_policies ? INTERVALOID : REGCLASSOID, true);
	if (pc == &qc_policies)
	{
		depatt = qc_config_column(rel, "depends", TEXTOID, false);
		swratt = qc_config_column(rel, "stale_while_revalidate", INTERVALOID, false);
	}
	else						/* 1.0's querycache_rules has no key column */
		keyatt = qc_config_column(rel, "key_column", NAMEOID, false);
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull1;
		bool		isnull2;
		Datum		pat = slot_getattr(slot, patatt, &isnull1);
		Datum		val = slot_getattr(slot, valatt, &isnull2);
		QcPattern  *row;
		text	   *ptext;

		if (isnull1 || (isnull2 && pc != &qc_policies))
			continue;
		if (pc->n == cap)
		{
			cap *= 2;
			pc->rows = repalloc(pc->rows, sizeof(QcPattern) * cap);
		}
		row = &pc->rows[pc->n++];
		row->keycol = NULL;
		/* a long pattern may be compressed or stored out of line */
		ptext = DatumGetTextPP(pat);
		row->pattern = (text *) MemoryContextAlloc(pc->cxt, VARSIZE_ANY(ptext));
		memcpy(row->pattern, ptext, VARSIZE_ANY(ptext));
		if (pc == &qc_policies)
		{
			bool		isnull;
			Datum		d;

			row->policy.ttl = isnull2 ? -1 : qc_ttl_clamped(DatumGetIntervalP(val));
			row->policy.rules_only = false;
			row->policy.swr = 0;
			if (depatt != InvalidAttrNumber)
			{
				d = slot_getattr(slot, depatt, &isnull);
				row->policy.rules_only = !isnull &&
					strcmp(TextDatumGetCString(d), "rules") == 0;
			}
			if (swratt != InvalidAttrNumber)
			{
				d = slot_getattr(slot, swratt, &isnull);
				if (!isnull)
				{
					Interval   *iv = DatumGetIntervalP(d);

					if (iv->month > 0 || iv->day > 0 || iv->time > 0)
						row->policy.swr = Min(qc_ttl_clamped(iv), QC_MAX_SWR);
				}
			}
		}
		else
		{
			row->value = (int64) DatumGetObjectId(val);
			if (keyatt != InvalidAttrNumber)
			{
				bool		isnull;
				Datum		d = slot_getattr(slot, keyatt, &isnull);

				if (!isnull)
					row->keycol = MemoryContextStrdup(pc->cxt, NameStr(*DatumGetName(d)));
			}
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);

	if (pc == &qc_policies)
		qsort_arg(pc->rows, pc->n, sizeof(QcPattern), qc_pattern_cmp, NULL);
	pc->loaded_gen = gen;
}

static bool
qc_pattern_matches(text *pattern, const char *key, int keylen)
{
	return RE_compile_and_execute(pattern, (char *) key, keylen, REG_ADVANCED,
								  C_COLLATION_OID, 0, NULL);
}

/*
 * Is relid's keyed trigger there, enabled ALWAYS, and does it cover
 * column?  Read from pg_trigger in snap, taken after the caller's fence:
 * the relcache may predate a committed ALTER TABLE ... DISABLE TRIGGER
 * (gen.c, "Keyed rules").  The trigger must fire AFTER
 * each row of every INSERT, UPDATE and DELETE, without a WHEN condition
 * or a column list.
 */
static bool
qc_keyed_trigger_ok(Oid relid, const char *column, Snapshot snap)
{
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		ok = false;

	if (!OidIsValid(qc_keyed_fn))
		return false;
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, snap, 1, &key);
	while (!ok && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		bool		isnull;
		Datum		d;
		bytea	   *args;
		const char *p;
		const char *end;

		if (tg->tgfoid != qc_keyed_fn || tg->tgenabled != TRIGGER_FIRES_ALWAYS ||
			!TRIGGER_FOR_ROW(tg->tgtype) || !TRIGGER_FOR_AFTER(tg->tgtype) ||
			!TRIGGER_FOR_INSERT(tg->tgtype) || !TRIGGER_FOR_UPDATE(tg->tgtype) ||
			!TRIGGER_FOR_DELETE(tg->tgtype) || tg->tgattr.dim1 != 0 ||
			!heap_attisnull(tup, Anum_pg_trigger_tgqual, RelationGetDescr(tgrel)))
			continue;
		d = heap_getattr(tup, Anum_pg_trigger_tgargs, RelationGetDescr(tgrel), &isnull);
		if (isnull)
			continue;
		/* tgnargs strings, each ending with a NUL */
		args = DatumGetByteaPP(d);
		p = VARDATA_ANY(args);
		end = p + VARSIZE_ANY_EXHDR(args);
		for (int i = 0; i < tg->tgnargs && p < end && !ok; i++)
		{
			size_t		len = strnlen(p, end - p);

			ok = len == strlen(column) && memcmp(p, column, len) == 0;
			p += len + 1;
		}
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return ok;
}

/*
 * Does relid have inheritance children, as pg_inherits says in snap (taken
 * after the caller's fence, as for qc_keyed_trigger_ok)?  A write through a parent changes rows of its children, whose
 * row triggers fire, not the parent's: its keyed rules cannot be keyed.
 */
static bool
qc_keyed_has_children(Oid relid, Snapshot snap)
{
	Relation	inh;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	inh = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhparent, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(inh, InheritsParentIndexId, true, snap, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(inh, AccessShareLock);
	return found;
}

/*
 * Is the captured text of a key the one text the key column's value
 * prints as, whatever the session's settings, and do equal values print
 * the same?  Only for integers (canonical digits), text and varchar with a
 * deterministic collation, and uuid (lowercase, hyphenated).  Any other
 * type (dates print by DateStyle, numerics with their scale, ...) keys
 * nothing: the trigger, run with the writer's settings, could name a value
 * other than the key's.
 */
static bool
qc_keyed_value_canonical(Oid relid, AttrNumber attnum, const char *v, int len)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			{
				int			i = (len > 0 && v[0] == '-') ? 1 : 0;

				/* no sign but '-', no leading zero, not "-0", at most 19 digits */
				if (len - i < 1 || len - i > 19 || (v[i] == '0' && (len - i > 1 || i == 1)))
					return false;
				for (; i < len; i++)
					if (v[i] < '0' || v[i] > '9')
						return false;
				return true;
			}
		case TEXTOID:
		case VARCHAROID:
			return !OidIsValid(collid) || get_collation_isdeterministic(collid);
		case UUIDOID:
			if (len != 36)
				return false;
			for (int i = 0; i < len; i++)
			{
				if (i == 8 || i == 13 || i == 18 || i == 23)
				{
					if (v[i] != '-')
						return false;
				}
				else if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
					return false;
			}
			return true;
		default:
			return false;
	}
}

/* What a keyed rule makes of a key (qc_rules_add_keyed). */
typedef enum QcKeyedResult
{
	QC_KEYED_NO_MATCH,			/* the pattern does not match the key */
	QC_KEYED_ADDED,				/* depends on the value's and coarse slots */
	QC_KEYED_WHOLE_TABLE		/* matches, but cannot be keyed: fall back */
} QcKeyedResult;

/*
 * A keyed rule and a key: if the pattern matches, add the slot of the
 * value its first capture group names and the table's coarse slot, unless
 * the rule cannot be keyed for this key.
 */
static QcKeyedResult
qc_rules_add_keyed(QcGens *gens, const QcPattern *rule, const char *key, int keylen)
{
	Oid			relid = (Oid) rule->value;
	regmatch_t	pmatch[2];
	AttrNumber	attnum;
	Snapshot	snap;
	bool		keyable;
	int			start;
	int			len;

	if (!RE_compile_and_execute(rule->pattern, (char *) key, keylen, REG_ADVANCED,
								C_COLLATION_OID, 2, pmatch))
		return QC_KEYED_NO_MATCH;
	/* pmatch[1] is -1 without a capture group or if it took no part */
	if (pmatch[1].rm_so < 0 || pmatch[1].rm_eo < pmatch[1].rm_so ||
		get_rel_relkind(relid) != RELKIND_RELATION ||
		(attnum = get_attnum(relid, rule->keycol)) <= 0)	/* none, or a
															 * system column */
		return QC_KEYED_WHOLE_TABLE;
	/* the offsets count characters: find their bytes */
	start = pg_mbcharcliplen(key, keylen, pmatch[1].rm_so);
	len = pg_mbcharcliplen(key + start, keylen - start,
						   pmatch[1].rm_eo - pmatch[1].rm_so);
	if (!qc_keyed_value_canonical(relid, attnum, key + start, len))
		return QC_KEYED_WHOLE_TABLE;
	/* the catalogs as of now, after the caller's fence (see above) */
	snap = RegisterSnapshot(GetLatestSnapshot());
	keyable = qc_keyed_trigger_ok(relid, rule->keycol, snap) &&
		!qc_keyed_has_children(relid, snap);
	UnregisterSnapshot(snap);
	if (!keyable)
		return QC_KEYED_WHOLE_TABLE;
	qc_gens_add_key(gens, relid, qc_keyvalue_hash(rule->keycol, key + start, len));
	return QC_KEYED_ADDED;
}

/*
 * Entries whose key matches a rule depend on the rule's table, and every
 * entry depends on the rules table itself, so a new rule cannot miss
 * entries filled before it.  With keyed (depends = 'rules'), a keyed rule
 * names one value of its table instead (qc_rules_add_keyed).
 */
void
qc_rules_add_deps(QcGens *gens, const char *key, int keylen, bool keyed)
{
	qc_patterns_load(&qc_rules);
	if (!OidIsValid(qc_rules.relid))
		return;
	qc_gens_add_rel_at(gens, qc_rules.relid, qc_rules.loaded_gen);
	for (int i = 0; i < qc_rules.n; i++)
	{
		QcPattern  *rule = &qc_rules.rows[i];

		if (keyed && rule->keycol != NULL)
		{
			switch (qc_rules_add_keyed(gens, rule, key, keylen))
			{
				case QC_KEYED_NO_MATCH:
				case QC_KEYED_ADDED:
					break;
				case QC_KEYED_WHOLE_TABLE:
					qc_gens_add_rel(gens, (Oid) rule->value);
					break;
			}
		}
		else if (qc_pattern_matches(rule->pattern, key, keylen))
			qc_gens_add_rel(gens, (Oid) rule->value);
	}
}

/*
 * The policy of the longest querycache_policies pattern matching key, else
 * the defaults: TTL querycache.default_ttl, dependencies from reads, no
 * stale-while-revalidate.
 */
QcPolicy
qc_policy_for_key(const char *key, int keylen)
{
	QcPolicy	policy = {-1, false, 0};

	qc_patterns_load(&qc_policies);
	for (int i = 0; i < qc_policies.n; i++)
		if (qc_pattern_matches(qc_policies.rows[i].pattern, key, keylen))
		{
			policy = qc_policies.rows[i].policy;
			break;
		}
	if (policy.ttl < 0)
		policy.ttl = (int64) qc_default_ttl * USECS_PER_SEC;
	return policy;
}
