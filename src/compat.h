/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The differences between the PostgreSQL versions querycache builds
 *		against (15 to 18), each behind PG_VERSION_NUM here and nowhere else.
 *
 * querycache.h includes this file, so every source file sees it; the
 * macros expand at their use sites, which include the headers they need.
 *
 * Checked and unchanged through 18: the ExecutorStart hook (18 briefly made
 * it return bool during development; 18.0 shipped it returning void),
 * ProcessUtility_hook (readOnlyTree since 14), shmem_request_hook (15),
 * setup_parse_variable_parameters (15).
 *
 *-------------------------------------------------------------------------
 */
#ifndef QC_COMPAT_H
#define QC_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "querycache needs PostgreSQL 15 or later"
#endif

/*
 * ExecutorRun lost its execute_once argument in 18.  QC_EXECUTOR_RUN_ARGS
 * declares a hook's parameters (queryDesc, direction, count and, before 18,
 * execute_once); QC_EXECUTOR_RUN_PASS passes them on.
 */
#if PG_VERSION_NUM >= 180000
#define QC_EXECUTOR_RUN_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define QC_EXECUTOR_RUN_PASS queryDesc, direction, count
#else
#define QC_EXECUTOR_RUN_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define QC_EXECUTOR_RUN_PASS queryDesc, direction, count, execute_once
#endif

/*
 * pq_sendcountedtext lost its countincludesself argument (always false for
 * a DataRow column) in 17.  Needs libpq/pqformat.h.
 */
#if PG_VERSION_NUM >= 170000
#define qc_sendcountedtext(buf, str, len) pq_sendcountedtext((buf), (str), (len))
#else
#define qc_sendcountedtext(buf, str, len) pq_sendcountedtext((buf), (str), (len), false)
#endif

/*
 * 15.0 named InitMaterializedSRF SetSingleFuncCall; 15.1 renamed it (keeping
 * the old name too).  Needs funcapi.h.
 */
#if PG_VERSION_NUM < 150001
#define InitMaterializedSRF SetSingleFuncCall
#endif

/*
 * pg_class_ownercheck became object_ownercheck in 16.  Needs utils/acl.h
 * (and catalog/pg_class.h for RelationRelationId).
 */
#if PG_VERSION_NUM >= 160000
#define qc_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define qc_class_ownercheck(relid, roleid) pg_class_ownercheck((relid), (roleid))
#endif

/*
 * ShmemVariableCache became TransamVariables in 17 (access/transam.h);
 * querycache reads its xactCompletionCount (14+).
 */
#if PG_VERSION_NUM >= 170000
#define QC_TRANSAM_VARS TransamVariables
#else
#define QC_TRANSAM_VARS ShmemVariableCache
#endif

#endif							/* QC_COMPAT_H */
