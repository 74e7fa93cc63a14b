--
-- Security (issue 10, privilege escalation): nothing an ordinary role
-- plants ever runs with a superuser's rights through querycache.
--
-- qc_attacker is an ordinary login role that owns database qc_sec_db, and
-- so (PostgreSQL 15) its public schema, which is on every superuser's
-- default search_path ("$user", public).  Before a superuser installs or
-- uses querycache there, it plants:
--   * operators public.*(numeric, integer), public.=(oid, regclass) and
--     public.#>>(jsonb, jsonb), better matches than pg_catalog's for the
--     unqualified operators of querycache's SQL and SPI text;
--   * statement triggers on its own call_queue and on a call_queue_duplicates
--     it created in advance, and a column default there.
-- Each of them records current_user, and whether that role is a superuser,
-- in qc_attack_log.  After every superuser action the test lists what ran
-- as a superuser: correct behaviour lists nothing.  (A planted object may
-- run as qc_attacker itself, e.g. a trigger run with the table owner's
-- rights; that is not an escalation and is not listed.)
--
SELECT current_database() AS origdb \gset
CREATE ROLE qc_attacker LOGIN;
CREATE DATABASE qc_sec_db OWNER qc_attacker;
\c qc_sec_db
SHOW search_path;
SELECT nspowner::regrole AS public_owner FROM pg_namespace WHERE nspname = 'public';

-- ---- what the attacker plants, as itself ----
SET SESSION AUTHORIZATION qc_attacker;
CREATE TABLE qc_attack_log (what text, cur name, is_super boolean);
GRANT ALL ON qc_attack_log TO PUBLIC;
CREATE FUNCTION qc_attack_note(what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.qc_attack_log
	SELECT what, current_user, r.rolsuper
	  FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
END $$;

-- extract(epoch FROM ttl) * 1000000 in the C TTL lookup
CREATE FUNCTION qc_evil_mul(numeric, integer) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.qc_attack_note('operator *(numeric, integer)');
	RETURN $1 OPERATOR(pg_catalog.*) $2::numeric;
END $$;
CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = qc_evil_mul);

-- d.classid = ...::regclass (sql_drop event trigger), tgrelid = tbl
-- (querycache_watch), c.oid = v_queue (querycache_apply_schema)
CREATE FUNCTION qc_evil_eq(oid, regclass) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.qc_attack_note('operator =(oid, regclass)');
	RETURN $1 OPERATOR(pg_catalog.=) $2::oid;
END $$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = qc_evil_eq);

-- v #>> '{}' in querycache_key's body, resolved when CREATE EXTENSION runs
-- with search_path = public: '{}' is taken as jsonb for the exact match.
CREATE FUNCTION qc_evil_path(jsonb, jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.qc_attack_note('operator #>>(jsonb, jsonb)');
	RETURN $1 OPERATOR(pg_catalog.#>>) '{}'::text[];
END $$;
CREATE OPERATOR public.#>> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = qc_evil_path);

-- the app's call_queue, with duplicates for migration 047 to move
CREATE TABLE call_queue (id bigint PRIMARY KEY, campaign_id int, contact_id int);
INSERT INTO call_queue VALUES (1, 1, 1), (2, 1, 1), (3, 2, 2), (4, 2, 2);
CREATE FUNCTION qc_attack_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.qc_attack_note(TG_WHEN || ' ' || TG_OP || ' trigger on ' || TG_TABLE_NAME);
	RETURN NULL;
END $$;
CREATE TRIGGER planted AFTER DELETE ON call_queue
	FOR EACH STATEMENT EXECUTE FUNCTION qc_attack_trigger();
-- and the table the duplicates go to, created in advance
CREATE FUNCTION qc_attack_default() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM public.qc_attack_note('column default of call_queue_duplicates');
	RETURN pg_catalog.now();
END $$;
CREATE TABLE call_queue_duplicates (id bigint, campaign_id int, contact_id int,
	moved_at timestamptz NOT NULL DEFAULT qc_attack_default());
CREATE TRIGGER planted AFTER INSERT ON call_queue_duplicates
	FOR EACH STATEMENT EXECUTE FUNCTION qc_attack_trigger();
RESET SESSION AUTHORIZATION;

-- What ran with superuser rights since the last check (then forget it).
-- The rows it lists move to qc_check.seen.
CREATE SCHEMA qc_check;
CREATE TABLE qc_check.seen (what text, cur name, is_super boolean);
CREATE FUNCTION qc_check.ran_as_superuser() RETURNS TABLE (what text, cur name)
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
	WITH d AS (DELETE FROM public.qc_attack_log RETURNING *),
	     s AS (INSERT INTO qc_check.seen SELECT * FROM d)
	SELECT DISTINCT what, cur FROM d WHERE is_super ORDER BY 1, 2
$$;

-- ---- 1. A superuser installs querycache: the migration and watch_defaults ----
CREATE EXTENSION querycache;
SELECT * FROM qc_check.ran_as_superuser();

-- ---- 2. A superuser's first wrap in a new backend reads querycache_ttl ----
\c qc_sec_db
SELECT querycache_wrap('x:1', 'SELECT 1 AS one');
SELECT * FROM qc_check.ran_as_superuser();

-- ---- 3. querycache_key, as a superuser ----
-- Even with a safe search_path: the operator was bound at CREATE EXTENSION.
SET search_path = pg_catalog, pg_temp;
SELECT public.querycache_key('agents:list', '{"name": "x"}');
RESET search_path;
SELECT * FROM qc_check.ran_as_superuser();

-- ---- 4. A superuser watches a table ----
CREATE TABLE su_t (id int);
SELECT querycache_watch('su_t', '^su:');
SELECT * FROM qc_check.ran_as_superuser();

-- ---- 5. A superuser drops a table (the sql_drop event trigger) ----
DROP TABLE su_t;
SELECT * FROM qc_check.ran_as_superuser();

-- ---- 6. A superuser runs querycache_apply_schema() again ----
-- The constraint goes (as the seed's rollback plan says) and the app
-- queues duplicates again before the DBA reapplies the migration.
ALTER TABLE call_queue DROP CONSTRAINT call_queue_campaign_contact_unique;
SET SESSION AUTHORIZATION qc_attacker;
INSERT INTO call_queue VALUES (5, 1, 1), (6, 2, 2);
RESET SESSION AUTHORIZATION;
SELECT * FROM qc_check.ran_as_superuser();
SELECT querycache_apply_schema();
SELECT * FROM qc_check.ran_as_superuser();

-- The migration itself still did its job.
SELECT id, campaign_id, contact_id FROM call_queue ORDER BY id;
SELECT id, campaign_id, contact_id FROM call_queue_duplicates ORDER BY id;

-- Every row the planted objects wrote, over the whole test: none as superuser.
SELECT * FROM qc_check.ran_as_superuser();
SELECT count(*) FILTER (WHERE is_super) = 0 AS never_as_superuser
  FROM qc_check.seen;

-- ---- Every function of the extension and its settings ----
-- A function that runs SQL (SQL, PL/pgSQL, or C through SPI) without a
-- pinned search_path resolves names and operators through its caller's.
SELECT p.oid::regprocedure AS function, l.lanname AS lang, p.prosecdef AS secdef, p.proconfig
  FROM pg_depend d
  JOIN pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
  JOIN pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_proc'::regclass::oid
   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_extension'::regclass::oid
   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_extension WHERE extname = 'querycache')
   AND d.deptype = 'e'
 ORDER BY p.oid::regprocedure::text;
-- The ones without a pinned search_path must be exactly the documented
-- exceptions (querycache--1.1.sql, README "Security"): querycache_wrap runs
-- the caller's query in the caller's setting, querycache_apply_schema and
-- querycache_watch_defaults find tables in the caller's search_path (a
-- catalog lookup; their SQL runs in pinned functions), and querycache_get
-- and the two triggers run no SQL.  Any other function lacking it fails here.
SELECT p.oid::regprocedure AS unpinned_function
  FROM pg_depend d
  JOIN pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
 WHERE d.classid OPERATOR(pg_catalog.=) 'pg_proc'::regclass::oid
   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_extension'::regclass::oid
   AND d.refobjid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_extension WHERE extname = 'querycache')
   AND d.deptype = 'e'
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=pg\_catalog, pg\_temp')
   AND NOT (p.proname IN ('querycache_wrap', 'querycache_get', 'querycache_invalidate_trigger',
                          'querycache_invalidate_keyed', 'querycache_apply_schema',
                          'querycache_watch_defaults')
            AND p.prolang OPERATOR(pg_catalog.=) (SELECT oid FROM pg_language WHERE lanname = 'c'))
 ORDER BY p.oid::regprocedure::text;

\c :origdb
DROP DATABASE qc_sec_db;
DROP ROLE qc_attacker;
