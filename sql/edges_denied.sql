--
-- A utility statement that fails changes nothing, so it must invalidate
-- nothing shared (issue 10, "Starving the cache": changes that cannot
-- affect anyone else's results invalidate nothing shared).
--
-- *** FAILS on 1.1: a bug found while writing the issue 11 tests. ***
-- Issue 11 made utility statements record their targets before they run
-- (track.c, qc_ProcessUtility), so that a trigger inside them cannot fill
-- the cache from uncommitted rows.  Nothing takes the record back when the
-- statement fails: caught by an exception block or a savepoint, the
-- transaction commits and bumps what the failed statement would have
-- changed.  Any login role can so invalidate every entry of the cluster
-- (a CREATE ROLE it may not run), of a database (DDL on a table it does not
-- own) or of any table (a TRUNCATE or COPY it may not run), as often as it
-- likes.  1.0 recorded after the statement succeeded and passes this test.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_denied LOGIN;
CREATE TABLE den_t (v int);
INSERT INTO den_t VALUES (1);
GRANT SELECT ON den_t TO qc_denied;

-- the superuser's entry, which qc_denied must not be able to invalidate
SELECT querycache_wrap('den', 'SELECT v FROM den_t');
SELECT valid FROM querycache_entries WHERE key = 'den';

-- control: switching roles and running a statement that succeeds
SET ROLE qc_denied;
DO $$ BEGIN PERFORM count(*) FROM den_t; END $$;
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'den';

-- a role qc_denied may not create: would move the cluster's epoch
SET ROLE qc_denied;
DO $$ BEGIN CREATE ROLE qc_denied_x; EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'denied'; END $$;
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'den';
SELECT querycache_wrap('den', 'SELECT v FROM den_t');

-- DDL on a table it does not own: would move the database's epoch
SET ROLE qc_denied;
DO $$ BEGIN ALTER TABLE den_t ADD COLUMN w int; EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'denied'; END $$;
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'den';
SELECT querycache_wrap('den', 'SELECT v FROM den_t');

-- TRUNCATE without the privilege, rolled back to a savepoint
SET ROLE qc_denied;
BEGIN;
SAVEPOINT a;
TRUNCATE den_t;
ROLLBACK TO a;
COMMIT;
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'den';
SELECT querycache_wrap('den', 'SELECT v FROM den_t');

-- COPY FROM without the privilege
SET ROLE qc_denied;
DO $$ BEGIN COPY den_t FROM PROGRAM 'true'; EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'denied'; END $$;
RESET ROLE;
SELECT valid FROM querycache_entries WHERE key = 'den';
SELECT querycache_wrap('den', 'SELECT v FROM den_t');

-- the table is unchanged all along
SELECT * FROM den_t;

DROP TABLE den_t;
DROP ROLE qc_denied;
SELECT querycache_clear_all() >= 0 AS cleared;
