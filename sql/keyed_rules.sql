--
-- Keyed rules (querycache_rules.key_column): under depends = 'rules', a key
-- matching a keyed rule depends on the rows of the rule's table whose key
-- column, as text, is what the pattern's first capture group names, so a
-- write for one user invalidates that user's lists only.  Run as an
-- ordinary login role that owns its tables.
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE ROLE qc_keyed LOGIN;
CREATE ROLE qc_keyed_other LOGIN;
CREATE SCHEMA qc_keyed_s AUTHORIZATION qc_keyed;
GRANT USAGE ON SCHEMA qc_keyed_s TO qc_keyed_other;
-- the extension's owner sets the policy: kr: keys depend on rules only
INSERT INTO querycache_policies (pattern, ttl, depends) VALUES ('^kr:', interval '1 hour', 'rules');

SET SESSION AUTHORIZATION qc_keyed;
SET search_path = qc_keyed_s, public;

CREATE TABLE kr_contacts (id serial PRIMARY KEY, user_id bigint, name text NOT NULL);
INSERT INTO kr_contacts (user_id, name)
SELECT u, 'contact ' || g || ' of ' || u FROM generate_series(1, 40) u, generate_series(1, 2) g;
GRANT SELECT ON kr_contacts TO qc_keyed_other;

-- ---- adding a keyed rule ----
SELECT querycache_watch('kr_contacts', '^kr:list:userId=([0-9]+)$', 'user_id');
SELECT table_name, pattern, key_column FROM querycache_rules WHERE table_name = 'kr_contacts'::regclass;
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS def
  FROM pg_trigger WHERE tgrelid = 'kr_contacts'::regclass ORDER BY tgname;

-- the contacts list of a user, cached under querycache_key('kr:list', {userId})
CREATE FUNCTION kr_list(u int) RETURNS jsonb LANGUAGE sql AS $$
	SELECT querycache_wrap(querycache_key('kr:list', jsonb_build_object('userId', u)),
						   'SELECT count(*) AS n, max(name) AS last FROM kr_contacts WHERE user_id = $1',
						   NULL, u)
$$;
-- which lists are cached and valid
CREATE FUNCTION kr_valid() RETURNS TABLE (key text, valid boolean) LANGUAGE sql AS $$
	SELECT key, valid FROM querycache_entries WHERE key LIKE 'kr%' ORDER BY key COLLATE "C"
$$;
CREATE FUNCTION kr_fill() RETURNS void LANGUAGE sql AS $$
	SELECT kr_list(7), kr_list(8), kr_list(9)
$$;

SELECT kr_fill();
SELECT * FROM kr_valid();

-- ---- an INSERT for user 7 invalidates user 7's list, not user 8's ----
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'new contact of 7');
SELECT * FROM kr_valid();
SELECT kr_list(7) AS list7, kr_list(8) AS list8;
SELECT key, hits FROM querycache_entries WHERE key LIKE 'kr:list:%' ORDER BY key COLLATE "C";

-- ---- an UPDATE moving a row from user 7 to user 8 invalidates both ----
SELECT kr_fill();
UPDATE kr_contacts SET user_id = 8 WHERE name = 'new contact of 7';
SELECT * FROM kr_valid();
SELECT kr_list(7) AS list7, kr_list(8) AS list8;

-- ---- an UPDATE of another column invalidates that row's user only ----
SELECT kr_fill();
UPDATE kr_contacts SET name = 'renamed contact of 9' WHERE user_id = 9 AND name = 'contact 1 of 9';
SELECT * FROM kr_valid();

-- ---- a DELETE ----
SELECT kr_fill();
DELETE FROM kr_contacts WHERE name = 'new contact of 7';
SELECT * FROM kr_valid();
SELECT kr_list(8) AS list8;

-- ---- writes for other users, a NULL key and a rollback invalidate nothing ----
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (10, 'x'), (11, 'y'), (NULL, 'nobody');
BEGIN;
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'rolled back');
ROLLBACK;
SELECT * FROM kr_valid();

-- ---- own writes: user 7's list is neither served nor filled from them,
-- user 8's is still served ----
BEGIN;
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'uncommitted');
SELECT kr_list(7) AS list7_own, kr_list(8) AS list8;
SELECT querycache_get('kr:list:userId=7') IS NULL AS not_served;
SELECT querycache_get('kr:list:userId=8') IS NOT NULL AS served;
ROLLBACK;
SELECT * FROM kr_valid();

-- ---- a few users' rows in one transaction: keyed ----
SELECT kr_fill();
UPDATE kr_contacts SET name = name || '.' WHERE user_id IN (1, 2, 3);
SELECT * FROM kr_valid();

-- ---- a bulk write over many users (more than 32) owes the whole table:
-- every keyed list is invalidated, even those of users it did not touch ----
SELECT kr_fill();
UPDATE kr_contacts SET name = name || '!' WHERE user_id NOT IN (7, 8, 9);
SELECT * FROM kr_valid();

-- ---- TRUNCATE invalidates every keyed list ----
SELECT kr_fill();
TRUNCATE kr_contacts;
SELECT * FROM kr_valid();
SELECT kr_list(7) AS list7;
INSERT INTO kr_contacts (user_id, name)
SELECT u, 'contact ' || g || ' of ' || u FROM generate_series(1, 40) u, generate_series(1, 2) g;

-- ---- querycache_set under a keyed rule ----
SELECT querycache_set('kr:list:userId=7', '"set for 7"');
INSERT INTO kr_contacts (user_id, name) VALUES (8, 'for 8');
SELECT valid AS set_valid_after_write_for_8 FROM querycache_entries WHERE key = 'kr:list:userId=7';
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'for 7');
SELECT valid AS set_valid_after_write_for_7 FROM querycache_entries WHERE key = 'kr:list:userId=7';

-- ---- the keyed trigger disabled: later fills depend on the whole table ----
ALTER TABLE kr_contacts DISABLE TRIGGER querycache_invalidate_keyed;
SELECT * FROM kr_valid();	-- the ALTER TABLE moved the database's epoch
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'while disabled');
SELECT * FROM kr_valid();
-- enabled, but not ALWAYS (it would not fire in replica mode): still whole table
ALTER TABLE kr_contacts ENABLE TRIGGER querycache_invalidate_keyed;
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'origin only');
SELECT * FROM kr_valid();
-- ENABLE ALWAYS again: keyed again
ALTER TABLE kr_contacts ENABLE ALWAYS TRIGGER querycache_invalidate_keyed;
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (7, 'always');
SELECT * FROM kr_valid();

-- ---- a pattern without a capture group depends on the whole table ----
SELECT querycache_watch('kr_contacts', '^kr:nogroup:userId=[0-9]+$', 'user_id');
SELECT querycache_wrap('kr:nogroup:userId=7', 'SELECT count(*) AS n FROM kr_contacts WHERE user_id = 7');
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (8, 'for 8 again');
SELECT * FROM kr_valid();

-- ---- depends = 'reads' entries see every write to what they read ----
SELECT querycache_watch('kr_contacts', '^krd:list:userId=([0-9]+)$', 'user_id');
SELECT querycache_wrap('krd:list:userId=7', 'SELECT count(*) AS n FROM kr_contacts WHERE user_id = 7');
SELECT kr_fill();
INSERT INTO kr_contacts (user_id, name) VALUES (8, 'for 8, read by all');
SELECT * FROM kr_valid();

-- ---- bad key columns are refused with a clear error ----
SELECT querycache_watch('kr_contacts', '^kr:bad:([0-9]+)$', 'no_such_column');
SELECT querycache_watch('kr_contacts', '^kr:bad:([0-9]+)$', 'ctid');
SELECT querycache_rule_set('kr_contacts', '^kr:bad:([0-9]+)$', true, 'no_such_column');
SELECT count(*) AS bad_rules FROM querycache_rules WHERE pattern LIKE '^kr:bad:%';

-- ---- a role that does not own the table cannot add a keyed rule ----
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION qc_keyed_other;
SELECT querycache_watch('qc_keyed_s.kr_contacts', '^other:([0-9]+)$', 'user_id');
SELECT querycache_rule_set('qc_keyed_s.kr_contacts', '^other:([0-9]+)$', true, 'user_id');
SELECT querycache_rule_set('qc_keyed_s.kr_contacts', NULL, false, NULL);
INSERT INTO querycache_rules VALUES ('qc_keyed_s.kr_contacts', '^other:([0-9]+)$', 'user_id');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION qc_keyed;
SET search_path = qc_keyed_s, public;
SELECT pattern, key_column FROM querycache_rules WHERE table_name = 'kr_contacts'::regclass
 ORDER BY pattern COLLATE "C";

-- ---- a keyed rule made whole-table again (the four-argument form with a
-- NULL key column), then removed: the trigger follows the rules ----
SELECT querycache_rule_set('kr_contacts', '^krd:list:userId=([0-9]+)$', true, NULL);
SELECT querycache_rule_set('kr_contacts', '^kr:nogroup:userId=[0-9]+$', false, NULL);
SELECT pattern, key_column FROM querycache_rules WHERE table_name = 'kr_contacts'::regclass
 ORDER BY pattern COLLATE "C";
SELECT tgname, tgenabled, pg_get_triggerdef(oid) AS def
  FROM pg_trigger WHERE tgrelid = 'kr_contacts'::regclass AND tgname = 'querycache_invalidate_keyed';
SELECT querycache_rule_set('kr_contacts', '^kr:list:userId=([0-9]+)$', false, NULL);
SELECT count(*) AS keyed_triggers FROM pg_trigger
 WHERE tgrelid = 'kr_contacts'::regclass AND tgname = 'querycache_invalidate_keyed';

-- a keyed trigger whose column is gone does not fail writes
SELECT querycache_watch('kr_contacts', '^kr:list:userId=([0-9]+)$', 'user_id');
ALTER TABLE kr_contacts RENAME COLUMN user_id TO owner_id;
INSERT INTO kr_contacts (owner_id, name) VALUES (7, 'after rename');
ALTER TABLE kr_contacts RENAME COLUMN owner_id TO user_id;

-- unwatch removes the rules and every trigger, keyed included
SELECT querycache_unwatch('kr_contacts');
SELECT count(*) AS rules_left FROM querycache_rules WHERE table_name = 'kr_contacts'::regclass;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'kr_contacts'::regclass;

-- dropping a table with a keyed rule removes its rules
SELECT querycache_watch('kr_contacts', '^kr:list:userId=([0-9]+)$', 'user_id');
DROP TABLE kr_contacts;
SELECT count(*) AS rules_of_dropped FROM querycache_rules WHERE pattern = '^kr:list:userId=([0-9]+)$';

-- Reproductions of a hostile review (each stale before its fix):
-- 1. a keyed rule on an inheritance parent: a write through the parent
--    changes a child's row, whose own row trigger fires: whole table
CREATE TABLE kr_par (id int, user_id int, v text);
CREATE TABLE kr_chi () INHERITS (kr_par);
INSERT INTO kr_par VALUES (1, 7, 'par-old');
INSERT INTO kr_chi VALUES (2, 7, 'chi-old');
SELECT querycache_watch('kr_par', '^kr:par:u=([0-9]+)$', 'user_id');
SELECT querycache_wrap('kr:par:u=7', 'SELECT id, v FROM kr_par WHERE user_id = $1 ORDER BY id', NULL, 7);
UPDATE kr_par SET v = 'chi-new' WHERE id = 2;
SELECT querycache_wrap('kr:par:u=7', 'SELECT id, v FROM kr_par WHERE user_id = $1 ORDER BY id', NULL, 7) AS through_parent;
DELETE FROM kr_par WHERE id = 2;
SELECT querycache_wrap('kr:par:u=7', 'SELECT id, v FROM kr_par WHERE user_id = $1 ORDER BY id', NULL, 7) AS deleted_through_parent;
SELECT querycache_unwatch('kr_par');
DROP TABLE kr_par CASCADE;

-- 2. a key column whose text depends on the writer's settings (a date
--    under DateStyle) keys nothing: whole table, also for own writes; an
--    integer key not written as the column prints (07) too
CREATE TABLE kr_ev (id int, day date, v text);
INSERT INTO kr_ev VALUES (1, '2026-11-29', 'old');
SELECT querycache_watch('kr_ev', '^kr:ev:day=([0-9-]+)$', 'day');
SELECT querycache_wrap('kr:ev:day=2026-11-29', 'SELECT id, v FROM kr_ev WHERE day = $1::date', NULL, '2026-11-29');
SET DateStyle = 'SQL, DMY';
UPDATE kr_ev SET v = 'new' WHERE id = 1;
RESET DateStyle;
SELECT querycache_wrap('kr:ev:day=2026-11-29', 'SELECT id, v FROM kr_ev WHERE day = $1::date', NULL, '2026-11-29') AS other_datestyle;
BEGIN;
SET LOCAL DateStyle = 'German';
UPDATE kr_ev SET v = 'own' WHERE id = 1;
RESET DateStyle;
SELECT querycache_wrap('kr:ev:day=2026-11-29', 'SELECT id, v FROM kr_ev WHERE day = $1::date', NULL, '2026-11-29') AS own_write;
ROLLBACK;
SELECT querycache_unwatch('kr_ev');
DROP TABLE kr_ev;
CREATE TABLE kr_num (user_id int, v text);
INSERT INTO kr_num VALUES (7, 'old');
SELECT querycache_watch('kr_num', '^kr:num:u=([0-9]+)$', 'user_id');
SELECT querycache_wrap('kr:num:u=07', 'SELECT v FROM kr_num WHERE user_id = $1', NULL, 7);
UPDATE kr_num SET v = 'new';
SELECT querycache_wrap('kr:num:u=07', 'SELECT v FROM kr_num WHERE user_id = $1', NULL, 7) AS leading_zero;

-- 3. querycache_invalidate_table() invalidates keyed entries too
SELECT querycache_wrap('kr:num:u=7', 'SELECT v FROM kr_num WHERE user_id = $1', NULL, 7);
SELECT valid AS before_invalidate FROM querycache_entries WHERE key = 'kr:num:u=7';
SELECT querycache_invalidate_table('kr_num');
SELECT valid AS after_invalidate FROM querycache_entries WHERE key = 'kr:num:u=7';
SELECT querycache_unwatch('kr_num');
DROP TABLE kr_num;

DROP FUNCTION kr_list(int), kr_valid(), kr_fill();
RESET SESSION AUTHORIZATION;
RESET search_path;
DELETE FROM querycache_policies WHERE pattern = '^kr:';
DROP SCHEMA qc_keyed_s CASCADE;
DROP ROLE qc_keyed;
DROP ROLE qc_keyed_other;
SELECT querycache_clear_all() >= 0 AS cleared;
