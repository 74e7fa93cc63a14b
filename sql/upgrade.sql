--
-- Upgrade 1.0 -> 1.1 (issue 13, packaging): ALTER EXTENSION querycache
-- UPDATE on a database where 1.0 holds user data gives exactly the objects
-- of a fresh CREATE EXTENSION querycache, and keeps the data.
--
-- qc_upg_tmpl holds what both databases need before the extension: the
-- description view (catalogs only, no OIDs) and two user tables.
-- qc_upg_old gets 1.0, user data and the update; qc_upg_new a fresh 1.1.
-- The description of each is compared (an md5 each, then the lines only one
-- of them has), and the upgraded one is printed.
--
SELECT current_database() AS origdb \gset
CREATE DATABASE qc_upg_tmpl;
\c qc_upg_tmpl

-- Roles by name, the extension's owner as ext_owner (whoever runs the test).
CREATE FUNCTION upg_role(r oid) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN r = 0 THEN 'PUBLIC'
				WHEN r = (SELECT extowner FROM pg_extension WHERE extname = 'querycache') THEN 'ext_owner'
				ELSE pg_get_userbyid(r)::text END
$$;

-- An ACL as grantee:privilege[*]/grantor, sorted; NULL (the default) as such.
CREATE FUNCTION upg_acl(acl aclitem[]) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN acl IS NULL THEN 'default'
		ELSE coalesce((SELECT string_agg(s, ',' ORDER BY s COLLATE "C")
					   FROM (SELECT upg_role(a.grantee) || ':' || a.privilege_type
									|| CASE WHEN a.is_grantable THEN '*' ELSE '' END
									|| '/' || upg_role(a.grantor) AS s
							 FROM aclexplode(acl) a) x), 'none') END
$$;

-- The initial privileges (pg_init_privs) pg_dump compares ACLs against.
CREATE FUNCTION upg_initprivs(cls regclass, obj oid, sub int) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT privtype::text || ' ' || upg_acl(initprivs) FROM pg_init_privs
					 WHERE classoid = cls AND objoid = obj AND objsubid = sub), 'none')
$$;

-- Text on one line.
CREATE FUNCTION upg_flat(t text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT regexp_replace(t, '\s+', ' ', 'g') $$;

-- One line per fact about the extension's objects.  Toast tables are
-- named after their table's OID: that number is left out.
CREATE VIEW upg_desc(line) AS
SELECT regexp_replace(line, 'pg_toast_[0-9]+', 'pg_toast_*', 'g') FROM (
WITH ext AS (
	SELECT e.* FROM pg_extension e WHERE e.extname = 'querycache'
), mem AS (
	SELECT d.classid, d.objid, d.objsubid,
		   pg_describe_object(d.classid, d.objid, d.objsubid) AS what
	FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), fn AS (
	SELECT p.*, p.oid::regprocedure::text AS sig
	FROM pg_proc p JOIN mem ON mem.classid = 'pg_proc'::regclass AND mem.objid = p.oid
), rel AS (
	SELECT c.*, c.oid::regclass::text AS name
	FROM pg_class c JOIN mem ON mem.classid = 'pg_class'::regclass AND mem.objid = c.oid
)
-- the extension itself
SELECT format('extension: version=%s schema=%s relocatable=%s owner=%s',
			  extversion, extnamespace::regnamespace, extrelocatable, upg_role(extowner))
FROM ext
UNION ALL
SELECT format('extension config: %s condition=%L', c.tbl::regclass, c.cond)
FROM ext, unnest(ext.extconfig, ext.extcondition) AS c(tbl, cond)
-- its members
UNION ALL
SELECT 'member: ' || what FROM mem
-- what members depend on, and what depends on members (but the extension)
UNION ALL
SELECT format('dependency: %s -> %s (%s)', mem.what,
			  pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
FROM mem JOIN pg_depend d ON d.classid = mem.classid AND d.objid = mem.objid
WHERE d.deptype <> 'e'
UNION ALL
SELECT format('dependency: %s -> %s (%s)',
			  pg_describe_object(d.classid, d.objid, d.objsubid),
			  pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid), d.deptype)
FROM mem JOIN pg_depend d ON d.refclassid = mem.classid AND d.refobjid = mem.objid
-- functions
UNION ALL
SELECT format('function %s: args=(%s) returns=%s kind=%s lang=%s volatile=%s strict=%s secdef=%s leakproof=%s parallel=%s cost=%s rows=%s owner=%s',
			  sig, pg_get_function_arguments(fn.oid), pg_get_function_result(fn.oid), prokind,
			  (SELECT lanname FROM pg_language WHERE oid = prolang), provolatile, proisstrict,
			  prosecdef, proleakproof, proparallel, procost, prorows, upg_role(proowner))
FROM fn
UNION ALL
SELECT format('function %s: config=%s acl=%s initprivs=%s comment=%L',
			  sig, coalesce(proconfig::text, 'none'), upg_acl(proacl),
			  upg_initprivs('pg_proc', fn.oid, 0), obj_description(fn.oid, 'pg_proc'))
FROM fn
UNION ALL
SELECT format('function %s: probin=%s prosrc=%s sqlbody=%s definition md5=%s',
			  sig, coalesce(probin, 'none'),
			  CASE WHEN prosrc ~ '\n' THEN format('%s lines, md5 %s', length(prosrc) - length(replace(prosrc, E'\n', '')) + 1, md5(prosrc))
				   ELSE quote_literal(prosrc) END,
			  prosqlbody IS NOT NULL, md5(pg_get_functiondef(fn.oid)))
FROM fn
-- tables and views
UNION ALL
SELECT format('relation %s: kind=%s persistence=%s owner=%s acl=%s initprivs=%s rls=%s force_rls=%s options=%s replident=%s comment=%L',
			  name, relkind, relpersistence, upg_role(relowner), upg_acl(relacl),
			  upg_initprivs('pg_class', rel.oid, 0), relrowsecurity, relforcerowsecurity,
			  coalesce(reloptions::text, 'none'), relreplident, obj_description(rel.oid, 'pg_class'))
FROM rel
UNION ALL
SELECT format('relation %s column %s %s: type=%s notnull=%s default=%s identity=%L generated=%L collation=%s acl=%s initprivs=%s comment=%L',
			  name, a.pos, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
			  coalesce(pg_get_expr(ad.adbin, ad.adrelid), 'none'), a.attidentity, a.attgenerated,
			  coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), 'none'),
			  upg_acl(a.attacl), upg_initprivs('pg_class', rel.oid, a.attnum),
			  col_description(rel.oid, a.attnum))
FROM rel
JOIN (SELECT *, row_number() OVER (PARTITION BY attrelid ORDER BY attnum) AS pos
	  FROM pg_attribute WHERE attnum > 0 AND NOT attisdropped) a ON a.attrelid = rel.oid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
UNION ALL
SELECT format('relation %s: %s dropped columns', name,
			  (SELECT count(*) FROM pg_attribute WHERE attrelid = rel.oid AND attisdropped))
FROM rel
UNION ALL
SELECT format('relation %s constraint %s: %s type=%s deferrable=%s deferred=%s validated=%s local=%s noinherit=%s comment=%L',
			  name, co.conname, pg_get_constraintdef(co.oid), co.contype, co.condeferrable,
			  co.condeferred, co.convalidated, co.conislocal, co.connoinherit,
			  obj_description(co.oid, 'pg_constraint'))
FROM rel JOIN pg_constraint co ON co.conrelid = rel.oid
UNION ALL
SELECT format('relation %s index %s: %s primary=%s unique=%s clustered=%s replident=%s valid=%s',
			  name, i.indexrelid::regclass, pg_get_indexdef(i.indexrelid), i.indisprimary,
			  i.indisunique, i.indisclustered, i.indisreplident, i.indisvalid)
FROM rel JOIN pg_index i ON i.indrelid = rel.oid
UNION ALL
SELECT format('relation %s view: %s', name, upg_flat(pg_get_viewdef(rel.oid, true)))
FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT format('relation %s rule %s: %s enabled=%s', name, ru.rulename,
			  upg_flat(pg_get_ruledef(ru.oid, true)), ru.ev_enabled)
FROM rel JOIN pg_rewrite ru ON ru.ev_class = rel.oid AND ru.rulename <> '_RETURN'
UNION ALL
SELECT format('relation %s trigger %s: %s enabled=%s', name, t.tgname,
			  pg_get_triggerdef(t.oid), t.tgenabled)
FROM rel JOIN pg_trigger t ON t.tgrelid = rel.oid
UNION ALL
SELECT format('relation %s policy %s: cmd=%s permissive=%s roles=%s using=%s check=%s',
			  name, po.polname, po.polcmd, po.polpermissive,
			  (SELECT string_agg(upg_role(r), ',' ORDER BY upg_role(r) COLLATE "C") FROM unnest(po.polroles) r),
			  pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
FROM rel JOIN pg_policy po ON po.polrelid = rel.oid
-- event triggers
UNION ALL
SELECT format('event trigger %s: event=%s function=%s enabled=%s tags=%s owner=%s',
			  et.evtname, et.evtevent, et.evtfoid::regprocedure, et.evtenabled,
			  coalesce(et.evttags::text, 'none'), upg_role(et.evtowner))
FROM pg_event_trigger et JOIN mem ON mem.classid = 'pg_event_trigger'::regclass AND mem.objid = et.oid
-- types that are members themselves (not tables' row types)
UNION ALL
SELECT format('type %s: %s', ty.oid::regtype, ty.typtype)
FROM pg_type ty JOIN mem ON mem.classid = 'pg_type'::regclass AND mem.objid = ty.oid
-- triggers the extension installed on user tables
UNION ALL
SELECT format('user trigger %s on %s: %s enabled=%s', t.tgname, t.tgrelid::regclass,
			  pg_get_triggerdef(t.oid), t.tgenabled)
FROM pg_trigger t JOIN fn ON fn.oid = t.tgfoid
WHERE NOT EXISTS (SELECT 1 FROM mem WHERE mem.classid = 'pg_class'::regclass AND mem.objid = t.tgrelid)
) AS d(line);

-- The user's tables, in both databases; the 1.0 database watches them
-- under 1.0, the fresh one under 1.1.
CREATE TABLE qc_upg_items (id int PRIMARY KEY, name text);
INSERT INTO qc_upg_items VALUES (1, 'one'), (2, 'two');
CREATE TABLE qc_upg_orders (id int PRIMARY KEY, item_id int REFERENCES qc_upg_items);
\c :origdb
CREATE DATABASE qc_upg_old TEMPLATE qc_upg_tmpl;
CREATE DATABASE qc_upg_new TEMPLATE qc_upg_tmpl;

-- ---- 1.0, with user data, updated to 1.1 ----
\c qc_upg_old
CREATE EXTENSION querycache VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'querycache';
-- A TTL of its own, a seeded one changed, and one over 1.1's 100 years.
INSERT INTO querycache_ttl VALUES ('^items:', interval '5 minutes'),
	('^forever:', interval '1000 years');
UPDATE querycache_ttl SET ttl = interval '30 seconds' WHERE pattern = '^stats:';
-- Rules and 1.0's statement trigger.
SELECT querycache_watch('qc_upg_items', '^items:');
SELECT querycache_watch('qc_upg_items', '^orders:');
SELECT querycache_watch('qc_upg_orders');
SELECT tgrelid::regclass AS tbl, tgname, tgenabled FROM pg_trigger
 WHERE tgname LIKE 'querycache%' ORDER BY 1, 2;
ALTER EXTENSION querycache UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'querycache';

-- ---- fresh 1.1, the same tables watched ----
\c qc_upg_new
CREATE EXTENSION querycache;
SELECT extversion FROM pg_extension WHERE extname = 'querycache';
SELECT querycache_watch('qc_upg_items', '^items:');
SELECT querycache_watch('qc_upg_items', '^orders:');
SELECT querycache_watch('qc_upg_orders');
SELECT count(*) > 0 AS described, md5(string_agg(line, E'\n' ORDER BY line COLLATE "C")) AS new_md5,
	   string_agg(line, E'\n' ORDER BY line COLLATE "C") AS new_desc
  FROM upg_desc \gset
\echo fresh description :described

-- ---- the objects are identical ----
\c qc_upg_old
SELECT md5(string_agg(line, E'\n' ORDER BY line COLLATE "C")) AS old_md5 FROM upg_desc \gset
SELECT :'old_md5' = :'new_md5' AS identical;
-- Only after the update:
SELECT x.line AS only_upgraded
  FROM (SELECT line FROM upg_desc
		EXCEPT SELECT regexp_split_to_table(:'new_desc', E'\n')) x
 ORDER BY x.line COLLATE "C";
-- Only in a fresh 1.1:
SELECT x.line AS only_fresh
  FROM (SELECT regexp_split_to_table(:'new_desc', E'\n') AS line
		EXCEPT SELECT line FROM upg_desc) x
 ORDER BY x.line COLLATE "C";
-- The whole description.
\pset format unaligned
SELECT line FROM upg_desc ORDER BY line COLLATE "C";
\pset format aligned

-- ---- the user data survived ----
SELECT pattern, ttl FROM querycache_ttl ORDER BY pattern COLLATE "C";
SELECT table_name, pattern FROM querycache_rules ORDER BY table_name::text COLLATE "C", pattern COLLATE "C";

-- ---- the upgraded database works ----
SELECT querycache_stats_reset();
SELECT querycache_key('items:list', '{"userId": 123}');
SELECT querycache_key('a', '{"b": "1"}') <> querycache_key('a', '{"b": 1}') AS injective;
SELECT querycache_wrap('items:all', 'SELECT id, name FROM qc_upg_items ORDER BY id');
SELECT querycache_wrap('items:all', 'SELECT id, name FROM qc_upg_items ORDER BY id');
SELECT round(extract(epoch FROM expires_at - created_at)) AS ttl_s
  FROM querycache_entries WHERE key = 'items:all';
INSERT INTO qc_upg_items VALUES (3, 'three');
SELECT querycache_wrap('items:all', 'SELECT id, name FROM qc_upg_items ORDER BY id');
SELECT hits, misses, fills, discarded FROM querycache_stats;
-- The clamped TTL applies (100 years of 360 days, as intervals compare);
-- a fenced set stores.
SELECT querycache_set('forever:x', '1');
SELECT round(extract(epoch FROM expires_at - created_at) / 86400) AS ttl_days
  FROM querycache_entries WHERE key = 'forever:x';
SELECT querycache_set('forever:y', '2', NULL, querycache_fence());
SELECT querycache_get('forever:y');
-- TTLs over 100 years are refused now.
INSERT INTO querycache_ttl VALUES ('^longer:', interval '101 years');
-- A rule of 1.0 invalidates: orders depends on qc_upg_items by rule.
SELECT querycache_set('orders:1', '"x"');
UPDATE qc_upg_items SET name = 'uno' WHERE id = 1;
SELECT querycache_get('orders:1') IS NULL AS invalidated;
-- 1.0's rules have no key column; a keyed rule works after the update.
SELECT count(*) FILTER (WHERE key_column IS NULL) AS unkeyed, count(*) AS rules FROM querycache_rules;
INSERT INTO querycache_policies (pattern, depends) VALUES ('^byid:', 'rules');
SELECT querycache_watch('qc_upg_items', '^byid:([0-9]+)$', 'id');
SELECT querycache_wrap('byid:1', 'SELECT name FROM qc_upg_items WHERE id = 1');
SELECT querycache_wrap('byid:2', 'SELECT name FROM qc_upg_items WHERE id = 2');
UPDATE qc_upg_items SET name = 'eins' WHERE id = 1;
SELECT key, valid FROM querycache_entries WHERE key LIKE 'byid:%' ORDER BY key COLLATE "C";
-- unwatch removes both triggers; dropping a watched table drops its rules
-- (the event trigger).
SELECT querycache_unwatch('qc_upg_orders');
SELECT count(*) AS orders_triggers FROM pg_trigger WHERE tgrelid = 'qc_upg_orders'::regclass AND NOT tgisinternal;
DROP TABLE qc_upg_orders;
SELECT querycache_watch('qc_upg_items', '^more:');
CREATE TABLE qc_upg_gone (id int);
SELECT querycache_watch('qc_upg_gone', '^gone:');
DROP TABLE qc_upg_gone;
SELECT table_name, pattern FROM querycache_rules ORDER BY table_name::text COLLATE "C", pattern COLLATE "C";
SELECT querycache_clear_all() >= 0 AS cleared;

-- ---- cleanup ----
\c :origdb
DROP DATABASE qc_upg_old;
DROP DATABASE qc_upg_new;
DROP DATABASE qc_upg_tmpl;
