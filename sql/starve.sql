--
-- Starving the cache (issue 10): a change that cannot affect anyone else's
-- results invalidates nothing shared.  qc_victim has a cached entry;
-- qc_starver, an ordinary login role, does things only it can see.  After
-- each, qc_victim's entry must still be valid.  (The in-flight part, a
-- failed COMMIT PREPARED rolled back to a savepoint, needs two sessions:
-- specs/iso_starve.spec.)
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_victim LOGIN;
CREATE ROLE qc_starver LOGIN PASSWORD 'old';
CREATE TABLE starve_t (v int);
INSERT INTO starve_t VALUES (1);
GRANT SELECT ON starve_t TO qc_victim;

SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t');
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- ---- a role changes its own password ----
SET SESSION AUTHORIZATION qc_starver;
ALTER ROLE qc_starver PASSWORD 'new';
RESET SESSION AUTHORIZATION;
SELECT valid FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t');
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- ---- a temporary view ----
SET SESSION AUTHORIZATION qc_starver;
CREATE TEMP VIEW starve_v AS SELECT 1 AS one;
RESET SESSION AUTHORIZATION;
SELECT valid FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t');
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- ---- other temporary objects (beyond the issue's two cases) ----
SET SESSION AUTHORIZATION qc_starver;
CREATE TEMP TABLE starve_tt AS SELECT 1 AS one;
RESET SESSION AUTHORIZATION;
SELECT valid AS after_create_temp_table_as FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t') IS NOT NULL AS refilled;
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

SET SESSION AUTHORIZATION qc_starver;
CREATE TEMP SEQUENCE starve_seq;
RESET SESSION AUTHORIZATION;
SELECT valid AS after_create_temp_sequence FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t') IS NOT NULL AS refilled;
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

SET SESSION AUTHORIZATION qc_starver;
CREATE INDEX ON starve_tt (one);
RESET SESSION AUTHORIZATION;
SELECT valid AS after_index_on_temp_table FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t') IS NOT NULL AS refilled;
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

SET SESSION AUTHORIZATION qc_starver;
CREATE FUNCTION pg_temp.starve_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
RESET SESSION AUTHORIZATION;
SELECT valid AS after_temp_function FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t') IS NOT NULL AS refilled;
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- a role's own per-role settings only apply to its own future sessions
SET SESSION AUTHORIZATION qc_starver;
ALTER ROLE qc_starver SET work_mem = '8MB';
RESET SESSION AUTHORIZATION;
SELECT valid AS after_alter_role_set FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;
SET ROLE qc_victim;
SELECT querycache_wrap('starve:v', 'SELECT v FROM starve_t') IS NOT NULL AS refilled;
RESET ROLE;
SELECT valid AS valid_again FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- ---- control: a write to the table the entry read invalidates it ----
INSERT INTO starve_t VALUES (2);
SELECT valid AS after_insert FROM querycache_entries WHERE key = 'starve:v' AND userid = 'qc_victim'::regrole;

-- ---- cleanup ----
DISCARD TEMP;
DROP TABLE starve_t;
DROP ROLE qc_victim;
DROP ROLE qc_starver;
SELECT querycache_clear_all() >= 0 AS cleared;
