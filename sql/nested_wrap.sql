--
-- Crash any role can trigger (issue 10): the per-backend plan cache must
-- never free a plan that is still executing.  In 1.0 it frees all plans
-- when it reaches 256 (QC_MAX_PLANS); a wrap nested in another wrap's
-- query (a function called by it) that prepares plan 257 frees the outer
-- wrap's plan while the outer query runs.
--
-- The outer query then fails with division by zero after its nested wraps
-- ran: the error's CONTEXT must print the outer statement, which in 1.0
-- lives in the freed plan (garbage or another statement is printed, or
-- the backend crashes).  Everything runs as an ordinary role.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_nester LOGIN;
GRANT CREATE ON SCHEMA public TO qc_nester;
SELECT current_database() AS origdb, current_user AS superuser \gset

\c - qc_nester
-- n distinct wraps, each with a query text of its own
CREATE FUNCTION qc_nested_wraps(tag text, n int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
BEGIN
	FOR i IN 1..n LOOP
		r := querycache_wrap(tag || ':' || i, 'SELECT ' || i || ' AS v, ' || quote_literal(tag) || ' AS tag');
	END LOOP;
	RETURN n;
END $$;

-- 255 plans in this backend, then an outer wrap (plan 256) whose query
-- prepares 300 more while it runs.
SELECT qc_nested_wraps('first', 255);
SELECT querycache_wrap('outer:1', 'SELECT qc_nested_wraps(''nested'', 300) AS n');
SELECT querycache_wrap('outer:2', 'SELECT qc_nested_wraps(''nested2'', 300) / 0 AS x');
SELECT 'backend still alive' AS status;

-- The same with the cache off: the plan cache is used all the same.
\c - qc_nester
SET querycache.enabled = off;
SELECT qc_nested_wraps('first', 255);
SELECT querycache_wrap('outer:3', 'SELECT qc_nested_wraps(''nested3'', 300) / 0 AS x');
SELECT 'backend still alive' AS status;

-- One row per nested call, as in the issue: SELECT nested(g) FROM generate_series(1, 300) g
\c - qc_nester
CREATE FUNCTION qc_nested_one(i int) RETURNS jsonb
LANGUAGE sql AS $$ SELECT querycache_wrap('one:' || i, 'SELECT ' || i || ' AS v') $$;
SELECT qc_nested_wraps('first', 255);
SELECT jsonb_array_length(querycache_wrap('outer:4', 'SELECT qc_nested_one(g) AS j FROM generate_series(1, 300) g')) AS rows;
SELECT 'backend still alive' AS status;

\c :origdb :superuser
DROP FUNCTION qc_nested_wraps(text, int);
DROP FUNCTION qc_nested_one(int);
REVOKE CREATE ON SCHEMA public FROM qc_nester;
DROP ROLE qc_nester;
SELECT querycache_clear_all() >= 0 AS cleared;
