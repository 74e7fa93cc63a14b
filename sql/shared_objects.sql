--
-- Shared objects (issue 10, leaks across roles and databases): a change to
-- something cluster-wide (roles, memberships, databases, shared catalogs),
-- made from another database, directly or through two-phase commit,
-- invalidates every database's entries that depend on it.
--
-- qc_shared_a holds the cached entries (and is owned by qc_member);
-- qc_shared_b, where the changes are made, has no querycache extension:
-- the library is preloaded, and what another database does must count
-- whether or not it installed the extension.
--
SELECT current_database() AS origdb \gset
CREATE ROLE qc_grp;
CREATE ROLE qc_member LOGIN;
CREATE ROLE qc_newowner;
GRANT qc_grp TO qc_member;
CREATE DATABASE qc_shared_a OWNER qc_member;
CREATE DATABASE qc_shared_b;
\c qc_shared_a
CREATE EXTENSION querycache;
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE TABLE grp_t (v text);
INSERT INTO grp_t VALUES ('for qc_grp only');
GRANT SELECT ON grp_t TO qc_grp;
CREATE TABLE owner_t (v text);
INSERT INTO owner_t VALUES ('for the database owner only');
GRANT SELECT ON owner_t TO pg_database_owner;

-- ---- control: a plain REVOKE of a membership, from another database ----
SET ROLE qc_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
RESET ROLE;
\c qc_shared_b
REVOKE qc_grp FROM qc_member;
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
RESET ROLE;

-- ---- REVOKE of a membership through PREPARE TRANSACTION / COMMIT PREPARED ----
GRANT qc_grp TO qc_member;
SET ROLE qc_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
RESET ROLE;
\c qc_shared_b
BEGIN;
REVOKE qc_grp FROM qc_member;
PREPARE TRANSACTION 'qc_shared_revoke';
COMMIT PREPARED 'qc_shared_revoke';
\c qc_shared_a
SET ROLE qc_member;
SELECT pg_has_role('qc_grp', 'MEMBER') AS still_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
SELECT v AS direct FROM grp_t;
RESET ROLE;
-- the same, committed from the database itself
GRANT qc_grp TO qc_member;
SET ROLE qc_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
RESET ROLE;
BEGIN;
REVOKE qc_grp FROM qc_member;
PREPARE TRANSACTION 'qc_shared_revoke2';
COMMIT PREPARED 'qc_shared_revoke2';
SET ROLE qc_member;
SELECT querycache_wrap('shared:grp', 'SELECT v FROM grp_t');
RESET ROLE;

-- ---- ALTER DATABASE ... OWNER TO, from another database ----
SET ROLE qc_member;
SELECT querycache_wrap('shared:owner', 'SELECT v FROM owner_t');
SELECT querycache_wrap('shared:owner', 'SELECT v FROM owner_t');
RESET ROLE;
\c qc_shared_b
ALTER DATABASE qc_shared_a OWNER TO qc_newowner;
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:owner', 'SELECT v FROM owner_t');
SELECT v AS direct FROM owner_t;
RESET ROLE;

-- ---- a shared catalog read in one database, changed from another ----
SET ROLE qc_member;
SELECT querycache_wrap('shared:dbs', 'SELECT count(*) AS n FROM pg_database WHERE datname LIKE ''qc\_shared\_%''');
RESET ROLE;
\c qc_shared_b
CREATE DATABASE qc_shared_c;
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:dbs', 'SELECT count(*) AS n FROM pg_database WHERE datname LIKE ''qc\_shared\_%''');
RESET ROLE;
SELECT count(*) AS direct FROM pg_database WHERE datname LIKE 'qc\_shared\_%';
\c qc_shared_b
DROP DATABASE qc_shared_c;
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:dbs', 'SELECT count(*) AS n FROM pg_database WHERE datname LIKE ''qc\_shared\_%''');
RESET ROLE;
-- pg_tablespace: CREATE TABLESPACE from another database
SET ROLE qc_member;
SELECT querycache_wrap('shared:spc', 'SELECT count(*) AS n FROM pg_tablespace');
RESET ROLE;
\c qc_shared_b
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE qc_shared_spc LOCATION '';
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:spc', 'SELECT count(*) AS n FROM pg_tablespace');
RESET ROLE;
SELECT count(*) AS direct FROM pg_tablespace;
\c qc_shared_b
DROP TABLESPACE qc_shared_spc;
\c qc_shared_a
-- control: pg_roles (pg_authid); role changes bump the cluster-wide epoch
SET ROLE qc_member;
SELECT querycache_wrap('shared:roles', 'SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE ''qc\_shared\_%''');
RESET ROLE;
\c qc_shared_b
CREATE ROLE qc_shared_r;
\c qc_shared_a
SET ROLE qc_member;
SELECT querycache_wrap('shared:roles', 'SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE ''qc\_shared\_%''');
RESET ROLE;
\c qc_shared_b
DROP ROLE qc_shared_r;

-- ---- cleanup ----
\c :origdb
DROP DATABASE qc_shared_a;
DROP DATABASE qc_shared_b;
DROP ROLE qc_member;
DROP ROLE qc_grp;
DROP ROLE qc_newowner;
SELECT querycache_clear_all() >= 0 AS cleared;
