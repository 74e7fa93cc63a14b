--
-- querycache_apply_schema(): the seed app's migration 047 (unique
-- call_queue (campaign_id, contact_id), duplicates moved to
-- call_queue_duplicates) and the seed's user_id indexes.
--
-- The extension exists already (pg_regress --load-extension), created while
-- there was no call_queue.  Work in schemas of our own, with nothing else in
-- search_path, so tables other tests left in public are never found.
--
SET DateStyle = 'ISO, YMD';
SET TimeZone = 'UTC';
CREATE SCHEMA mig;
SET search_path = mig;

-- No call_queue (nor agents, contacts, call_campaigns): a notice, no error.
SELECT public.querycache_apply_schema();
SELECT to_regclass('call_queue_duplicates') AS dup_table,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'mig') AS relations_in_mig;

-- The seed's schema (scripts/schema.sql), without its indexes and constraint.
CREATE TABLE users (
	id			bigserial PRIMARY KEY,
	email		text NOT NULL UNIQUE,
	name		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE agents (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	name		text NOT NULL,
	email		text,
	status		text NOT NULL DEFAULT 'active',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE contacts (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	name		text NOT NULL,
	phone		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE call_campaigns (
	id			bigserial PRIMARY KEY,
	user_id		bigint NOT NULL REFERENCES users (id),
	agent_id	bigint REFERENCES agents (id) ON DELETE SET NULL,
	name		text NOT NULL,
	status		text NOT NULL DEFAULT 'active',
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE call_queue (
	id			bigserial PRIMARY KEY,
	campaign_id bigint NOT NULL REFERENCES call_campaigns (id) ON DELETE CASCADE,
	contact_id	bigint NOT NULL REFERENCES contacts (id),
	status		text NOT NULL DEFAULT 'pending',
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now()
);

INSERT INTO users (id, email, name) VALUES
	(1, 'ann@example.com', 'Ann'),
	(2, 'bob@example.com', 'Bob');
INSERT INTO agents (id, user_id, name) VALUES (1, 1, 'Agent A'), (2, 2, 'Agent B');
INSERT INTO contacts (id, user_id, name, phone) VALUES
	(1, 1, 'Carl', '+15550001'),
	(2, 1, 'Dora', '+15550002'),
	(3, 2, 'Eve', '+15550003');
INSERT INTO call_campaigns (id, user_id, agent_id, name) VALUES
	(1, 1, 1, 'spring'),
	(2, 1, NULL, 'summer'),
	(3, 2, 2, 'autumn');
-- Ids 2 and 5 duplicate 1, id 6 duplicates 4 (the seed bug: a campaign
-- created with one contact queued it twice).
INSERT INTO call_queue (id, campaign_id, contact_id, status, attempts, created_at) VALUES
	(1, 1, 1, 'pending', 0, '2024-03-01 09:00:00+00'),
	(2, 1, 1, 'pending', 0, '2024-03-01 09:00:00.25+00'),
	(3, 1, 2, 'pending', 0, '2024-03-01 09:00:01+00'),
	(4, 2, 1, 'called',  1, '2024-03-02 10:00:00+00'),
	(5, 1, 1, 'failed',  3, '2024-03-02 11:30:00+00'),
	(6, 2, 1, 'pending', 0, '2024-03-03 12:00:00+00'),
	(7, 3, 3, 'done',    2, '2024-03-04 08:15:00+00');
SELECT setval('call_queue_id_seq', 7);
CREATE TABLE call_queue_before AS TABLE call_queue;

-- A table referencing duplicates (ids 5 and 6) through a foreign key that
-- would even cascade: the migration must refuse and change nothing.
CREATE TABLE call_log (
	id			bigserial PRIMARY KEY,
	queue_id	bigint NOT NULL REFERENCES call_queue (id) ON DELETE CASCADE,
	note		text
);
INSERT INTO call_log (queue_id, note) VALUES
	(1, 'kept row, fine'),
	(5, 'references a duplicate'),
	(6, 'references another duplicate');

SELECT public.querycache_apply_schema();
\echo :LAST_ERROR_SQLSTATE
SELECT (SELECT count(*) FROM call_queue) AS queue_rows,
       (SELECT count(*) FROM (TABLE call_queue EXCEPT TABLE call_queue_before) x) AS queue_changed,
       (SELECT count(*) FROM call_log) AS log_rows,
       to_regclass('call_queue_duplicates') AS dup_table,
       (SELECT count(*) FROM pg_constraint WHERE conrelid = 'call_queue'::regclass
        AND contype = 'u') AS unique_constraints,
       (SELECT count(*) FROM pg_indexes WHERE schemaname = 'mig'
        AND indexname LIKE 'idx\_%') AS seed_indexes;

-- Follow the hint: point the references to the rows being kept.
UPDATE call_log SET queue_id = 1 WHERE queue_id = 5;
UPDATE call_log SET queue_id = 4 WHERE queue_id = 6;

-- Duplicates present: the 3 extra rows move, the constraint is added.
BEGIN;
SELECT public.querycache_apply_schema();
-- moved_at defaults to the time of the move
SELECT id, moved_at = now() AS moved_now FROM call_queue_duplicates ORDER BY id;
COMMIT;

SELECT * FROM call_queue ORDER BY id;
SELECT id, campaign_id, contact_id, status, attempts, created_at
FROM call_queue_duplicates ORDER BY id;
-- every column of every row preserved: the rows gone from call_queue are
-- exactly the rows of call_queue_duplicates (but moved_at)
(TABLE call_queue_before EXCEPT TABLE call_queue)
EXCEPT
SELECT id, campaign_id, contact_id, status, attempts, created_at FROM call_queue_duplicates;
SELECT id, campaign_id, contact_id, status, attempts, created_at FROM call_queue_duplicates
EXCEPT
(TABLE call_queue_before EXCEPT TABLE call_queue);
SELECT count(*) AS log_rows FROM call_log;

-- call_queue's columns, plain (no sequence default), plus moved_at
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = 'call_queue_duplicates'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;
SELECT count(*) AS dup_constraints FROM pg_constraint
WHERE conrelid = 'call_queue_duplicates'::regclass;

SELECT conname, contype, pg_get_constraintdef(oid) AS def
FROM pg_constraint WHERE conrelid = 'call_queue'::regclass AND contype IN ('p', 'u')
ORDER BY conname;
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'mig'
ORDER BY tablename, indexname;

-- The fixed bug: a second entry for the same pair is refused.
INSERT INTO call_queue (campaign_id, contact_id) VALUES (1, 1);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO call_queue (campaign_id, contact_id) VALUES (1, 1)
ON CONFLICT ON CONSTRAINT call_queue_campaign_contact_unique DO NOTHING;
INSERT INTO call_queue (campaign_id, contact_id) VALUES (3, 1)
ON CONFLICT ON CONSTRAINT call_queue_campaign_contact_unique DO NOTHING
RETURNING campaign_id, contact_id, status, attempts;
SELECT campaign_id, contact_id, count(*) FROM call_queue
GROUP BY campaign_id, contact_id ORDER BY campaign_id, contact_id;

-- Idempotent: running it again changes nothing and says nothing.
CREATE TEMP TABLE state_before AS
SELECT (SELECT count(*) FROM call_queue) AS queue_rows,
       (SELECT count(*) FROM call_queue_duplicates) AS dup_rows,
       (SELECT array_agg(oid ORDER BY oid) FROM pg_constraint
        WHERE conrelid = 'call_queue'::regclass) AS constraints,
       (SELECT array_agg(c.oid ORDER BY c.oid) FROM pg_class c
        WHERE c.relnamespace = 'mig'::regnamespace AND c.relkind IN ('r', 'i')) AS relations;
SELECT public.querycache_apply_schema();
SELECT public.querycache_apply_schema();
SELECT (SELECT count(*) FROM call_queue) AS queue_rows,
       (SELECT count(*) FROM call_queue_duplicates) AS dup_rows,
       (SELECT array_agg(oid ORDER BY oid) FROM pg_constraint
        WHERE conrelid = 'call_queue'::regclass) AS constraints,
       (SELECT array_agg(c.oid ORDER BY c.oid) FROM pg_class c
        WHERE c.relnamespace = 'mig'::regnamespace AND c.relkind IN ('r', 'i')) AS relations
EXCEPT TABLE state_before;	-- no row: nothing changed
DROP TABLE state_before;

-- Without the constraint again (and with a column call_queue gained since
-- call_queue_duplicates was created): one duplicate, then none.
ALTER TABLE call_queue DROP CONSTRAINT call_queue_campaign_contact_unique;
ALTER TABLE call_queue ADD COLUMN note text;
INSERT INTO call_queue (id, campaign_id, contact_id, status, created_at, note) VALUES
	(101, 3, 2, 'pending', '2024-04-01 00:00:00+00', 'first'),
	(102, 3, 2, 'pending', '2024-04-01 00:00:01+00', 'second');
SELECT public.querycache_apply_schema();
SELECT id, campaign_id, contact_id, status, attempts, created_at, note
FROM call_queue_duplicates ORDER BY id;
SELECT id, note FROM call_queue WHERE id > 100 ORDER BY id;
ALTER TABLE call_queue DROP CONSTRAINT call_queue_campaign_contact_unique;
SELECT public.querycache_apply_schema();
SELECT count(*) AS dup_rows FROM call_queue_duplicates;
SELECT conname FROM pg_constraint WHERE conrelid = 'call_queue'::regclass AND contype = 'u';

-- The app ran its own migration 047: the constraint is left alone, nothing
-- is moved, no call_queue_duplicates appears.
CREATE SCHEMA mig2;
SET search_path = mig2;
CREATE TABLE call_queue (
	id			bigserial PRIMARY KEY,
	campaign_id bigint NOT NULL,
	contact_id	bigint NOT NULL,
	status		text NOT NULL DEFAULT 'pending',
	attempts	integer NOT NULL DEFAULT 0,
	created_at	timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE call_queue ADD CONSTRAINT call_queue_campaign_contact_unique UNIQUE (campaign_id, contact_id);
INSERT INTO call_queue (campaign_id, contact_id) VALUES (1, 1), (1, 2);
CREATE TEMP TABLE con_before AS
SELECT oid, conindid FROM pg_constraint WHERE conrelid = 'call_queue'::regclass AND contype = 'u';
SELECT public.querycache_apply_schema();
SELECT c.conname, c.oid = b.oid AS same_constraint, c.conindid = b.conindid AS same_index
FROM pg_constraint c, con_before b
WHERE c.conrelid = 'call_queue'::regclass AND c.contype = 'u';
SELECT to_regclass('call_queue_duplicates') AS dup_table,
       (SELECT count(*) FROM call_queue) AS queue_rows;
DROP TABLE con_before;

-- The app made a unique index of that name instead: it becomes the constraint.
CREATE SCHEMA mig3;
SET search_path = mig3;
CREATE TABLE call_queue (LIKE mig2.call_queue INCLUDING DEFAULTS);
CREATE UNIQUE INDEX call_queue_campaign_contact_unique ON call_queue (campaign_id, contact_id);
INSERT INTO call_queue (id, campaign_id, contact_id) VALUES (1, 1, 1), (2, 1, 2);
CREATE TEMP TABLE idx_before AS SELECT 'call_queue_campaign_contact_unique'::regclass::oid AS oid;
SELECT public.querycache_apply_schema();
SELECT c.conname, c.contype, c.conindid = (SELECT oid FROM idx_before) AS same_index
FROM pg_constraint c WHERE c.conrelid = 'call_queue'::regclass;
DROP TABLE idx_before;
-- ... but anything else of that name is an error
ALTER TABLE call_queue DROP CONSTRAINT call_queue_campaign_contact_unique;
CREATE INDEX call_queue_campaign_contact_unique ON call_queue (contact_id);
SELECT public.querycache_apply_schema();
DROP INDEX call_queue_campaign_contact_unique;

-- Nothing the migration created is a member of the extension.
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS member
FROM pg_depend d
WHERE d.deptype = 'e'
  AND d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'querycache')
  AND (pg_identify_object(d.classid, d.objid, d.objsubid)).schema IN ('mig', 'mig2', 'mig3');
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS member
FROM pg_depend d
WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass
  AND ((d.classid = 'pg_class'::regclass
        AND d.objid IN ('mig.call_queue_duplicates'::regclass,
                        'mig.call_queue_campaign_contact_unique'::regclass,
                        'mig.idx_agents_user_id'::regclass,
                        'mig.idx_contacts_user_id'::regclass,
                        'mig.idx_campaigns_user_id'::regclass))
       OR (d.classid = 'pg_constraint'::regclass
           AND d.objid IN (SELECT oid FROM pg_constraint
                           WHERE connamespace IN ('mig'::regnamespace, 'mig2'::regnamespace,
                                                  'mig3'::regnamespace))));

--
-- DROP EXTENSION: everything the migration made is user data and stays.
--
SET search_path = mig;
-- Something that does depend on the extension: an invalidation trigger.
SELECT public.querycache_watch('agents', '^mig:agents');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'agents'::regclass AND NOT tgisinternal;
CREATE TEMP TABLE kept_before AS
SELECT n.nspname, c.relname, c.relkind,
       CASE WHEN c.relkind = 'r' THEN
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                        n.nspname, c.relname),
                                                 false, true, '')))[1]::text::int
       END AS n
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('mig', 'mig2', 'mig3') AND c.relkind IN ('r', 'i', 'S')
UNION ALL
SELECT n.nspname, con.conname, 'c', NULL
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
WHERE n.nspname IN ('mig', 'mig2', 'mig3');

-- Without CASCADE it fails (the trigger depends on it); in any case roll
-- back, then drop it with CASCADE, which takes the trigger along.
\set VERBOSITY terse
BEGIN;
DROP EXTENSION querycache;
ROLLBACK;
\set VERBOSITY default
SET client_min_messages = warning;
DROP EXTENSION querycache CASCADE;
RESET client_min_messages;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'querycache';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'agents'::regclass AND NOT tgisinternal;

CREATE TEMP TABLE kept_after AS
SELECT n.nspname, c.relname, c.relkind,
       CASE WHEN c.relkind = 'r' THEN
            (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                        n.nspname, c.relname),
                                                 false, true, '')))[1]::text::int
       END AS n
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('mig', 'mig2', 'mig3') AND c.relkind IN ('r', 'i', 'S')
UNION ALL
SELECT n.nspname, con.conname, 'c', NULL
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
WHERE n.nspname IN ('mig', 'mig2', 'mig3');
-- nothing lost (and nothing gained)
(TABLE kept_before EXCEPT TABLE kept_after) UNION ALL (TABLE kept_after EXCEPT TABLE kept_before);
SELECT * FROM kept_after
WHERE nspname = 'mig' AND relname IN ('call_queue', 'call_queue_duplicates',
	'call_queue_campaign_contact_unique', 'idx_agents_user_id',
	'idx_contacts_user_id', 'idx_campaigns_user_id')
ORDER BY relname, relkind;
SELECT id, campaign_id, contact_id, status, attempts, created_at, note
FROM call_queue_duplicates ORDER BY id;
INSERT INTO call_queue (campaign_id, contact_id) VALUES (1, 1);
DROP TABLE kept_before, kept_after;

-- CREATE EXTENSION runs the migration itself, in the schema it installs into
-- (its script's search_path).  What it creates there is not part of the
-- extension either, and survives the next DROP EXTENSION ... CASCADE.
CREATE SCHEMA migext;
SET search_path = migext;
CREATE TABLE agents (id bigserial PRIMARY KEY, user_id bigint NOT NULL, name text NOT NULL);
CREATE TABLE call_queue (LIKE mig2.call_queue INCLUDING DEFAULTS);
ALTER TABLE call_queue ADD PRIMARY KEY (id);
INSERT INTO agents (user_id, name) VALUES (1, 'Agent X');
INSERT INTO call_queue (id, campaign_id, contact_id, created_at) VALUES
	(1, 7, 7, '2024-05-01 00:00:00+00'),
	(2, 7, 7, '2024-05-01 00:00:01+00'),
	(3, 7, 8, '2024-05-01 00:00:02+00');
CREATE EXTENSION querycache SCHEMA migext;
SELECT e.extname, e.extnamespace::regnamespace AS schema FROM pg_extension e
WHERE e.extname = 'querycache';
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS member
FROM pg_depend d
WHERE d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'querycache')
  AND (d.classid, d.objid) IN (
	('pg_class'::regclass, 'call_queue_duplicates'::regclass),
	('pg_class'::regclass, 'call_queue_campaign_contact_unique'::regclass),
	('pg_class'::regclass, 'idx_agents_user_id'::regclass),
	('pg_constraint'::regclass, (SELECT oid FROM pg_constraint
								 WHERE conname = 'call_queue_campaign_contact_unique'
								   AND conrelid = 'call_queue'::regclass)));
-- (the function itself is a member, so the query above could see members)
SELECT count(*) AS function_is_member FROM pg_depend d
WHERE d.deptype = 'e' AND d.classid = 'pg_proc'::regclass
  AND d.objid = 'migext.querycache_apply_schema()'::regprocedure;
SELECT tgrelid::regclass, tgname FROM pg_trigger
WHERE tgrelid IN ('agents'::regclass, 'call_queue'::regclass) AND NOT tgisinternal
ORDER BY 1, 2;
SET client_min_messages = warning;
DROP EXTENSION querycache CASCADE;
RESET client_min_messages;
SELECT id, campaign_id, contact_id, created_at FROM call_queue ORDER BY id;
SELECT id, campaign_id, contact_id, created_at FROM call_queue_duplicates ORDER BY id;
SELECT conname FROM pg_constraint WHERE conrelid = 'call_queue'::regclass AND contype = 'u';
SELECT indexname FROM pg_indexes WHERE schemaname = 'migext' ORDER BY indexname;
SELECT count(*) AS triggers_left FROM pg_trigger
WHERE tgrelid IN ('agents'::regclass, 'call_queue'::regclass) AND NOT tgisinternal;

-- Clean up, and put the extension back for whatever runs next.
RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA mig, mig2, mig3, migext CASCADE;
CREATE EXTENSION querycache;
RESET client_min_messages;
SELECT e.extname, e.extnamespace::regnamespace AS schema FROM pg_extension e
WHERE e.extname = 'querycache';
