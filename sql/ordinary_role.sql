--
-- Ordinary roles (issue 10, "ordinary use is broken"): in a database with
-- querycache, a role that is not a superuser can drop its own objects, and
-- a table's owner can watch and unwatch its table and then drop the
-- trigger and the table; a role that does not own a table cannot watch it.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_user LOGIN;
CREATE ROLE qc_other LOGIN;
CREATE SCHEMA qc_user_s AUTHORIZATION qc_user;
GRANT USAGE ON SCHEMA qc_user_s TO qc_other;

SET SESSION AUTHORIZATION qc_user;
SET search_path = qc_user_s, public;

-- ---- dropping one's own objects ----
CREATE TEMP TABLE tt (id int);
DROP TABLE tt;
SELECT count(*) AS temp_tables_left FROM pg_class WHERE relname = 'tt' AND relpersistence = 't';

CREATE FUNCTION own_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION own_f();
SELECT count(*) AS functions_left FROM pg_proc WHERE proname = 'own_f';

CREATE TABLE own_t (id int, extra int);
CREATE FUNCTION own_trg() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE TRIGGER own_trigger AFTER INSERT ON own_t FOR EACH STATEMENT EXECUTE FUNCTION own_trg();
DROP TRIGGER own_trigger ON own_t;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname = 'own_trigger';

ALTER TABLE own_t DROP COLUMN extra;
SELECT attname FROM pg_attribute
 WHERE attrelid = 'own_t'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;

-- ---- the owner watches its table ----
SELECT querycache_watch('own_t', '^own:');
SELECT querycache_watch('own_t');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'own_t'::regclass ORDER BY tgname;
SELECT table_name, pattern FROM querycache_rules WHERE table_name = 'own_t'::regclass;
-- the watch works: a write to own_t invalidates a key matching the rule
INSERT INTO own_t VALUES (1);
SELECT querycache_wrap('own:n', 'SELECT 42 AS n');
SELECT valid FROM querycache_entries WHERE key = 'own:n';
INSERT INTO own_t VALUES (2);
SELECT valid FROM querycache_entries WHERE key = 'own:n';

-- ---- another role cannot watch or unwatch it ----
RESET SESSION AUTHORIZATION;
GRANT SELECT ON qc_user_s.own_t TO qc_other;
SET SESSION AUTHORIZATION qc_other;
SET search_path = qc_user_s, public;
SELECT querycache_watch('own_t', '^theirs:');
SELECT querycache_watch('own_t');
SELECT querycache_unwatch('own_t');
RESET SESSION AUTHORIZATION;
SELECT count(*) AS rules_of_qc_other FROM querycache_rules WHERE pattern = '^theirs:';
SELECT count(*) AS watch_triggers FROM pg_trigger
 WHERE tgrelid = 'qc_user_s.own_t'::regclass AND tgname = 'querycache_invalidate';

-- ---- the owner unwatches, then drops the table ----
SET SESSION AUTHORIZATION qc_user;
SET search_path = qc_user_s, public;
SELECT querycache_unwatch('own_t');
SELECT count(*) AS triggers_after_unwatch FROM pg_trigger WHERE tgrelid = 'own_t'::regclass;
SELECT count(*) AS rules_after_unwatch FROM querycache_rules WHERE pattern = '^own:';
DROP TABLE own_t;
SELECT to_regclass('own_t') AS own_t_after_drop;

-- ---- a table a superuser watched: its owner drops the trigger, then the table ----
CREATE TABLE own_t2 (id int);
RESET SESSION AUTHORIZATION;
SELECT querycache_watch('qc_user_s.own_t2', '^own2:');
SET SESSION AUTHORIZATION qc_user;
SET search_path = qc_user_s, public;
DROP TRIGGER querycache_invalidate ON own_t2;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'own_t2'::regclass;
DROP TABLE own_t2;
SELECT to_regclass('own_t2') AS own_t2_after_drop;
RESET SESSION AUTHORIZATION;
-- the rules of a dropped table go with it
SELECT count(*) AS rules_left FROM querycache_rules WHERE pattern IN ('^own:', '^own2:', '^theirs:');

-- ---- cleanup ----
RESET search_path;
DROP SCHEMA qc_user_s CASCADE;
DELETE FROM querycache_rules WHERE pattern IN ('^own:', '^own2:', '^theirs:');
DROP OWNED BY qc_user, qc_other;
DROP ROLE qc_user;
DROP ROLE qc_other;
SELECT querycache_clear_all() >= 0 AS cleared;
