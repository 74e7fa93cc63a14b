--
-- Results that depend on session state (issue 10): a result is served from
-- the cache only if its key captures everything it depends on; otherwise
-- the query runs uncached.  Every pair below runs the same wrap (same key,
-- query, parameters, role) under two session states: the second must give
-- what the query gives under the second state.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_app LOGIN;
CREATE ROLE qc_login1 LOGIN;
CREATE ROLE qc_login2 LOGIN;
GRANT qc_app TO qc_login1, qc_login2;

-- ---- a security_barrier view filtering on current_setting('app.tenant') ----
CREATE TABLE tenant_data (tenant int, secret text);
INSERT INTO tenant_data VALUES (1, 'tenant-1-secret'), (2, 'tenant-2-secret');
CREATE VIEW my_tenant WITH (security_barrier) AS
	SELECT secret FROM tenant_data WHERE tenant = current_setting('app.tenant')::int;
GRANT SELECT ON my_tenant TO qc_app;
SET SESSION AUTHORIZATION qc_app;
SET app.tenant = '1';
SELECT querycache_wrap('tenant:secret', 'SELECT secret FROM my_tenant');
SET app.tenant = '2';
SELECT querycache_wrap('tenant:secret', 'SELECT secret FROM my_tenant');
SELECT secret AS direct FROM my_tenant;
-- a role that cannot read tenant_data itself
SELECT count(*) FROM tenant_data;
RESET app.tenant;
RESET SESSION AUTHORIZATION;

-- ---- session_user: two login roles acting as the same role ----
SET SESSION AUTHORIZATION qc_login1;
SET ROLE qc_app;
SELECT querycache_wrap('who:session', 'SELECT session_user AS s, current_user AS c');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION qc_login2;
SET ROLE qc_app;
SELECT querycache_wrap('who:session', 'SELECT session_user AS s, current_user AS c');
RESET SESSION AUTHORIZATION;

-- The rest runs as qc_app.
CREATE SEQUENCE qc_seq;
GRANT ALL ON SEQUENCE qc_seq TO qc_app;
SET SESSION AUTHORIZATION qc_app;

-- ---- bytea_output ----
SET bytea_output = hex;
SELECT querycache_wrap('fmt:bytea', $$SELECT '\x4142'::bytea AS b$$);
SET bytea_output = escape;
SELECT querycache_wrap('fmt:bytea', $$SELECT '\x4142'::bytea AS b$$);
SELECT to_jsonb('\x4142'::bytea) AS direct;
RESET bytea_output;

-- ---- lc_monetary and lc_time ----
-- Only the C locales exist on a stock Debian, and they print money and
-- month names alike, so the value cannot differ here; what must not
-- happen is that the second call is served from the cache (no hits).
SELECT collname FROM pg_collation WHERE collname IN ('C', 'POSIX', 'C.utf8') ORDER BY 1;
SET lc_monetary = 'C';
SELECT querycache_wrap('fmt:money', 'SELECT 1234.5::money AS m');
SET lc_monetary = 'C.utf8';
SELECT querycache_wrap('fmt:money', 'SELECT 1234.5::money AS m');
RESET lc_monetary;
SELECT coalesce(sum(hits), 0) AS money_hits FROM querycache_entries WHERE key = 'fmt:money';
SET lc_time = 'C';
SELECT querycache_wrap('fmt:time', $$SELECT to_char(date '2024-03-01', 'TMMonth TMDay') AS tm$$);
SET lc_time = 'C.utf8';
SELECT querycache_wrap('fmt:time', $$SELECT to_char(date '2024-03-01', 'TMMonth TMDay') AS tm$$);
RESET lc_time;
SELECT coalesce(sum(hits), 0) AS time_hits FROM querycache_entries WHERE key = 'fmt:time';

-- ---- volatile functions and sequences ----
SELECT querycache_wrap('vol:seq', 'SELECT nextval(''qc_seq'') AS n, random() AS r') AS first \gset
SELECT querycache_wrap('vol:seq', 'SELECT nextval(''qc_seq'') AS n, random() AS r') AS second \gset
SELECT (:'first'::jsonb) -> 0 -> 'n' AS n1, (:'second'::jsonb) -> 0 -> 'n' AS n2,
       (:'first'::jsonb) -> 0 -> 'r' <> (:'second'::jsonb) -> 0 -> 'r' AS random_differs;
SELECT last_value AS after_two_nextvals FROM qc_seq;
-- a cached read of the sequence follows nextval outside the cache
SELECT querycache_wrap('vol:last', 'SELECT last_value FROM qc_seq');
SELECT nextval('qc_seq');
SELECT querycache_wrap('vol:last', 'SELECT last_value FROM qc_seq');
SELECT setval('qc_seq', 100);
SELECT querycache_wrap('vol:last', 'SELECT last_value FROM qc_seq');
-- set_config is a side effect the caller relies on
SET app.flag = 'off';
SELECT querycache_wrap('vol:set', 'SELECT set_config(''app.flag'', ''on'', false) AS f');
SET app.flag = 'off';
SELECT querycache_wrap('vol:set', 'SELECT set_config(''app.flag'', ''on'', false) AS f');
SHOW app.flag;
RESET app.flag;
-- current_setting of a setting that is not in the key
SET app.color = 'red';
SELECT querycache_wrap('vol:setting', 'SELECT current_setting(''app.color'') AS c');
SET app.color = 'blue';
SELECT querycache_wrap('vol:setting', 'SELECT current_setting(''app.color'') AS c');
RESET app.color;

-- ---- further settings that change a result (found while writing this test) ----
-- xmlbinary changes how bytea prints inside XML.
SELECT querycache_wrap('fmt:xml', $$SELECT xmlelement(name b, '\x4142'::bytea)::text AS x$$);
SET xmlbinary = hex;
SELECT querycache_wrap('fmt:xml', $$SELECT xmlelement(name b, '\x4142'::bytea)::text AS x$$);
SELECT xmlelement(name b, '\x4142'::bytea)::text AS direct;
RESET xmlbinary;
-- default_text_search_config changes to_tsvector(text).
SELECT querycache_wrap('fmt:ts', $$SELECT to_tsvector('The cats')::text AS v$$);
SET default_text_search_config = 'simple';
SELECT querycache_wrap('fmt:ts', $$SELECT to_tsvector('The cats')::text AS v$$);
SELECT to_tsvector('The cats')::text AS direct;
RESET default_text_search_config;
-- standard_conforming_strings and transform_null_equals change how the
-- same text parses.  Even with the cache off, querycache_wrap must return
-- what the query returns now (the per-backend plan is keyed by text only).
SET querycache.enabled = off;
SELECT querycache_wrap('parse:scs', $$SELECT length('a\tb') AS len$$);
SET standard_conforming_strings = off;
SET escape_string_warning = off;
SELECT querycache_wrap('parse:scs', $$SELECT length('a\tb') AS len$$);
SELECT length('a\tb') AS direct;
RESET standard_conforming_strings;
RESET escape_string_warning;
SELECT querycache_wrap('parse:null', 'SELECT count(*) AS n FROM (VALUES (NULL::int)) v(x) WHERE x = NULL');
SET transform_null_equals = on;
SELECT querycache_wrap('parse:null', 'SELECT count(*) AS n FROM (VALUES (NULL::int)) v(x) WHERE x = NULL');
SELECT count(*) AS direct FROM (VALUES (NULL::int)) v(x) WHERE x = NULL;
RESET transform_null_equals;
RESET querycache.enabled;

-- ---- cleanup ----
RESET SESSION AUTHORIZATION;
DROP SEQUENCE qc_seq;
DROP VIEW my_tenant;
DROP TABLE tenant_data;
DROP ROLE qc_login1;
DROP ROLE qc_login2;
DROP ROLE qc_app;
SELECT querycache_clear_all() >= 0 AS cleared;
