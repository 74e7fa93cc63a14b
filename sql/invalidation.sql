--
-- Invalidation by table: rules, the statement trigger, commit-time semantics
-- in one session (the interleavings of several sessions are isolation specs).
--
SELECT querycache_clear_all() >= 0 AS cleared;
CREATE TABLE agents (id serial PRIMARY KEY, user_id int, name text);
CREATE TABLE call_campaigns (id serial PRIMARY KEY, user_id int, name text);
INSERT INTO agents (user_id, name) VALUES (1, 'ann'), (1, 'bob'), (2, 'cid');
INSERT INTO call_campaigns (user_id, name) VALUES (1, 'spring');

-- The seed's rules, for the tables that exist now.
SELECT querycache_watch_defaults();
SELECT table_name, pattern FROM querycache_rules ORDER BY 1, 2;
SELECT tgrelid::regclass, tgname, tgenabled, tgtype FROM pg_trigger
 WHERE tgname = 'querycache_invalidate' ORDER BY 1;
-- idempotent
SELECT querycache_watch_defaults();
SELECT count(*) FROM querycache_rules;

-- A key matching a rule depends on the rule's table even if its query
-- (or a value stored with querycache_set) does not read it.
SELECT querycache_set('agents:summary', '{"count": 3}');
SELECT querycache_wrap('agents:clock', 'SELECT 1 AS constant');
SELECT querycache_set('campaigns:summary', '{"count": 1}');
UPDATE agents SET name = 'bea' WHERE name = 'bob';
SELECT querycache_get('agents:summary') IS NULL AS rule_invalidated;
SELECT querycache_get('agents:clock') IS NULL AS rule_invalidated_wrap;
SELECT querycache_get('campaigns:summary') AS other_rule_untouched;

-- Every kind of write invalidates: INSERT, UPDATE, DELETE, TRUNCATE, MERGE.
CREATE FUNCTION names() RETURNS jsonb LANGUAGE sql AS
$$ SELECT querycache_wrap('agents:names', 'SELECT string_agg(name, '','' ORDER BY name) AS names FROM agents') $$;
SELECT names();
INSERT INTO agents (user_id, name) VALUES (2, 'dan');
SELECT names();
UPDATE agents SET name = upper(name) WHERE user_id = 2;
SELECT names();
DELETE FROM agents WHERE name = 'DAN';
SELECT names();
MERGE INTO agents a USING (VALUES (1, 'ann')) v(uid, n) ON a.name = v.n
  WHEN MATCHED THEN UPDATE SET name = 'ANN';
SELECT names();
TRUNCATE agents;
SELECT names();
INSERT INTO agents (user_id, name) VALUES (1, 'eve');
SELECT names();

-- A write that is rolled back invalidates nothing; inside the transaction
-- the writer sees its own rows.
SELECT querycache_stats_reset();
SELECT names();
BEGIN;
INSERT INTO agents (user_id, name) VALUES (1, 'fay');
SELECT names();
SELECT names();
ROLLBACK;
SELECT names();
SELECT hits, misses, bypasses FROM querycache_stats;

-- Subtransactions: a rolled-back savepoint still bypasses until the end
-- (conservative), and nothing of it is ever cached.
BEGIN;
SAVEPOINT s;
INSERT INTO agents (user_id, name) VALUES (1, 'gus');
SELECT names();
ROLLBACK TO s;
SELECT names();
COMMIT;
SELECT names();

-- querycache_invalidate_table: the seed's invalidateTable.
SELECT querycache_stats_reset();
SELECT names();
SELECT querycache_invalidate_table('agents');
SELECT names();
SELECT hits, misses FROM querycache_stats;

-- querycache_watch on a table created later; unwatch removes rule and trigger.
CREATE TABLE contacts (id int, name text);
SELECT querycache_watch('contacts', '^contacts:');
SELECT querycache_watch('contacts', '^people:');
SELECT pattern FROM querycache_rules WHERE table_name = 'contacts'::regclass ORDER BY 1;
SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'contacts'::regclass AND tgname = 'querycache_invalidate';
SELECT querycache_set('people:all', '[]');
INSERT INTO contacts VALUES (1, 'x');
SELECT querycache_get('people:all') IS NULL AS invalidated;
SELECT querycache_unwatch('contacts');
SELECT count(*) FROM querycache_rules WHERE table_name = 'contacts'::regclass;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'contacts'::regclass AND tgname = 'querycache_invalidate';
-- without the rule, a stored value no longer depends on contacts
SELECT querycache_set('people:all', '[]');
INSERT INTO contacts VALUES (2, 'y');
SELECT querycache_get('people:all');
SELECT querycache_watch(NULL);

-- The trigger fires ALWAYS: writes under session_replication_role = replica
-- (pg_restore, replication tools) still invalidate.
SELECT names();
SET session_replication_role = replica;
INSERT INTO agents (user_id, name) VALUES (1, 'hal');
RESET session_replication_role;
SELECT names();

-- DDL on a dependency invalidates, and the next fill sees the new shape.
SELECT querycache_wrap('agents:star', 'SELECT * FROM agents ORDER BY id LIMIT 1');
ALTER TABLE agents ADD COLUMN email text DEFAULT 'none';
SELECT querycache_wrap('agents:star', 'SELECT * FROM agents ORDER BY id LIMIT 1');
ALTER TABLE agents ALTER COLUMN user_id TYPE text USING 'u' || user_id;
SELECT querycache_wrap('agents:star', 'SELECT * FROM agents ORDER BY id LIMIT 1');

-- PREPARE TRANSACTION: rows become visible at COMMIT PREPARED, which
-- invalidates even though the writing backend is gone.
SELECT names();
BEGIN;
INSERT INTO agents (user_id, name) VALUES (1, 'ivy');
PREPARE TRANSACTION 'qc_2pc';
SELECT names();
COMMIT PREPARED 'qc_2pc';
SELECT names();

-- Invalidation does not scan entries: cost per write is O(1), entries are
-- found stale on lookup or by the sweeper.
SELECT querycache_stats_reset();
DO $$
BEGIN
	FOR i IN 1..200 LOOP
		PERFORM querycache_wrap('agents:by:' || i, 'SELECT count(*) AS n FROM agents WHERE id > $1', NULL, i);
	END LOOP;
END $$;
UPDATE agents SET name = name;
SELECT count(*) FILTER (WHERE NOT valid) AS stale FROM querycache_entries WHERE key LIKE 'agents:by:%';
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN NOT EXISTS (SELECT 1 FROM querycache_entries WHERE key LIKE 'agents:by:%');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT count(*) AS left_after_sweep FROM querycache_entries WHERE key LIKE 'agents:by:%';
SELECT invalidations >= 200 AS counted FROM querycache_stats;

-- Dropping a watched table drops its rules.
DROP FUNCTION names();
DROP TABLE agents, call_campaigns, contacts;
SELECT count(*) AS rules_left FROM querycache_rules;
SELECT querycache_clear_all() >= 0 AS cleared;
